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
    batches = record_calls(story_index._LookupFn, "process", lambda self, batch, *_: len(batch))
    with TestPipeline() as p:
        _ = p | beam.Create(nodes) | story_index.LookupIndexedCopies(es_settings, config, batch_size=5)
    assert sorted(batches) == [2, 5]


# -- clusters larger than one search returns -----------------------------------------------------

WINDOW = 5  # index.max_result_window of the test index: a cluster of 12 cannot be read at once
STORY = ("The harbour council voted on Tuesday to extend the winter ferry timetable after a long "
         "debate about costs, crew shortages and the needs of island residents. ") * 4  # fmt: skip


def _big_cluster_source(doc_id: str, published: str | None) -> dict:
    from newsbeam.transforms.similarity import DedupConfig, band_keys, fingerprint
    from newsbeam.transforms.stories import encode_fingerprint

    config = DedupConfig()
    fp = fingerprint(STORY, config)
    source = {
        "url": f"http://example.com/{doc_id}",
        "title": doc_id,
        "story": {"cluster_id": "m00", "is_canonical": doc_id == "m00", "size": 1},
        "story_bands": list(band_keys(fp, config)),
        "story_fp": encode_fingerprint(fp),
    }
    if published:
        source["published"] = published
    return source


@pytest.fixture(params=[2, 3, 20], ids=["walked", "earliest-read", "all-read"])
def big_cluster(es_client, es_settings, index_prefix, monkeypatch, request):
    """Cluster m00 of 12 indexed copies, in an index that returns at most 5 hits per search; the
    earliest copies (m10 and m11, tied) are indexed last, m05 has no date.  Each cluster's
    earliest 2 members read with its size do not show where the ties end (the members are
    walked, 2 a page), 3 do."""
    setup_indices(es_client, index_prefix)
    alias = es_settings.articles_alias
    es_client.indices.put_settings(index=alias, settings={"index": {"max_result_window": WINDOW}})
    monkeypatch.setattr(story_index, "_MAX_HITS", WINDOW)
    monkeypatch.setattr(story_index, "_PAGE", 2, raising=False)
    monkeypatch.setattr(story_index, "_EARLIEST", request.param, raising=False)
    for i in range(12):
        day = {10: "01", 11: "01", 5: None}.get(i, f"{i + 2:02d}")
        es_client.index(index=alias, id=f"m{i:02d}", document=_big_cluster_source(
            f"m{i:02d}", day and f"2020-03-{day}T08:00:00Z"))  # fmt: skip
    es_client.indices.refresh(index=alias)
    return request.param


def _lookup(es_settings, node_ids: list[str], batch_ids=None) -> dict:
    from newsbeam.transforms.similarity import DedupConfig

    fn = story_index._LookupFn(es_settings, DedupConfig())
    fn.setup()
    try:
        return fn._clusters(["m00"], node_ids, dict.fromkeys(batch_ids or node_ids))
    finally:
        fn.teardown()


def test_a_cluster_larger_than_a_search_gets_its_full_size_and_earliest_canonical(
    big_cluster, es_settings, monkeypatch
):
    walks = []
    walk = story_index._walk
    monkeypatch.setattr(story_index, "_walk", lambda *args: walks.append(args[2]) or walk(*args))
    info = _lookup(es_settings, ["new"])["m00"]
    assert len(walks) == (1 if big_cluster == 2 else 0)  # read once, with the size, where it can be
    assert info.size == 12
    # m10 and m11 share the earliest date: the smaller id, though neither is in a first page
    assert (info.canonical_id, info.canonical_published) == ("m10", "2020-03-01T08:00:00Z")
    assert info.members == ()


def test_a_member_in_the_batch_again_is_skipped_for_the_canonical_and_counted_once(big_cluster, es_settings):
    from newsbeam.transforms.stories import resolve_clusters

    # m10 re-fetched with a later date (its own lookup), m01 re-fetched in another lookup batch
    info = _lookup(es_settings, ["m10"], batch_ids=["m10", "m01"])["m00"]
    assert info.size == 12 and "m10" in info.members
    assert [doc_id for doc_id, _ in info.dated] == ["m11"]
    stories, updates = resolve_clusters([("m10", "2020-04-01T00:00:00Z")], [], [("m10", info)])
    assert stories == {"m10": {"cluster_id": "m00", "is_canonical": False, "size": 12}}
    assert [(u.size, u.canonical_id) for u in updates] == [(12, "m11")]


def test_a_new_copy_of_a_cluster_larger_than_a_search_joins_with_the_full_size(big_cluster, es_settings):
    from newsbeam.transforms.similarity import DedupConfig, fingerprint
    from newsbeam.transforms.stories import _Node, resolve_clusters

    config = DedupConfig()
    node = _Node("new", "2020-03-20T00:00:00Z", fingerprint(STORY, config))

    def resolve(match):
        stories, updates = resolve_clusters([("new", "2020-03-20T00:00:00Z")], [], [match])
        return stories["new"], [(u.size, u.canonical_id) for u in updates]

    with TestPipeline() as p:
        matches = p | beam.Create([node]) | story_index.LookupIndexedCopies(es_settings, config)
        resolved = matches | beam.Map(resolve)
        expected = ({"cluster_id": "m00", "is_canonical": False, "size": 13}, [(13, "m10")])
        assert_that(resolved, equal_to([expected]))


def test_every_member_of_a_cluster_larger_than_a_search_gets_its_update(big_cluster, es_settings):
    update = StoryUpdate(old_cluster_id="m00", cluster_id="m00", size=13, canonical_id="new")
    with TestPipeline() as p:
        ids = p | beam.Create([update]) | ApplyStoryUpdates(es_settings) | beam.Map(lambda a: a.id)
        assert_that(ids, equal_to([f"m{i:02d}" for i in range(12)]))


def test_lookups_of_a_large_cluster_in_the_batch_again_walk_it_once_per_bundle(
    big_cluster, es_settings, record_calls
):
    # A re-extraction: every member is in the batch again, so each lookup batch that matches the
    # cluster scans all of it for the canonical copy; the walk is done once for the bundle.
    from newsbeam.transforms.similarity import DedupConfig

    walks = record_calls(story_index, "_walk", lambda *args: args[2])
    every = dict.fromkeys([f"m{i:02d}" for i in range(12)] + ["new"])
    fn = story_index._LookupFn(es_settings, DedupConfig())
    fn.setup()
    searches = record_calls(fn._client, "search", lambda **kw: "pit" in kw)  # walked: True
    try:
        fn.start_bundle()
        infos = [fn._clusters(["m00"], [f"m{i:02d}"], every)["m00"] for i in range(4)]
        # a lookup batch whose ids leave an early member out needs less than was walked
        fewer = fn._clusters(["m00"], ["m03"], dict.fromkeys(["m03", "m10", "new"]))["m00"]
        fn.start_bundle()
        again = fn._clusters(["m00"], ["m00"], every)["m00"]
    finally:
        fn.teardown()
    assert len(walks) == (0 if big_cluster == 20 else 2)  # once per bundle
    # one search per lookup; a walk reads 12 members 2 a page (and an empty page)
    assert searches.count(False) == 6 and searches.count(True) == len(walks) * 7
    for info in [*infos, again]:
        assert info.size == 12 and (info.canonical_id, info.dated[0][0]) == ("m10", "m10")
        assert len(info.members) == 12  # every member is in the batch again
    assert (fewer.canonical_id, [doc_id for doc_id, _ in fewer.dated]) == ("m10", ["m11"])


def test_a_member_in_the_batch_that_no_longer_copies_its_cluster_counts_once(
    es_client, es_settings, index_prefix
):
    # Cluster a = {a, y}; y is re-fetched with another text and copies nothing indexed; z, in
    # another lookup batch, copies a and its batch links it to y: the story is a, y, z.
    from newsbeam.transforms.similarity import DedupConfig, fingerprint
    from newsbeam.transforms.stories import _Node, resolve_clusters

    setup_indices(es_client, index_prefix)
    alias = es_settings.articles_alias
    for doc_id, day in [("a", "01"), ("y", "02")]:
        source = _big_cluster_source(doc_id, f"2020-03-{day}T08:00:00Z")
        source["story"] = {"cluster_id": "a", "is_canonical": doc_id == "a", "size": 2}
        es_client.index(index=alias, id=doc_id, document=source)
    es_client.indices.refresh(index=alias)
    config = DedupConfig()
    other = "A school in the valley opened a new library wing with help from parents and pupils. " * 4
    batch = [_Node("y", "2020-03-05T00:00:00Z", fingerprint(other, config)),
             _Node("z", "2020-03-06T00:00:00Z", fingerprint(STORY, config))]  # fmt: skip
    fn = story_index._LookupFn(es_settings, config)
    fn.setup()
    try:
        fn.start_bundle()
        every = dict.fromkeys(["y", "z"])
        matches = [match for node in batch for match in fn.process([node], every)]
    finally:
        fn.teardown()
    nodes = [(node.id, node.published) for node in batch]
    stories, updates = resolve_clusters(nodes, [("y", "z")], matches)
    assert stories["y"] == stories["z"] == {"cluster_id": "a", "is_canonical": False, "size": 3}
    assert [(u.old_cluster_id, u.size, u.canonical_id) for u in updates] == [("a", 3, "a")]
