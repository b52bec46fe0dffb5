"""``newsbeam status``: what an operator checks first, in one screen.

Read only, from Elasticsearch and the state directory:

- document counts per index behind each alias (``<prefix>-articles``,
  ``-failures``, ``-feeds``, ``-runs``);
- the last runs' summaries (``<prefix>-runs``, written by ``run`` /
  ``reextract``: the same document as ``--summary-json``, first as
  ``running`` once the run holds the writer lease, see
  ``report.open_run_record``; ``stream``: one per stream, updated after
  each cycle, see pipeline/stream.py); a ``running`` one whose process is
  gone, or whose lease is not its own any more, is shown as GONE;
- feed health (``<prefix>-feeds``, the fields Kibana's feed-health view
  shows): last poll (``@timestamp``), ``status``, ``new_items``,
  ``error_streak``, ``last_success``, and the expected next poll: the one
  ``newsbeam stream`` stored (``schedule.next_poll``), else the last poll
  plus the interval between the two latest runs (the schedule as observed;
  unknown with fewer than two runs);
- failures by ``stage`` and ``reason`` (``<prefix>-failures``, one
  aggregation), and the sites a page's ``Retry-After`` holds (one bounded
  search of the failures of the last ``stream.max_hint`` seconds);
- the writer lease (``<prefix>-locks``, ``_id`` ``writer``: ``holder.host``,
  ``holder.pid``, ``holder.command``, ``since``, ``renewed``, ``expires``),
  "none" when the index or document is missing;
- the embedded server of this state directory (pid file, answers or not).

Every request is a count, an aggregation with ``size: 0``, or a bounded
search over small indices (feeds, runs).  On the embedded server, which
counts by scanning, the articles count is the one the last run recorded at
its end (``--exact`` counts now), so the answer time does not grow with
the number of articles (bench/status.py measures it on 100k).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from newsbeam.transforms.model import epoch_iso, mask_userinfo, parse_instant

__all__ = ["FAILURE_FIELDS", "FEED_HEALTH_FIELDS", "collect_status", "count_aliases", "print_status"]

# The fields of the feed health and failures tables; the Kibana feed-health and
# failures visualizations (config/kibana/) use the same (checked by a test).
FEED_HEALTH_FIELDS = (
    "feed.url",
    "feed.name",
    "@timestamp",
    "status",
    "new_items",
    "error_streak",
    "last_success",
)
FAILURE_FIELDS = ("stage", "reason")
FEEDS_SHOWN = 1000  # feed health rows read (a feed list is small; more are counted, not listed)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def locks_index(prefix: str) -> str:
    return f"{prefix}-locks"


def counts_by_scanning(client) -> bool:
    """True for the embedded server (noida-db): it answers ``_count`` by
    scanning the index (about 1.5 s per 100k articles on a loaded 2-core
    machine, and other requests wait meanwhile), where Elasticsearch answers
    from index metadata in milliseconds."""
    info = client.info()
    return info.get("name") == "noida-db" or info.get("cluster_uuid") == "noida-local"


def _counts(
    client, aliases: list[str], recorded: dict[str, Any] | None, live: set[str]
) -> dict[str, dict[str, Any]]:
    """Documents per alias and per concrete index behind it: counted now for
    the aliases in ``live``, else the count the last run recorded at its end
    (``source: "last run"``, ``as_of`` its end), so status stays fast on a
    server that counts by scanning."""
    from elasticsearch import NotFoundError

    recorded = recorded or {}
    out: dict[str, dict[str, Any]] = {}
    for alias in aliases:
        documents = (recorded.get("counts") or {}).get(alias)
        if alias not in live and documents is not None:
            out[alias] = {
                "documents": documents,
                "indices": {},
                "source": "last run",
                "as_of": recorded.get("finished"),
            }
            continue
        try:
            indices = sorted(client.indices.get_alias(name=alias))
        except NotFoundError:
            indices = []
        per_index = {name: int(client.count(index=name)["count"]) for name in indices}
        out[alias] = {"documents": sum(per_index.values()), "indices": per_index, "source": "live"}
    return out


def count_aliases(client, aliases: list[str]) -> dict[str, int]:
    """Documents behind each alias (for the run summary: what status shows
    when a live count would be too slow)."""
    counts = {}
    for alias in aliases:
        response = client.count(index=alias, ignore_unavailable=True)
        counts[alias] = int(response.get("count", 0))
    return counts


def _runs(client, alias: str, size: int) -> list[dict[str, Any]]:
    response = client.search(
        index=alias,
        size=size,
        sort=[{"@timestamp": {"order": "desc"}}],
        query={"match_all": {}},
        ignore_unavailable=True,
    )
    return [hit["_source"] for hit in response["hits"]["hits"]]


def _feeds(client, alias: str, interval: timedelta | None, stream=None) -> tuple[list[dict[str, Any]], int]:
    """``stream``: the ``StreamSettings`` a ``newsbeam run`` holds feeds by (gone, Retry-After):
    such a feed's next poll is not before its hold ends (``batch_hold``)."""
    from newsbeam.connectors.feed_schedule import batch_hold

    response = client.search(
        index=alias,
        size=FEEDS_SHOWN,
        track_total_hits=True,
        query={"match_all": {}},
        source=[
            *FEED_HEALTH_FIELDS,
            "feed.title",
            "error",
            "schedule.next_poll",
            "schedule.hint_seconds",
            "http.moved_to",
        ],  # fmt: skip
        ignore_unavailable=True,
    )
    total = response["hits"]["total"]
    total = total["value"] if isinstance(total, dict) else int(total or 0)
    feeds = []
    for hit in response["hits"]["hits"]:
        src = hit["_source"]
        feed = src.get("feed") or {}
        last = parse_instant(src.get("@timestamp"))
        # newsbeam stream stores each feed's next poll; one stored before the last poll is an old
        # stream's, overtaken by runs since.
        scheduled = parse_instant((src.get("schedule") or {}).get("next_poll"))
        if scheduled and last and scheduled >= last:
            next_poll = _iso(scheduled)
        else:
            next_poll = _iso(last + interval) if last and interval else None
            hold = (
                None if stream is None else batch_hold("", src, 0.0, stream.reprobe_interval, stream.max_hint)
            )
            if hold is not None and (
                last is None or interval is None or hold.until > (last + interval).timestamp()
            ):
                next_poll = epoch_iso(hold.until)
        feeds.append(
            {
                "url": mask_userinfo(feed.get("url")),  # older documents kept the user info
                "name": feed.get("name") or feed.get("title"),
                "last_poll": src.get("@timestamp"),
                "status": src.get("status"),
                "new_items": src.get("new_items") or 0,
                "error_streak": src.get("error_streak") or 0,
                "last_success": src.get("last_success"),
                "error": mask_userinfo(src.get("error")),
                "next_poll": next_poll,
                "moved_to": mask_userinfo((src.get("http") or {}).get("moved_to")),
            }
        )
    # the failing ones first, then by name
    feeds.sort(key=lambda f: (-(f["error_streak"] or 0), f["name"] or "", f["url"] or ""))
    return feeds, total


def _failures(client, alias: str) -> dict[str, Any]:
    response = client.search(
        index=alias,
        size=0,
        track_total_hits=True,
        aggs={
            "stage": {
                "terms": {"field": FAILURE_FIELDS[0], "size": 50},
                "aggs": {"reason": {"terms": {"field": FAILURE_FIELDS[1], "size": 100}}},
            }
        },
        ignore_unavailable=True,
    )
    total = response["hits"]["total"]
    total = total["value"] if isinstance(total, dict) else int(total or 0)
    rows = []
    for stage in ((response.get("aggregations") or {}).get("stage") or {}).get("buckets", []):
        for reason in stage["reason"]["buckets"]:
            rows.append({"stage": stage["key"], "reason": reason["key"], "count": reason["doc_count"]})
    rows.sort(key=lambda r: (-r["count"], r["stage"], r["reason"]))
    return {"total": total, "by_stage_reason": rows}


def _lease(client, prefix: str, now: datetime) -> dict[str, Any] | None:
    from elasticsearch import NotFoundError

    try:
        found = client.get(index=locks_index(prefix), id="writer")
    except NotFoundError:  # no index, or no document: nobody holds it
        return None
    if not found.get("found", True):
        return None
    import socket

    from newsbeam.connectors.lease import stale_reason

    src = found.get("_source") or {}
    expires = parse_instant(src.get("expires"))
    return {
        "holder": src.get("holder") or {},
        "since": src.get("since"),
        "renewed": src.get("renewed"),
        "expires": src.get("expires"),
        "expired": bool(expires and expires <= now),
        # Why the next writer may take it without --force (expired, or a holder of
        # this host whose process is gone), or None while its holder is alive.
        "stale": stale_reason(src, now, socket.gethostname()),
    }


def embedded_state(settings) -> dict[str, Any]:
    from newsbeam.connectors.embedded import EmbeddedServer

    server = EmbeddedServer(port=settings.embedded.port, data_dir=settings.embedded.data_dir)
    recorded = server.recorded()
    if recorded is not None and recorded[1]:
        server = EmbeddedServer(port=recorded[1], data_dir=settings.embedded.data_dir)
    return {
        "running": recorded is not None,
        "pid": recorded[0] if recorded else None,
        "url": server.url,
        "answers": server.answers() if recorded is not None else False,
        "data_dir": str(recorded[2] if recorded and recorded[2] else server.data_dir),
        "used": (settings.elasticsearch.url or "").rstrip("/") == server.url,
    }


def _interval(runs: list[dict[str, Any]]) -> timedelta | None:
    # a stream's record is one per stream, not per poll: no measure of the schedule
    starts = [s for s in (parse_instant(r.get("started")) for r in runs if r.get("command") != "stream") if s]
    if len(starts) < 2:
        return None
    gap = starts[0] - starts[1]
    return gap if gap.total_seconds() > 0 else None


def _site_holds(client, settings, now: datetime) -> list[dict[str, Any]]:
    """The sites no page is requested from yet (a page's 429/503 with ``Retry-After`` in an earlier
    run, ``feed_schedule.site_hold``), the latest-ending first."""
    from newsbeam.connectors.feed_schedule import read_site_holds

    holds = read_site_holds(
        client, settings.elasticsearch.failures_alias, now.timestamp(), settings.stream.max_hint
    )
    return [
        {
            "site": hold.site,
            "until": epoch_iso(hold.until),
            "url": mask_userinfo(hold.url),
            "status": hold.status,
            "asked_at": hold.asked_at,
        }
        for hold in sorted(holds.values(), key=lambda h: (-h.until, h.site))
    ]


def _with_unrecorded(runs: list[dict[str, Any]], settings) -> list[dict[str, Any]]:
    """Each ``running`` record whose end the cluster did not take when it came (kept in the state
    directory by ``report.keep_unrecorded``, until the next writer records it) replaced by that
    end, with ``pending``: the file it is kept in."""
    from newsbeam.pipeline.report import run_id, unrecorded_runs

    kept = unrecorded_runs(settings)
    if not kept:
        return runs
    shown = []
    for run in runs:
        try:
            found = kept.get(run_id(run)) if run.get("status") == "running" else None
        except KeyError:
            found = None
        shown.append({**found[1], "pending": str(found[0])} if found else run)
    return shown


def collect_status(
    client, settings, runs: int = 5, now: datetime | None = None, exact: bool = False
) -> dict[str, Any]:
    """``exact``: count every index now, even on a server that counts by
    scanning (see ``counts_by_scanning``)."""
    """Everything ``newsbeam status`` shows, as one JSON-able dict."""
    started = time.monotonic()
    es = settings.elasticsearch
    now = now or datetime.now(timezone.utc)
    timings: dict[str, float] = {}

    def timed(name, fn, *a):
        t0 = time.monotonic()
        try:
            return fn(*a)
        finally:
            timings[name] = round((time.monotonic() - t0) * 1000, 1)

    last_runs = _with_unrecorded(timed("runs", _runs, client, es.runs_alias, runs), settings)
    interval = _interval(last_runs)
    feeds, feeds_total = timed("feeds", _feeds, client, es.feeds_alias, interval, settings.stream)
    aliases = [es.articles_alias, es.failures_alias, es.feeds_alias, es.runs_alias]
    live = set(aliases)
    if not exact and timed("info", counts_by_scanning, client):
        live.discard(es.articles_alias)  # the one index that grows without bound
    lease = timed("lease", _lease, client, es.index_prefix, now)
    for run in last_runs:
        if run.get("status") == "running":  # still at work, or killed before it recorded its end
            run["gone"] = _gone(run, lease or {})
    # the latest run that recorded the counts (one in progress, or that failed, has none)
    counted = next((run for run in last_runs if run.get("counts")), None)
    status = {
        "at": _iso(now),
        "index_prefix": es.index_prefix,
        "indices": timed("indices", _counts, client, aliases, counted, live),
        "runs": last_runs,
        "poll_interval_seconds": interval.total_seconds() if interval else None,
        "feeds": feeds,
        "feeds_total": feeds_total,
        "failures": timed("failures", _failures, client, es.failures_alias),
        "site_holds": timed("site_holds", _site_holds, client, settings, now),
        "lease": lease,
    }
    status["timings_ms"] = timings
    status["seconds"] = round(time.monotonic() - started, 3)
    return status


def _short(value: Any) -> str:
    from newsbeam.pipeline.search import clean_text

    text = clean_text(value)
    return text[:19].replace("T", " ") if len(text) >= 19 and text[4:5] == "-" else text


def _gone(run: dict[str, Any], lease: dict[str, Any] | None = None) -> bool:
    """A run recorded as running that no longer runs (killed before it could record its end):
    its process on this host no longer exists, or, seen from anywhere, the writer lease every
    running writer holds (``<prefix>-locks``) is not its own any more (expired, released, or
    another writer's).  Set by ``collect_status`` as ``gone``; tables built without it ask the
    pid (this host) only."""
    import socket

    from newsbeam.connectors.lease import _pid_alive

    if "gone" in run:
        return bool(run["gone"])
    pid = run.get("pid")
    if run.get("host") == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid):
        return True
    if lease is None:
        return False
    holder = lease.get("holder") or {}
    return (
        lease.get("expired") or bool(lease.get("stale"))
        or (holder.get("host"), holder.get("pid")) != (run.get("host"), pid)
    )  # fmt: skip


def _run_state(run: dict[str, Any]) -> str:
    """`` (FAILED)``, or the signal that stopped the run (`` (SIGINT)``: Ctrl-C, `` (SIGTERM)``),
    after a run's command; `` (running)`` while a run or stream works, or `` (GONE)`` when its
    process is; '' for one that ended well (short: the table fits 80 columns)."""
    if run.get("status") == "running":
        return " (GONE)" if _gone(run) else " (running)"
    if run.get("status") != "failed":
        return ""
    return f" ({run['signal']})" if run.get("signal") in ("SIGINT", "SIGTERM", "SIGHUP") else " (FAILED)"


def print_status(status: dict[str, Any], embedded: dict[str, Any] | None, console, where: str) -> None:
    """Tables on ``console``; every string from Elasticsearch is cleaned and
    printed as Text (feed names and errors come from the network)."""
    from rich.table import Table
    from rich.text import Text

    from newsbeam.pipeline.search import clean_text

    def row(*values):
        return [Text(clean_text(v) if not isinstance(v, Text) else v.plain) for v in values]

    console.print(Text(f"newsbeam status of {where}, prefix {status['index_prefix']} ({status['at']})"))
    indices = Table(title="documents", title_justify="left")
    for column in ("alias", "documents", "indices"):
        indices.add_column(column, justify="right" if column == "documents" else "left")
    for alias, info in status["indices"].items():
        if info["source"] == "live":
            behind = ", ".join(f"{name}: {count}" for name, count in sorted(info["indices"].items()))
        else:
            behind = f"{info['source']}" + (f" ({_short(info['as_of'])})" if info.get("as_of") else "")
        documents = "?" if info["documents"] is None else str(info["documents"])
        indices.add_row(*row(alias, documents, behind))
    console.print(indices)

    runs = Table(title="last runs", title_justify="left")
    for column in ("started", "command", "seconds", "feeds", "new", "indexed", "failures", "dead letters"):
        runs.add_column(column, min_width=9 if column == "command" else None)  # "(SIGTERM)"
    for run in status["runs"]:
        polled = run.get("feeds") or {}
        runs.add_row(
            *row(
                _short(run.get("started")),
                run.get("command", "") + _run_state(run),
                f"{run.get('seconds', 0):.1f}",
                f"{polled.get('polled', 0)} ({polled.get('failed', 0)} failed)",
                str((run.get("entries") or {}).get("new", 0)),
                str((run.get("documents") or {}).get("indexed", 0)),
                str((run.get("failures") or {}).get("written", 0)),
                str(run.get("dead_letters", 0)),
            )
        )
    console.print(runs if status["runs"] else Text("last runs: none recorded yet"))
    last = status["runs"][0] if status["runs"] else None
    if last and last.get("status") == "failed" and last.get("error"):
        # what went wrong and what the next run does, as the run said it (the table has no room)
        what = "" if last.get("signal") else "failed: "  # the error of a stop names its signal
        console.print(Text(clean_text(f"last run {what}{last['error']}")))
    elif last and last.get("status") == "running" and last.get("command") != "stream":
        text = (
            f"{last.get('command')} (pid {last.get('pid')} on {last.get('host')}) started at "
            f"{_short(last.get('started'))}"
        )
        if _gone(last):
            text += (
                " and is gone without recording its end (killed with kill -9, out of memory, or its "
                "machine stopped): the waves it finished stay written, the next run fetches the rest"
            )
        else:
            text += " and is still at work"
        console.print(Text(clean_text(text)))
    elif last and last.get("status") == "running":
        cycles = last.get("cycles") or {}
        text = f"stream (pid {last.get('pid')} on {last.get('host')}): {cycles.get('run', 0)} cycles"
        text += f", {cycles.get('failed', 0)} failed" + (
            f", the last one at {_short(cycles['last'])}" if cycles.get("last") else ""
        )
        if _gone(last):
            text += (
                "; its process is gone without recording its end (killed, or Elasticsearch did not "
                "answer when it stopped): start it again if it should run"
            )
        elif cycles.get("last_error"):
            text += f"; the last cycle failed (it is retried): {cycles['last_error']}"
        console.print(Text(clean_text(text)))

    for run in status["runs"]:
        if run.get("pending"):
            why = (run.get("unrecorded") or {}).get("why") or "Elasticsearch did not take it"
            console.print(
                Text(
                    clean_text(
                        f"{run.get('command')} (pid {run.get('pid')} on {run.get('host')}, started "
                        f"{_short(run.get('started'))}) ended {run.get('status')} at "
                        f"{_short(run.get('finished'))} but could not record it then: {why}; "
                        f"kept in {run['pending']}, the next run or stream records it"
                    )
                )
            )

    feeds = Table(title=f"feed health ({status['feeds_total']} feeds)", title_justify="left")
    for column in ("feed", "last poll", "status", "new items", "error streak", "next poll"):
        feeds.add_column(column, overflow="fold")
    for feed in status["feeds"]:
        feeds.add_row(
            *row(
                feed["name"] or feed["url"],
                _short(feed["last_poll"]),
                feed["status"] + (f" (moved to {feed['moved_to']})" if feed.get("moved_to") else ""),
                str(feed["new_items"]),
                str(feed["error_streak"]),
                _short(feed["next_poll"]) or "unknown",
            )
        )
    console.print(feeds if status["feeds"] else Text("feed health: no feed polled yet"))
    # Why each failing feed fails (the table has only its reason code): an HTML page since a
    # redesign, an HTTP status, a timeout, each naming the feed.
    failing = [f for f in status["feeds"] if f["error"] and f["status"] not in ("ok", "not_modified")]
    for feed in failing:
        name = clean_text(feed["name"] or feed["url"])
        console.print(Text(f"  {name}: {clean_text(feed['error'])}"))

    # A site whose page asked to wait (429/503 with Retry-After): no run requests it before then.
    for hold in status.get("site_holds") or []:
        console.print(
            Text(
                clean_text(
                    f"site {hold['site']} held until {_short(hold['until'])}: {hold['url']} answered "
                    f"HTTP {hold['status']} with Retry-After at {_short(hold['asked_at'])}; its pages "
                    "wait for a run after that"
                )
            )
        )

    failures = Table(title=f"failures ({status['failures']['total']})", title_justify="left")
    for column in ("stage", "reason", "count"):
        failures.add_column(column)
    for item in status["failures"]["by_stage_reason"]:
        failures.add_row(*row(item["stage"], item["reason"], str(item["count"])))
    console.print(failures if status["failures"]["by_stage_reason"] else Text("failures: none"))

    lease = status["lease"]
    if lease is None:
        console.print(Text("writer lease: none"))
    else:
        holder = lease["holder"]
        if lease["expired"]:
            state = "EXPIRED"
        elif lease.get("stale"):
            state = f"STALE ({lease['stale']}: the next writer takes it)"
        else:
            state = "held"
        console.print(
            Text(
                clean_text(
                    f"writer lease: {state} by {holder.get('command')} (pid {holder.get('pid')} on "
                    f"{holder.get('host')}) since {lease['since']}, renewed {lease['renewed']}, "
                    f"expires {lease['expires']}"
                )
            )
        )
    if embedded is not None:
        if embedded["running"]:
            state = "answering" if embedded["answers"] else "NOT answering"
            text = f"embedded server: running (pid {embedded['pid']}), {state} at {embedded['url']}"
        else:
            text = "embedded server: not running"
        if embedded["running"] and not embedded["used"]:
            text += " (not the cluster shown above)"
        console.print(Text(text + f"; data {embedded['data_dir']}"))


def run_status(args, load_settings, usage_error) -> int:
    """``newsbeam status``: 0 when Elasticsearch answered, 1 when not (the
    embedded server's state is still shown)."""
    import json

    from elasticsearch import ApiError, TransportError
    from rich.console import Console

    from newsbeam.connectors.es import EsUnavailable, connect, describe, ping

    if not 1 <= args.runs <= 100:
        raise usage_error(f"--runs: expected a number from 1 to 100, got {args.runs}")
    settings = load_settings(args)
    embedded = embedded_state(settings)
    es = settings.elasticsearch
    client = connect(es, max_retries=0, request_timeout=10)
    error = None
    status = None
    try:
        ping(client, es)
        status = collect_status(client, settings, runs=args.runs, exact=args.exact)
    except EsUnavailable as exc:
        error = str(exc)
    except (ApiError, TransportError) as exc:
        error = f"Elasticsearch at {describe(es)} refused a status request ({type(exc).__name__})"
    finally:
        client.close()
    if args.json:
        print(
            json.dumps(
                {"elasticsearch": describe(es), **(status or {}), "embedded": embedded, "error": error}
            )
        )
    else:
        console = Console(highlight=False, soft_wrap=False)
        if status is not None:
            print_status(status, embedded, console, describe(es))
        else:
            print_status_unavailable(embedded, console)
    if error:
        Console(stderr=True, highlight=False).print(f"newsbeam: {error}", markup=False)
        return 1
    return 0


def print_status_unavailable(embedded: dict[str, Any], console) -> None:
    from rich.text import Text

    if embedded["running"]:
        console.print(Text(f"embedded server: running (pid {embedded['pid']}) at {embedded['url']}"))
    else:
        console.print(Text("embedded server: not running (start it with: newsbeam es start)"))
