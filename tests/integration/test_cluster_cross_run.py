"""Story clusters across runs: a copy arriving later joins the indexed
cluster, and a copy published earlier than the indexed canonical only moves
``story.is_canonical``; sizes stay current on every member."""

from __future__ import annotations

import pytest

from newsbeam.config.settings import FeedSpec
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import run_batch
from newsbeam.transforms.model import doc_id_for_url

pytestmark = pytest.mark.slow


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
