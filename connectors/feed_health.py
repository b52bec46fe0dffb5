"""WriteFeedHealth: one ``news-feeds`` document per feed, updated every poll.

Inputs: a pair ``(statuses, new_entries)`` of PCollections (``FeedStatus``
from ``ReadFeeds`` and the ``FeedEntry`` values that survived
``SkipKnown``).  The new entries are counted per feed with a
``CoGroupByKey``; the previous document of each feed is read (one ``mget``
per batch) to carry ``error_streak`` and ``last_success`` forward; the new
documents are bulk-indexed under ``_id`` = hash of the feed URL, so a
re-poll updates the same document and never adds one.

The feed's own failure document (``stage: feed``, ``_id`` from the feed
URL) is written here too, with ``attempts`` = the error streak, and deleted
when the feed answers again.

If Elasticsearch cannot be reached or answers an error (after the
client's retries), the batch's documents are not written: they count in
``health_unwritten`` and the failed request in ``news.es_errors``
(connectors/es.py), and the transform goes on, so the run ends with its
figures and fails (pipeline/run.py).  Nothing is lost: the stored
documents keep their validators, so the next run polls those feeds in full
and records their health then.

Counters in ``news.feeds``: ``health_written``, ``health_failed``,
``health_unwritten``; each feed failure also counts in
``news.failures/feed:<reason>``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from typing import Any

import apache_beam as beam

from newsbeam.config.settings import ElasticsearchSettings
from newsbeam.connectors.feed_schedule import combine
from newsbeam.transforms.model import Failure, FeedStatus, failure_id, mask_userinfo

__all__ = ["WriteFeedHealth", "feed_doc_id", "health_document", "read_feed_docs"]

_LOG = logging.getLogger(__name__)


def feed_doc_id(feed_url: str) -> str:
    return hashlib.sha256(feed_url.encode("utf-8")).hexdigest()[:32]


def read_feed_docs(
    client, alias: str, feed_urls: Iterable[str], source: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Feed URL as configured → its ``news-feeds`` document (``source``: only those fields;
    absent: never polled).  Found by ``_id`` (from the configured URL): ``feed.url`` in the
    document goes without the URL's user info."""
    ids = {feed_doc_id(url): url for url in feed_urls}
    docs: dict[str, dict[str, Any]] = {}
    id_list = list(ids)
    for start in range(0, len(id_list), 1000):
        chunk = id_list[start : start + 1000]
        found = client.search(
            index=alias, query={"ids": {"values": chunk}}, size=len(chunk), source=source,
            ignore_unavailable=True,
        )  # fmt: skip
        for hit in found["hits"]["hits"]:
            docs[ids[hit["_id"]]] = hit.get("_source") or {}
    return docs


def _hint(status: FeedStatus, previous: dict[str, Any]) -> float | None:
    """The feed's poll hint: this answer's; after a 304, which carries no feed body, the larger of
    its headers' hint and the one the feed gave before (its ``<ttl>`` still holds)."""
    if status.status != "not_modified":
        return status.poll_after
    return combine(status.poll_after, (previous.get("schedule") or {}).get("hint_seconds"))


def health_document(
    status: FeedStatus, new_items: int, previous: dict[str, Any] | None, run_complete: bool = True
) -> dict[str, Any]:
    """The ``news-feeds`` document after this poll (pure).

    ``http.etag``/``http.last_modified`` are the validators the next poll
    sends: the new response's only when the run wrote everything it found
    (``run_complete``); otherwise the previous ones stay, so a run that could
    not index a feed's articles does not make the next poll answer 304 and
    skip them.
    """
    previous = previous or {}
    ok = status.status in ("ok", "not_modified")
    streak = 0 if ok else int(previous.get("error_streak") or 0) + 1
    old_http = previous.get("http") or {}
    if status.status == "ok" and run_complete:
        validators = {"etag": status.etag, "last_modified": status.last_modified}
    else:
        validators = {"etag": old_http.get("etag"), "last_modified": old_http.get("last_modified")}
    return {
        "feed": {
            "url": mask_userinfo(status.feed_url),
            "name": status.feed_name,
            "title": status.title,
        },
        "status": status.status,
        # moved_to: the feed answered from there after a 301/308 (the operator updates the feeds file)
        "http": {
            "status": status.http_status,
            **validators,
            **({"moved_to": status.moved_to} if status.moved_to else {}),
        },
        "entries": status.entries,
        "new_items": new_items,
        "error": mask_userinfo(status.error),
        "error_streak": streak,
        "schedule": {"hint_seconds": _hint(status, previous)},
        "last_success": status.polled_at if ok else previous.get("last_success"),
        "@timestamp": status.polled_at,
    }


def feed_failure(status: FeedStatus, streak: int) -> Failure | None:
    """The failure document of a feed that could not be polled (pure)."""
    if status.status in ("ok", "not_modified"):
        return None
    return Failure(
        url=status.feed_url,
        stage="feed",
        reason=status.status,
        http_status=status.http_status,
        error=status.error,
        feed_url=status.feed_url,
        attempts=max(1, streak),
        at=status.polled_at,
    )


class _WriteHealthFn(beam.DoFn):
    def __init__(self, settings: ElasticsearchSettings):
        self._settings = settings
        self._client = None
        self._answered, self._operation = 0, "search"
        self._written = beam.metrics.Metrics.counter("news.feeds", "health_written")
        self._failures_written = beam.metrics.Metrics.counter("news.run", "failures_written")
        self._failed = beam.metrics.Metrics.counter("news.feeds", "health_failed")
        self._unwritten = beam.metrics.Metrics.counter("news.feeds", "health_unwritten")

    def setup(self):
        from newsbeam.connectors.es import connect

        self._client = connect(self._settings)

    def teardown(self):
        if self._client is not None:
            self._client.close()

    def process(self, batch: list[tuple[FeedStatus, int]], unwritten: int = 0, incomplete=()):
        """A document Elasticsearch rejects is logged and counted
        (``health_failed``) and the run goes on.  Elasticsearch unreachable or
        failing: the documents not written count in ``health_unwritten`` (the
        feeds' failure documents are written here, and a run that could not
        record them must not end as a success: pipeline/run.py fails it).
        ``incomplete``: feeds with entries left for a later run (budgets),
        whose validators must not advance."""
        from elasticsearch import ApiError, TransportError

        from newsbeam.connectors.es import count_es_error

        self._answered, self._operation = 0, "search"
        try:
            self._write(batch, run_complete=not unwritten, incomplete=frozenset(incomplete))
        except (ApiError, TransportError) as exc:
            what = count_es_error(self._operation, exc)
            left = len(batch) - self._answered
            self._unwritten.inc(left)
            _LOG.warning(
                "feed health of %d feeds not written: %s to a %s request", left, what, self._operation
            )
        return []

    def _write(
        self, batch: list[tuple[FeedStatus, int]], run_complete: bool, incomplete: frozenset = frozenset()
    ) -> None:
        """Keeps ``_operation`` (the request in flight: ``search``, then
        ``bulk``) and ``_answered`` (health documents answered so far)."""
        from elasticsearch import helpers

        alias = self._settings.feeds_alias
        ids = [feed_doc_id(status.feed_url) for status, _ in batch]
        previous = read_feed_docs(self._client, alias, [status.feed_url for status, _ in batch])
        failures_alias = self._settings.failures_alias
        actions = []
        for (status, new), doc_id in zip(batch, ids):
            complete = run_complete and status.feed_url not in incomplete
            document = health_document(status, new, previous.get(status.feed_url), complete)
            actions.append({"_op_type": "index", "_index": alias, "_id": doc_id, "_source": document})
            failure = feed_failure(status, document["error_streak"])
            fid = failure_id("feed", status.feed_url)
            if failure is not None:
                beam.metrics.Metrics.counter("news.failures", f"feed:{failure.reason}").inc()
                actions.append(
                    {
                        "_op_type": "index",
                        "_index": failures_alias,
                        "_id": fid,
                        "_source": failure.to_document(),
                    }
                )
            elif status.status in ("ok", "not_modified"):
                actions.append({"_op_type": "delete", "_index": failures_alias, "_id": fid})
        self._operation = "bulk"
        health_ids = set(ids)
        for ok, item in helpers.streaming_bulk(
            self._client, actions, raise_on_error=False, max_retries=self._settings.max_retries
        ):
            op, info = next(iter(item.items()))
            if op == "delete":
                continue  # deleting a failure that was never recorded is fine (404)
            health = info.get("_id") in health_ids
            if health:
                self._answered += 1
            if ok and health:
                self._written.inc()
            elif ok:  # the feed's own failure document: recorded like every other failure
                self._failures_written.inc()
            else:
                self._failed.inc()
                _LOG.warning("feed health: %s of %s rejected: %s", op, info.get("_id"), info.get("error"))


def _join(grouped):
    _url, groups = grouped
    statuses = list(groups["status"])
    new_items = sum(groups["new"])
    for status in statuses:
        yield status, new_items


class WriteFeedHealth(beam.PTransform):
    def __init__(self, settings: ElasticsearchSettings):
        super().__init__()
        self._settings = settings

    def expand(self, inputs):
        """``inputs``: (statuses, new entries[, unwritten documents[, URLs of
        incomplete feeds]]).  With the third, health is written after the run's documents (a side input waits
        for its producer) and validators advance only if nothing was left
        unwritten."""
        statuses, new_entries, *rest = inputs
        if rest:
            unwritten = beam.pvalue.AsSingleton(rest[0] | "CountUnwritten" >> beam.combiners.Count.Globally())
        else:
            unwritten = beam.pvalue.AsSingleton(statuses.pipeline | "NoneUnwritten" >> beam.Create([0]))
        # Feeds with entries left for a later run (fourth input, feed URLs): validators stay.
        incomplete = beam.pvalue.AsList(
            rest[1] if len(rest) > 1 else statuses.pipeline | "NoneIncomplete" >> beam.Create([])
        )
        keyed_status = statuses | "KeyStatus" >> beam.Map(lambda s: (s.feed_url, s))
        keyed_new = new_entries | "KeyNew" >> beam.Map(lambda e: (e.feed_url, 1))
        return (
            {"status": keyed_status, "new": keyed_new}
            | "JoinNew" >> beam.CoGroupByKey()
            | "Combine" >> beam.FlatMap(_join)
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=200)
            | "Write" >> beam.ParDo(_WriteHealthFn(self._settings), unwritten, incomplete)
        )
