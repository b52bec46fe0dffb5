"""WriteToElasticsearch: a batched, retrying, idempotent bulk sink.

Input: ``IndexAction`` (target alias or index, ``_id``, document, and the
operation: ``index``, ``upsert``, ``update`` or ``delete``).  Output: the
actions that were written (main output, in their own windows), ``failed``
(``Failure(stage="index")`` for documents Elasticsearch rejects for good)
and ``unwritten`` (actions that could not be sent after every retry).

Batching: the actions of a bundle are buffered (the buffer is made in
``start_bundle``) and sent as one ``_bulk`` request whenever ``max_docs``
actions or ``max_bytes`` bytes of request body are waiting, when the oldest
buffered action is older than ``max_buffer_seconds`` (checked as elements
arrive; streaming bundles are short and ``finish_bundle`` flushes the rest),
and in ``finish_bundle``.  One client per DoFn instance, made in ``setup()``
with the transport's own retries off: retries are decided here.

Retries: a whole request answered 429, 502, 503 or 504, a connection error
or a timeout, and every item answered 429, 502, 503 or 504, are sent again
after ``RetryPolicy.delay``: exponential backoff from ``initial_backoff``
with jitter, capped at ``max_backoff``; a ``Retry-After`` header (seconds)
is honoured up to ``max_retry_after``.  A request answered 413 is split in
halves, down to a single action, which is then ``failed`` with reason
``too_large`` (larger than the server's ``http.max_content_length``: no
retry, run or replay could write it).  After ``max_retries`` retries the
actions are ``unwritten``.  Items rejected with any other status (mapping
conflicts, bad documents) are not retried: they become ``failed`` with a
stable reason (``mapping_error``, ``version_conflict``, ``http_<status>``).

Idempotency: ids are deterministic (canonical URL for articles, stage and
URL for failures, feed URL for feed health), so retries and re-runs write
the same documents.  ``upsert`` (articles) is a scripted upsert that
replaces the document's fields with the new ones *except* the fields listed
in ``KEEP_FIELDS`` (``story``: cluster flags maintained by later partial
``update`` actions; ``first_seen``, ``feed`` and ``source``: where and by
which outlet the article was first seen), which keep their stored value, and the
fields in ``MERGE_FIELDS`` (``urls``, ``entry_keys``), whose stored values are kept and the
new ones appended.  A replay of an old dead letter therefore never reverts
newer cluster flags nor forgets a URL.  A page that arrives through a
*different feed* than the stored article's (``feed.url``) only adds its
URLs: it never replaces the title, body or anything else of an article
another feed indexed (on shared hosts one tenant must not rewrite
another's article, see ``resolve_canonical``).  Likewise a page that only
*claims* the article's URL as its canonical (a comments, print or AMP page
whose ``rel=canonical`` names it) only adds its URLs to an article stored
from another page: it never replaces the article's own text; it may update
only what it wrote itself (the same ``url``).  ``update`` is a partial ``doc``
update (``doc_as_upsert`` false): for later writers such as cluster relabels.

Rollover: an ``_id`` must live in one index behind an alias.  When the
target alias has more than one index (it was rolled over), the ids of the
batch are looked up with a real-time ``mget`` in the alias's other indices
and each action found there is sent to that concrete index; the rest go to
the write index.  The alias's indices are cached for ``alias_ttl`` seconds,
so a rollover made by hand during a run is seen within that time.

Stale failures: with ``clear_failures_alias`` set, after a batch of
``upsert`` actions has been written, failure documents of stages
``fetch``, ``extract`` and ``index`` whose ``url`` is one of the written
articles' URLs are deleted (one ``terms`` search per batch; deletes only
when something matched): an article that finally made it is not listed as
failed forever.

Dead letters: with ``dead_letter_dir`` set, unwritten actions are also
written to ``<dir>/unwritten-<time>-<random>.jsonl`` (Beam ``FileSystems``,
so a ``gs://`` or ``s3://`` directory works on remote workers) by the DoFn
itself, before it returns, so they survive a pipeline that later fails.
``replay_dead_letters`` sends them (same operations, same retries) and
deletes each file once all its actions are written or rejected.  When the
file cannot be written either (a full disk, a folder made read-only), no
half-written file stays, the actions remain ``unwritten`` (never recorded as
indexed, so the next run fetches them again) and count in
``dead_letters_lost``: the run reports it instead of failing on the error.

Counters in ``news.es``: ``written``, ``retried``, ``rejected``,
``unwritten``, ``dead_letters_lost``, ``failures_cleared``; distributions ``bulk_latency_ms`` and
``bulk_docs``.

Example usage::

    actions = articles | beam.Map(lambda a: IndexAction(alias, a.id, a.to_document(), a.url, "upsert"))
    result = actions | 'IndexToElasticsearch' >> WriteToElasticsearch(settings.elasticsearch)
    rejected, unwritten = result.failed, result.unwritten
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.transforms.userstate import on_timer

from newsbeam.config.settings import ElasticsearchSettings
from newsbeam.transforms.model import Failure, utcnow_iso

__all__ = [
    "FAILED_TAG",
    "KEEP_FIELDS",
    "MERGE_FIELDS",
    "UNWRITTEN_TAG",
    "BulkOutcome",
    "BulkWriter",
    "IndexAction",
    "RetryPolicy",
    "WriteToElasticsearch",
    "bulk_chunks",
    "classify_item",
    "read_dead_letters",
    "replay_dead_letters",
    "write_dead_letters",
]

_LOG = logging.getLogger(__name__)
_NS = "news.es"
FAILED_TAG = "failed"
UNWRITTEN_TAG = "unwritten"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
OPS = ("index", "upsert", "update", "delete")
KEEP_FIELDS = ("story", "first_seen", "feed", "source")
MERGE_FIELDS = ("urls", "entry_keys")
CLEARED_STAGES = ("fetch", "extract", "index")

# Painless kept to the subset the embedded server runs too (no String.compareTo,
# no entrySet loops): checked by tests/integration/test_es_sink.py.
UPSERT_SCRIPT = """
def kept = new HashMap();
for (f in params.keep) {
  if (ctx._source.containsKey(f) && ctx._source[f] != null) { kept[f] = ctx._source[f]; }
}
def merged = new HashMap();
for (f in params.merge) {
  if (ctx._source.containsKey(f) && ctx._source[f] != null) {
    def m = new ArrayList(ctx._source[f]);
    def add = params.doc[f];
    if (add != null) { for (u in add) { if (!m.contains(u)) { m.add(u); } } }
    merged[f] = m;
  } else if (params.doc[f] != null) { merged[f] = params.doc[f]; }
}
def oldFeed = null;
if (ctx._source.containsKey('feed') && ctx._source.feed instanceof Map) { oldFeed = ctx._source.feed.url; }
def newFeed = null;
if (params.doc.containsKey('feed') && params.doc.feed instanceof Map) { newFeed = params.doc.feed.url; }
def oldUrl = ctx._source.containsKey('url') ? ctx._source.url : null;
def otherPage = oldUrl != null && !oldUrl.equals(params.doc.url);
if ((oldFeed != null && newFeed != null && !oldFeed.equals(newFeed)) || (params.claimed && otherPage)) {
  for (f in merged.keySet()) { ctx._source[f] = merged[f]; }
} else {
  ctx._source.putAll(params.doc);
  for (f in kept.keySet()) { ctx._source[f] = kept[f]; }
  for (f in merged.keySet()) { ctx._source[f] = merged[f]; }
  def published = params.doc.containsKey('published') ? params.doc.published : null;
  if (published == null && kept.containsKey('first_seen')) { ctx._source['@timestamp'] = kept['first_seen']; }
}
""".strip()


@dataclasses.dataclass(frozen=True)
class IndexAction:
    """One write: ``op`` is ``index`` (replace), ``upsert`` (see module doc),
    ``update`` (partial ``doc``, the document must exist) or ``delete``."""

    index: str
    id: str
    source: dict[str, Any]
    url: str | None = None  # for failure documents
    op: str = "index"

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"IndexAction.op must be one of {OPS}, got {self.op!r}")

    def to_json(self) -> str:
        return _dumps(
            {"op": self.op, "index": self.index, "id": self.id, "source": self.source, "url": self.url}
        )

    @classmethod
    def from_json(cls, line: str) -> IndexAction:
        row = json.loads(line)
        return cls(row["index"], row["id"], row.get("source") or {}, row.get("url"), row.get("op", "index"))


def _claims_canonical(source: dict[str, Any]) -> bool:
    """Whether an article document comes from a page that only names its URL as canonical."""
    from newsbeam.transforms.urls import claims_canonical

    url, canonical = source.get("url"), source.get("canonical_url")
    return bool(url and canonical) and claims_canonical(url, canonical)


def bulk_lines(action: IndexAction, index: str | None = None) -> str:
    """The NDJSON of one action (header and body lines, ending in a newline)."""
    target = index or action.index
    dumps = _dumps
    if action.op == "delete":
        return dumps({"delete": {"_index": target, "_id": action.id}}) + "\n"
    if action.op == "index":
        return dumps({"index": {"_index": target, "_id": action.id}}) + "\n" + dumps(action.source) + "\n"
    header = dumps({"update": {"_index": target, "_id": action.id, "retry_on_conflict": 3}})
    if action.op == "update":
        return header + "\n" + dumps({"doc": action.source}) + "\n"
    body = {
        "script": {
            "source": UPSERT_SCRIPT,
            "lang": "painless",
            "params": {
                "doc": action.source,
                "keep": list(KEEP_FIELDS),
                "merge": list(MERGE_FIELDS),
                "claimed": _claims_canonical(action.source),
            },
        },
        "upsert": {},
        "scripted_upsert": True,
    }
    return header + "\n" + dumps(body) + "\n"


def bulk_chunks(actions: Sequence[IndexAction], max_bytes: int) -> list[tuple[list[IndexAction], list[str]]]:
    """``actions`` in order, cut into requests of at most ``max_bytes`` bytes of
    NDJSON each (an action larger than that alone), with their ``bulk_lines``."""
    chunks: list[tuple[list[IndexAction], list[str]]] = []
    size = 0
    for action in actions:
        lines = bulk_lines(action)
        length = len(lines.encode("utf-8"))
        if not chunks or size + length > max_bytes:
            chunks.append(([], []))
            size = 0
        chunks[-1][0].append(action)
        chunks[-1][1].append(lines)
        size += length
    return chunks


# A lone surrogate (a "\ud800" escape of some page's JSON, no pair) is no text: UTF-8 cannot
# encode it, and one document holding it stopped the whole run at the bulk write.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _dumps(value: Any) -> str:
    """Compact JSON, UTF-8 encodable: a lone surrogate, only ever inside a string, becomes
    U+FFFD (the replacement character), as a decoder shows a byte it cannot read."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 60.0

    def __post_init__(self):
        if self.max_retries < 0 or self.initial_backoff < 0 or self.max_backoff < 0:
            raise ValueError("RetryPolicy: max_retries, initial_backoff and max_backoff must be >= 0")

    @classmethod
    def from_settings(cls, settings: ElasticsearchSettings) -> RetryPolicy:
        return cls(max_retries=settings.max_retries)

    def delay(self, retry: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1, 2, ...): "equal
        jitter" exponential backoff, capped, or the server's Retry-After."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_backoff, self.initial_backoff * 2 ** (retry - 1))
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    from newsbeam.connectors.http import parse_retry_after

    return parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"))


def classify_item(op: str, info: dict[str, Any]) -> tuple[str, str | None]:
    """``("ok" | "retry" | "reject", reason)`` for one item of a bulk response."""
    status = int(info.get("status") or 0)
    if 200 <= status < 300:
        return "ok", None
    if op == "delete" and status == 404:
        return "ok", None  # already gone: deleting is idempotent
    if status in RETRY_STATUSES:
        return "retry", f"http_{status}"
    error = info.get("error")
    kind = error.get("type", "") if isinstance(error, dict) else str(error or "")
    if status == 409 or "version_conflict" in kind:
        return "reject", "version_conflict"
    if any(word in kind for word in ("parsing", "mapper", "mapping", "illegal_argument", "strict_dynamic")):
        return "reject", "mapping_error"
    if status == 404 or "document_missing" in kind or "index_not_found" in kind:
        return "reject", "not_found"
    return "reject", f"http_{status}" if status else (kind or "unknown")


def _item_message(info: dict[str, Any]) -> str:
    error = info.get("error")
    if isinstance(error, dict):
        text = error.get("reason") or error.get("type") or ""
        cause = error.get("caused_by")
        if isinstance(cause, dict) and cause.get("reason"):
            text = f"{text}: {cause['reason']}"
    else:
        text = str(error or "")
    return text[:500]


@dataclasses.dataclass
class BulkOutcome:
    written: list[IndexAction] = dataclasses.field(default_factory=list)
    rejected: list[tuple[IndexAction, Failure]] = dataclasses.field(default_factory=list)
    unwritten: list[IndexAction] = dataclasses.field(default_factory=list)
    error: str | None = None  # why the unwritten ones were not written (no secrets)

    def extend(self, other: BulkOutcome) -> None:
        self.written += other.written
        self.rejected += other.rejected
        self.unwritten += other.unwritten
        self.error = other.error or self.error


class _NoMetrics:
    def inc(self, n: int = 1) -> None:
        pass

    def update(self, value: int) -> None:
        pass


class BulkWriter:
    """Sends actions with ``_bulk`` and the retry rules of the module doc.

    Plain class (no Beam): the DoFn, ``replay_dead_letters`` and the tests use
    it.  ``sleep`` and ``clock`` are injectable; ``metrics`` maps counter
    names to objects with ``inc``/``update``.
    """

    def __init__(
        self,
        client,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        metrics: dict[str, Any] | None = None,
        alias_ttl: float = 10.0,
        rng: random.Random | None = None,
    ):
        self._client = client
        self._policy = policy
        self._sleep = sleep
        self._clock = clock
        self._metrics = metrics or {}
        self._alias_ttl = alias_ttl
        self._aliases: dict[str, tuple[float, str | None, tuple[str, ...]]] = {}
        self._rng = rng or random.Random()

    def _metric(self, name: str):
        return self._metrics.get(name) or _NoMetrics()

    # -- routing across the indices of a rolled-over alias ----------------------

    def _alias_indices(self, name: str) -> tuple[str | None, tuple[str, ...]]:
        """(write index, other indices) behind ``name``; ``(None, ())`` for a
        concrete index or an alias with one index (no lookup needed)."""
        from elasticsearch import NotFoundError

        cached = self._aliases.get(name)
        now = self._clock()
        if cached and now - cached[0] < self._alias_ttl:
            return cached[1], cached[2]
        try:
            found = dict(self._client.indices.get_alias(name=name))
        except NotFoundError:
            found = {}
        write, others = None, []
        if len(found) > 1:
            for index, info in sorted(found.items()):
                if info.get("aliases", {}).get(name, {}).get("is_write_index"):
                    write = index
                else:
                    others.append(index)
        self._aliases[name] = (now, write, tuple(others))
        return write, tuple(others)

    def _targets(self, actions: Sequence[IndexAction]) -> list[str]:
        """The index each action must go to (see "Rollover" in the module doc)."""
        targets = [a.index for a in actions]
        for name in sorted({a.index for a in actions}):
            _write, others = self._alias_indices(name)
            if not others:
                continue
            ids = sorted({a.id for a in actions if a.index == name})
            docs = [{"_index": index, "_id": doc_id} for index in others for doc_id in ids]
            response = self._client.mget(docs=docs, source=False)
            home = {doc["_id"]: doc["_index"] for doc in response["docs"] if doc.get("found")}
            for i, action in enumerate(actions):
                if action.index == name and action.id in home:
                    targets[i] = home[action.id]
        return targets

    # -- sending ---------------------------------------------------------------

    def write(self, actions: Sequence[IndexAction], lines: Sequence[str] | None = None) -> BulkOutcome:
        """Write ``actions`` (``lines``: their ``bulk_lines``, if already made)."""
        from elasticsearch import ApiError, ConnectionError, ConnectionTimeout

        outcome = BulkOutcome()
        pending = list(actions)
        retry = 0
        retry_after: float | None = None
        while pending:
            if retry:
                self._metric("retried").inc(len(pending))
                self._sleep(self._policy.delay(retry, retry_after, self._rng))
            retry_after = None
            started = self._clock()
            try:
                targets = self._targets(pending)
                if lines is not None and retry == 0 and all(t == a.index for t, a in zip(targets, pending)):
                    body = "".join(lines)
                else:
                    body = "".join(bulk_lines(a, t) for a, t in zip(pending, targets))
                response = self._client.bulk(operations=body, refresh=False)
            except ApiError as exc:
                status = int(getattr(exc.meta, "status", 0) or 0)
                self._metric("bulk_latency_ms").update(int((self._clock() - started) * 1000))
                if status == 413 and len(pending) > 1:
                    self._metric("rejected").inc(len(outcome.rejected))  # the halves count their own
                    half = len(pending) // 2
                    outcome.extend(self.write(pending[:half]))
                    outcome.extend(self.write(pending[half:]))
                    return outcome
                if status == 413:  # one action larger than any request the server takes: for good
                    (action,) = pending
                    size = len(bulk_lines(action).encode("utf-8"))
                    message = (
                        f"the server refused a {size}-byte bulk request holding only this document "
                        "(HTTP 413: over its http.max_content_length)"
                    )
                    _LOG.warning("document %s rejected: %s", action.id, message)
                    outcome.rejected.append((action, self._failure(action, "too_large", 413, message)))
                    break
                error = f"HTTP {status} {getattr(exc, 'error', '') or ''}".strip()
                if status not in RETRY_STATUSES or retry >= self._policy.max_retries:
                    return self._give_up(outcome, pending, error, retry)
                retry_after = _retry_after(getattr(exc.meta, "headers", None))
                retry += 1
                continue
            except (ConnectionError, ConnectionTimeout) as exc:
                self._metric("bulk_latency_ms").update(int((self._clock() - started) * 1000))
                if retry >= self._policy.max_retries:
                    return self._give_up(outcome, pending, type(exc).__name__, retry)
                retry += 1
                continue
            self._metric("bulk_latency_ms").update(int((self._clock() - started) * 1000))
            self._metric("bulk_docs").update(len(pending))
            items = response["items"]
            if len(items) != len(pending):  # never seen; do not guess which is which
                raise RuntimeError(f"bulk answered {len(items)} items for {len(pending)} actions")
            again = []
            ok = 0
            for action, item in zip(pending, items):
                _op, info = next(iter(item.items()))
                verdict, reason = classify_item(action.op, info)
                if verdict == "ok":
                    ok += 1
                    outcome.written.append(action)
                elif verdict == "retry":
                    again.append(action)
                else:
                    status = int(info.get("status") or 0)
                    failure = self._failure(action, reason or "unknown", status or None, _item_message(info))
                    outcome.rejected.append((action, failure))
            self._metric("written").inc(ok)
            if again and retry >= self._policy.max_retries:
                return self._give_up(outcome, again, "items answered 429/5xx", retry)
            if again:
                retry += 1
            pending = again
        self._metric("rejected").inc(len(outcome.rejected))
        return outcome

    @staticmethod
    def _failure(action: IndexAction, reason: str, status: int | None, error: str) -> Failure:
        return Failure(
            url=action.url or action.id,
            stage="index",
            reason=reason,
            http_status=status,
            error=error,
            # the article's feed, so a rejected document counts against it
            feed_url=((action.source or {}).get("feed") or {}).get("url"),
            at=utcnow_iso(),
        )

    def _give_up(self, outcome: BulkOutcome, pending: list[IndexAction], error: str, retry: int):
        _LOG.error("%d documents not written after %d retries (%s)", len(pending), retry, error)
        self._metric("unwritten").inc(len(pending))
        self._metric("rejected").inc(len(outcome.rejected))
        outcome.unwritten += pending
        outcome.error = error
        return outcome

    # -- stale failures --------------------------------------------------------

    def clear_failures(self, failures_alias: str, written: Iterable[IndexAction]) -> int:
        """Delete failure documents (stages fetch/extract/index) of the URLs of
        the written ``upsert`` actions; returns how many were deleted."""
        urls: set[str] = set()
        for action in written:
            if action.op != "upsert":
                continue
            if action.url:
                urls.add(action.url)
            value = action.source.get("urls") or []
            urls.update([value] if isinstance(value, str) else value)
            if action.source.get("canonical_url"):
                urls.add(action.source["canonical_url"])
        if not urls:
            return 0
        from elasticsearch import ApiError, ConnectionError, ConnectionTimeout

        try:
            response = self._client.search(
                index=failures_alias,
                query={
                    "bool": {
                        "filter": [
                            {"terms": {"url": sorted(urls)}},
                            {"terms": {"stage": list(CLEARED_STAGES)}},
                        ]
                    }
                },
                source=False,
                size=10_000,
                ignore_unavailable=True,
            )
        except (ApiError, ConnectionError, ConnectionTimeout) as exc:
            _LOG.warning("could not look up stale failures (%s); they stay", type(exc).__name__)
            return 0
        deletes = [
            IndexAction(hit["_index"], hit["_id"], {}, op="delete") for hit in response["hits"]["hits"]
        ]
        if not deletes:
            return 0
        outcome = self.write(deletes)
        cleared = len(outcome.written)
        self._metric("failures_cleared").inc(cleared)
        return cleared


# -- dead letters ---------------------------------------------------------------


def write_dead_letters(folder: str, actions: Sequence[IndexAction]) -> str | None:
    """Write ``actions`` as JSON lines to a new file under ``folder``; its path."""
    if not actions:
        return None
    from apache_beam.io.filesystems import FileSystems

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    path = FileSystems.join(folder, f"unwritten-{stamp}-{uuid.uuid4().hex[:12]}.jsonl")
    if "://" not in folder:
        import os

        os.makedirs(folder, exist_ok=True)
    data = "".join(action.to_json() + "\n" for action in actions).encode("utf-8")
    try:
        with FileSystems.create(path + ".tmp") as handle:
            handle.write(data)
        FileSystems.rename([path + ".tmp"], [path])
    except BaseException:
        # a full disk, a folder made read-only: no half-written file stays behind
        try:
            FileSystems.delete([path + ".tmp"])
        except Exception:
            pass
        raise
    return path


def read_dead_letters(folder: str) -> list[tuple[str, list[IndexAction]]]:
    """The dead-letter files under ``folder`` (oldest first) with their actions."""
    from apache_beam.io.filesystems import FileSystems

    pattern = FileSystems.join(folder, "unwritten-*.jsonl")
    try:
        matches = FileSystems.match([pattern])[0].metadata_list
    except Exception as exc:
        if "No files found" in str(exc) or "not found" in str(exc).lower():
            return []
        raise
    found = []
    for meta in sorted(matches, key=lambda m: m.path):
        with FileSystems.open(meta.path) as handle:
            text = handle.read().decode("utf-8")
        actions = [IndexAction.from_json(line) for line in text.splitlines() if line.strip()]
        found.append((meta.path, actions))
    return found


def replay_dead_letters(
    client,
    folder: str,
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    failures_alias: str | None = None,
) -> tuple[int, list[Failure], BulkOutcome | None]:
    """Send every dead-letter file under ``folder``; delete each file once all
    its actions were written or rejected for good.

    Returns ``(written, failures, unfinished)``: the rejected actions as
    ``Failure`` values (the caller records them), and the outcome of the first
    file that could not be sent (``None`` when all went), which stays.
    """
    from apache_beam.io.filesystems import FileSystems

    writer = BulkWriter(client, policy, sleep=sleep)
    written, failures = 0, []
    for path, actions in read_dead_letters(folder):
        outcome = writer.write(actions)
        if outcome.unwritten:
            return written + len(outcome.written), failures, outcome
        written += len(outcome.written)
        failures += [failure for _action, failure in outcome.rejected]
        if failures_alias:
            writer.clear_failures(failures_alias, outcome.written)
        FileSystems.delete([path])
    return written, failures, None


# -- the transform -----------------------------------------------------------------


def _write_settled(writer, actions, lines, aliases, clear_failures_alias, dead_letter_dir):
    """One bulk write by a sink DoFn, and what follows it: the alias cache
    carried from request to request, the failure documents of written
    articles cleared, and unwritten documents saved as dead letters.
    Returns ``(outcome, alias cache)``."""
    if aliases is not None:
        writer._aliases = aliases
    outcome = writer.write(actions, lines)
    if clear_failures_alias and outcome.written:
        writer.clear_failures(clear_failures_alias, outcome.written)
    if outcome.unwritten and dead_letter_dir:
        try:
            path = write_dead_letters(dead_letter_dir, outcome.unwritten)
        except OSError as exc:  # Beam's BeamIOError too
            # Failures are data: the documents stay "unwritten" (never recorded as indexed, their
            # feeds' validators not advanced), so the next run fetches them again; the run says so.
            writer._metric("dead_letters_lost").inc(len(outcome.unwritten))
            _LOG.error(
                "%d unwritten documents could not be kept in %s either (%s); the next run fetches them again",
                len(outcome.unwritten),
                dead_letter_dir,
                getattr(exc, "strerror", None) or type(exc).__name__,
            )
        else:
            _LOG.error("%d unwritten documents saved to %s", len(outcome.unwritten), path)
    return outcome, writer._aliases


def _sink_metrics() -> dict:
    """The sink's counters and distributions (namespace ``news.es``), one set per DoFn."""
    metrics = {
        name: beam.metrics.Metrics.counter(_NS, name)
        for name in ("written", "retried", "rejected", "unwritten", "dead_letters_lost", "failures_cleared")
    }
    metrics["bulk_latency_ms"] = beam.metrics.Metrics.distribution(_NS, "bulk_latency_ms")
    metrics["bulk_docs"] = beam.metrics.Metrics.distribution(_NS, "bulk_docs")
    return metrics


class _BulkIndexFn(beam.DoFn):
    def __init__(
        self,
        settings: ElasticsearchSettings,
        policy: RetryPolicy,
        max_docs: int,
        max_bytes: int,
        max_buffer_seconds: float | None,
        clear_failures_alias: str | None,
        dead_letter_dir: str | None,
        sleep: Callable[[float], None] | None,
        clock: Callable[[], float] | None,
    ):
        self._settings = settings
        self._policy = policy
        self._max_docs = max_docs
        self._max_bytes = max_bytes
        self._max_buffer_seconds = max_buffer_seconds
        self._clear_failures_alias = clear_failures_alias
        self._dead_letter_dir = dead_letter_dir
        self._sleep = sleep
        self._clock = clock
        self._client = None
        self._pool = None
        self._aliases = None  # alias cache shared by the requests of this instance
        self._metrics = _sink_metrics()

    def setup(self):
        from concurrent.futures import ThreadPoolExecutor

        from newsbeam.connectors.es import connect

        self._client = connect(self._settings, max_retries=0, retry_on_timeout=False)
        # One request in flight while the next batch is buffered and serialized.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsbeam-bulk")

    def teardown(self):
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def start_bundle(self):
        self._buffer: list[tuple[IndexAction, str, Any, Any]] = []
        self._bytes = 0
        self._oldest: float | None = None
        self._inflight = None  # (future, buffer entries) of the request being sent

    def process(self, action: IndexAction, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        lines = bulk_lines(action)
        self._buffer.append((action, lines, timestamp, window))
        self._bytes += len(lines.encode("utf-8"))
        now = (self._clock or time.monotonic)()
        if self._oldest is None:
            self._oldest = now
        too_old = self._max_buffer_seconds is not None and now - self._oldest >= self._max_buffer_seconds
        if len(self._buffer) >= self._max_docs or self._bytes >= self._max_bytes or too_old:
            yield from self._flush(final=False)

    def finish_bundle(self):
        yield from self._flush(final=True)

    def _send(self, entries) -> tuple[BulkOutcome, _Tally]:
        """Runs on the request thread: Beam metrics are recorded in a tally and
        applied on the bundle's thread (they are bound to it)."""
        tally = _Tally()
        writer = BulkWriter(
            self._client,
            self._policy,
            sleep=self._sleep or time.sleep,
            clock=self._clock or time.monotonic,
            metrics=tally.metrics(),
        )
        outcome, self._aliases = _write_settled(
            writer,
            [e[0] for e in entries],
            [e[1] for e in entries],
            self._aliases,
            self._clear_failures_alias,
            self._dead_letter_dir,
        )
        return outcome, tally

    def _flush(self, final: bool):
        batch, self._buffer, self._bytes, self._oldest = self._buffer, [], 0, None
        done = []
        if self._inflight is not None:
            done.append(self._inflight)
            self._inflight = None
        if batch:
            self._inflight = (self._pool.submit(self._send, batch), batch)
        if final and self._inflight is not None:
            done.append(self._inflight)
            self._inflight = None
        for future, entries in done:
            outcome, tally = future.result()
            tally.apply(self._metrics)
            yield from self._emit(outcome, entries)

    def _emit(self, outcome: BulkOutcome, entries):
        from apache_beam.utils.windowed_value import WindowedValue

        where = {id(entry[0]): (entry[2], entry[3]) for entry in entries}

        def wrap(value, action):
            timestamp, window = where[id(action)]
            return WindowedValue(value, timestamp, [window])

        for action in outcome.written:
            yield wrap(action, action)
        for action, failure in outcome.rejected:
            yield pvalue.TaggedOutput(FAILED_TAG, wrap(failure, action))
        for action in outcome.unwritten:
            yield pvalue.TaggedOutput(UNWRITTEN_TAG, wrap(action, action))


class _Tally:
    """Counter and distribution updates recorded off the bundle's thread."""

    def __init__(self):
        self.calls: list[tuple[str, int]] = []

    def metrics(self) -> dict[str, Any]:
        tally = self

        class _Recorder:
            def __init__(self, name):
                self.name = name

            def inc(self, n: int = 1) -> None:
                tally.calls.append((self.name, n))

            def update(self, value: int) -> None:
                tally.calls.append((self.name, value))

        names = (
            "written",
            "retried",
            "rejected",
            "unwritten",
            "dead_letters_lost",
            "failures_cleared",
            "bulk_latency_ms",
            "bulk_docs",
        )
        return {name: _Recorder(name) for name in names}

    def apply(self, metrics: dict[str, Any]) -> None:
        for name, value in self.calls:
            metric = metrics[name]
            if hasattr(metric, "inc"):
                metric.inc(value)
            else:
                metric.update(value)


def _timed_state():
    from apache_beam.coders import PickleCoder
    from apache_beam.transforms.combiners import CountCombineFn
    from apache_beam.transforms.timeutil import TimeDomain
    from apache_beam.transforms.userstate import BagStateSpec, CombiningValueStateSpec, TimerSpec

    return (
        BagStateSpec("actions", PickleCoder()),
        CombiningValueStateSpec("count", PickleCoder(), CountCombineFn()),
        TimerSpec("window_end", TimeDomain.WATERMARK),
        TimerSpec("flush", TimeDomain.REAL_TIME),
    )


_BUFFER, _COUNT, _WINDOW_END, _FLUSH = _timed_state()
_BUFFER_PARAM = beam.DoFn.StateParam(_BUFFER)
_COUNT_PARAM = beam.DoFn.StateParam(_COUNT)
_WINDOW_END_PARAM = beam.DoFn.TimerParam(_WINDOW_END)
_FLUSH_PARAM = beam.DoFn.TimerParam(_FLUSH)


class _TimedBulkFn(beam.DoFn):
    """The sink for unbounded input: a stateful DoFn per (alias, shard) key
    that buffers actions in state and sends them when ``max_docs`` are
    waiting, when a processing-time timer set by the first buffered action
    fires ``max_buffer_seconds`` later (so a quiet stream still writes what it
    holds), and when the window ends (event-time timer); each flush is sent
    in requests of at most ``max_bytes`` (``bulk_chunks``).  ``clock``: the
    processing time the timer is set from (``time.time``; a test's
    ``TestStream`` clock starts at 0)."""

    def __init__(
        self,
        settings,
        policy,
        max_docs,
        max_buffer_seconds,
        clear_failures_alias,
        dead_letter_dir,
        clock,
        max_bytes=None,
    ):
        self._settings = settings
        self._policy = policy
        self._max_docs = max_docs
        self._max_bytes = max_bytes or settings.bulk_max_bytes
        self._max_buffer_seconds = max_buffer_seconds
        self._clear_failures_alias = clear_failures_alias
        self._dead_letter_dir = dead_letter_dir
        self._clock = clock
        self._client = None
        self._aliases = None
        self._metrics = _sink_metrics()

    def setup(self):
        from newsbeam.connectors.es import connect

        self._client = connect(self._settings, max_retries=0, retry_on_timeout=False)

    def teardown(self):
        if self._client is not None:
            self._client.close()
            self._client = None

    def process(
        self,
        element,
        window=beam.DoFn.WindowParam,
        buffer=_BUFFER_PARAM,
        count=_COUNT_PARAM,
        window_end=_WINDOW_END_PARAM,
        flush=_FLUSH_PARAM,
    ):
        _key, action = element
        window_end.set(window.end)
        buffer.add(action)
        count.add(1)
        waiting = count.read()
        if waiting == 1:
            flush.set((self._clock or time.time)() + self._max_buffer_seconds)
        if waiting >= self._max_docs:
            yield from self._flush(buffer, count, window)

    @on_timer(_FLUSH)
    def on_flush(self, window=beam.DoFn.WindowParam, buffer=_BUFFER_PARAM,
                 count=_COUNT_PARAM):  # fmt: skip
        yield from self._flush(buffer, count, window)

    @on_timer(_WINDOW_END)
    def on_window_end(self, window=beam.DoFn.WindowParam, buffer=_BUFFER_PARAM,
                      count=_COUNT_PARAM):  # fmt: skip
        yield from self._flush(buffer, count, window)

    def _flush(self, buffer, count, window):
        from apache_beam.utils.windowed_value import WindowedValue

        actions = list(buffer.read())
        buffer.clear()
        count.clear()
        if not actions:
            return
        writer = BulkWriter(self._client, self._policy, metrics=self._metrics)
        outcome = BulkOutcome()
        for chunk, lines in bulk_chunks(actions, self._max_bytes):
            done, self._aliases = _write_settled(
                writer, chunk, lines, self._aliases, self._clear_failures_alias, self._dead_letter_dir
            )
            outcome.extend(done)
        stamp = window.max_timestamp()
        for action in outcome.written:
            yield WindowedValue(action, stamp, (window,))
        for _action, failure in outcome.rejected:
            yield pvalue.TaggedOutput(FAILED_TAG, WindowedValue(failure, stamp, (window,)))
        for action in outcome.unwritten:
            yield pvalue.TaggedOutput(UNWRITTEN_TAG, WindowedValue(action, stamp, (window,)))


def _shard_key(shards: int):
    import zlib

    def key(action: IndexAction):
        return f"{action.index}#{zlib.crc32(action.id.encode('utf-8')) % shards}", action

    return key


class WriteToElasticsearch(beam.PTransform):
    """IndexAction → written actions (main), ``failed`` Failures, ``unwritten`` actions.

    On unbounded input (a streaming pipeline) the actions are buffered in
    keyed state instead of per bundle (``_TimedBulkFn``): a batch is sent at
    ``max_docs`` actions, ``max_buffer_seconds`` (default 5) after its first
    action even when no further action arrives, and at the end of its window;
    a batch is sent in requests of at most ``max_bytes`` each, as in batch.

    ``max_docs``/``max_bytes`` default to the settings' ``bulk_max_docs`` and
    ``bulk_max_bytes``; ``dead_letter_dir`` to the settings' ``dead_letter_dir``.
    """

    def __init__(
        self,
        settings: ElasticsearchSettings,
        *,
        policy: RetryPolicy | None = None,
        max_docs: int | None = None,
        max_bytes: int | None = None,
        max_buffer_seconds: float | None = None,
        clear_failures_alias: str | None = None,
        dead_letter_dir: str | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        streaming_clock: Callable[[], float] | None = None,
        shards: int = 4,
    ):
        super().__init__()
        self._shards = shards
        if not isinstance(settings, ElasticsearchSettings):
            raise ValueError("WriteToElasticsearch: settings must be an ElasticsearchSettings")
        if max_docs is not None and max_docs < 1:
            raise ValueError(f"WriteToElasticsearch: max_docs must be >= 1, got {max_docs}")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"WriteToElasticsearch: max_bytes must be >= 1, got {max_bytes}")
        if max_buffer_seconds is not None and max_buffer_seconds < 0:
            raise ValueError("WriteToElasticsearch: max_buffer_seconds must be >= 0")
        self._streaming_fn = _TimedBulkFn(
            settings,
            policy or RetryPolicy.from_settings(settings),
            max_docs or settings.bulk_max_docs,
            max_buffer_seconds if max_buffer_seconds is not None else 5.0,
            clear_failures_alias,
            dead_letter_dir if dead_letter_dir is not None else settings.dead_letter_dir,
            streaming_clock,
            max_bytes or settings.bulk_max_bytes,
        )
        self._fn = _BulkIndexFn(
            settings,
            policy or RetryPolicy.from_settings(settings),
            max_docs or settings.bulk_max_docs,
            max_bytes or settings.bulk_max_bytes,
            max_buffer_seconds,
            clear_failures_alias,
            dead_letter_dir if dead_letter_dir is not None else settings.dead_letter_dir,
            sleep,
            clock,
        )

    def expand(self, actions):
        if actions.is_bounded is False:
            return (
                actions
                | "Shard" >> beam.Map(_shard_key(self._shards)).with_output_types(tuple[str, IndexAction])
                | "TimedBulk"
                >> beam.ParDo(self._streaming_fn).with_outputs(FAILED_TAG, UNWRITTEN_TAG, main="written")
            )
        return actions | "Bulk" >> beam.ParDo(self._fn).with_outputs(
            FAILED_TAG, UNWRITTEN_TAG, main="written"
        )
