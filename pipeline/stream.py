"""``newsbeam stream``: poll each feed on its own schedule and index as it goes.

On the local runner the stream is a loop of micro-batch cycles (as Spark's
structured streaming does): each cycle picks the feeds that are due and runs
the batch graph of ``pipeline/build.py`` over them with ``run_batch``, so a
cycle is exactly a ``newsbeam run`` over fewer feeds: the same transforms,
the same dead letters, validators advanced only for what was written.  The
PeriodicImpulse graph cannot serve here: on the DirectRunner its windows
fire only when the impulse stops (issue 10).

Schedule (``next_interval``, pure): a feed that answered is polled again
after ``poll_interval`` raised by its own hint (``<ttl>``,
``sy:updatePeriod``, ``Cache-Control``/``Expires``; capped by
``stream.max_hint``); a failing feed after ``poll_interval`` doubled per
consecutive failure (capped by ``stream.max_backoff``, raised by
``Retry-After``); a feed that failed ``stream.disable_after`` times in a
row, or that answered 410 Gone (removed for good: no backoff mends it), is
only re-probed every ``stream.reprobe_interval``.  All of it is
computed from the feed's ``news-feeds`` document (last poll time, error
streak, hint), and the resulting ``schedule.next_poll`` is written back
there: a restarted stream resumes where it left off, and ``newsbeam status``
can show when each feed is next polled.

Stopping: the first SIGINT/SIGTERM lets the cycle in flight finish (its
documents written, its validators advanced) and then exits 0; if that takes
longer than ``stream.stop_timeout``, at a second signal, or once Elasticsearch
has not answered for 15 s after the signal (``StopSignal.watch``), the process
exits at once (status 130 for SIGINT, 143 for SIGTERM): nothing is lost,
because what the cycle had not written is neither recorded as indexed nor
behind an advanced validator, so the next start fetches it again.

One writer: the stream holds the writer lease of its index prefix
(``connectors/lease.py``) for its whole life and stops when it loses it.

Record: a stream is one document in ``<prefix>-runs`` (``command: stream``,
``_id`` from its start, host and pid, as a run's), written when it starts and
after every cycle: the run summary's figures summed over its cycles, and
``cycles`` (``run``, ``failed``, ``last``: when the last one ended,
``last_error``: why it failed, when it did).  ``status`` is ``running`` while
it works, ``ok`` after a clean stop, ``failed`` (with ``error``) when it gave
up; a stream that was killed stays ``running``, and ``newsbeam status``
says when its pid is gone.  Each write during the stream is one brief try:
an unreachable cluster delays no cycle.  The last (``ok``/``failed``) is
tried for ``CLOSE_BUDGET`` seconds, then kept in the state directory
(``report.keep_unrecorded``), where ``newsbeam status`` finds it and the
next run or stream records it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from newsbeam.config.settings import FeedSpec, Settings, StreamSettings
from newsbeam.connectors.es import what_failed
from newsbeam.connectors.feed_health import read_feed_docs
from newsbeam.connectors.feed_schedule import GONE_STATUS
from newsbeam.pipeline.run import RunFailed, RunSummary, prepare_writer, run_batch
from newsbeam.transforms.model import epoch_iso, parse_instant

__all__ = ["StopSignal", "cluster_probe", "due_feeds", "next_interval", "next_poll", "run_stream"]

_LOG = logging.getLogger(__name__)
_MAX_UNEXPECTED = 10  # unclassified cycle failures in a row before the stream gives up (exit 1)


# -- schedule (pure) -----------------------------------------------------------


def _parse_time(value: str | None) -> float | None:
    when = parse_instant(value)
    return None if when is None else when.timestamp()


def next_interval(doc: Mapping[str, Any], config: StreamSettings) -> tuple[float, str]:
    """Seconds from a feed's last poll to its next one, and why (pure).

    ``doc``: the feed's ``news-feeds`` document."""
    streak = int(doc.get("error_streak") or 0)
    hint = (doc.get("schedule") or {}).get("hint_seconds")
    hint = min(float(hint), config.max_hint) if isinstance(hint, (int, float)) and hint > 0 else 0.0
    if streak <= 0:
        if hint > config.poll_interval:
            return hint, "feed hint"
        return config.poll_interval, "poll interval"
    if streak >= config.disable_after:
        return max(config.reprobe_interval, hint), "disabled, re-probe"
    if doc.get("status") == GONE_STATUS:  # 410: removed for good, no backoff will mend it
        return max(config.reprobe_interval, hint), "gone, re-probe"
    backoff = min(config.poll_interval * 2 ** min(streak, 30), config.max_backoff)
    return max(backoff, hint), "backoff"


def next_poll(doc: Mapping[str, Any] | None, config: StreamSettings) -> float:
    """Epoch seconds when the feed is due; 0 (now) for a feed never polled."""
    if not doc:
        return 0.0
    last = _parse_time(doc.get("@timestamp"))
    if last is None:
        return 0.0
    return last + next_interval(doc, config)[0]


def due_feeds(
    feeds: Iterable[FeedSpec], docs: Mapping[str, Mapping[str, Any]], config: StreamSettings, now: float
) -> list[FeedSpec]:
    """The feeds whose next poll is not later than ``now``, in config order."""
    return [feed for feed in feeds if next_poll(docs.get(feed.url), config) <= now]


# -- state in news-feeds -------------------------------------------------------


def write_schedule(client, alias: str, docs: Mapping[str, Mapping[str, Any]], config: StreamSettings) -> None:
    """Record each feed's next poll (``schedule.next_poll``, ``interval_seconds``,
    ``reason``) in its ``news-feeds`` document."""
    from elasticsearch import helpers

    from newsbeam.connectors.feed_health import feed_doc_id

    actions = []
    for url, doc in docs.items():
        seconds, reason = next_interval(doc, config)
        schedule = {
            **(doc.get("schedule") or {}),
            "interval_seconds": seconds,
            "reason": reason,
            "next_poll": epoch_iso(next_poll(doc, config)),
        }
        actions.append(
            {"_op_type": "update", "_index": alias, "_id": feed_doc_id(url), "doc": {"schedule": schedule}}
        )
    for ok, item in helpers.streaming_bulk(client, actions, raise_on_error=False, max_retries=2):
        if not ok:
            _LOG.warning("could not record the schedule of feed document %s", item)


# -- signals -------------------------------------------------------------------


class StopSignal:
    """First SIGINT/SIGTERM/SIGHUP: finish the cycle in flight, then stop (``requested``).
    Second signal, or ``timeout`` seconds after the first: exit at once.  Also at once when
    ``probe`` (set by ``watch``: does Elasticsearch answer?) has failed for ``grace`` seconds
    after the first signal: a cycle whose cluster does not answer cannot write anything, and
    each of its requests waits out the client's timeouts and retries (90 s with the defaults),
    so the stop took the whole ``timeout`` (300 s) with nothing to gain."""

    def __init__(
        self,
        timeout: float,
        exit_now: Callable[[int], None] = os._exit,
        grace: float = 15.0,
        every: float = 2.0,
    ):
        self._event = threading.Event()
        self._ended = threading.Event()  # uninstalled: the watchdog has nothing left to watch
        self._timeout = timeout
        self._exit_now = exit_now
        self._grace = grace
        self._every = every
        self._probe: Callable[[], str | None] | None = None
        self._where = "Elasticsearch"
        self._previous: dict[int, Any] = {}
        self._timer: threading.Timer | None = None
        self.signum: int | None = None
        # Called with the signal number just before an exit at once (second signal, too slow, the
        # cluster not answering): the stream keeps its record's end where status finds it.
        self.before_exit: Callable[[int], None] | None = None

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(max(0.0, seconds))

    def request(self, signum: int = signal.SIGTERM) -> None:
        self.signum = signum
        self._event.set()

    def watch(self, probe: Callable[[], str | None], where: str) -> None:
        """After a stop signal, ask ``probe`` (None: the cluster answers; else what failed) every
        few seconds, and exit at once once it has failed for ``grace`` seconds in a row."""
        self._probe = probe
        self._where = where

    def _handle(self, signum, _frame) -> None:
        name = signal.Signals(signum).name
        if self._event.is_set():
            _LOG.warning("%s again: stopping at once; what the cycle in flight did not write is "
                         "fetched again by the next start", name)  # fmt: skip
            self._exit(signum)
            return
        _LOG.warning(
            "%s: finishing the cycle in flight (at most %.0f s), then stopping; "
            "send it again to stop at once",
            name,
            self._timeout,
        )
        self.request(signum)
        self._timer = threading.Timer(self._timeout, self._too_slow, args=(signum,))
        self._timer.daemon = True
        self._timer.start()
        if self._probe is not None:
            threading.Thread(target=self._watchdog, args=(signum,), name="newsbeam-stop", daemon=True).start()

    def _exit(self, signum: int) -> None:
        if self.before_exit is not None:
            try:
                self.before_exit(signum)
            except Exception:  # the exit at once goes on whatever happens here
                _LOG.exception("could not keep the stream's end before stopping")
        self._exit_now(128 + signum)

    def _too_slow(self, signum: int) -> None:
        if self._ended.is_set():  # the cycle finished as the timer fired
            return
        _LOG.error("the cycle in flight did not finish within %.0f s of the stop signal: stopping at once",
                   self._timeout)  # fmt: skip
        self._exit(signum)

    def _watchdog(self, signum: int) -> None:
        failing_since: float | None = None
        while not self._ended.is_set():
            asked = time.monotonic()
            why = self._probe()
            if why is None:
                failing_since = None
            else:
                failing_since = asked if failing_since is None else failing_since
                if time.monotonic() - failing_since >= self._grace and not self._ended.is_set():
                    _LOG.error(
                        "%s: Elasticsearch at %s has not answered for %.0f s (%s): stopping now instead "
                        "of waiting for the cycle in flight, which cannot write; what it did not write is "
                        "neither recorded as indexed nor behind an advanced validator, so the next start "
                        "fetches it again",
                        signal.Signals(signum).name,
                        self._where,
                        time.monotonic() - failing_since,
                        why,
                    )
                    self._exit(signum)
                    return
            self._ended.wait(self._every)

    def install(self) -> StopSignal:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: a closed terminal
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def settle(self) -> None:
        """The cycle in flight is over: neither the watchdog nor the stop timeout may cut what
        follows (writing the stream's end, releasing the lease: each bounded).  They ran on until
        ``uninstall``, so a cluster down since before the cycle ended cut the close short: the
        kept end said "stopped at once" and the stream exited 143.  A second signal still stops
        it at once."""
        self._ended.set()
        if self._timer is not None:
            self._timer.cancel()

    def uninstall(self) -> None:
        self.settle()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


def cluster_probe(es) -> Callable[[], str | None]:
    """A probe for ``StopSignal.watch``: None when Elasticsearch answers ``GET /`` within 5 s,
    else what failed (``HTTP 503``, ``ConnectionTimeout``)."""
    from newsbeam.connectors.es import connect

    def probe() -> str | None:
        from elasticsearch import ApiError, TransportError

        client = connect(es, max_retries=0, request_timeout=5)
        try:
            client.info()
            return None
        except (ApiError, TransportError) as exc:
            return what_failed(exc)
        finally:
            client.close()

    return probe


# -- the loop ------------------------------------------------------------------


@dataclasses.dataclass
class CycleReport:
    number: int
    feeds: int
    summary: RunSummary | None
    error: str | None = None
    unexpected: bool = False  # failed with an exception run_batch did not classify


def _cycle_line(report: CycleReport) -> str:
    if report.summary is None:
        return f"cycle {report.number}: {report.feeds} feeds due; failed: {report.error}"
    get = report.summary.get
    return (
        f"cycle {report.number}: {report.feeds} feeds polled, {get('news.known/new')} new entries, "
        f"{get('news.es/written')} documents written, {sum(report.summary.failures_by_reason.values())} "
        f"failures, {report.summary.seconds:.1f} s"
    )


COUNT_EVERY = 300.0  # seconds between two counts of the indices for the stream's record
# Seconds the end of a stream is tried for (once a second): below StopSignal's grace (15 s), after
# which a stop whose cluster does not answer exits at once; a cluster restarting takes a few seconds.
CLOSE_BUDGET = 10.0


class StreamRecord:
    """The stream's document in ``<prefix>-runs`` (see the module's docstring)."""

    def __init__(self, settings: Settings, started: float):
        from collections import Counter

        self._settings = settings
        self._started = started
        self._counters: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()
        self._replayed = 0
        self._counts: dict[str, int] | None = None
        self._counted_at: float | None = None
        self.cycles = 0
        self.failed = 0
        self.last: float | None = None
        self.last_error: str | None = None

    def add(self, report: CycleReport, now: float) -> None:
        self.cycles += 1
        self.last = now
        if report.summary is None:
            self.failed += 1
            self.last_error = report.error
            return
        self.last_error = None
        self._counters.update(report.summary.counters)
        self._failures.update(report.summary.failures_by_reason)
        self._replayed += report.summary.replayed

    def document(self, status: str, now: float, error: str | None = None) -> dict[str, Any]:
        from newsbeam.pipeline.report import summary_document

        summary = RunSummary(
            counters=dict(self._counters),
            failures_by_reason=dict(sorted(self._failures.items())),
            seconds=max(0.0, now - self._started),
            replayed=self._replayed,
            waves=self.cycles,
        )
        document = summary_document(summary, self._settings, command="stream", finished=now, status=status)
        document["started"] = _iso_ms(self._started)  # the record's id: the same at every write
        document["cycles"] = {
            "run": self.cycles,
            "failed": self.failed,
            "last": _iso_ms(self.last) if self.last is not None else None,
            "last_error": self.last_error,
        }
        if self._counts is not None:
            document["counts"] = self._counts
        if error:
            document["error"] = error
        return document

    def write(
        self,
        client,
        status: str,
        now: float,
        error: str | None = None,
        count: bool = False,
        timeout: float = 5.0,
    ) -> str | None:
        """Index the document (one try, ``timeout`` seconds); ``count``: refresh the aliases'
        document counts first (what ``newsbeam status`` shows on the embedded server, which counts
        by scanning).  Returns None once written, else what failed (``HTTP 503``,
        ``ConnectionError``)."""
        from elasticsearch import ApiError, TransportError

        from newsbeam.pipeline.report import record_run
        from newsbeam.pipeline.status import count_aliases

        es = self._settings.elasticsearch
        brief = client.options(request_timeout=timeout, max_retries=0)
        try:
            # At most every COUNT_EVERY seconds: the embedded server counts by scanning.
            if count and (self._counted_at is None or now - self._counted_at >= COUNT_EVERY):
                self._counts = count_aliases(brief, [es.articles_alias, es.failures_alias, es.feeds_alias])
                self._counted_at = now
            record_run(brief, es.runs_alias, self.document(status, now, error))
        except (ApiError, TransportError) as exc:
            _LOG.debug("could not record the stream in %s (%s)", es.runs_alias, type(exc).__name__)
            return what_failed(exc)
        return None

    def close(
        self,
        client,
        status: str,
        now: float,
        error: str | None = None,
        budget: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> bool:
        """Record the stream's end (``ok``, ``failed``), trying again every second for ``budget``
        seconds (``CLOSE_BUDGET``): one try left a stream stopped while Elasticsearch did not
        answer ``running`` for good, shown as GONE by ``newsbeam status`` as if it had been
        killed.  The end is kept in the state directory first (``report.keep_unrecorded``), and
        the file removed once written: when every try fails, or the process is stopped at once
        meanwhile (``StopSignal``'s watchdog), status shows the end from there and the next run or
        stream of this prefix records it; the log says so.  Returns whether it was written now."""
        from newsbeam.connectors.es import describe
        from newsbeam.pipeline.report import keep_unrecorded

        es = self._settings.elasticsearch
        budget = CLOSE_BUDGET if budget is None else budget
        document = self.document(status, now, error)
        kept = keep_unrecorded(
            self._settings,
            document,
            f"Elasticsearch at {describe(es)} did not take it before the process ended",
        )
        started = monotonic()
        tries = 0
        while True:
            tries += 1
            left = budget - (monotonic() - started)
            why = self.write(client, status, now, error, timeout=max(1.0, min(5.0, left)))
            if why is None:
                _discard(kept)
                return True
            if monotonic() - started + 1.0 > budget:
                break
            sleep(1.0)
        spent = monotonic() - started
        what = f"Elasticsearch at {describe(es)} did not take it ({why}, {tries} tries in {spent:.0f} s)"
        kept = keep_unrecorded(self._settings, document, what)
        _LOG.error(
            "could not record the stream's end (%s) in %s: %s; %s",
            status,
            es.runs_alias,
            what,
            f"kept in {kept}: newsbeam status shows it from there, and the next run or stream records it"
            if kept
            else "newsbeam status shows this stream as GONE",
        )
        return False

    def keep(self, signum: int, now: float) -> None:
        """Keep the end of a stream stopped at once (``StopSignal.before_exit``) in the state
        directory, without asking Elasticsearch (it does not answer, or there is no time): status
        shows it from there, as ``failed`` with the ``signal``, and the next writer records it."""
        from newsbeam.pipeline.report import keep_unrecorded

        name = signal.Signals(signum).name
        document = self.document(
            "failed",
            now,
            f"stopped at once by {name}: the cycle in flight was not finished (the next start fetches "
            "what it did not write)",
        )
        document["signal"] = name
        why = "the stream stopped at once, without writing to Elasticsearch"
        kept = keep_unrecorded(self._settings, document, why)
        if kept:
            _LOG.warning("the stream's end is kept in %s until Elasticsearch takes it", kept)


def _discard(path) -> None:
    if path is None:
        return
    try:
        path.unlink()
    except OSError:
        pass


def _iso_ms(stamp: float) -> str:
    from newsbeam.pipeline.report import _iso as iso

    return iso(stamp)


def run_stream(
    settings: Settings,
    pipeline_options,
    *,
    force: bool = False,
    stop: StopSignal | None = None,
    max_cycles: int | None = None,
    on_cycle: Callable[[CycleReport], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> int:
    """Poll ``settings.feeds`` on their schedules until ``stop`` is requested
    (or ``max_cycles`` cycles ran); returns the number of cycles run.

    Raises ``RunFailed`` when Elasticsearch cannot be reached at start or the
    lease is held by another writer; once running, a cycle that fails
    (Elasticsearch unreachable, documents left unwritten) is reported and
    retried, its documents kept as dead letters for the next cycle."""
    from elasticsearch import ApiError, TransportError

    from newsbeam.connectors.es import connect, describe
    from newsbeam.pipeline.run import check_local_dirs, resolve_models

    config = settings.stream
    es = settings.elasticsearch
    settings = resolve_models(settings)  # once: a missing model is a usage error before anything runs
    check_local_dirs(settings)
    from newsbeam.transforms.extraction import keep_children

    stop = stop or StopSignal(config.stop_timeout)
    stop.watch(cluster_probe(es), describe(es))
    client = connect(es)
    try:
        lease = prepare_writer(client, settings, "stream", force)
        # The sandbox children (extraction, feed parsing) outlive each cycle: started
        # once in the first cycle, not spawned again by every cycle's new pipeline.
        keep_children(True)
        record = StreamRecord(settings, clock())
        record.write(client, "running", clock())
        stop.before_exit = lambda signum: record.keep(signum, clock())
        try:
            try:
                cycles = _loop(
                    settings, pipeline_options, client, lease, stop, max_cycles, on_cycle, clock, record
                )
            finally:
                stop.settle()  # no cycle in flight any more: the close below is not cut short
        except Exception as exc:  # the stream gave up (lease lost, cycles failing in a row)
            from newsbeam.connectors.es import redact

            record.close(client, "failed", clock(), redact(str(exc), es) or type(exc).__name__)
            raise
        else:
            record.close(client, "ok", clock())  # before the lease: a stop's end is its record
        finally:
            stop.before_exit = None
            keep_children(False)
            lease.release()
        return cycles
    except (ApiError, TransportError) as exc:
        raise RunFailed(f"Elasticsearch at {describe(es)} failed at the stream's start: {exc}") from None
    finally:
        client.close()


class _Outage:
    """What the stream logs while Elasticsearch does not answer its schedule reads: the first
    failure, then at most once every ``repeat`` seconds, and the recovery.  It logged the
    failure's whole text at every attempt: with ``--poll-interval 2``, a page of nested
    connection errors every 2 s for as long as the cluster was down, and no word when it
    answered again."""

    def __init__(self, where: str, repeat: float = 60.0, monotonic: Callable[[], float] = time.monotonic):
        self._where = where
        self._repeat = repeat
        self._monotonic = monotonic
        self._since: float | None = None
        self._logged = 0.0
        self._attempts = 0

    def failed(self, exc: Exception, pause: float) -> None:
        now = self._monotonic()
        self._attempts += 1
        if self._since is None:
            self._since = self._logged = now
            _LOG.warning(
                "cannot read the feeds' schedule from Elasticsearch at %s (%s); trying again every "
                "%.0f s or so, and the stream goes on when it answers",
                self._where,
                what_failed(exc),
                pause,
            )
        elif now - self._logged >= self._repeat:
            self._logged = now
            _LOG.warning(
                "Elasticsearch at %s still does not answer (%s; %.0f s, %d attempts)",
                self._where,
                what_failed(exc),
                now - self._since,
                self._attempts,
            )

    def answered(self) -> None:
        if self._since is None:
            return
        _LOG.warning(
            "Elasticsearch at %s answers again after %.0f s; the stream goes on",
            self._where,
            self._monotonic() - self._since,
        )
        self._since, self._attempts = None, 0


def _loop(settings, pipeline_options, client, lease, stop, max_cycles, on_cycle, clock, record=None) -> int:
    from elasticsearch import ApiError, TransportError

    config = settings.stream
    alias = settings.elasticsearch.feeds_alias
    cycles = 0
    es_pause = 0.0  # grows while Elasticsearch fails, so a down cluster is not hammered
    unexpected = 0
    from newsbeam.connectors.es import describe

    outage = _Outage(describe(settings.elasticsearch))
    while not stop.requested:
        if lease.lost:
            raise RunFailed(f"{lease.lost}; the stream stopped writing")
        now = clock()
        try:
            docs = read_feed_docs(client, alias, [feed.url for feed in settings.feeds])
        except (ApiError, TransportError) as exc:
            es_pause = min(max(es_pause * 2, 5.0), config.poll_interval)
            outage.failed(exc, es_pause)
            stop.wait(es_pause)
            continue
        outage.answered()
        due = due_feeds(settings.feeds, docs, config, now)
        if due:
            cycles += 1
            report = _cycle(settings, pipeline_options, lease, due, cycles)
            _LOG.info(_cycle_line(report))
            if record is not None:
                record.add(report, clock())
                wrote = report.summary is not None and report.summary.get("news.es/written") > 0
                record.write(client, "running", clock(), count=wrote)
            if on_cycle is not None:
                on_cycle(report)
            try:
                polled = read_feed_docs(client, alias, [feed.url for feed in due])
                write_schedule(client, alias, polled, config)
                docs.update(polled)
            except (ApiError, TransportError) as exc:
                _LOG.warning("could not record the next polls (%s)", type(exc).__name__)
            if report.summary is None:
                # A cluster that answers errors heals; a bug repeats: give up after a few in a row.
                unexpected = unexpected + 1 if report.unexpected else 0
                if unexpected >= _MAX_UNEXPECTED:
                    raise RunFailed(f"{unexpected} cycles in a row failed; the last: {report.error}")
                es_pause = min(max(es_pause * 2, 5.0), config.poll_interval)
                stop.wait(es_pause)
            else:
                es_pause, unexpected = 0.0, 0
            if max_cycles is not None and cycles >= max_cycles:
                break
        upcoming = [next_poll(docs.get(feed.url), config) for feed in settings.feeds]
        wait = min(upcoming, default=clock() + config.poll_interval) - clock()
        stop.wait(min(max(wait, 0.5), config.poll_interval))
    return cycles


def _cycle(settings: Settings, pipeline_options, lease, due: list[FeedSpec], number: int) -> CycleReport:
    batch = settings.model_copy(update={"feeds": tuple(due)})
    try:
        summary = run_batch(batch, pipeline_options, lease=lease, command="stream")
    except RunFailed as exc:
        _LOG.warning("cycle %d: %s", number, exc)
        return CycleReport(number, len(due), None, str(exc))
    except Exception as exc:  # e.g. Elasticsearch answering 503 to the feed health writes
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        _LOG.warning("cycle %d failed: %s: %s", number, type(exc).__name__, first)
        return CycleReport(number, len(due), None, f"{type(exc).__name__}: {first}", unexpected=True)
    if _LOG.isEnabledFor(logging.DEBUG):  # the run summary of each cycle (issue: operators' view)
        from newsbeam.pipeline.report import summary_document, summary_line

        _LOG.debug("cycle %d: %s", number, summary_line(summary_document(summary, batch, command="stream")))
    return CycleReport(number, len(due), summary)


# -- the unbounded graph (streaming runners) -----------------------------------


def build_stream_pipeline(
    p,
    settings: Settings,
    feed_validators=None,
    *,
    window_seconds: float = 60.0,
    start: float | None = None,
    stop: float | None = None,
    ticks=None,
):
    """The unbounded graph for runners that stream (Flink, Dataflow, ...)::

        PeriodicImpulse(poll interval) ─► every feed ─► ReadFeeds ─► FixedWindows(window)
            ─► CanonicalizeUrls ─► SkipKnown ─► FetchPages ─► extract, cluster, tag ─► sink (timer)

    Each impulse polls every feed; SkipKnown keeps what earlier windows
    indexed out, story resolution runs once per window, and the sink sends
    a batch after ``max_buffer_seconds`` even when nothing else arrives.
    Feed health is written per window.  ``start``/``stop`` (epoch seconds)
    bound the impulse; a streaming runner runs it forever.  ``ticks``: another
    source of poll ticks (a test's ``TestStream``: the local runners cannot run
    PeriodicImpulse together with the sink's processing-time timer).
    Validators are those read when the job starts: a conditional GET saves
    bandwidth until the feed first changes, SkipKnown does the rest."""
    import apache_beam as beam
    from apache_beam.transforms import window
    from apache_beam.transforms.periodicsequence import PeriodicImpulse

    from newsbeam.connectors.feed_health import WriteFeedHealth
    from newsbeam.connectors.feeds import ReadFeeds
    from newsbeam.connectors.fetch import FetchPages
    from newsbeam.connectors.known import SkipKnown
    from newsbeam.pipeline import introspection
    from newsbeam.pipeline.build import _extract_and_index
    from newsbeam.transforms.urls import CanonicalizeUrls

    introspection.install()
    es = settings.elasticsearch
    feeds = list(settings.feeds)
    feed_order = {feed.url: i for i, feed in enumerate(feeds)}
    impulse = ticks or PeriodicImpulse(
        start_timestamp=start if start is not None else time.time(),
        stop_timestamp=stop if stop is not None else float(2**62),
        fire_interval=settings.stream.poll_interval,
    )
    polled = (
        p
        | "Impulse" >> impulse
        | "EveryFeed" >> beam.FlatMap(lambda _tick: feeds)
        | "ReadFeeds" >> ReadFeeds(settings.fetch, feed_validators)
    )
    windowing = window.FixedWindows(window_seconds)
    entries = (
        polled.entries
        | "Window" >> beam.WindowInto(windowing)
        | "CanonicalizeUrls" >> CanonicalizeUrls(feed_order)
    )
    new_entries = entries | "SkipKnown" >> SkipKnown(es, settings.fetch)
    fetched = new_entries | "FetchPages" >> FetchPages(settings.fetch)
    entry_failures = (
        polled.failed
        | "WindowFailures" >> beam.WindowInto(windowing)
        | "EntryFailures" >> beam.Filter(lambda f: f.url != f.feed_url)
    )
    built = _extract_and_index(fetched.pages, settings, feed_order, [entry_failures, fetched.failed])
    statuses = polled.status | "WindowStatus" >> beam.WindowInto(windowing)
    _ = (statuses, new_entries) | "FeedHealth" >> WriteFeedHealth(es)
    return built


def run_unbounded(
    settings: Settings, pipeline_options, *, force: bool = False, stop: StopSignal | None = None
):
    """Submit the unbounded graph (``--streaming`` on a runner that streams) and
    hold the writer lease while the job runs; a stop signal cancels the job
    (drain it from the runner's own tools to finish in-flight windows)."""
    import apache_beam as beam
    from apache_beam.runners.runner import PipelineState

    from newsbeam.connectors.es import connect
    from newsbeam.pipeline.run import dead_letter_dir, feed_validators, replay_dead_letters, resolve_models

    settings = resolve_models(settings)
    es = settings.elasticsearch
    stop = stop or StopSignal(settings.stream.stop_timeout)
    client = connect(es)
    try:
        lease = prepare_writer(client, settings, "stream", force)
        try:
            replay_dead_letters(client, settings)
            validators = feed_validators(client, es.feeds_alias, [feed.url for feed in settings.feeds])
            es = es.model_copy(update={"dead_letter_dir": str(dead_letter_dir(settings))})
            settings = settings.model_copy(update={"elasticsearch": es})
            p = beam.Pipeline(options=pipeline_options)
            build_stream_pipeline(p, settings, validators)
            result = p.run()
            while result.state not in PipelineState.TERMINAL_STATES:
                if stop.requested or lease.lost:
                    _LOG.warning("cancelling the streaming job (%s)", lease.lost or "stop signal")
                    result.cancel()
                    break
                result.wait_until_finish(duration=2000)
            return result.state
        finally:
            lease.release()
    finally:
        client.close()
