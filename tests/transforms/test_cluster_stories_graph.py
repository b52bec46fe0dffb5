"""ClusterStories' keyed graph (digests found per neighbourhood, Resolve on ids,
dates and edges only) gives the clusters of the one-process ``cluster()``."""

import json
import random
from pathlib import Path

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.transforms.model import Article
from newsbeam.transforms.similarity import DedupConfig, cluster, fingerprint
from newsbeam.transforms.stories import ClusterStories

DATA = Path(__file__).resolve().parents[2] / "bench" / "data" / "wirecopies.jsonl"
CONFIG = DedupConfig()


def _article(doc_id: str, body: str, published: str | None = None) -> Article:
    url = f"https://x.example/{doc_id}"
    return Article(id=doc_id, url=url, canonical_url=url, urls=(), title=None, body=body, published=published)


def _graph_labels(articles: list[Article]) -> list[tuple[str, str]]:
    with TestPipeline() as p:
        out = p | beam.Create(articles) | ClusterStories(CONFIG)
        labels = out.articles | beam.Map(lambda a: (a.id, a.story["cluster_id"]))
        expected = cluster([(a.id, fingerprint(a.body, CONFIG), a.published) for a in articles], CONFIG)
        assert_that(labels, equal_to(sorted(expected.items())))
    return expected


def _story(rng: random.Random, paragraphs: int) -> list[str]:
    vocab = [
        "".join(rng.choice("abcdefghijklmnoprstuvw") for _ in range(rng.randint(3, 9))) for _ in range(3000)
    ]
    return [" ".join(rng.choice(vocab) for _ in range(40)) + "." for _ in range(paragraphs)]


def test_digest_interleaving_two_stories_is_kept_out_of_both():
    rng = random.Random(1)
    first, second = _story(rng, 7), _story(rng, 7)
    digest = [p for pair in zip(first, second) for p in pair]
    articles = [
        _article("a", "\n\n".join(first)),
        _article("a2", "\n\n".join(first[:-1])),
        _article("b", "\n\n".join(second)),
        _article("d", "\n\n".join(digest)),
    ]
    labels = _graph_labels(articles)
    assert labels == {"a": "a", "a2": "a", "b": "b", "d": "d"}


def test_wire_copies_cluster_as_in_one_process():
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    articles = [_article(r["id"], r["text"], r.get("published")) for r in rows]
    labels = _graph_labels(articles)
    assert len(set(labels.values())) < len(labels)  # copies were found


def test_counters_count_pairs_per_shared_bucket_as_bucket_by_bucket_verification():
    """Only ids are grouped by band, then each distinct pair is verified once:
    ``candidate_pairs`` and ``copies`` still count a pair once per band bucket
    it shares, as verifying bucket by bucket did."""
    from itertools import combinations

    from apache_beam.metrics.metric import MetricsFilter

    from newsbeam.transforms.similarity import band_keys, is_copy

    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    articles = [_article(r["id"], r["text"], r.get("published")) for r in rows]
    fps = {a.id: fingerprint(a.body, CONFIG) for a in articles}
    buckets: dict[str, set[str]] = {}
    for doc_id, fp in fps.items():
        for key in band_keys(fp, CONFIG):
            buckets.setdefault(key, set()).add(doc_id)
    pairs = [pair for ids in buckets.values() for pair in combinations(sorted(ids), 2)]
    copies = sum(1 for a, b in pairs if is_copy(fps[a], fps[b], CONFIG))
    assert copies > 0

    p = TestPipeline()
    _ = p | beam.Create(articles) | ClusterStories(CONFIG)
    result = p.run()
    result.wait_until_finish()

    def counter(name):
        found = result.metrics().query(MetricsFilter().with_name(name))["counters"]
        return sum(c.committed for c in found)

    assert (counter("candidate_pairs"), counter("copies")) == (len(pairs), copies)


def test_an_opening_that_a_follow_up_reuses_joins_one_story_and_bridges_nothing():
    """A paywalled copy of an article's first two paragraphs is also wholly
    inside a follow-up that reuses them word for word: it joins the article
    published closest to it, and the follow-up stays apart."""
    rng = random.Random(2)
    original, later = _story(rng, 10), _story(rng, 8)
    articles = [
        _article("a", "\n\n".join(original), "2020-06-27T10:00:00Z"),
        _article("e", "\n\n".join(original[:2]), "2020-06-27T11:00:00Z"),
        _article("f", "\n\n".join(original[:2] + later), "2020-06-30T09:00:00Z"),
    ]
    assert _graph_labels(articles) == {"a": "a", "e": "a", "f": "f"}
    # Published next to the follow-up, the same excerpt joins the follow-up.
    articles[1] = _article("e", "\n\n".join(original[:2]), "2020-06-30T08:00:00Z")
    assert _graph_labels(articles) == {"a": "a", "e": "e", "f": "e"}


def test_an_opening_also_carried_by_a_round_up_joins_its_story():
    """The paywalled opening lies wholly inside its article and inside a
    round-up (no inner headlines) that strings that opening with other
    stories'.  The round-up was published closest to it, but only the
    article goes on about the same things after the opening: the excerpt
    joins the article (by date alone it joined the round-up, and before
    shared excerpts were found it merged the two)."""
    from tests.unit.test_similarity import _BACKGROUND, ORIGINAL, _seed_body

    body = _seed_body()
    round_up = [
        *body[:2],
        *ORIGINAL[:2],
        "Crude prices rose on Friday after producers agreed deeper cuts to output, lifting the shares "
        "of energy companies in early trading in London and New York.",
        "Heavy rains flooded villages across southern Pakistan on Thursday, forcing thousands of "
        "families to leave their homes, the provincial government said.",
    ]
    articles = [
        _article("a", "\n\n".join(body + _BACKGROUND), "2020-06-27T08:00:00Z"),
        _article("b", "\n\n".join(ORIGINAL), "2020-06-27T08:00:00Z"),
        _article("d", "\n\n".join(round_up), "2020-06-27T12:00:00Z"),
        _article("e", "\n\n".join(body[:2]), "2020-06-27T12:30:00Z"),
    ]
    labels = _graph_labels(articles)
    assert labels["e"] == labels["a"] == "a"
    assert labels["d"] == "d" and labels["b"] == "b"
