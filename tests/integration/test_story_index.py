"""ApplyStoryUpdates against a real server (embedded noida-db, or ES_URL):
one search per batch of updates gives every member of each old cluster its
own update, and nothing for articles of other clusters."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.connectors import story_index
from newsbeam.connectors.es import setup_indices
from newsbeam.connectors.story_index import ApplyStoryUpdates
from newsbeam.transforms.stories import StoryUpdate

pytestmark = [pytest.mark.es, pytest.mark.es_client]

# id -> story.cluster_id as indexed (None: no story field, the article is its own cluster)
INDEXED = {
    "a1": "a1",
    "a2": "a1",
    "a3": "a1",
    "b1": None,
    "b2": "b1",
    "c1": "c1",
    "c2": "c1",
    "d1": "a1x",  # a cluster id that only shares a prefix with a1
}


@pytest.fixture
def indexed(es_client, es_settings, index_prefix):
    setup_indices(es_client, index_prefix)
    alias = es_settings.articles_alias
    for doc_id, cluster in INDEXED.items():
        source = {"url": f"http://example.com/{doc_id}", "title": doc_id}
        if cluster is not None:
            source["story"] = {"cluster_id": cluster, "is_canonical": doc_id == cluster, "size": 1}
        es_client.index(index=alias, id=doc_id, document=source)
    es_client.indices.refresh(index=alias)
    return alias


def _run(es_settings, updates, batch_size):
    with TestPipeline() as p:
        actions = (
            p
            | beam.Create(updates)
            | ApplyStoryUpdates(es_settings, batch_size=batch_size)
            | beam.Map(
                lambda a: (
                    a.id,
                    a.op,
                    a.source["story"]["cluster_id"],
                    a.source["story"]["is_canonical"],
                    a.source["story"]["size"],
                )
            )  # fmt: skip
        )
        assert_that(actions, equal_to(EXPECTED))


UPDATES = [
    StoryUpdate(old_cluster_id="a1", cluster_id="a1", size=5, canonical_id="a2"),
    StoryUpdate(old_cluster_id="b1", cluster_id="a1", size=5, canonical_id="a2"),  # merged into a1
    StoryUpdate(old_cluster_id="zz", cluster_id="zz", size=2, canonical_id="zz"),  # nothing indexed
]
EXPECTED = [
    ("a1", "update", "a1", False, 5),
    ("a2", "update", "a1", True, 5),
    ("a3", "update", "a1", False, 5),
    ("b1", "update", "a1", False, 5),
    ("b2", "update", "a1", False, 5),
]


@pytest.mark.parametrize("batch_size", [1, 50])
def test_updates_reach_every_member_of_each_old_cluster_only(indexed, es_settings, batch_size):
    _run(es_settings, UPDATES, batch_size)


def test_a_batch_whose_answer_could_be_cut_is_asked_again_in_halves(indexed, es_settings, monkeypatch):
    # With at most 3 hits per search, a1 and b1 together (5 members) would be cut.
    monkeypatch.setattr(story_index, "_MAX_HITS", 3)
    _run(es_settings, UPDATES, 50)


def test_one_search_per_batch_of_updates(indexed, es_settings, record_calls):
    # Each search is a pass over the index on the embedded server: not one per update.
    searches = record_calls(story_index._UpdatesFn, "_members", lambda self, cluster_ids: list(cluster_ids))
    _run(es_settings, UPDATES, 50)
    assert searches == [["a1", "b1", "zz"]]


def test_band_lookups_go_in_full_batches(indexed, es_settings, record_calls):
    from newsbeam.transforms.similarity import DedupConfig, fingerprint
    from newsbeam.transforms.stories import _Node

    config = DedupConfig()
    texts = [f"Story number {i} about the harbour, the council and the ferry timetable for the winter." * 3
             for i in range(7)]  # fmt: skip
    nodes = [_Node(f"n{i}", None, fingerprint(text, config)) for i, text in enumerate(texts)]
    batches = record_calls(story_index._LookupFn, "process", lambda self, batch: len(batch))
    with TestPipeline() as p:
        _ = p | beam.Create(nodes) | story_index.LookupIndexedCopies(es_settings, config, batch_size=5)
    assert sorted(batches) == [2, 5]
