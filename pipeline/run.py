"""One batch run: prepare Elasticsearch, replay dead letters, run the graph,
and summarise what happened from the pipeline's metrics.

``run_batch`` is what ``newsbeam run`` and ``newsbeam demo`` call; it
raises ``RunFailed`` for operational failures (exit 1) and returns a
``RunSummary`` otherwise.

A run is a sequence of *waves* (see connectors/budget.py for why): each
wave is one complete pipeline over at most ``run.wave_size`` new entries,
written to Elasticsearch before the next starts, so a run killed at any
point keeps every finished wave and the next run resumes where it stopped.
Waves go on while feeds have entries waiting within their budgets; with
``run.max_run_time`` (``--max-run-time``) no page request and no wave
starts after the limit: the wave in flight extracts and indexes what it
fetched and the run ends with ``stopped_at_time_limit`` set; the entries
not fetched are left for the next run (``deferred``), nothing is recorded
as failed for want of time.  Exit status stays 0 in that case: the run did
what it was configured to do and lost nothing.

Elasticsearch failing in the middle of a run (unreachable, or answering
errors after the client's retries) ends the run after the wave in flight
with ``RunFailed`` carrying the summary of what was done: one message
naming the cluster's URL and the failed request (``news.es_errors``
counters), what was kept in the dead-letter folder (only when something
was), which entries were not looked up and which feeds' health was not
recorded (both seen again by the next run).  The transforms count these
failures instead of raising (connectors/known.py, connectors/feed_health.py),
so no worker prints a traceback; a wave that raises all the same is
reported the same way when the cluster no longer answers.

Before the first wave, ``newsbeam run`` leaves out the feeds whose last poll
asked it not to come back yet (``feed_holds``: 410 Gone, re-probed after
``stream.reprobe_interval``; a ``Retry-After`` on a failed poll, up to
``stream.max_hint``); they are counted in ``news.feeds/held`` and listed in
``RunSummary.held`` for the command to name.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import apache_beam as beam

from newsbeam.config.settings import Settings
from newsbeam.connectors import budget
from newsbeam.connectors.embedded import state_dir
from newsbeam.connectors.es import ES_ERRORS, EsUnavailable, connect, describe, ping, setup_indices
from newsbeam.connectors.feed_schedule import FeedHold, batch_hold
from newsbeam.pipeline import local_runner
from newsbeam.pipeline.build import build_pipeline
from newsbeam.pipeline.report import close_run_record, open_run_record
from newsbeam.pipeline.runners import runner_reports_metrics

__all__ = [
    "RunFailed",
    "RunInterrupted",
    "RunSummary",
    "dead_letter_dir",
    "replay_dead_letters",
    "run_batch",
]

_LOG = logging.getLogger(__name__)
HELD = "news.feeds/held"  # feeds a run did not poll: their last poll said gone, or Retry-After


class RunFailed(Exception):
    """An operational failure: the message is for the operator; ``summary``
    is the run's ``RunSummary`` when the pipeline ran to its end."""

    def __init__(self, message: str, summary: RunSummary | None = None):
        super().__init__(message)
        self.summary = summary


class RunInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped the run in wave ``wave``: ``summary`` has what the waves
    before it did (their documents are written), so the run can be recorded as stopped
    instead of vanishing from ``<prefix>-runs`` and ``--summary-json``."""

    def __init__(self, summary: RunSummary, wave: int):
        super().__init__(f"stopped in wave {wave}")
        self.summary = summary
        self.wave = wave


@dataclasses.dataclass
class RunSummary:
    counters: dict[str, int]
    failures_by_reason: dict[str, int]
    seconds: float
    replayed: int = 0
    waves: int = 1
    stopped_at_time_limit: bool = False
    # feeds not polled because their last poll asked not to come back yet (410 Gone, Retry-After)
    held: tuple[FeedHold, ...] = ()
    # time.time() when run_batch started: the _id of the run's record in <prefix>-runs
    started_at: float | None = None

    def get(self, name: str) -> int:
        return self.counters.get(name, 0)

    @property
    def deferred(self) -> int:
        """New entries left for the next run (budgets, time limit)."""
        return self.get(f"{budget.NS}/deferred") + self.get(f"{budget.NS}/waiting")

    @property
    def unwritten(self) -> int:
        return self.get("news.es/unwritten")


def dead_letter_dir(settings: Settings) -> str:
    """Where the sink keeps what it could not write: a local folder or any
    URL Beam's ``FileSystems`` knows (``gs://``, ``s3://``, ``hdfs://``), so
    workers on other hosts write where the next run replays from."""
    base = settings.elasticsearch.dead_letter_dir
    prefix = settings.elasticsearch.index_prefix
    if base and "://" in base:
        # Not pathlib (it folds "gs://b" into "gs:/b"); every URL filesystem joins with "/".
        return f"{base.rstrip('/')}/{prefix}"
    root = Path(base) if base else state_dir() / "dead-letter"
    return str(root / prefix)


def _unwritable(folder: str) -> str | None:
    """Why files cannot be created under the local ``folder`` (created if missing), else None."""
    path = Path(folder).absolute()
    probe = path
    while not probe.exists():  # the nearest existing ancestor decides
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"no permission to write in {probe}"
    return None


def check_local_dirs(settings: Settings) -> None:
    """``ConfigError`` naming the key when a local folder the run writes into cannot be written:
    found at the first archived page (an unexpected RuntimeError after every page was fetched) or,
    for dead letters, only when Elasticsearch failed, which is when they must not be lost."""
    from newsbeam.config.settings import ConfigError

    folders = []
    if settings.archive.enabled:
        from newsbeam.pipeline.build import archive_dir

        folders.append(("archive.dir", archive_dir(settings)))
    key = "elasticsearch.dead_letter_dir" if settings.elasticsearch.dead_letter_dir else "NEWSBEAM_STATE_DIR"
    folders.append((key, dead_letter_dir(settings)))
    for key, folder in folders:
        if "://" in folder:
            continue  # a FileSystems URL (gs://, s3://, ...): its own client reports
        why = _unwritable(folder)
        if why:
            raise ConfigError(f"{key}: cannot write into {folder}: {why}")


def _dead_letter_count(folder: str) -> int:
    """How many documents the dead-letter files under ``folder`` hold."""
    from newsbeam.connectors.es_sink import read_dead_letters

    return sum(len(actions) for _path, actions in read_dead_letters(folder))


def replay_dead_letters(client, settings: Settings) -> int:
    """Send the documents a failed run left behind (same operations, same
    retries as the sink); each file is deleted once sent.  Documents
    rejected for good are recorded in the failures alias."""
    from newsbeam.connectors import es_sink

    es = settings.elasticsearch
    folder = dead_letter_dir(settings)
    policy = es_sink.RetryPolicy.from_settings(es)
    sent, failures, unfinished = es_sink.replay_dead_letters(
        client, folder, policy, failures_alias=es.failures_alias
    )
    if failures:
        failure_actions = [
            es_sink.IndexAction(es.failures_alias, f.id, f.to_document(), url=f.url) for f in failures
        ]
        es_sink.BulkWriter(client, policy).write(failure_actions)
    if unfinished is not None:
        raise RunFailed(
            f"cannot replay {len(unfinished.unwritten)} documents left by an earlier run into "
            f"Elasticsearch at {describe(es)} ({unfinished.error}); they stay in {folder} "
            "for the next run"
        )
    if sent:
        _LOG.info("replayed %d documents left by an earlier run", sent)
    return sent


def resolve_models(settings: Settings) -> Settings:
    """Pin ``ner.model`` to an installed model before the graph is built, so a
    missing model is a configuration error (exit 2) and every worker loads the
    same one."""
    if not settings.ner.enabled:
        return settings
    from newsbeam.config.settings import ConfigError
    from newsbeam.transforms.entities import ModelUnavailableError, resolve_model_name

    try:
        model = resolve_model_name(settings.ner.model)
    except ModelUnavailableError as exc:
        raise ConfigError(f"{exc} (or set ner.enabled: false to run without entities)") from None
    return settings.model_copy(update={"ner": settings.ner.model_copy(update={"model": model})})


def _collect_counters(result) -> dict[str, int]:
    from apache_beam.metrics.metric import MetricsFilter

    counters: Counter[str] = Counter()
    for item in result.metrics().query(MetricsFilter())["counters"]:
        value = item.committed if item.committed is not None else item.attempted
        counters[f"{item.key.metric.namespace}/{item.key.metric.name}"] += int(value or 0)
    return dict(counters)


def _reachable(es) -> bool:
    client = connect(es, max_retries=0, request_timeout=5)
    try:
        ping(client, es)
        return True
    except EsUnavailable:
        return False
    finally:
        client.close()


def feed_validators(client, alias: str, feed_urls: Iterable[str]) -> dict[str, dict[str, str]]:
    """Each configured feed's stored ETag/Last-Modified (``news-feeds``), for conditional GETs,
    by feed URL as configured."""
    from newsbeam.connectors.feed_health import read_feed_docs

    validators = {}
    for url, doc in read_feed_docs(client, alias, feed_urls, ["http.etag", "http.last_modified"]).items():
        http = doc.get("http") or {}
        if http.get("etag") or http.get("last_modified"):
            validators[url] = {k: http[k] for k in ("etag", "last_modified") if http.get(k)}
    return validators


def feed_holds(client, alias: str, settings: Settings, now: float) -> list[FeedHold]:
    """The configured feeds a batch run does not poll now (``batch_hold``: gone, or a
    ``Retry-After`` not yet passed), from their ``news-feeds`` documents."""
    from newsbeam.connectors.feed_health import read_feed_docs

    urls = [feed.url for feed in settings.feeds]
    docs = read_feed_docs(client, alias, urls, ["status", "@timestamp", "schedule.hint_seconds"])
    stream = settings.stream
    holds = [batch_hold(url, docs.get(url), now, stream.reprobe_interval, stream.max_hint) for url in urls]
    return [hold for hold in holds if hold is not None]


def site_holds(client, settings: Settings, now: float) -> dict[str, float]:
    """Site -> until when (epoch seconds) no page of it is requested: a page that answered 429
    or 503 with ``Retry-After`` in an earlier run (``feed_schedule.site_hold``, capped at
    ``stream.max_hint`` as a feed's).  Empty when the failures cannot be read: the run goes on,
    each site's own answers still hold it within the run."""
    from elasticsearch import ApiError, TransportError

    from newsbeam.connectors.feed_schedule import read_site_holds

    try:
        holds = read_site_holds(client, settings.elasticsearch.failures_alias, now, settings.stream.max_hint)
    except (ApiError, TransportError) as exc:
        _LOG.warning("could not read the sites that asked to wait (%s); none is held", type(exc).__name__)
        return {}
    return {site: hold.until for site, hold in holds.items()}


def _refresh(es) -> None:
    """Make this run's writes searchable now, so a run started right after
    this one recognises every URL it indexed (the refresh interval would
    otherwise leave a window of about a second)."""
    from elasticsearch import ApiError, TransportError

    client = connect(es)
    try:
        aliases = ",".join((es.articles_alias, es.failures_alias, es.feeds_alias))
        client.indices.refresh(index=aliases, ignore_unavailable=True)
    except (ApiError, TransportError) as exc:
        _LOG.warning("could not refresh the indices after the run (%s)", type(exc).__name__)
    finally:
        client.close()


def _add_wave(total: Counter, wave: dict[str, int], plan: budget.WavePlan, deferred: dict[str, int]) -> None:
    """Fold one wave's counters into the run's.  Feed polls and the
    "already indexed"/"new" counts are the first wave's (later waves re-poll
    some feeds and meet the earlier waves' articles); ``waiting`` is the
    last wave's; ``deferred`` sums each feed's count from the last wave that
    polled it (``deferred`` is updated in place); per-feed and per-host
    counters stay out of the summary.  What Elasticsearch could not answer
    (``_UNANSWERED``) sums over the waves."""
    first = plan.wave == 1
    for name, value in wave.items():
        if name.startswith(f"{budget.NS}/"):
            continue
        if not first and name.startswith(("news.feeds/", "news.known/")) and name not in _UNANSWERED:
            continue
        total[name] += value
    wave_deferred = budget.per_key_counters(wave, budget.DEFERRED)
    for feed in plan.feeds if plan.feeds is not None else set(deferred) | set(wave_deferred):
        deferred[feed] = wave_deferred.get(feed, 0)
    total[f"{budget.NS}/deferred"] = sum(deferred.values())
    total[f"{budget.NS}/waiting"] = sum(budget.per_key_counters(wave, budget.WAITING).values())


def _next_plan(plan: budget.WavePlan, wave: dict[str, int]) -> budget.WavePlan | None:
    """The next wave's plan, or None when no feed has entries waiting."""
    waiting = budget.per_key_counters(wave, budget.WAITING)
    taken_now = budget.per_key_counters(wave, budget.TAKEN)
    if not waiting or not taken_now:
        return None  # nothing left, or no progress possible
    taken = dict(plan.taken)
    for feed, count in taken_now.items():
        taken[feed] = taken.get(feed, 0) + count
    spent = dict(plan.host_spent)
    for site, seconds in budget.host_spent_from_counters(wave).items():
        spent[site] = spent.get(site, 0.0) + seconds
    return dataclasses.replace(
        plan, wave=plan.wave + 1, feeds=frozenset(waiting), taken=taken, host_spent=spent
    )


def prepare_writer(client, settings: Settings, command: str, force: bool = False):
    """Before a writer (``run``, ``reextract``, ``stream``) starts: Elasticsearch
    answers, the templates and indices are installed, and the writer lease of
    the index prefix is taken (connectors/lease.py) and kept renewed.
    Returns the lease; ``RunFailed`` when the cluster does not answer or
    another writer holds the lease."""
    from newsbeam.connectors.lease import LeaseHeld, acquire_lease

    es = settings.elasticsearch
    try:
        ping(client, es)
    except EsUnavailable as exc:
        raise RunFailed(f"{exc}; nothing was fetched or recorded") from None
    from elasticsearch import ApiError, TransportError

    from newsbeam.connectors.es import refused

    try:
        setup_indices(client, es.index_prefix)
    except (ApiError, TransportError) as exc:
        what = f"installing the {es.index_prefix}-* templates and indices"
        raise RunFailed(f"{refused(exc, es, what)}; nothing was fetched or recorded") from None
    try:
        lease = acquire_lease(client, es.index_prefix, command, force=force, ttl=settings.stream.lease_ttl)
    except LeaseHeld as exc:
        raise RunFailed(f"{exc}; nothing was fetched or recorded") from None
    except (ApiError, TransportError) as exc:
        what = f"the writer lease in {es.index_prefix}-locks"
        raise RunFailed(f"{refused(exc, es, what)}; nothing was fetched or recorded") from None
    from newsbeam.pipeline.report import record_unrecorded

    record_unrecorded(client, settings)  # ends of earlier streams the cluster did not take then
    return lease.start_renewing()


def run_batch(
    settings: Settings,
    pipeline_options,
    builder=build_pipeline,
    *,
    lease=None,
    force: bool = False,
    command: str = "run",
) -> RunSummary:
    """Run the batch pipeline over ``settings.feeds`` in waves (or another
    graph built by ``builder``, e.g. ``build_reextract_pipeline``, once).

    The run holds the writer lease of its index prefix (connectors/lease.py)
    from before the dead letters are replayed until it ends; ``lease``: one
    the caller already holds (``newsbeam stream``); ``force``: take over a
    lease another writer holds."""
    started = time.monotonic()
    started_at = time.time()
    max_run_time = settings.run.max_run_time
    deadline = started_at + max_run_time if max_run_time else None
    settings = resolve_models(settings)
    check_local_dirs(settings)
    folder = dead_letter_dir(settings)
    es = settings.elasticsearch
    client = connect(es)
    own_lease = None
    recorded = False  # this run's "running" record is in <prefix>-runs (see report.open_run_record)
    try:
        if lease is None:
            own_lease = prepare_writer(client, settings, command, force)
            open_run_record(client, settings, command, started_at)
            recorded = True
        else:  # the caller (newsbeam stream) prepared the cluster, holds the lease and keeps the record
            setup_indices(client, es.index_prefix)
        # Once this run may write: worker processes import Beam while the dead letters are replayed
        # and the graph is built (a run refused by the lease starts none).
        local_runner.prestart(pipeline_options)
        replayed = replay_dead_letters(client, settings)
        validators = feed_validators(client, es.feeds_alias, [feed.url for feed in settings.feeds])
        held: list[FeedHold] = []
        if command == "run":  # a stream schedules each feed itself (pipeline/stream.py)
            held = feed_holds(client, es.feeds_alias, settings, time.time())
            if held:
                skip = {hold.feed_url for hold in held}
                settings = settings.model_copy(
                    update={"feeds": tuple(feed for feed in settings.feeds if feed.url not in skip)}
                )
        if held and not settings.feeds:  # nothing to poll: no pipeline at all
            summary = _summary(Counter({HELD: len(held)}), started, replayed, 0, False)
        else:
            summary = _run_graph(
                settings,
                pipeline_options,
                builder,
                folder,
                validators,
                replayed,
                started,
                deadline,
                len(held),
                site_holds(client, settings, time.time()),
            )
        summary = dataclasses.replace(summary, held=tuple(held), started_at=started_at)
        if recorded:
            close_run_record(client, settings, command, summary, None)
        return summary
    except BaseException as exc:
        summary = getattr(exc, "summary", None)
        if summary is not None:  # the caller records it under the record's _id
            summary.started_at = started_at
        if recorded:
            if summary is None:
                summary = RunSummary({}, {}, time.monotonic() - started, waves=0, started_at=started_at)
                from newsbeam.pipeline.lifecycle import stop_signal

                if isinstance(exc, KeyboardInterrupt) or stop_signal():
                    exc.summary = summary  # the stop is recorded under this run's _id, not a new one
            close_run_record(client, settings, command, summary, exc)
        raise
    finally:
        local_runner.close_standby()  # the standby workers no wave took
        if own_lease is not None:
            own_lease.release()
        client.close()


def _run_graph(
    settings, pipeline_options, builder, folder, validators, replayed, started, deadline, held=0, holds=None
) -> RunSummary:
    es = settings.elasticsearch
    # The sink itself writes what it could not send, so it survives a failing pipeline.
    es = es.model_copy(update={"dead_letter_dir": folder})
    settings = settings.model_copy(update={"elasticsearch": es})

    total: Counter[str] = Counter({HELD: held} if held else {})
    plan: budget.WavePlan | None = budget.WavePlan(deadline=deadline, site_holds=holds or {})
    waves, stopped = 0, False
    deferred: dict[str, int] = {}
    try:
        while plan is not None:
            waves += 1
            wave_started = time.monotonic()
            try:
                local_runner.prestart(pipeline_options)  # the wave's workers start while its graph is built
                with beam.Pipeline(options=pipeline_options) as p:
                    builder(p, settings, validators, plan)
            except local_runner.WorkerLost as exc:
                kept = _dead_letter_count(folder)
                total["news.es/unwritten"] = total["news.run/dead_letters"] = kept
                raise RunFailed(
                    f"{exc}: the run stopped in wave {waves}{_dead_letter_note(kept, folder)}; what earlier "
                    "waves wrote stays, and the next run fetches the rest (fewer worker processes, "
                    "--direct_num_workers=1, need less memory)",
                    _summary(total, started, replayed, waves, False),
                ) from None
            except Exception:
                if _reachable(es):
                    raise
                # The wave's figures are lost with it: the summary has the earlier waves' and the
                # documents its sink kept (counted from the files).
                kept = _dead_letter_count(folder)
                total["news.es/unwritten"] = total["news.run/dead_letters"] = kept
                summary = _summary(total, started, replayed, waves, False)
                raise RunFailed(
                    f"Elasticsearch at {describe(es)} cannot be reached: the run stopped in wave {waves}"
                    f"{_dead_letter_note(kept, folder)}; articles not written are not recorded as indexed "
                    "and will be fetched again",
                    summary,
                ) from None
            _refresh(es)  # the next wave's SkipKnown must see this wave's articles
            result = p.result
            if runner_reports_metrics(result):
                wave = _collect_counters(result)
            else:
                # A runner that reports no metrics: the summary has no counts, and
                # unwritten documents are known by the dead-letter files the sink left.
                _LOG.warning("this runner reports no metrics: the summary shows no counts")
                wave = {"news.es/unwritten": _dead_letter_count(folder)}
            _add_wave(total, wave, plan, deferred)
            if wave.get("news.es/unwritten") or _es_failed(wave):
                break
            plan = _next_plan(plan, wave)
            if plan is not None and deadline is not None and time.time() >= deadline:
                stopped = True
                break
            if plan is not None:
                _LOG.info(
                    "wave %d done in %.1f s; %d entries wait for the next wave",
                    waves,
                    time.monotonic() - wave_started,
                    total[f"{budget.NS}/waiting"],
                )
        if deadline is not None and time.time() >= deadline and total[f"{budget.NS}/deferred"]:
            stopped = True
    except BaseException as exc:
        from newsbeam.pipeline.lifecycle import stop_signal

        if isinstance(exc, RunFailed) or not (isinstance(exc, KeyboardInterrupt) or stop_signal()):
            raise
        # Ctrl-C or SIGTERM (possibly wrapped by Beam): the finished waves' figures and the
        # documents the wave in flight kept as dead letters go into the run's record.
        try:
            kept = _dead_letter_count(folder)
        except Exception:  # never hide the interrupt
            kept = 0
        total["news.es/unwritten"] = total["news.run/dead_letters"] = kept
        raise RunInterrupted(_summary(total, started, replayed, waves, False), waves) from None
    summary = _summary(total, started, replayed, waves, stopped)
    if summary.unwritten or _es_failed(summary.counters):
        raise RunFailed(_es_failure_message(summary, es, folder), summary)
    return summary


def _summary(total: Counter, started: float, replayed: int, waves: int, stopped: bool) -> RunSummary:
    counters = dict(total)
    failures = {
        name.split("/", 1)[1]: value
        for name, value in counters.items()
        if name.startswith("news.failures/") and value
    }
    return RunSummary(
        counters=counters,
        failures_by_reason=dict(sorted(failures.items())),
        seconds=time.monotonic() - started,
        replayed=replayed,
        waves=waves,
        stopped_at_time_limit=stopped,
    )


_UNANSWERED = ("news.known/unanswered", "news.feeds/health_unwritten")
_REQUESTS = {"lookup": "a known-URL lookup", "bulk": "a bulk write", "search": "a feed-health lookup"}
_ORDER = {request: i for i, request in enumerate(_REQUESTS)}


def _es_failed(counters: dict[str, int]) -> bool:
    """Whether a transform could not get a request answered (lookups, feed health)."""
    return any(counters.get(name) for name in _UNANSWERED)


def _dead_letter_note(kept: int, folder: str) -> str:
    if not kept:
        return ""
    return (
        f"; {kept} documents that could not be written are kept in {folder} and will be sent "
        "first by the next run"
    )


def _es_failure_message(summary: RunSummary, es, folder: str) -> str:
    """One paragraph: which request failed how (``news.es_errors`` counters,
    the most frequent), then what was kept and what the next run does again;
    only what is true of this run."""
    errors = {
        name.split("/", 1)[1]: value
        for name, value in summary.counters.items()
        if name.startswith(f"{ES_ERRORS}/") and value
    }
    where = f"Elasticsearch at {describe(es)}"
    lost = summary.get("news.es/dead_letters_lost")
    if errors:
        # The first failed request in the graph's order: lookups, writes, feed health.
        first = min(errors, key=lambda name: (_ORDER.get(name.split(":")[0], len(_ORDER)), name))
        request, _, kind = first.partition(":")
        what = _REQUESTS.get(request, f"a {request} request")
        if kind.startswith("http_"):
            cause = f"{where} answered {kind[len('http_') :]} to {what}"
        else:
            cause = f"{where} cannot be reached ({kind} on {what})"
    elif not _reachable(es):
        cause = f"{where} cannot be reached"
    else:
        cause = f"{where} did not accept every document after retries"
    parts = [cause + _dead_letter_note(summary.unwritten - lost, folder)]
    if lost:
        parts.append(
            f"{lost} documents could not be kept in {folder} either (no space left, or no permission "
            "to write there; see the log): they are not recorded as indexed, so the next run fetches "
            "them again"
        )
    unanswered = summary.get("news.known/unanswered")
    if unanswered:
        parts.append(
            f"{unanswered} feed entries could not be looked up and were not fetched: the next run "
            "polls them again"
        )
    health = summary.get("news.feeds/health_unwritten")
    if health:
        parts.append(f"the health of {health} feeds was not recorded (the next run records it)")
    return "; ".join(parts)
