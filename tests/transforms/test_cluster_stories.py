import json
import random
from pathlib import Path

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.transforms.model import Article
from newsbeam.transforms.stories import ClusterStories

DATA = Path(__file__).resolve().parents[2] / "bench" / "data" / "wirecopies.jsonl"


def _articles():
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = rows[:30]
    articles = [
        Article(id=r["id"], url=f"https://x.example/{r['id']}", canonical_url=f"https://x.example/{r['id']}",
                urls=(), title=r.get("headline"), body=r["text"], published=r.get("published"))
        for r in rows
    ]  # fmt: skip
    return rows, articles


def _expected(rows):
    """Gold clusters labelled the way the contract says: the earliest member's id."""
    from newsbeam.transforms.stories import _time_key

    members = {}
    for r in rows:
        members.setdefault(r["cluster"], []).append(r)
    expected = []
    for group in members.values():
        first = min(group, key=lambda r: _time_key(r.get("published"), r["id"]))
        for r in group:
            expected.append((r["id"], first["id"], r["id"] == first["id"], len(group)))
    return expected


def test_copies_share_the_earliest_id_in_any_arrival_order():
    rows, articles = _articles()
    expected = _expected(rows)
    assert len({e[1] for e in expected}) < len(expected)  # the sample has multi-copy stories
    for seed in (1, 2):
        shuffled = list(articles)
        random.Random(seed).shuffle(shuffled)
        with TestPipeline() as p:
            out = p | beam.Create(shuffled) | ClusterStories()
            assert_that(
                out.articles
                | beam.Map(lambda a: (a.id, a.story["cluster_id"], a.story["is_canonical"], a.story["size"])),
                equal_to(expected),
                label="stories",
            )
            assert_that(out.updates, equal_to([]), label="no updates without an index")


def test_dateline_and_band_keys_are_set():
    body = (
        "ISLAMABAD-NEW YORK,A Russian military unit secretly sought to offer rewards to militants, "
        "the newspaper reported on Saturday, citing unnamed officials. " * 3
    )
    article = Article(id="a", url="u", canonical_url="u", urls=(), title="t", body=body)
    with TestPipeline() as p:
        out = p | beam.Create([article]) | ClusterStories()
        assert_that(
            out.articles
            | beam.Map(lambda a: (a.dateline_places, len(a.band_keys) > 0, a.fingerprint is not None)),
            equal_to([(("Islamabad", "New York"), True, True)]),
        )
