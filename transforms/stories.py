"""ClusterStories: give syndicated copies of one story one ``story.cluster_id``.

Input: ``Article``.  Output (``ClusterOutputs``): ``articles`` with
``story`` (``cluster_id``, ``is_canonical``, ``size``), ``band_keys``,
``dateline_places`` and ``agency`` set; ``updates``, partial updates
(``StoryUpdate``) for articles indexed by earlier runs whose cluster grew,
merged or lost its canonical copy.

The graph (semantics: "Clusters" in DESIGN.md; similarity:
``transforms.similarity``)::

    Fingerprint ─► (band, id) ─► GroupByKey(band) ─► join+verify ─┬─► digests (keyed) ─┐
         │                                                    └────────────────────┤
         │                                                                         ├─► Resolve (ids,
         └─► BatchElements ─► look up indexed copies by band key ─► verify ────────┘    dates, edges)
                                                                                 │
            articles + story fields ◄── side input (id → story) ◄───────────────┤
            StoryUpdate per earlier cluster that changed ◄───────────────────────┘

* Fingerprints and band keys are pure functions of the body and the frozen
  ``DedupConfig`` (seeded), so every worker computes the same keys.
* Candidate pairs come from band buckets of ids (only ids are grouped by
  band: a fingerprint would travel once per band key); buckets larger than
  ``max_bucket`` (boilerplate shared by thousands of pages) are skipped and
  counted, never scanned pairwise.  Each distinct pair then meets its two
  fingerprints in two keyed joins and is verified there, in parallel.
* Across runs the band keys are stored in the article (``story_bands``,
  keyword) with the verification data (``story_fp``, not indexed); a new
  article looks up indexed articles sharing a band key in batches and
  verifies them, so a copy arriving tomorrow joins today's cluster.
* Digest detection is keyed too: each document with two or more verified
  partners meets its partners' fingerprints and adjacency in one group
  (``FindDigests``), in parallel.
* ``Resolve`` runs once per batch (in streaming: once per window) on one
  worker and receives only what union-find needs: (id, published) per
  article, the verified edges, the indexed matches and the digest ids — no
  fingerprints, about 150 bytes per article plus 100 per edge.  Its input
  grows with the batch or window, never with the stream: what earlier
  batches indexed is looked up, not kept.  ``bench/resolve.py`` measures the
  step at 1,000,000 articles.
* Ids: within a batch, the id of the earliest member (ties: smallest id);
  a cluster already indexed keeps its id; an article joining two indexed
  clusters merges them into the one whose id sorts first.  The canonical
  copy is the earliest ``published`` (ties: smallest id) across the whole
  cluster, indexed members included.

Counters in ``news.stories``: ``fingerprinted``, ``candidate_pairs``,
``copies``, ``indexed_matches``, ``oversized_buckets``, ``clusters_updated``.
"""

from __future__ import annotations

import base64
import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import apache_beam as beam

from newsbeam.transforms.dateline import parse_dateline
from newsbeam.transforms.model import Article, parse_instant
from newsbeam.transforms.similarity import (
    DedupConfig,
    Fingerprint,
    _parse_time,
    band_keys,
    find_digests,
    find_shared_excerpts,
    fingerprint,
    is_copy,
)

__all__ = [
    "ClusterOutputs",
    "ClusterStories",
    "IndexedCluster",
    "StoryUpdate",
    "decode_fingerprint",
    "encode_fingerprint",
    "resolve_clusters",
]

_NS = "news.stories"


# -- pure parts ---------------------------------------------------------------


def encode_fingerprint(fp: Fingerprint) -> dict[str, Any]:
    """The verification data stored with an article (``story_fp``)."""
    return {
        "s": base64.b64encode(fp.shingles).decode("ascii"),
        "p": list(fp.paragraph_ends),
        "w": fp.words,
        "b": base64.b64encode(fp.soft).decode("ascii"),
        "q": list(fp.soft_ends),
        "h": list(fp.sections),
        "n": base64.b64encode(fp.numbers).decode("ascii"),
        "m": list(fp.number_ends),
        "c": base64.b64encode(fp.chars).decode("ascii"),
        "e": list(fp.char_ends),
    }


def decode_fingerprint(data: dict[str, Any]) -> Fingerprint:
    """Rebuild what ``is_copy`` needs from ``encode_fingerprint``'s output."""
    return Fingerprint(
        minhash=(),
        lead=(),
        shingles=base64.b64decode(data["s"]),
        paragraph_ends=tuple(int(x) for x in data["p"]),
        words=int(data.get("w", 0)),
        # Absent in articles indexed before the rewrite signal: containment only.
        soft=base64.b64decode(data.get("b", "")),
        soft_ends=tuple(int(x) for x in data.get("q", ())),
        sections=tuple(int(x) for x in data.get("h", ())),
        # Absent in articles indexed before figures were compared: not checked.
        numbers=base64.b64decode(data.get("n", "")),
        number_ends=tuple(int(x) for x in data.get("m", ())),
        # Absent in articles indexed before the noise signal: the word signals only.
        chars=base64.b64decode(data.get("c", "")),
        char_ends=tuple(int(x) for x in data.get("e", ())),
    )


@dataclasses.dataclass(frozen=True)
class IndexedCluster:
    """A cluster of articles indexed by earlier runs, with its members' ids
    (a re-extracted or re-fetched article may be in the batch and in the
    index at once: sizes count it once).  ``excerpt``: the new article that
    matched it lies wholly inside the member it matched (an opening cut from
    it), so it may not bridge that story to another one of its batch.
    ``dated``: (id, stored ``published``) of every member, when known: a
    member in the batch again (re-fetched after its feed entry was revised)
    counts with its new date, and the others with theirs, so the canonical
    flag leaves a copy whose new date is no longer the earliest.

    ``size``: how many articles the index holds in the cluster, when counted
    there (a cluster may hold more than a search returns): ``members`` and
    ``dated`` then hold only what the canonical flag and the size need, the
    members that are in the batch again and the earliest members up to the
    first one that is not (see ``connectors.story_index``).  ``None``:
    ``members`` is every member.

    ``held``: not a match: the article (``members``) is indexed in the cluster but copies none
    of it (re-fetched with a revised text); it joins the cluster only through another link,
    and then counts once in the size."""

    cluster_id: str
    canonical_id: str
    canonical_published: str | None
    members: tuple[str, ...]
    excerpt: bool = False
    dated: tuple[tuple[str, str | None], ...] = ()
    size: int | None = None
    held: bool = False


@dataclasses.dataclass(frozen=True)
class StoryUpdate:
    """Set ``story`` on every indexed article whose cluster id is ``old_cluster_id``."""

    old_cluster_id: str
    cluster_id: str
    size: int
    canonical_id: str


def _time_key(published: str | None, doc_id: str) -> tuple:
    """Sort key: earliest ``published`` first, missing dates last, then id."""
    moment = parse_instant(published)
    if moment is not None:
        return (0, moment.timestamp(), doc_id)
    return (1, 0.0, doc_id)


def resolve_clusters(
    nodes: Sequence[tuple[str, str | None]],
    edges: Iterable[tuple[str, str]],
    matches: Iterable[tuple[str, IndexedCluster]],
    excluded: Iterable[str] = (),
    joins: Mapping[str, Sequence[str]] | None = None,
) -> tuple[dict[str, dict[str, Any]], list[StoryUpdate]]:
    """Cluster assignments for a batch (pure, order-independent).

    ``nodes``: (id, published) of the batch's new articles; ``edges``:
    verified copy pairs among them; ``matches``: (new id, indexed cluster it
    copies, or is indexed in: ``IndexedCluster.held``); ``excluded``: ids kept out of every cluster (digests);
    ``joins``: shared excerpts, each linked through its one edge to the
    first of its ranked partners that is not excluded, or to none
    (``find_shared_excerpts``).  An article that is an
    excerpt of an indexed cluster (``IndexedCluster.excerpt``) keeps only
    its edges to articles that match that cluster too: it is the opening of
    the indexed story, and another article it copies but the story does not
    (a follow-up reusing that opening) stays apart.
    Returns the ``story`` of every new article and the updates that indexed
    clusters need.
    """
    excluded = set(excluded)
    joins = {
        doc: next((p for p in ranked if p not in excluded), None) for doc, ranked in (joins or {}).items()
    }
    matches = list(matches)
    held = [(doc_id, indexed) for doc_id, indexed in matches if indexed.held]
    matches = [(doc_id, indexed) for doc_id, indexed in matches if not indexed.held]
    matched: dict[str, set[str]] = defaultdict(set)
    anchored: dict[str, set[str]] = defaultdict(set)  # excerpts of indexed clusters
    for doc_id, indexed in matches:
        matched[doc_id].add(indexed.cluster_id)
        if indexed.excerpt:
            anchored[doc_id].add(indexed.cluster_id)

    def linked(a: str, b: str) -> bool:
        if joins.get(a, b) != b or joins.get(b, a) != a:  # a shared excerpt links one partner only
            return False
        return all(not anchored.get(x) or anchored[x] & matched.get(y, set()) for x, y in ((a, b), (b, a)))

    published = dict(nodes)
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    clusters: dict[str, IndexedCluster] = {}
    known_members: dict[str, set[str]] = defaultdict(set)  # every report of a cluster adds its own
    for doc_id in published:
        find(f"n:{doc_id}")
    for a, b in edges:
        if a not in published or b not in published or a in excluded or b in excluded:
            continue
        if linked(a, b):
            union(f"n:{a}", f"n:{b}")
    for doc_id, indexed in matches:
        if doc_id in published and doc_id not in excluded:
            known = clusters.get(indexed.cluster_id)
            # Several copies may report one cluster; keep the earliest canonical seen.
            if known is None or _time_key(indexed.canonical_published, indexed.canonical_id) < _time_key(
                known.canonical_published, known.canonical_id
            ):
                clusters[indexed.cluster_id] = indexed
            known_members[indexed.cluster_id].update(indexed.members)
            union(f"n:{doc_id}", f"c:{indexed.cluster_id}")
    for _doc_id, indexed in held:  # already indexed in the cluster, should a link lead back to it
        known_members[indexed.cluster_id].update(indexed.members)

    components: dict[str, list[str]] = defaultdict(list)
    for node in list(parent):
        components[find(node)].append(node)

    stories: dict[str, dict[str, Any]] = {}
    updates: list[StoryUpdate] = []
    for members in components.values():
        new_ids = sorted(m[2:] for m in members if m.startswith("n:"))
        indexed_ids = sorted(m[2:] for m in members if m.startswith("c:"))
        if not new_ids:
            continue
        earliest_new = min(new_ids, key=lambda i: _time_key(published.get(i), i))
        target = indexed_ids[0] if indexed_ids else earliest_new
        # Indexed members counted in the index, plus the new articles that are none of them
        # (a re-fetched member counts once).
        indexed_members = set().union(*(known_members[c] for c in indexed_ids))
        size = sum(
            len(known_members[c]) if clusters[c].size is None else clusters[c].size for c in indexed_ids
        ) + len(set(new_ids) - indexed_members)
        candidates = [(published.get(i), i) for i in new_ids]
        for c in indexed_ids:
            # A member in the batch (re-extracted, re-fetched) counts with its new date: when it
            # was the canonical copy, the earliest of the others may take over.
            dated = clusters[c].dated or ((clusters[c].canonical_id, clusters[c].canonical_published),)
            candidates += [(date, i) for i, date in dated if i not in published]
        canonical = min(candidates, key=lambda pc: _time_key(pc[0], pc[1]))[1]
        for doc_id in new_ids:
            stories[doc_id] = {"cluster_id": target, "is_canonical": doc_id == canonical, "size": size}
        for c in indexed_ids:
            updates.append(
                StoryUpdate(old_cluster_id=c, cluster_id=target, size=size, canonical_id=canonical)
            )
    return stories, sorted(updates, key=lambda u: u.old_cluster_id)


# -- Beam ---------------------------------------------------------------------


class _Node(NamedTuple):
    id: str
    published: str | None
    fp: Fingerprint


def _fingerprint_article(config: DedupConfig):
    fingerprinted = beam.metrics.Metrics.counter(_NS, "fingerprinted")

    def fn(article: Article):
        fp = fingerprint(article.body, config)
        dateline = parse_dateline(article.body, ", ".join(article.authors) or None)
        fingerprinted.inc()
        enriched = dataclasses.replace(
            article,
            band_keys=band_keys(fp, config),
            dateline_places=dateline.places,
            agency=dateline.agency,
            fingerprint=encode_fingerprint(fp),
        )
        return enriched, _Node(article.id, article.published, fp)

    return fn


class _CandidatePairsFn(beam.DoFn):
    """One band bucket of ids → each pair in it, ``((a, b), 1)`` with a < b.
    Only ids travel through the band grouping: a node's fingerprint would be
    copied once per band key (about 55), which made that shuffle ~100 MB
    for 300 articles."""

    def __init__(self, max_bucket: int):
        self._max_bucket = max_bucket
        self._pairs = beam.metrics.Metrics.counter(_NS, "candidate_pairs")
        self._oversized = beam.metrics.Metrics.counter(_NS, "oversized_buckets")

    def process(self, keyed):
        _band, ids = keyed
        ids = sorted(set(ids))
        if len(ids) < 2:
            return
        if len(ids) > self._max_bucket:
            self._oversized.inc()
            return
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                self._pairs.inc()
                yield (a, b), 1


class _VerifyPairs(beam.PTransform):
    """``((a, b), buckets)`` → ``(a, b)`` for the pairs that are copies
    (``is_copy(fp_a, fp_b)``).  Each pair meets its two fingerprints in two
    keyed joins; ``copies`` counts a verified pair once per bucket it shared,
    as verifying it in every bucket did."""

    def __init__(self, nodes, config: DedupConfig):
        super().__init__()
        self._nodes = nodes
        self._config = config

    def expand(self, pairs):
        config = self._config
        copies = beam.metrics.Metrics.counter(_NS, "copies")
        fps = self._nodes | "FpById" >> beam.Map(lambda n: (n.id, n.fp))

        def with_first(keyed):
            a, grouped = keyed
            fp = next(iter(grouped["fp"]), None)
            if fp is None:
                return
            for b, buckets in grouped["pair"]:
                yield b, (a, fp, buckets)

        def verify(keyed):
            b, grouped = keyed
            fp_b = next(iter(grouped["fp"]), None)
            if fp_b is None:
                return
            for a, fp_a, buckets in grouped["pair"]:
                if is_copy(fp_a, fp_b, config):
                    copies.inc(buckets)
                    yield a, b

        first = (
            {"pair": pairs | "ByFirst" >> beam.MapTuple(lambda ab, n: (ab[0], (ab[1], n))), "fp": fps}
            | "JoinFirst" >> beam.CoGroupByKey()
            | "WithFirst" >> beam.FlatMap(with_first)
        )
        return (
            {"pair": first, "fp": fps}
            | "JoinSecond" >> beam.CoGroupByKey()
            | "Verify" >> beam.FlatMap(verify)
        )


class _DigestsFn(beam.DoFn):
    """For one document: its adjacency, fingerprint and date, and those of
    each copy partner; yields ``(id, None)`` when it is a digest and ``(id,
    partners)`` when it is a shared excerpt that joins only one of those
    partners (the first that is not a digest)."""

    def __init__(self, config: DedupConfig):
        self._config = config

    def process(self, keyed):
        doc, entries = keyed
        fps: dict[str, Fingerprint] = {}
        neighbours: dict[str, set[str]] = {}
        times: dict[str, float | None] = {}
        for doc_id, partners, fp, published in entries:
            fps[doc_id] = fp
            neighbours[doc_id] = set(partners)
            times[doc_id] = _parse_time(published)
        if len(neighbours.get(doc, ())) < 2:
            return
        # Both decide for each document from its own neighbours and its partners'
        # neighbours, fingerprints and dates only: what is gathered here.
        if doc in find_digests(fps, neighbours, self._config):
            yield doc, None
            return
        joins = find_shared_excerpts(fps, neighbours, self._config, times, docs=[doc])
        if doc in joins:
            yield doc, joins[doc]


class _FindDigests(beam.PTransform):
    """Verified edges + nodes → ``(id, None)`` for digests and ``(id,
    partner)`` for shared excerpts, keyed by document and parallel: each
    document with two or more partners meets its partners' fingerprints,
    dates and adjacency in one group (``find_digests`` and
    ``find_shared_excerpts`` on that neighbourhood)."""

    def __init__(self, nodes, config: DedupConfig):
        super().__init__()
        self._nodes = nodes
        self._config = config

    def expand(self, edges):
        adjacency = (
            edges
            | "BothWays" >> beam.FlatMap(lambda e: [(e[0], e[1]), (e[1], e[0])])
            | "GroupPartners" >> beam.GroupByKey()
            | "SortPartners" >> beam.MapTuple(lambda doc, ps: (doc, tuple(sorted(set(ps)))))
        )
        fps = self._nodes | "FpById" >> beam.Map(lambda n: (n.id, (n.fp, n.published)))

        def spread(keyed):
            doc, grouped = keyed
            partners = next(iter(grouped["adjacency"]), None)
            fp_published = next(iter(grouped["fp"]), None)
            if partners is None or fp_published is None:
                return
            entry = (doc, partners, *fp_published)
            if len(partners) >= 2:
                yield doc, entry
            for partner in partners:
                yield partner, entry

        return (
            {"adjacency": adjacency, "fp": fps}
            | "JoinFingerprints" >> beam.CoGroupByKey()
            | "ToNeighbourhoods" >> beam.FlatMap(spread)
            | "GroupNeighbourhoods" >> beam.GroupByKey()
            | "Digests" >> beam.ParDo(_DigestsFn(self._config))
        )


def _resolve(
    nodes: list[tuple[str, str | None]],
    edges: list[tuple[str, str]],
    matches: list,
    bridges: Iterable[tuple[str, tuple[str, ...] | None]],
):
    """The single-worker step: ids and dates, verified edges, indexed matches,
    digests and shared excerpts only (no fingerprints) → union-find."""
    bridges = list(bridges)
    excluded = {doc_id for doc_id, partners in bridges if partners is None}
    excluded |= {doc_id for doc_id, indexed in matches if indexed is None}
    return resolve_clusters(
        nodes,
        edges,
        [(doc_id, indexed) for doc_id, indexed in matches if indexed is not None],
        excluded,
        {doc_id: partners for doc_id, partners in bridges if partners is not None},
    )


class ClusterOutputs(NamedTuple):
    articles: beam.PCollection
    updates: beam.PCollection


class ClusterStories(beam.PTransform):
    """Article → Article with ``story``; plus ``StoryUpdate`` for indexed clusters.

    ``es_settings``: where indexed articles are looked up (``None``: this
    batch only, as for offline use and tests).
    """

    def __init__(self, config: DedupConfig | None = None, es_settings=None, max_bucket: int = 200):
        super().__init__()
        config = config or DedupConfig()
        if not isinstance(config, DedupConfig):
            raise ValueError("ClusterStories: config must be a DedupConfig")
        if max_bucket < 2:
            raise ValueError(f"ClusterStories: max_bucket must be at least 2, got {max_bucket}")
        self._config = config
        self._es = es_settings
        self._max_bucket = max_bucket

    def expand(self, articles):
        config = self._config
        pairs = articles | "Fingerprint" >> beam.Map(_fingerprint_article(config))
        nodes = pairs | "Nodes" >> beam.MapTuple(lambda _article, node: node)
        edges = (
            nodes
            | "ByBand" >> beam.FlatMap(lambda n: [(key, n.id) for key in band_keys(n.fp, config)])
            | "GroupByBand" >> beam.GroupByKey()
            | "CandidatePairs" >> beam.ParDo(_CandidatePairsFn(self._max_bucket))
            | "BucketsPerPair" >> beam.CombinePerKey(sum)
            | "VerifyPairs" >> _VerifyPairs(nodes, config)
        )
        if self._es is not None:
            from newsbeam.connectors.story_index import LookupIndexedCopies

            matches = nodes | "LookupIndexed" >> LookupIndexedCopies(self._es, config)
        else:
            matches = articles.pipeline | "NoIndex" >> beam.Create([])
        bridges = edges | "FindDigests" >> _FindDigests(nodes, config)
        resolved = (
            nodes
            | "IdAndDate" >> beam.Map(lambda n: (n.id, n.published))
            # without_defaults: works in any window (streaming resolves once per window)
            | "AllNodes" >> beam.CombineGlobally(beam.combiners.ToListCombineFn()).without_defaults()
            | "Resolve"
            >> beam.Map(
                _resolve,
                beam.pvalue.AsList(edges),
                beam.pvalue.AsList(matches),
                beam.pvalue.AsList(bridges),
            )
        )
        stories = resolved | "Stories" >> beam.FlatMap(lambda r: sorted(r[0].items()))
        updates = resolved | "Updates" >> beam.FlatMap(lambda r: r[1])
        labelled = (
            pairs
            | "Articles" >> beam.MapTuple(lambda article, _node: article)
            | "AddStory"
            >> beam.Map(
                lambda a, story_by_id: dataclasses.replace(a, story=story_by_id[a.id]),
                beam.pvalue.AsDict(stories),
            )
        )
        return ClusterOutputs(articles=labelled, updates=updates)
