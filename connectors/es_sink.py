"""WriteToElasticsearch: a batched, retrying, idempotent bulk sink.

Input: ``IndexAction`` (target alias or index, ``_id``, document).  The
documents of a bundle are buffered (created in ``start_bundle``) and sent
with ``helpers.streaming_bulk`` whenever ``bulk_max_docs`` documents or
``bulk_max_bytes`` bytes are waiting, and in ``finish_bundle``.

Guarantees: at-least-once delivery made idempotent by deterministic ids
(a retry or a re-run overwrites the same ``_id``, never duplicates).
Per-item 429/5xx are retried by ``streaming_bulk`` with exponential backoff;
whole-request failures (connection errors, 429/5xx of the whole bulk) are
retried here with exponential backoff and jitter up to ``max_retries``.
Items Elasticsearch rejects for good (mapping conflicts, bad documents) go
to the ``failed`` output as ``Failure(stage="index")``.  Documents that
could not be sent at all after the retries go to the ``unwritten`` output
(the CLI writes them to a local dead-letter file, exits 1, and replays them
first on the next run).

Counters in ``news.es``: ``written``, ``retried``, ``rejected``,
``unwritten``; distribution ``bulk_latency_ms``.

Example usage::

    actions = articles | beam.Map(lambda a: IndexAction('news-articles', a.id, a.to_document()))
    result = actions | 'IndexToElasticsearch' >> WriteToElasticsearch(settings.elasticsearch)
    rejected, unwritten = result.failed, result.unwritten
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from newsbeam.config.settings import ElasticsearchSettings
from newsbeam.transforms.model import Failure

__all__ = ["IndexAction", "WriteToElasticsearch"]

_LOG = logging.getLogger(__name__)
_NS = "news.es"
FAILED_TAG = "failed"
UNWRITTEN_TAG = "unwritten"
_RETRY_STATUSES = (429, 502, 503, 504)


@dataclasses.dataclass(frozen=True)
class IndexAction:
    index: str
    id: str
    source: dict[str, Any]
    url: str | None = None  # for failure documents
    op: str = "index"  # "index": the whole document; "update": merge ``source`` into it

    def to_bulk(self) -> dict[str, Any]:
        if self.op == "update":
            return {"_op_type": "update", "_index": self.index, "_id": self.id, "doc": self.source}
        return {"_op_type": "index", "_index": self.index, "_id": self.id, "_source": self.source}


def _reason(error: Any, status: int) -> str:
    kind = error.get("type", "") if isinstance(error, dict) else str(error)
    if "parsing" in kind or "mapper" in kind or "illegal_argument" in kind:
        return "mapping_error"
    if status == 429:
        return "rejected_429"
    return kind or f"http_{status}"


class _BulkIndexFn(beam.DoFn):
    def __init__(self, settings: ElasticsearchSettings, sleep=time.sleep):
        self._settings = settings
        self._sleep = sleep
        self._client = None
        self._written = beam.metrics.Metrics.counter(_NS, "written")
        self._retried = beam.metrics.Metrics.counter(_NS, "retried")
        self._rejected = beam.metrics.Metrics.counter(_NS, "rejected")
        self._unwritten = beam.metrics.Metrics.counter(_NS, "unwritten")
        self._latency = beam.metrics.Metrics.distribution(_NS, "bulk_latency_ms")

    def setup(self):
        from newsbeam.connectors.es import connect

        self._client = connect(self._settings, max_retries=0)

    def teardown(self):
        if self._client is not None:
            self._client.close()

    def start_bundle(self):
        self._buffer: list[IndexAction] = []
        self._bytes = 0

    def process(self, action: IndexAction):
        self._buffer.append(action)
        self._bytes += len(json.dumps(action.source, default=str))
        if len(self._buffer) >= self._settings.bulk_max_docs or self._bytes >= self._settings.bulk_max_bytes:
            yield from self._flush()

    def finish_bundle(self):
        from apache_beam.transforms.window import GlobalWindow
        from apache_beam.utils.windowed_value import WindowedValue

        for out in self._flush():
            if isinstance(out, pvalue.TaggedOutput):
                yield pvalue.TaggedOutput(out.tag, WindowedValue(out.value, 0, [GlobalWindow()]))

    def _flush(self):
        batch, self._buffer, self._bytes = self._buffer, [], 0
        if not batch:
            return
        yield from self._send(batch)

    def _send(self, batch: list[IndexAction]):
        from elasticsearch import ApiError, TransportError, helpers

        by_key = {(a.index, a.id): a for a in batch}
        pending = list(by_key.values())
        attempt = 0
        while pending:
            attempt += 1
            started = time.monotonic()
            failed_items: list[tuple[IndexAction, dict]] = []
            ok_count = 0
            try:
                for ok, item in helpers.streaming_bulk(
                    self._client,
                    (a.to_bulk() for a in pending),
                    chunk_size=len(pending),
                    max_chunk_bytes=self._settings.bulk_max_bytes * 2,
                    raise_on_error=False,
                    raise_on_exception=False,
                    max_retries=self._settings.max_retries,
                    initial_backoff=0.5,
                    max_backoff=30,
                ):
                    op, info = next(iter(item.items()))
                    if ok:
                        ok_count += 1
                        continue
                    action = by_key.get((info.get("_index"), info.get("_id")))
                    if action is None:  # answered with the concrete index name
                        action = next((a for a in pending if a.id == info.get("_id")), None)
                    if action is not None:
                        failed_items.append((action, info))
            except (TransportError, ApiError) as exc:
                self._latency.update(int((time.monotonic() - started) * 1000))
                if attempt > self._settings.max_retries:
                    _LOG.error(
                        "bulk request failed %d times (%s); %d documents not written",
                        attempt, type(exc).__name__, len(pending),
                    )  # fmt: skip
                    self._unwritten.inc(len(pending))
                    for action in pending:
                        yield pvalue.TaggedOutput(UNWRITTEN_TAG, action)
                    return
                self._retried.inc(len(pending))
                self._sleep(min(30.0, 0.5 * 2 ** (attempt - 1)) + random.uniform(0, 0.5))
                continue
            self._latency.update(int((time.monotonic() - started) * 1000))
            self._written.inc(ok_count)
            retry_again = []
            for action, info in failed_items:
                status = int(info.get("status") or 0)
                if status in _RETRY_STATUSES or status == 0:
                    retry_again.append(action)
                    continue
                self._rejected.inc()
                error = info.get("error")
                reason = _reason(error, status)
                message = error.get("reason") if isinstance(error, dict) else str(error)
                yield pvalue.TaggedOutput(
                    FAILED_TAG,
                    Failure(url=action.url or action.id, stage="index", reason=reason,
                            http_status=status, error=(message or "")[:500], at=_now()),
                )  # fmt: skip
            if retry_again and attempt <= self._settings.max_retries:
                self._retried.inc(len(retry_again))
                self._sleep(min(30.0, 0.5 * 2 ** (attempt - 1)) + random.uniform(0, 0.5))
                pending = retry_again
                continue
            if retry_again:
                self._unwritten.inc(len(retry_again))
                for action in retry_again:
                    yield pvalue.TaggedOutput(UNWRITTEN_TAG, action)
            return


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class WriteToElasticsearch(beam.PTransform):
    """IndexAction → nothing written silently: ``failed`` and ``unwritten`` outputs."""

    def __init__(self, settings: ElasticsearchSettings):
        super().__init__()
        if not isinstance(settings, ElasticsearchSettings):
            raise ValueError("WriteToElasticsearch: settings must be an ElasticsearchSettings")
        self._settings = settings

    def expand(self, actions):
        return actions | "Bulk" >> beam.ParDo(_BulkIndexFn(self._settings)).with_outputs(
            FAILED_TAG, UNWRITTEN_TAG, main="written"
        )
