"""The run summary: built from the pipeline's Beam metrics counters only, so
a runner's UI (Flink, Dataflow) shows the same figures as ``newsbeam run``.

``summary_document`` turns a ``RunSummary`` into the JSON written by
``--summary-json FILE`` and kept in the ``<prefix>-runs`` index (read by
``newsbeam status``); ``print_summary`` prints it as tables.  Every figure
names the counter it comes from in ``COUNTER_OF`` (documented in the
README).  Per feed the figures reconcile:

    new = indexed + failed + refused + unwritten

``new``: entries that passed SkipKnown; ``indexed``: article documents
written; ``failed``: fetch and extraction failures (recorded in
``<prefix>-failures``); ``refused``: documents Elasticsearch rejected
(recorded too); ``unwritten``: kept as dead letters for the next run.
``reconcile`` lists the feeds where they do not; the difference is reported
as ``merged`` (entries of one feed that led to the same article as another
entry, indexed once).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "print_summary",
    "reconcile",
    "close_run_record",
    "open_run_record",
    "record_run",
    "summary_document",
    "summary_line",
    "held_message",
    "summary_rows",
    "write_failed_summary",
    "write_summary_json",
]

SUMMARY_VERSION = 1
# Counter namespaces of pipeline/run_counters.py (here so that the CLI does not import Beam to parse flags).
RUN_NAMESPACE = "news.run"
FEED_NAMESPACE = "news.feed"
_FEED_FIELDS = ("new", "indexed", "failed", "refused", "unwritten")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _by_prefix(counters: dict[str, int], prefix: str) -> dict[str, int]:
    return {
        name[len(prefix) :]: value
        for name, value in sorted(counters.items())
        if name.startswith(prefix) and value
    }


def per_feed(counters: dict[str, int]) -> dict[str, dict[str, int]]:
    """``news.feed/<what>|<url>`` counters → {url: {new, indexed, ...}}."""
    feeds: dict[str, dict[str, int]] = {}
    for name, value in counters.items():
        namespace, _, rest = name.partition("/")
        if namespace != FEED_NAMESPACE or "|" not in rest:
            continue
        what, url = rest.split("|", 1)
        feeds.setdefault(url, dict.fromkeys(_FEED_FIELDS, 0))[what] = value
    for figures in feeds.values():
        accounted = sum(figures[k] for k in _FEED_FIELDS if k != "new")
        figures["merged"] = max(0, figures["new"] - accounted)
    return dict(sorted(feeds.items()))


def summary_document(
    summary, settings, command: str = "run", finished: float | None = None, status: str = "ok"
) -> dict[str, Any]:
    """The run summary as JSON (pure apart from the clock and host name)."""
    get = summary.get
    finished = finished if finished is not None else time.time()
    seconds = round(summary.seconds, 3)
    indexed = get("news.run/articles_indexed")
    # the run's record in <prefix>-runs was opened with this start (its _id): see open_run_record
    started = getattr(summary, "started_at", None) or finished - summary.seconds
    return {
        "version": SUMMARY_VERSION,
        "command": command,
        "status": status,
        "index_prefix": settings.elasticsearch.index_prefix,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": _iso(started),
        "finished": _iso(finished),
        "@timestamp": _iso(finished),
        "seconds": seconds,
        "articles_per_second": round(indexed / summary.seconds, 3) if summary.seconds > 0 else 0.0,
        "feeds": {
            "configured": len(settings.feeds),
            "polled": get("news.feeds/polled"),
            "not_modified": get("news.feeds/not_modified"),
            "failed": get("news.feeds/failed"),
            "not_polled": get("news.feeds/not_polled"),  # the run's time limit came first
            "held": get("news.feeds/held"),  # last poll: 410 Gone, or Retry-After not yet passed
        },
        "entries": {
            "seen": get("news.feeds/entries"),
            "without_link": get("news.feeds/entries_without_link"),
            "unsafe_link": get("news.feeds/entries_unsafe_link"),
            "invalid_link": get("news.urls/invalid_link"),
            "new": get("news.known/new"),
            "known": get("news.known/known"),
            "revised": get("news.known/revised"),  # of "new": indexed, updated in its feed since
            "retry_later": get("news.known/retry_later"),
            "given_up": get("news.known/given_up"),
        },
        "pages": {
            "fetched": get("news.fetch/fetched"),
            "failed": _by_prefix(summary.counters, "news.fetch/failed_"),
        },
        "articles": {
            "extracted": get("news.extract/articles"),
            "failed": _by_prefix(summary.counters, "news.extract/failed_"),
        },
        "stories": {"new": get("news.run/stories_new"), "joined": get("news.run/stories_joined")},
        # chunks whose entity spans came from an exact copy tagged before (transforms/entities.py)
        "entities": {
            "tagged": get("news.entities/tagged"),
            "reused_chunks": get("news.entities/reused_chunks"),
        },
        "documents": {
            "indexed": indexed,
            "rejected": get("news.es/rejected"),
            "story_updates": get("news.run/story_updates"),
        },
        "failures": {
            "written": get("news.run/failures_written"),
            "by_stage_reason": dict(summary.failures_by_reason),
        },
        # documents kept for the next run; those the folder could not take are fetched again
        "dead_letters": max(0, get("news.run/dead_letters") - get("news.es/dead_letters_lost")),
        "dead_letters_lost": get("news.es/dead_letters_lost"),
        "pages_not_archived": get("news.archive/pages_not_written"),  # the archive folder refused them
        "replayed": summary.replayed,
        "per_feed": [{"url": url, **figures} for url, figures in per_feed(summary.counters).items()],
    }


def reconcile(document: dict[str, Any]) -> list[str]:
    """Feeds whose figures do not add up (``merged`` aside): empty when all do."""
    problems = []
    for feed in document.get("per_feed", []):
        parts = sum(feed[k] for k in _FEED_FIELDS if k != "new") + feed.get("merged", 0)
        if parts != feed["new"]:
            problems.append(f"{feed['url']}: new {feed['new']} != {parts}")
    return problems


def summary_line(document: dict[str, Any]) -> str:
    """The summary in one log line (for each cycle of ``newsbeam stream`` at DEBUG)."""
    feeds, entries, docs = document["feeds"], document["entries"], document["documents"]
    failed = sum(document["pages"]["failed"].values()) + sum(document["articles"]["failed"].values())
    return (
        f"{document['command']}: {feeds['polled']} feeds polled ({feeds['failed']} failed, "
        f"{feeds['not_modified']} unchanged), {entries['seen']} entries, {entries['new']} new, "
        f"{docs['indexed']} articles indexed, {failed} failed, {docs['rejected']} rejected, "
        f"{document['dead_letters']} dead letters, stories {document['stories']['new']} new / "
        f"{document['stories']['joined']} joined, {document['seconds']:.1f} s, "
        f"{document['articles_per_second']:.2f} articles/s"
    )


def write_summary_json(document: dict[str, Any], path: str) -> None:
    """Write atomically (a temporary file renamed), so a reader never sees half."""
    # per thread too: a stop's watchdog may keep a stream's end while its main thread does
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:  # a full disk: no empty .tmp-<pid> file left beside it, one per run
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def record_run(client, runs_alias: str, document: dict[str, Any], refresh: str | bool = "wait_for") -> None:
    """Keep the summary in ``<prefix>-runs`` for ``newsbeam status``; a run
    id from its start time and host makes a retry overwrite, not add."""
    client.index(index=runs_alias, id=run_id(document), document=document, refresh=refresh)


def run_id(document: dict[str, Any]) -> str:
    return f"{document['started']}-{document['host']}-{document['pid']}"


def unrecorded_dir(settings):
    """Where a run's end that Elasticsearch would not take is kept (``keep_unrecorded``):
    ``<state dir>/unrecorded-runs/<prefix>``."""
    from newsbeam.connectors.embedded import state_dir

    return state_dir() / "unrecorded-runs" / settings.elasticsearch.index_prefix


def keep_unrecorded(settings, document: dict[str, Any], why: str):
    """Keep the run record ``document`` that could not be written (the cluster did not answer
    when the stream stopped) in ``unrecorded_dir``, with ``why``: ``newsbeam status`` shows it
    in place of the ``running`` record it replaces, and the next writer of this prefix records
    it (``record_unrecorded``).  Returns the file, or None when it could not be written."""
    import logging

    from newsbeam.connectors.es import describe

    folder = unrecorded_dir(settings)
    kept = {**document, "unrecorded": {"why": why, "at": _iso(time.time())}}
    path = folder / f"{run_id(document)}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_summary_json({"cluster": describe(settings.elasticsearch), "document": kept}, str(path))
    except OSError as exc:
        logging.getLogger("newsbeam.report").error(
            "could not keep the run's end in %s either (%s)", path, exc
        )
        return None
    return path


def unrecorded_runs(settings) -> dict[str, tuple[Any, dict[str, Any]]]:
    """The kept records of ``keep_unrecorded`` for this prefix and cluster: run id -> (file, document)."""
    from newsbeam.connectors.es import describe

    cluster = describe(settings.elasticsearch)
    found = {}
    folder = unrecorded_dir(settings)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        try:
            kept = json.loads(path.read_text(encoding="utf-8"))
            document = kept["document"]
            if kept.get("cluster") == cluster:
                found[run_id(document)] = (path, document)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # half a file (a full disk) or another program's: not ours to act on
    return found


def record_unrecorded(client, settings) -> int:
    """Write the kept records of ``keep_unrecorded`` into ``<prefix>-runs`` (their ``unrecorded``
    note says they were recorded late, and why) and remove their files; called by each writer once
    it holds the lease.  A record is written only over the ``running`` one it closes (or none):
    never over a later state.  Returns how many were recorded; never raises."""
    import logging

    from elasticsearch import ApiError, NotFoundError, TransportError

    log = logging.getLogger("newsbeam.report")
    alias = settings.elasticsearch.runs_alias
    recorded = 0
    for rid, (path, document) in unrecorded_runs(settings).items():
        brief = client.options(request_timeout=5, max_retries=0)
        try:
            try:
                hits = brief.search(index=alias, query={"ids": {"values": [rid]}}, size=1)["hits"]["hits"]
            except NotFoundError:
                hits = []
            current = hits[0]["_source"] if hits else None
            if current is None or current.get("status") == "running":
                record_run(brief, alias, document, refresh=True)
                recorded += 1
                log.warning(
                    "recorded the end of %s (pid %s, started %s) in %s, which Elasticsearch did not take "
                    "when it ended (%s)",
                    document.get("command"),
                    document.get("pid"),
                    document.get("started"),
                    alias,
                    (document.get("unrecorded") or {}).get("why"),
                )
        except (ApiError, TransportError) as exc:
            if getattr(getattr(exc, "meta", None), "status", None) == 400:  # refused, not unavailable
                log.warning(
                    "Elasticsearch refused the kept end of run %s (HTTP 400: %s); %s is removed, as "
                    "no later try would be taken",
                    rid,
                    exc,
                    path,
                )  # then removed below: kept, it was tried again by every writer, for good
            else:
                log.debug("could not record the kept run %s yet (%s)", rid, type(exc).__name__)
                continue
        try:
            path.unlink()
        except OSError:
            pass
    return recorded


def open_run_record(client, settings, command: str, started_at: float) -> None:
    """Record a writer (``run``, ``reextract``, ``demo``) as ``status: running`` in
    ``<prefix>-runs`` as soon as it holds the writer lease, under the ``_id`` its final summary
    overwrites (``RunSummary.started_at``): a run killed before it could record its end
    (``kill -9``, the OOM killer, the machine going down) left no trace in ``newsbeam status``,
    which showed the run before it as the last one.  Status shows this record as ``(running)``
    while its process lives and holds the lease, ``(GONE)`` once it does not.  One brief try:
    the cluster just answered the lease."""
    import logging

    from elasticsearch import ApiError, TransportError

    from newsbeam.pipeline.run import RunSummary

    empty = RunSummary(counters={}, failures_by_reason={}, seconds=0.0, waves=0, started_at=started_at)
    document = summary_document(empty, settings, command=command, finished=started_at, status="running")
    try:
        brief = client.options(request_timeout=5, max_retries=0)
        record_run(brief, settings.elasticsearch.runs_alias, document, refresh=True)
    except (ApiError, TransportError) as exc:
        logging.getLogger("newsbeam.report").debug(
            "could not record the run's start in %s (%s)",
            settings.elasticsearch.runs_alias,
            type(exc).__name__,
        )


def close_run_record(client, settings, command: str, summary, error: BaseException | None = None) -> None:
    """Replace the ``running`` record of ``open_run_record`` with the run's end: ``ok`` with the
    summary's figures, or ``failed`` with the ``error`` (and the ``signal`` of a stop).  The
    command's own report (``run_with_report``, ``demo``) then overwrites it with the index counts
    and its final words; this keeps the record right for every caller of ``run_batch`` and when
    that report never comes.  One brief try, never raises."""
    import logging

    from newsbeam.connectors.es import redact
    from newsbeam.pipeline.lifecycle import stop_signal

    status = "ok" if error is None else "failed"
    document = None
    try:
        document = summary_document(summary, settings, command=command, status=status)
        if error is not None:
            stopped = isinstance(error, KeyboardInterrupt) or stop_signal()
            if stopped:
                document["signal"] = stop_signal() or "SIGINT"
            text = redact(str(error), settings.elasticsearch) if not stopped else ""
            document["error"] = text or f"stopped by {document.get('signal') or type(error).__name__}"
        brief = client.options(request_timeout=5, max_retries=0)
        record_run(brief, settings.elasticsearch.runs_alias, document, refresh=True)
    except BaseException as exc:  # the run's own outcome (or a second Ctrl-C) goes on
        log = logging.getLogger("newsbeam.report")
        alias = settings.elasticsearch.runs_alias
        if document is None:
            log.debug("could not record the run's end in %s (%s)", alias, type(exc).__name__)
            return
        # Its "running" record would stay so for good, shown as GONE: kept where status finds it
        # and the next writer records it (as a stream's end, see StreamRecord.close).
        from newsbeam.connectors.es import describe, what_failed

        what = what_failed(exc)
        why = f"Elasticsearch at {describe(settings.elasticsearch)} did not take it ({what})"
        kept = keep_unrecorded(settings, document, why)
        log.warning(
            "could not record the %s's end in %s (%s)%s",
            command,
            alias,
            what,
            f"; kept in {kept}: newsbeam status shows it from there, and the next run or stream records it"
            if kept
            else "",
        )


def held_message(held, shown: int = 5) -> str:
    """What ``newsbeam run`` says about the feeds it did not poll (``RunSummary.held``): each
    feed, why, and from when it is polled again; a gone feed should leave the feeds file."""
    from newsbeam.transforms.model import epoch_iso, mask_userinfo

    parts = []
    for hold in held[:shown]:
        url = mask_userinfo(hold.feed_url)
        again = epoch_iso(hold.until)
        if hold.reason == "gone":
            parts.append(
                f"{url} answered 410 Gone at {hold.last_poll} (removed for good: take it out of the "
                f"feeds file; probed again from {again})"
            )
        else:
            parts.append(f"{url} asked to wait (Retry-After) at {hold.last_poll}; polled again from {again}")
    more = f"; and {len(held) - shown} more (newsbeam status lists them)" if len(held) > shown else ""
    return f"newsbeam: {len(held)} feeds not polled: " + "; ".join(parts) + more


def summary_rows(summary) -> list[tuple[str, int]]:
    get = summary.get
    return [
        ("feeds polled", get("news.feeds/polled")),
        ("feeds failed", get("news.feeds/failed")),
        ("feeds unchanged (304)", get("news.feeds/not_modified")),
        ("feeds held (410 Gone, Retry-After)", get("news.feeds/held")),
        ("feed entries", get("news.feeds/entries")),
        ("already indexed (skipped)", get("news.known/known")),
        ("failed before, retry later", get("news.known/retry_later")),
        ("new entries", get("news.known/new")),
        ("  of them revised since indexed", get("news.known/revised")),
        ("pages fetched", get("news.fetch/fetched")),
        (
            "pages archived / read from the archive",
            get("news.archive/pages_written") + get("news.archive/pages_read"),
        ),
        ("articles extracted", get("news.extract/articles")),
        ("stories new / joined", f"{get('news.run/stories_new')} / {get('news.run/stories_joined')}"),
        ("articles indexed", get("news.run/articles_indexed")),
        ("documents written", get("news.es/written")),
        ("documents rejected", get("news.es/rejected")),
        ("failures recorded", get("news.run/failures_written")),
        ("replayed from an earlier run", summary.replayed),
    ]


def print_summary(summary, settings, console, command: str = "run") -> None:
    from rich.table import Table

    rate = get_rate(summary)
    table = Table(
        title=f"newsbeam {command} ({summary.seconds:.1f} s, {rate:.2f} articles/s)", show_header=False
    )
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, value in summary_rows(summary):
        table.add_row(label, str(value))
    console.print(table)
    if summary.failures_by_reason:
        failures = Table(title=f"failures (recorded in {settings.elasticsearch.failures_alias})")
        failures.add_column("stage:reason")
        failures.add_column("count", justify="right")
        for reason, count in summary.failures_by_reason.items():
            failures.add_row(reason, str(count))
        console.print(failures)


def get_rate(summary) -> float:
    seconds = summary.seconds
    return summary.get("news.run/articles_indexed") / seconds if seconds > 0 else 0.0


# -- command line -------------------------------------------------------------


def add_report_arguments(parser) -> None:
    """``--summary-json``, ``--quiet`` and ``--log-format`` of run-like commands."""
    parser.add_argument(
        "--summary-json",
        metavar="FILE",
        help="also write the run summary as JSON to FILE (same figures as the table, per feed too)",
    )
    parser.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress display, no progress log lines and no summary table (warnings and errors only)",
    )
    parser.add_argument(
        "--log-format",
        metavar="FORMAT",
        default="text",
        help="text (default) or json: one JSON object per log line on stderr",
    )


def check_summary_path(path: str | None) -> None:
    """Raise ``ValueError`` naming ``--summary-json`` when FILE cannot be written."""
    if path is None:
        return
    if not path.strip():  # a cron line's unset variable: no summary would be written, silently
        raise ValueError("--summary-json: expected a file name, got an empty value")
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"--summary-json: {folder} is not a directory")
    if not os.path.isdir(folder):
        raise ValueError(f"--summary-json: directory {folder} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"--summary-json: {path} is a directory")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"--summary-json: cannot write in {folder}")


_NOT_FINISHED = "the process ended before it wrote its summary (killed, or out of memory)"


def write_started_summary(path: str | None, command: str, error: str = _NOT_FINISHED) -> None:
    """``--summary-json`` with ``status: failed`` and ``error`` only, no figures.  Written as the
    command starts (the default ``error``): every way the command ends overwrites it, and a
    process killed before it can (``kill -9``, the OOM killer, a signal in its first seconds,
    before the stop handler is installed) leaves this, never the previous run's ``ok``.  Also
    for a command refused before any settings were read (a bad configuration: its message)."""
    if not path:
        return
    started = time.time()
    document = {
        "version": SUMMARY_VERSION,
        "command": command,
        "status": "failed",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": _iso(started),
        "@timestamp": _iso(started),
        "error": error,
    }
    write_summary_json(document, path)


def write_failed_summary(args, settings, command: str, error: Exception, seconds: float = 0.0) -> None:
    """``--summary-json`` for a run that failed before its pipeline had figures (Elasticsearch
    unreachable, the lease held, a bad folder): ``status: failed`` and the ``error``, so a monitor
    reading the file does not keep seeing the previous run's ``ok``."""
    path = getattr(args, "summary_json", None)
    if not path:
        return
    from newsbeam.connectors.es import redact
    from newsbeam.pipeline.run import RunSummary

    empty = RunSummary(counters={}, failures_by_reason={}, seconds=seconds, waves=0)
    document = summary_document(empty, settings, command=command, status="failed")
    document["error"] = redact(str(error), settings.elasticsearch)
    try:
        write_summary_json(document, path)
    except OSError:  # the failure itself is what the operator must see
        pass


def _record_stop(args, settings, command: str, exc: BaseException, seconds: float) -> None:
    """A run stopped by Ctrl-C, SIGTERM or SIGHUP: ``status: failed`` with the ``signal`` and what
    the finished waves did (``RunInterrupted.summary``) in ``--summary-json`` and
    ``<prefix>-runs`` (one brief try), so neither keeps showing the previous run's ``ok`` and
    ``newsbeam status`` tells what happened.  Never raises: the interrupt goes on."""
    import logging

    from newsbeam.pipeline.lifecycle import stop_signal
    from newsbeam.pipeline.run import RunSummary

    name = stop_signal() or "SIGINT"  # a KeyboardInterrupt without a handler is Ctrl-C
    summary = getattr(exc, "summary", None)
    if summary is None:
        summary = RunSummary(counters={}, failures_by_reason={}, seconds=seconds, waves=0)
    wave = getattr(exc, "wave", None)
    how = {"SIGTERM": "terminated (SIGTERM)", "SIGHUP": "hung up (SIGHUP)"}.get(name, f"interrupted ({name})")
    where = f" in wave {wave}" if wave else " before its pipeline ran"
    earlier = "what earlier waves wrote stays; " if wave and wave > 1 else ""
    document = summary_document(summary, settings, command=command, status="failed")
    document["signal"] = name
    document["error"] = f"{how}{where}; {earlier}the next run fetches the rest"
    try:
        _keep_in_es(settings, document, logging.getLogger("newsbeam.report"), failed_run=True)
    except BaseException:  # a second signal while recording: the interrupt goes on
        pass
    path = getattr(args, "summary_json", None)
    if path:
        try:
            write_summary_json(document, path)
        except OSError:
            pass


def run_with_report(args, settings, runner, command: str = "run") -> int:
    """Run ``runner()`` (→ ``RunSummary``) with the live progress view, then
    print the summary, write ``--summary-json`` and keep it in ``<prefix>-runs``."""
    import logging

    from rich.console import Console

    from newsbeam.pipeline.lifecycle import stop_signal
    from newsbeam.pipeline.live import LiveProgress
    from newsbeam.pipeline.run import RunFailed

    quiet = getattr(args, "quiet", False)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    failed = None
    started = time.monotonic()
    with LiveProgress(settings, err, enabled=not quiet):
        try:
            summary = runner()
        except RunFailed as exc:
            if getattr(exc, "summary", None) is None:
                write_failed_summary(args, settings, command, exc, time.monotonic() - started)
                raise
            failed, summary = exc, exc.summary
        except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM: the stop is recorded, then main() reports it
            _record_stop(args, settings, command, exc, time.monotonic() - started)
            raise
        except Exception as exc:  # a usage error found at the start, or one nobody classified
            if stop_signal():  # an interrupt Beam wrapped into another exception
                _record_stop(args, settings, command, exc, time.monotonic() - started)
            else:
                write_failed_summary(args, settings, command, exc, time.monotonic() - started)
            raise
    from newsbeam.pipeline.lifecycle import all_feeds_failed

    if failed is not None:
        from newsbeam.connectors.es import redact

        error = redact(str(failed), settings.elasticsearch)
    else:  # the command exits 1 when every feed failed: a monitor of the file must see it too
        error = all_feeds_failed(summary)
    status = "failed" if failed is not None or error else "ok"
    document = summary_document(summary, settings, command=command, status=status)
    if status == "failed":
        document["error"] = error
        if stop_signal():  # stopped by a signal while Elasticsearch failed
            document["signal"] = stop_signal()
    # a failed run is kept too when the cluster answers, so status lists it; a good one adds "counts"
    _keep_in_es(settings, document, logging.getLogger("newsbeam.report"), failed_run=failed is not None)
    if getattr(args, "summary_json", None):
        write_summary_json(document, args.summary_json)
    if not quiet:
        print_summary(summary, settings, Console(highlight=False, soft_wrap=True), command)
    if failed is not None:
        raise failed  # exit 1 with its message, after the figures are out
    return 0


def keep_summary(summary, settings, command: str) -> None:
    """Keep a finished run's summary in ``<prefix>-runs`` (for a command that prints its
    own report, like ``demo``), so ``newsbeam status`` lists it."""
    import logging

    _keep_in_es(
        settings, summary_document(summary, settings, command=command), logging.getLogger("newsbeam.report")
    )


def _keep_in_es(settings, document, log, failed_run: bool = False) -> None:
    """Keep the summary in ``<prefix>-runs`` (with the counts status shows).  A failed
    run's summary is tried once, briefly and without counts (status then counts live):
    its cluster may be the reason it failed, and the error is already the message."""
    from elasticsearch import ApiError, TransportError

    from newsbeam.connectors.es import connect
    from newsbeam.pipeline.status import count_aliases

    es = settings.elasticsearch
    if failed_run:
        client = connect(es, max_retries=0, request_timeout=5)
    else:
        client = connect(es, max_retries=2, request_timeout=120)
    try:
        if not failed_run:
            # what newsbeam status shows when counting live would be slow (the embedded server)
            document["counts"] = count_aliases(client, [es.articles_alias, es.failures_alias, es.feeds_alias])
        record_run(client, es.runs_alias, document)
    except (ApiError, TransportError) as exc:
        (log.debug if failed_run else log.warning)(
            "could not keep the run summary in %s (%s)", settings.elasticsearch.runs_alias, type(exc).__name__
        )
    finally:
        client.close()
