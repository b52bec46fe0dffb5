"""Story state in Elasticsearch: indexed copies of new articles, and the
updates earlier clusters need.  Used by ``transforms.stories.ClusterStories``.

``LookupIndexedCopies``: fingerprint nodes are batched; one ``terms`` query
on ``story_bands`` per batch finds indexed articles sharing a band key; each
candidate is verified with ``is_copy`` on its stored ``story_fp``; a second
query per batch reads the canonical copy (id, published, size) of every
cluster matched.  Output: ``(new id, IndexedCluster)``, or ``(new id,
None)`` for an article that copies two unrelated indexed stories on
disjoint parts of its text (a digest: kept out of clusters).  A shared
excerpt links one story only (``transforms.similarity.find_shared_excerpts``):
a new article that is wholly inside members of two indexed clusters joins
one (the one that goes on about it after the excerpt, then the one published
closest to it); a new article that copies
a cluster only through excerpts of itself, which another member of that
cluster also holds while being no copy of the new article, does not join it
(the excerpt joined the other story when it was indexed).  A match where
the new article is an excerpt of the indexed member says so
(``IndexedCluster.excerpt``): such an article links no article of its own
batch that does not copy the same indexed story.
An article of the lookup that is indexed in a cluster it no longer copies
(re-fetched with a revised text; read with the band keys, by ``_id``) is
output as ``(id, IndexedCluster(held=True))``: a link in its batch to that
cluster then counts it once in the size.

``ApplyStoryUpdates``: for each ``StoryUpdate``, the ids of the indexed
articles of the old cluster are read (one query per batch of updates) and a
partial update of their ``story`` is emitted as an
``IndexAction(op="update")`` for the sink.

If Elasticsearch cannot answer, the DoFns raise and the runner retries the
bundle: a lookup is never silently treated as "no copies".
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import apache_beam as beam

from newsbeam.config.settings import ElasticsearchSettings
from newsbeam.connectors.es_sink import IndexAction
from newsbeam.transforms.similarity import (
    DedupConfig,
    _goes_on,
    _parse_time,
    band_keys,
    is_copy,
    is_excerpt_of,
)

__all__ = ["ApplyStoryUpdates", "LookupIndexedCopies"]

_NS = "news.stories"
_MAX_HITS = 10_000  # index.max_result_window's default: no single search returns more
_PAGE = 500  # hits per page where members are walked in order (point in time + search_after)
_EARLIEST = 20  # earliest members of each cluster read with its size (top_hits)
_BY_TIME = [{"published": {"order": "asc", "missing": "_last"}}, {"_shard_doc": "asc"}]


def _members_query(cluster_ids: list[str]) -> dict:
    """Articles labelled with one of ``cluster_ids``, and the articles whose ``_id`` is one (a
    cluster's id is its first member's ``_id``); callers check each hit's ``story.cluster_id``."""
    return {
        "bool": {
            "should": [{"terms": {"story.cluster_id": cluster_ids}}, {"ids": {"values": cluster_ids}}],
            "minimum_should_match": 1,
        }
    }


def _in_cluster(cluster_id: str) -> dict:
    """Exactly the articles of one cluster: labelled with it, or unlabelled with it as ``_id``."""
    return {
        "bool": {
            "should": [
                {"term": {"story.cluster_id": cluster_id}},
                {"bool": {"filter": [{"ids": {"values": [cluster_id]}}],
                          "must_not": [{"exists": {"field": "story.cluster_id"}}]}},
            ],
            "minimum_should_match": 1,
        }
    }  # fmt: skip


def _walk(client, index: str, query: dict, source: list[str], sort: list, page: int):
    """Every hit of ``query`` in ``sort`` order, a page at a time, on a point in time (a search
    returns at most ``index.max_result_window`` hits, 10,000 by default); the caller may stop
    early.  ``sort`` ends with ``_shard_doc``, which makes ``search_after`` exact."""
    pit = client.open_point_in_time(index=index, keep_alive="2m")["id"]
    try:
        after = None
        while True:
            extra = {} if after is None else {"search_after": after}
            response = client.search(
                pit={"id": pit, "keep_alive": "2m"}, query=query, source=source, sort=sort, size=page,
                track_total_hits=False, **extra,
            )  # fmt: skip
            pit = response.get("pit_id") or pit
            hits = response["hits"]["hits"]
            yield from hits
            if len(hits) < page:
                return
            after = hits[-1]["sort"][: len(sort)]
    finally:
        try:
            client.close_point_in_time(id=pit)
        except Exception:  # it expires by itself; the answer is already read
            pass


class _EsDoFn(beam.DoFn):
    def __init__(self, settings: ElasticsearchSettings):
        self._settings = settings
        self._client = None

    def setup(self):
        from newsbeam.connectors.es import connect

        self._client = connect(self._settings)

    def teardown(self):
        if self._client is not None:
            self._client.close()


class _LookupFn(_EsDoFn):
    def __init__(self, settings: ElasticsearchSettings, config: DedupConfig):
        super().__init__(settings)
        self._config = config
        self._matches = beam.metrics.Metrics.counter(_NS, "indexed_matches")
        self._truncated = beam.metrics.Metrics.counter(_NS, "lookup_truncated")
        self._walked: dict = {}

    def start_bundle(self):
        self._walked = {}  # the index may have changed since the last bundle

    def process(self, nodes, batch_ids=None):
        from newsbeam.transforms.similarity import _matched_region
        from newsbeam.transforms.stories import IndexedCluster, decode_fingerprint

        alias = self._settings.articles_alias
        keys_of = {node.id: set(band_keys(node.fp, self._config)) for node in nodes}
        all_keys = sorted(set().union(*keys_of.values())) if keys_of else []
        if not all_keys:
            return
        # The lookup's own articles come back too, when indexed: the cluster each is in (below).
        own_ids = [node.id for node in nodes]
        response = self._client.search(
            index=alias,
            query={"bool": {"should": [{"terms": {"story_bands": all_keys}}, {"ids": {"values": own_ids}}],
                            "minimum_should_match": 1}},
            source=["story", "published", "story_fp", "story_bands"],
            size=_MAX_HITS,
            ignore_unavailable=True,
        )  # fmt: skip
        hits = response["hits"]["hits"]
        if len(hits) >= _MAX_HITS:
            self._truncated.inc()
        candidates = []
        stored: dict[str, str] = {}  # own id -> the cluster it is indexed in
        for hit in hits:
            src = hit.get("_source") or {}
            if hit["_id"] in keys_of:
                stored[hit["_id"]] = (src.get("story") or {}).get("cluster_id") or hit["_id"]
            if "story_fp" not in src:
                continue
            story = src.get("story") or {}
            candidates.append(
                (hit["_id"], set(src.get("story_bands") or ()), decode_fingerprint(src["story_fp"]),
                 story.get("cluster_id") or hit["_id"], src.get("published"))
            )  # fmt: skip
        matched: dict[str, dict[str, list]] = {}
        for node in nodes:
            for cand_id, cand_keys, cand_fp, cluster_id, published in candidates:
                if cand_id == node.id:  # the same article, indexed by an earlier run
                    continue
                if keys_of[node.id] & cand_keys and is_copy(node.fp, cand_fp, self._config):
                    matched.setdefault(node.id, defaultdict(list))[cluster_id].append(
                        (cand_id, cand_fp, published)
                    )
        by_id = {node.id: node for node in nodes}
        for node_id in list(matched):
            kept = self._without_shared_excerpts(by_id[node_id], matched[node_id], candidates)
            if kept:
                matched[node_id] = kept
            else:
                del matched[node_id]
        yield from self._held(stored, matched)
        if not matched:
            return
        clusters = self._clusters(
            sorted({c for per in matched.values() for c in per}),
            own_ids,
            batch_ids if batch_ids is not None else dict.fromkeys(own_ids),
        )
        for node_id, per_cluster in sorted(matched.items()):
            fps_per_cluster = {c: [fp for _, fp, _ in members] for c, members in per_cluster.items()}
            if len(per_cluster) >= 2 and self._is_digest(by_id[node_id].fp, fps_per_cluster, _matched_region):
                yield node_id, None
                continue
            fp = by_id[node_id].fp
            for cluster_id in sorted(per_cluster):
                self._matches.inc()
                info = clusters.get(cluster_id) or IndexedCluster(cluster_id, cluster_id, None, (cluster_id,))
                if any(
                    is_excerpt_of(fp, member_fp, self._config) for _, member_fp, _ in per_cluster[cluster_id]
                ):
                    info = dataclasses.replace(info, excerpt=True)
                yield node_id, info

    @staticmethod
    def _held(stored: dict[str, str], matched: dict[str, dict]):
        """``(id, IndexedCluster(held=True))`` for each article of the lookup that is indexed in
        a cluster it no longer copies (re-fetched with a revised text): should another article
        of the batch link it to that cluster, it counts once in the size (a lookup reads only
        its own articles' membership, and those met in order up to the canonical copy)."""
        from newsbeam.transforms.stories import IndexedCluster

        for node_id, cluster_id in sorted(stored.items()):
            if cluster_id not in matched.get(node_id, ()):
                yield node_id, IndexedCluster(cluster_id, cluster_id, None, (node_id,), held=True)

    def _without_shared_excerpts(
        self, node, per_cluster: dict[str, list], candidates: list
    ) -> dict[str, list]:
        """``per_cluster`` (cluster id → matched members) without the clusters
        ``node`` reaches only through a shared excerpt."""
        config = self._config
        kept = {}
        for cluster_id, members in per_cluster.items():
            if all(is_excerpt_of(fp, node.fp, config) for _, fp, _ in members):
                matched_ids = {cand_id for cand_id, _, _ in members}
                holders = [
                    cand_fp
                    for cand_id, _, cand_fp, cand_cluster, _ in candidates
                    if cand_cluster == cluster_id and cand_id not in matched_ids and cand_id != node.id
                ]
                if any(
                    is_excerpt_of(fp, holder, config) and not is_copy(node.fp, holder, config)
                    for _, fp, _ in members
                    for holder in holders
                ):
                    continue  # the excerpt joined the other story when it was indexed
            kept[cluster_id] = members
        holding = {
            cluster_id: [
                (fp, published) for _, fp, published in members if is_excerpt_of(node.fp, fp, config)
            ]
            for cluster_id, members in kept.items()
        }
        holding = {cluster_id: held for cluster_id, held in holding.items() if held}
        if len(holding) >= 2:
            own = _parse_time(node.published)

            def rank(cluster_id):  # as find_shared_excerpts ranks partners
                held = holding[cluster_id]
                times = [_parse_time(published) for _, published in held]
                gaps = [abs(t - own) for t in times if t is not None and own is not None]
                goes_on = any(_goes_on(fp, node.fp, config) for fp, _ in held)
                return (not goes_on, min(gaps) if gaps else float("inf"), cluster_id)

            chosen = min(holding, key=rank)
            kept = {c: m for c, m in kept.items() if c == chosen or c not in holding}
        return kept

    def _is_digest(self, fp, per_cluster, matched_region) -> bool:
        regions = {
            c: frozenset().union(*(matched_region(fp, other, self._config) for other in fps))
            for c, fps in per_cluster.items()
        }
        ids = sorted(regions)
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                ra, rb = regions[a], regions[b]
                if ra and rb and len(ra & rb) < self._config.composite_overlap * min(len(ra), len(rb)):
                    return True
        return False

    def _clusters(self, cluster_ids: list[str], own_ids: list[str], batch_ids) -> dict:
        """The size and canonical copy of each indexed cluster, without reading its members: a
        cluster can hold more articles than one search returns (``index.max_result_window``).

        One search per batch: its aggregation gives each cluster's size (a ``terms`` count on
        ``story.cluster_id``) and its ``_EARLIEST`` earliest members (``top_hits`` by
        ``published``, missing last); its hits, the unlabelled articles whose ``_id`` is a
        cluster id (their own cluster) and which of this lookup's articles (``own_ids``) are
        already members.  Canonical: the members in ``published`` order up to the first one
        that is not in the batch again (``batch_ids``: a member in the batch counts with its
        new date) and its ties (the smallest ``_id`` among them: Elasticsearch does not sort on
        ``_id``); when the earliest members read do not reach that far, the cluster's members
        are walked in that order (``_walk``) until they do.  ``members``: the cluster's members
        in the batch that were met, so that ``resolve_clusters`` counts a re-fetched member
        once."""
        from newsbeam.transforms.stories import IndexedCluster, _time_key

        if not cluster_ids:
            return {}
        alias = self._settings.articles_alias
        wanted = set(cluster_ids)
        lookup_ids = sorted(wanted | set(own_ids))
        labelled = {"terms": {"story.cluster_id": cluster_ids}}
        earliest = {"top_hits": {"size": _EARLIEST, "sort": _BY_TIME[:1], "_source": ["published"]}}
        by_id = {"ids": {"values": lookup_ids}}
        response = self._client.search(
            index=alias,
            query={"bool": {"should": [labelled, by_id], "minimum_should_match": 1}},
            post_filter=by_id,
            source=["story", "published"],
            size=len(lookup_ids),
            aggs={"labelled": {"filter": labelled, "aggs": {"clusters": {
                "terms": {"field": "story.cluster_id", "size": len(cluster_ids)},
                "aggs": {"earliest": earliest},
            }}}},
        )  # fmt: skip
        sizes: dict[str, int] = {}
        first: dict[str, list] = {}
        for bucket in response["aggregations"]["labelled"]["clusters"]["buckets"]:
            sizes[bucket["key"]] = bucket["doc_count"]
            first[bucket["key"]] = [
                (hit["_id"], (hit.get("_source") or {}).get("published"))
                for hit in bucket["earliest"]["hits"]["hits"]
            ]
        members: dict[str, set[str]] = defaultdict(set)
        own = set(own_ids)
        for hit in response["hits"]["hits"]:
            source = hit.get("_source") or {}
            cluster_id = (source.get("story") or {}).get("cluster_id")
            if not cluster_id and hit["_id"] in wanted:  # unlabelled: its own cluster
                cluster_id = hit["_id"]
                sizes[cluster_id] = sizes.get(cluster_id, 0) + 1
                first.setdefault(cluster_id, []).append((hit["_id"], source.get("published")))
            if cluster_id in wanted and hit["_id"] in own:
                members[cluster_id].add(hit["_id"])
        result = {}
        for cluster_id in cluster_ids:
            if not sizes.get(cluster_id):
                continue
            docs = sorted(first[cluster_id], key=lambda d: _time_key(d[1], d[0]))
            found = _canonical_scan(docs, batch_ids, complete=len(docs) == sizes[cluster_id])
            if found is None:  # more members in the batch than were read: walk on
                found = self._walked_scan(cluster_id, sizes[cluster_id], batch_ids)
            canonical, dated, in_batch = found
            members[cluster_id] |= in_batch
            result[cluster_id] = IndexedCluster(
                cluster_id, canonical[0], canonical[1], tuple(sorted(members[cluster_id])),
                dated=dated, size=sizes[cluster_id],
            )  # fmt: skip
        return result

    def _walked_scan(self, cluster_id: str, size: int, batch_ids):
        """``_canonical_scan`` over the cluster's members walked in order.  What was walked is
        kept for the bundle (``start_bundle``), under the cluster's id and size, and scanned
        again with each lookup's batch ids; the walk goes on only where they need more: when a
        re-extraction puts every early member of a large cluster in the batch, each lookup
        batch matching it would otherwise walk it all again."""
        key = (cluster_id, size)
        if key in self._walked:
            docs, complete = self._walked[key]
            found = _canonical_scan(docs, batch_ids, complete=complete)
            if found is not None:
                return found
        docs: list = []
        state = {"complete": False}

        def kept(hits):
            for hit in hits:
                docs.append((hit["_id"], (hit.get("_source") or {}).get("published")))
                yield docs[-1]
            state["complete"] = True

        alias = self._settings.articles_alias
        hits = _walk(self._client, alias, _in_cluster(cluster_id), ["published"], _BY_TIME, _PAGE)
        found = _canonical_scan(kept(hits), batch_ids, complete=True)
        self._walked[key] = (docs, state["complete"])
        return found


def _moment(published: str | None) -> tuple:
    from newsbeam.transforms.stories import _time_key

    return _time_key(published, "")[:2]


def _canonical_scan(docs, batch_ids, complete: bool):
    """Over a cluster's members as (id, published) in ``published`` order (missing last): the
    earliest member (the stored canonical), the earliest members not in the batch (the first
    one and its ties) and the members met that are in the batch; None when ``docs`` ends before
    the first member not in the batch has shown all its ties, unless it is ``complete`` (pure)."""
    from newsbeam.transforms.stories import _time_key

    canonical = None
    dated: list = []
    in_batch: set[str] = set()
    for doc_id, published in docs:
        if canonical is None or _time_key(published, doc_id) < _time_key(canonical[1], canonical[0]):
            canonical = (doc_id, published)
        if dated and _moment(published) != _moment(dated[0][1]):
            return canonical, tuple(sorted(dated)), in_batch
        if doc_id in batch_ids:
            in_batch.add(doc_id)
        else:
            dated.append((doc_id, published))
    if not complete or canonical is None:
        return None
    return canonical, tuple(sorted(dated)) or (canonical,), in_batch


class LookupIndexedCopies(beam.PTransform):
    """Fingerprint node → (id, IndexedCluster | None) for indexed copies."""

    def __init__(self, settings: ElasticsearchSettings, config: DedupConfig, batch_size: int = 50):
        super().__init__()
        self._settings = settings
        self._config = config
        self._batch_size = batch_size

    def expand(self, nodes):
        # Full batches from the first element (BatchElements would start at 1 and
        # grow): each search costs a pass over the index on the embedded server.
        # Every id of the batch, for each lookup: a member of an indexed cluster that is in the
        # batch again counts with its new date and once in the size.
        batch_ids = nodes | "Ids" >> beam.Map(lambda node: (node.id, None))
        return (
            nodes
            | "Batch" >> beam.BatchElements(min_batch_size=self._batch_size, max_batch_size=self._batch_size)
            | "Lookup" >> beam.ParDo(_LookupFn(self._settings, self._config), beam.pvalue.AsDict(batch_ids))
        )


class _UpdatesFn(_EsDoFn):
    """A batch of ``StoryUpdate`` → the partial updates of their members.

    One search per batch, not per update: on a server that scans its
    documents for every search (the embedded one), a search per update made
    each wave's tail grow with the index."""

    def __init__(self, settings: ElasticsearchSettings):
        super().__init__(settings)
        self._updated = beam.metrics.Metrics.counter(_NS, "clusters_updated")

    def process(self, updates):
        by_old: dict[str, list] = defaultdict(list)
        for update in updates:
            by_old[update.old_cluster_id].append(update)
        for hit in self._members(sorted(by_old)):
            story = (hit.get("_source") or {}).get("story") or {}
            for update in by_old.get(story.get("cluster_id", hit["_id"]), ()):
                yield IndexAction(
                    index=hit["_index"],
                    id=hit["_id"],
                    source={
                        "story": {
                            "cluster_id": update.cluster_id,
                            "is_canonical": hit["_id"] == update.canonical_id,
                            "size": update.size,
                        }
                    },
                    op="update",
                )
        self._updated.inc(sum(len(v) for v in by_old.values()))

    def _members(self, cluster_ids: list[str]) -> list[dict]:
        """Hits that may belong to the clusters (the caller checks each
        hit's ``story.cluster_id``); a batch whose answer could be cut at
        ``_MAX_HITS`` is asked again in halves."""
        response = self._client.search(
            index=self._settings.articles_alias,
            query=_members_query(cluster_ids),
            source=["story"],
            size=_MAX_HITS,
        )
        hits = response["hits"]["hits"]
        if len(hits) >= _MAX_HITS and len(cluster_ids) > 1:
            half = len(cluster_ids) // 2
            return self._members(cluster_ids[:half]) + self._members(cluster_ids[half:])
        if len(hits) >= _MAX_HITS:  # one cluster larger than a search returns: page through it
            alias = self._settings.articles_alias
            return list(_walk(self._client, alias, _in_cluster(cluster_ids[0]), ["story"],
                              [{"_shard_doc": "asc"}], _PAGE))  # fmt: skip
        return hits


class ApplyStoryUpdates(beam.PTransform):
    """StoryUpdate → IndexAction(op="update") for every indexed member,
    with one search per batch of updates."""

    def __init__(self, settings: ElasticsearchSettings, batch_size: int = 50):
        super().__init__()
        self._settings = settings
        self._batch_size = batch_size

    def expand(self, updates):
        return (
            updates
            | "Batch" >> beam.BatchElements(min_batch_size=self._batch_size, max_batch_size=self._batch_size)
            | "MemberUpdates" >> beam.ParDo(_UpdatesFn(self._settings))
        )
