"""Story clusters across runs: a copy arriving later joins the indexed
cluster, and a copy published earlier than the indexed canonical only moves
``story.is_canonical``; sizes stay current on every member."""

from __future__ import annotations

import html
import json
import pathlib

import pytest

from newsbeam.config.settings import FeedSpec
from newsbeam.connectors.site_server import SiteServer
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import run_batch
from newsbeam.transforms.model import doc_id_for_url

pytestmark = [pytest.mark.slow]


def _stories(client, alias):
    client.indices.refresh(index=alias)
    hits = client.search(index=alias, query={"match_all": {}}, size=1000, source=["story"])["hits"]["hits"]
    return {h["_id"]: h["_source"]["story"] for h in hits}


def _feeds(settings, demo_site, names):
    return tuple(FeedSpec(url=f"{demo_site.base_url}/{name}/feed.xml", name=name) for name in names)


def test_copies_arriving_in_a_later_run_join_and_move_the_canonical(
    demo_settings, demo_site, expected, es_client
):
    base = demo_site.base_url
    ids = {a["path"]: doc_id_for_url(base + a["canonical_path"]) for a in expected["articles"]}
    story_of = {ids[a["path"]]: a["story"] for a in expected["articles"]}
    published = {ids[a["path"]]: a["published"] for a in expected["articles"]}
    alias = demo_settings.elasticsearch.articles_alias

    # Run 1: The Ledger and The Evening Globe only.
    first = demo_settings.model_copy(update={"feeds": _feeds(demo_settings, demo_site, ["ledger", "globe"])})
    run_batch(first, beam_options([]))
    after_first = _stories(es_client, alias)
    bounty_first = sorted(i for i in after_first if story_of[i] == "russia-bounties")
    assert len(bounty_first) == 2
    first_cluster = min(bounty_first, key=lambda i: published[i])
    assert {after_first[i]["cluster_id"] for i in bounty_first} == {first_cluster}

    # Run 2: the other outlets, with a copy published before the indexed canonical.
    second = demo_settings.model_copy(
        update={"feeds": _feeds(demo_settings, demo_site, ["courier", "frontier"])}
    )
    summary = run_batch(second, beam_options([]))
    assert summary.get("news.stories/indexed_matches") >= 2
    after = _stories(es_client, alias)
    assert sorted(after) == sorted(ids.values())
    for story in {"russia-bounties", "swat-floods"}:
        members = [i for i in after if story_of[i] == story]
        indexed_first = [i for i in members if i in after_first]
        earliest = min(members, key=lambda i: published[i])
        # The id given in run 1 is stable; the canonical flag moved to the earliest copy.
        assert {after[i]["cluster_id"] for i in members} == {min(indexed_first, key=lambda i: published[i])}
        assert [i for i in members if after[i]["is_canonical"]] == [earliest]
        assert earliest not in after_first
        assert {after[i]["size"] for i in members} == {len(members)}
    # Different stories on the same topic stay apart.
    clusters = {}
    for doc_id, story in after.items():
        clusters.setdefault(story["cluster_id"], set()).add(story_of[doc_id])
    assert all(len(stories) == 1 for stories in clusters.values())


_REWRITES = pathlib.Path(__file__).resolve().parents[2] / "bench" / "data" / "rewrites.jsonl"


def _write_outlet(root: pathlib.Path, outlet: str, rows: list[dict]) -> None:
    """A minimal news site: an Atom feed and one HTML page per row."""
    (root / outlet).mkdir(parents=True)
    entries = []
    for row in rows:
        slug = row["id"]
        paragraphs = "\n".join(f"<p>{html.escape(p)}</p>" for p in row["text"].split("\n\n"))
        (root / outlet / f"{slug}.html").write_text(
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(row['headline'])}"
            f'</title><meta property="article:published_time" content="{row["published"]}"></head><body>'
            f"<article><h1>{html.escape(row['headline'])}</h1>\n{paragraphs}\n</article></body></html>",
            encoding="utf-8",
        )
        entries.append(
            f"<entry><title>{html.escape(row['headline'])}</title>"
            f'<link rel="alternate" type="text/html" href="{{{{BASE_URL}}}}/{outlet}/{slug}.html"/>'
            f"<id>tag:{outlet}.example,2024:{slug}</id><published>{row['published']}</published>"
            f"<updated>{row['published']}</updated></entry>"
        )
    (root / outlet / "feed.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{outlet}</title><id>tag:{outlet}.example,2024:feed</id>"
        f"<updated>2024-05-06T12:00:00Z</updated>{''.join(entries)}</feed>",
        encoding="utf-8",
    )


def test_rewritten_copy_in_a_later_run_joins_the_indexed_cluster(demo_settings, es_client, tmp_path):
    """A house rewrite (words replaced, which breaks the verbatim runs) arriving
    in run 2 joins the cluster indexed in run 1, whose id stays; a rival
    agency's report quoting the same official stays apart."""
    rows = {}
    for line in _REWRITES.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        rows[row["id"]] = row
    root = tmp_path / "site"
    _write_outlet(root, "wire", [rows["rw-S19-orig"], rows["rw-S19-rival"]])
    _write_outlet(root, "house", [rows["rw-S19-c1"], rows["rw-S19-c4"]])
    alias = demo_settings.elasticsearch.articles_alias
    with SiteServer(root) as site:
        url = {
            slug: doc_id_for_url(f"{site.base_url}/{outlet}/{slug}.html")
            for outlet, slugs in (
                ("wire", ("rw-S19-orig", "rw-S19-rival")),
                ("house", ("rw-S19-c1", "rw-S19-c4")),
            )
            for slug in slugs
        }
        first = demo_settings.model_copy(
            update={"feeds": (FeedSpec(url=f"{site.base_url}/wire/feed.xml", name="wire"),)}
        )
        run_batch(first, beam_options([]))
        after_first = _stories(es_client, alias)
        assert after_first[url["rw-S19-orig"]]["cluster_id"] != after_first[url["rw-S19-rival"]]["cluster_id"]
        cluster_id = after_first[url["rw-S19-orig"]]["cluster_id"]

        second = demo_settings.model_copy(
            update={"feeds": (FeedSpec(url=f"{site.base_url}/house/feed.xml", name="house"),)}
        )
        summary = run_batch(second, beam_options([]))
    assert summary.get("news.stories/indexed_matches") >= 1
    after = _stories(es_client, alias)
    story = [url["rw-S19-orig"], url["rw-S19-c1"], url["rw-S19-c4"]]
    assert {after[i]["cluster_id"] for i in story} == {cluster_id}
    assert {after[i]["size"] for i in story} == {3}
    assert after[url["rw-S19-rival"]]["cluster_id"] != cluster_id


_SEED = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "seed" / "wire-story.txt"


def test_paywalled_copy_indexed_first_is_joined_by_the_long_original_and_a_later_reprint(
    demo_settings, es_client, tmp_path
):
    """Arrival order across runs: a paywalled copy (the first two paragraphs)
    indexed in run 1 is joined in run 2 by the long original, published
    earlier, and in run 3 by a reprint weeks later; the cluster id given in
    run 1 stays, the canonical flag moves to the original, and a rival
    report of the same event stays apart."""
    from tests.unit.test_similarity import _BACKGROUND

    lines = [line.strip() for line in _SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    body = [lines[2].split(",", 1)[1], *lines[3:]]
    long_text = "\n\n".join(["WASHINGTON (Reuters) - " + body[0], *body[1:], *_BACKGROUND])
    rows = {
        "paywalled": {
            "id": "paywalled",
            "headline": "Moscow denies bounty report",
            "published": "2020-06-27T14:00:00Z",
            "text": "\n\n".join(["ISLAMABAD: " + body[0], body[1], "Subscribe to continue reading."]),
        },
        "original": {
            "id": "original",
            "headline": "Russia offered Taliban-linked militants bounties, report says",
            "published": "2020-06-27T09:00:00Z",
            "text": long_text,
        },
        "rival": {
            "id": "rival",
            "headline": "Trump says he was not briefed on bounty intelligence",
            "published": "2020-06-28T16:00:00Z",
            "text": "\n\n".join(
                [
                    "WASHINGTON (AP) — President Donald Trump said on Sunday he had not been briefed on "
                    "intelligence that Russia offered bounties to Taliban-linked fighters for killing "
                    "American soldiers, disputing a New York Times report.",
                    body[8],
                    "Democrats demanded answers, and House Speaker Nancy Pelosi said the report raised "
                    "questions about whether the president had been kept in the dark.",
                    "The Taliban also denied the report, with a spokesman saying the group did not need "
                    "help from any foreign intelligence agency to fight.",
                    "Former national security adviser John Bolton said the president did not want to "
                    "hear bad news about Russia and had ignored earlier warnings.",
                ]
            ),
        },
        "reprint": {
            "id": "reprint",
            "headline": "From the archive: the bounty report",
            "published": "2020-07-25T08:00:00Z",
            "text": long_text,
        },
    }
    root = tmp_path / "site"
    runs = (("paywall", ["paywalled"]), ("wire", ["original", "rival"]), ("weekly", ["reprint"]))
    for outlet, slugs in runs:
        _write_outlet(root, outlet, [rows[slug] for slug in slugs])
    alias = demo_settings.elasticsearch.articles_alias
    with SiteServer(root) as site:
        ids = {
            slug: doc_id_for_url(f"{site.base_url}/{outlet}/{slug}.html")
            for outlet, slugs in runs
            for slug in slugs
        }
        seen = []
        for outlet, _slugs in runs:
            settings = demo_settings.model_copy(
                update={"feeds": (FeedSpec(url=f"{site.base_url}/{outlet}/feed.xml", name=outlet),)}
            )
            run_batch(settings, beam_options([]))
            seen.append(_stories(es_client, alias))
    first, second, third = seen
    cluster_id = first[ids["paywalled"]]["cluster_id"]
    story = [ids["paywalled"], ids["original"]]
    assert {second[i]["cluster_id"] for i in story} == {cluster_id}
    assert [i for i in story if second[i]["is_canonical"]] == [ids["original"]]
    assert {second[i]["size"] for i in story} == {2}
    assert second[ids["rival"]]["cluster_id"] != cluster_id
    story.append(ids["reprint"])
    assert {third[i]["cluster_id"] for i in story} == {cluster_id}
    assert {third[i]["size"] for i in story} == {3}
    assert [i for i in story if third[i]["is_canonical"]] == [ids["original"]]


@pytest.mark.parametrize(
    "runs",
    [
        # The excerpt is indexed with the original; the follow-up comes later.
        (("wire", ["original", "paywalled"]), ("later", ["follow"])),
        # Original and follow-up are indexed apart; the excerpt comes last.
        (("wire", ["original"]), ("later", ["follow"]), ("paywall", ["paywalled"])),
        # Excerpt and follow-up arrive in one run after the original.
        (("wire", ["original"]), ("later", ["paywalled", "follow"])),
    ],
    ids=["follow-up-last", "excerpt-last", "together-after"],
)
def test_a_paywalled_opening_that_a_follow_up_reuses_links_one_story_across_runs(
    demo_settings, es_client, tmp_path, runs
):
    """The paywalled copy of an article's first two paragraphs is also wholly
    inside a follow-up that reuses them word for word.  Whatever the order of
    the runs, it stays with the article published next to it and the
    follow-up stays apart (before: the later run merged the two stories)."""
    from tests.unit.test_similarity import _BACKGROUND, _FOLLOW_UP

    lines = [line.strip() for line in _SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    body = [lines[2].split(",", 1)[1], *lines[3:]]
    rows = {
        "original": {
            "id": "original",
            "headline": "Russia offered Taliban-linked militants bounties, report says",
            "published": "2020-06-27T09:00:00Z",
            "text": "\n\n".join(["WASHINGTON (Reuters) - " + body[0], *body[1:], *_BACKGROUND]),
        },
        "paywalled": {
            "id": "paywalled",
            "headline": "Moscow denies bounty report",
            "published": "2020-06-27T14:00:00Z",
            "text": "\n\n".join(["ISLAMABAD: " + body[0], body[1], "Subscribe to continue reading."]),
        },
        "follow": {
            "id": "follow",
            "headline": "Lawmakers demand answers on bounty reports",
            "published": "2020-06-30T09:00:00Z",
            "text": "\n\n".join(["WASHINGTON (Reuters) - " + body[0], body[1], *_FOLLOW_UP]),
        },
    }
    root = tmp_path / "site"
    for outlet, slugs in runs:
        _write_outlet(root, outlet, [rows[slug] for slug in slugs])
    alias = demo_settings.elasticsearch.articles_alias
    with SiteServer(root) as site:
        ids = {
            slug: doc_id_for_url(f"{site.base_url}/{outlet}/{slug}.html")
            for outlet, slugs in runs
            for slug in slugs
        }
        for outlet, _slugs in runs:
            settings = demo_settings.model_copy(
                update={"feeds": (FeedSpec(url=f"{site.base_url}/{outlet}/feed.xml", name=outlet),)}
            )
            run_batch(settings, beam_options([]))
    stories = _stories(es_client, alias)
    assert stories[ids["paywalled"]]["cluster_id"] == stories[ids["original"]]["cluster_id"]
    assert {stories[ids[s]]["size"] for s in ("original", "paywalled")} == {2}
    assert stories[ids["follow"]]["cluster_id"] != stories[ids["original"]]["cluster_id"]
    assert stories[ids["follow"]]["size"] == 1


def test_a_revised_canonical_copy_dated_later_hands_the_flag_to_the_earliest_copy(
    demo_settings, es_client, tmp_path
):
    """The canonical copy's feed entry is revised and its page now gives a later date: the
    re-fetched article keeps its cluster, and the flag moves to the copy that is now the
    earliest (before: the revised article kept it, dated two days after the copy)."""
    import shutil

    lines = [line.strip() for line in _SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    body = [lines[2].split(",", 1)[1], *lines[3:]]
    rows = {
        "original": {
            "id": "original",
            "headline": "Russia offered Taliban-linked militants bounties, report says",
            "published": "2020-06-27T09:00:00Z",
            "text": "\n\n".join(["WASHINGTON (Reuters) - " + body[0], *body[1:]]),
        },
        "copy": {
            "id": "copy",
            "headline": "Moscow denies bounty report",
            "published": "2020-06-27T14:00:00Z",
            "text": "\n\n".join(["ISLAMABAD-NEW YORK, " + body[0], *body[1:-2]]),
        },
    }
    root = tmp_path / "site"
    _write_outlet(root, "wire", [rows["original"], rows["copy"]])
    alias = demo_settings.elasticsearch.articles_alias
    with SiteServer(root) as site:
        ids = {slug: doc_id_for_url(f"{site.base_url}/wire/{slug}.html") for slug in rows}
        settings = demo_settings.model_copy(
            update={"feeds": (FeedSpec(url=f"{site.base_url}/wire/feed.xml", name="wire"),)}
        )
        run_batch(settings, beam_options([]))
        first = _stories(es_client, alias)
        assert [i for i in ids.values() if first[i]["is_canonical"]] == [ids["original"]]
        shutil.rmtree(root / "wire")
        _write_outlet(root, "wire", [{**rows["original"], "published": "2020-06-29T09:00:00Z"}, rows["copy"]])
        summary = run_batch(settings, beam_options([]))
    assert summary.get("news.known/revised") == 1
    after = _stories(es_client, alias)
    assert {after[i]["cluster_id"] for i in ids.values()} == {first[ids["original"]]["cluster_id"]}
    assert {after[i]["size"] for i in ids.values()} == {2}
    assert [i for i in ids.values() if after[i]["is_canonical"]] == [ids["copy"]]
