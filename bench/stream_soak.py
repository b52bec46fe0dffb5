"""Stream soak: ``newsbeam stream`` over a local site whose feed gains items
every few seconds (every fifth a copy of an earlier story), for ``--minutes``
(default 30).

Measures, side by side in one run:

- RSS of every process each minute, each named by its command line (the
  stream, its children: sandbox children, multiprocessing's resource
  tracker, Beam workers; the Elasticsearch server apart), and the end RSS
  over the RSS after warm-up of the stream, of each child and of the whole
  stream process tree (target: at most 1.1).  RSS swings with the cycles
  (higher inside one), so both levels are peaks over a window of the same
  length (three poll intervals, at least a minute, read every second): at
  the end of warm-up and at the end of the soak;
- with ``--outage-at M``: Elasticsearch answering 503 to every request of
  the stream for ``--outage-seconds`` (60) from minute M, through a
  fault-injecting proxy (tests/faults/proxy.py); the counts below include
  the items published during the outage;
- every item indexed exactly once (by URL) at the end;
- latency from an item's appearance in its feed to its being searchable
  (polled every second), p50 and p95 (target p95: poll interval + 60 s).

Needs no external data.  Elasticsearch: ``ES_URL`` if set (the bench uses
its own index prefix and deletes it), else an embedded server in a temporary
state directory.  Linux only (RSS from /proc).

    python bench/stream_soak.py                       # 30 min
    python bench/stream_soak.py --minutes 2 --warmup 0.5 --outage-at 1 --outage-seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def describe_process(pid: int) -> str:
    """A short name for a process of the stream's tree, from its command line."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"
    if "resource_tracker" in cmd:
        return "multiprocessing resource tracker"
    if "spawn_main" in cmd or "--multiprocessing-fork" in cmd:
        return "multiprocessing child (sandbox)"
    if "sdk_worker" in cmd or "worker_pool_main" in cmd:
        return "Beam worker"
    return cmd[:80]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def soak(
    es_url: str,
    minutes: float,
    warmup: float,
    poll_interval: float = 10,
    add_every: float = 3,
    log=print,
    es_pid: int | None = None,
    outage_at: float | None = None,
    outage_seconds: float = 60,
    sample_every: float = 60,
) -> dict:
    """Run the soak against ``es_url``; returns its figures."""
    import yaml

    from newsbeam.config.settings import ElasticsearchSettings
    from newsbeam.connectors.es import connect
    from tests.faults.proxy import FaultProxy, Outage
    from tests.stream.live_site import LiveSite

    prefix = f"soak-{uuid.uuid4().hex[:8]}"
    es = ElasticsearchSettings(url=es_url, index_prefix=prefix)
    client = connect(es)
    work = Path(tempfile.mkdtemp(prefix="newsbeam-soak-"))
    seen: dict[str, float] = {}
    duplicates: list[str] = []
    rss_log: list[dict] = []
    outage = Outage(503, seconds=outage_seconds)
    outage_window: tuple[float, float] | None = None
    with LiveSite(copy_every=5) as site, FaultProxy(es_url) as proxy:
        site.add(5)
        config = work / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "feeds": [{"url": site.feed_url, "name": "Soak"}],
                    "elasticsearch": {"dead_letter_dir": str(work / "dead")},
                    "fetch": {"retries": 1, "timeout": 10, "host_delay": 0},
                }
            )
        )
        env = {**os.environ, "NEWSBEAM_STATE_DIR": str(work / "state")}
        stream = subprocess.Popen(
            [sys.executable, "-m", "newsbeam", "stream", "--config", str(config), "--es-url", proxy.url,
             "--index-prefix", prefix, "--allow-private-hosts", "--poll-interval", str(poll_interval)],
            env=env, stdout=subprocess.DEVNULL, stderr=open(work / "stream.log", "w"),
        )  # fmt: skip
        stop = threading.Event()

        def publish():
            while not stop.wait(add_every):
                site.add(1)

        publisher = threading.Thread(target=publish, daemon=True)
        publisher.start()
        started = time.monotonic()
        next_sample = started
        warm_rss = None
        warm_by_pid: dict[int, int] = {}
        window = max(60.0, 3 * poll_interval)
        recent: deque[tuple[float, dict[int, int]]] = deque()  # (monotonic, rss by pid), last window

        def peaks() -> tuple[int, dict[int, int]]:
            """Peak tree RSS and per-process peak RSS over the last window."""
            tree = max(sum(by_pid.values()) for _, by_pid in recent)
            per: dict[int, int] = {}
            for _, by_pid in recent:
                for pid, kb in by_pid.items():
                    per[pid] = max(per.get(pid, 0), kb)
            return tree, per

        try:
            while time.monotonic() - started < minutes * 60:
                if stream.poll() is not None:
                    raise RuntimeError(
                        f"the stream exited with {stream.returncode}; see {work / 'stream.log'}"
                    )
                try:
                    client.indices.refresh(index=es.articles_alias)
                    hits = client.search(
                        index=es.articles_alias, query={"match_all": {}}, source=["url"], size=10_000
                    )["hits"]["hits"]
                except Exception:
                    hits = []
                now = time.time()
                for hit in hits:
                    seen.setdefault(hit["_source"]["url"], now)
                elapsed = (time.monotonic() - started) / 60
                if outage_at is not None and outage_window is None and elapsed >= outage_at:
                    proxy.add(outage)
                    outage_window = (time.time(), time.time() + outage_seconds)
                    log(json.dumps({"minute": round(elapsed, 1), "outage": f"503 for {outage_seconds:g} s"}))
                tree = [stream.pid, *descendants(stream.pid)]
                processes = {pid: rss_kb(pid) for pid in tree}
                recent.append((time.monotonic(), processes))
                while recent[0][0] < time.monotonic() - window:
                    recent.popleft()
                if warm_rss is None and elapsed >= warmup:
                    warm_rss, warm_by_pid = peaks()
                if time.monotonic() >= next_sample:
                    sample = {
                        "minute": round(elapsed, 1),
                        "tree_kb": sum(processes.values()),
                        "processes": [
                            {"pid": pid, "what": "stream" if pid == stream.pid else describe_process(pid),
                             "rss_kb": kb}
                            for pid, kb in processes.items()
                        ],
                        "items": len(site.items),
                        "indexed": len(seen),
                    }  # fmt: skip
                    if es_pid:
                        sample["elasticsearch_kb"] = sum(rss_kb(p) for p in [es_pid, *descendants(es_pid)])
                    rss_log.append(sample)
                    log(json.dumps(sample))
                    next_sample += sample_every
                time.sleep(1)
            stop.set()
            # let the last items in, then stop the stream cleanly
            deadline = time.monotonic() + poll_interval + 90
            while time.monotonic() < deadline and len(seen) < len(site.items):
                client.indices.refresh(index=es.articles_alias)
                hits = client.search(
                    index=es.articles_alias, query={"match_all": {}}, source=["url"], size=10_000
                )
                for hit in hits["hits"]["hits"]:
                    seen.setdefault(hit["_source"]["url"], time.time())
                time.sleep(1)
            end_rss, end_by_pid = peaks()  # the soak's last window, before the stop
            end_by_pid = {pid: kb for pid, kb in end_by_pid.items() if rss_kb(pid)}  # still running
            end_names = {pid: "stream" if pid == stream.pid else describe_process(pid) for pid in end_by_pid}
            stream.send_signal(signal.SIGTERM)
            stream.wait(timeout=600)
        finally:
            stop.set()
            if stream.poll() is None:
                stream.kill()
        client.indices.refresh(index=es.articles_alias)
        urls = [
            hit["_source"]["url"]
            for hit in client.search(
                index=es.articles_alias, query={"match_all": {}}, source=["url"], size=10_000
            )["hits"]["hits"]
        ]
        duplicates = sorted({u for u in urls if urls.count(u) > 1})
        expected = {site.url(i["n"]) for i in site.items}
        missing = sorted(expected - set(urls))
        latencies = [seen[u] - site.appeared[u] for u in expected if u in seen]
        if outage_window is not None:  # items that appeared before the outage ended wait for it
            calm = [
                seen[u] - site.appeared[u]
                for u in expected
                if u in seen and not outage_window[0] - poll_interval <= site.appeared[u] <= outage_window[1]
            ]
        else:
            calm = latencies
    found = client.indices.get(index=f"{prefix}-*", allow_no_indices=True)
    for index in found:
        client.options(ignore_status=404).indices.delete(index=index)
    client.close()
    return {
        "minutes": minutes,
        "poll_interval": poll_interval,
        "items": len(expected),
        "missing": len(missing),
        "duplicates": len(duplicates),
        "latency_p50_s": round(percentile(latencies, 0.5), 1) if latencies else None,
        "latency_p95_s": round(percentile(latencies, 0.95), 1) if latencies else None,
        "latency_p95_outside_outage_s": round(percentile(calm, 0.95), 1) if calm else None,
        "outage_seconds": outage_seconds if outage_window else 0,
        "outage_requests_refused": outage.answered,
        "rss_window_s": window,
        "rss_after_warmup_kb": warm_rss,
        "rss_end_kb": end_rss,
        "rss_end_over_warm": round(end_rss / warm_rss, 3) if warm_rss else None,
        "per_process_end_over_warm": {
            f"{end_names[pid]} (pid {pid})": round(kb / warm_by_pid[pid], 3) if pid in warm_by_pid else "new"
            for pid, kb in end_by_pid.items()
        },
        "processes_gone_since_warmup": [pid for pid in warm_by_pid if pid not in end_by_pid],
        "stream_exit": stream.returncode,
        "rss_log": rss_log,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30, help="length of the soak (default 30)")
    parser.add_argument("--warmup", type=float, default=5, help="minutes before the reference RSS")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=10,
        help="newsbeam stream --poll-interval, seconds (default 10)",
    )
    parser.add_argument("--add-every", type=float, default=3, help="seconds between two new items")
    parser.add_argument(
        "--outage-at",
        type=float,
        default=15,
        help="minute at which Elasticsearch answers 503 to the stream (negative: no outage)",
    )
    parser.add_argument("--outage-seconds", type=float, default=60, help="how long the outage lasts")
    parser.add_argument("--sample-every", type=float, default=60, help="seconds between two RSS samples")
    args = parser.parse_args(argv)
    from newsbeam.connectors.embedded import EmbeddedServer, free_port

    server = None
    es_url, es_pid = os.environ.get("ES_URL"), None
    if not es_url:
        server = EmbeddedServer(port=free_port(), root=Path(tempfile.mkdtemp(prefix="newsbeam-soak-es-")))
        es_url = server.start(timeout=120)
        es_pid = (server.recorded() or (None,))[0]
    try:
        result = soak(
            es_url, args.minutes, args.warmup, args.poll_interval, args.add_every, es_pid=es_pid,
            outage_at=args.outage_at if args.outage_at >= 0 else None, outage_seconds=args.outage_seconds,
            sample_every=args.sample_every,
        )  # fmt: skip
    finally:
        if server is not None:
            server.stop()
    figures = {k: v for k, v in result.items() if k != "rss_log"}
    print(json.dumps(figures, indent=2))
    ok = (
        not result["missing"]
        and not result["duplicates"]
        and result["stream_exit"] == 0
        and (result["rss_end_over_warm"] is None or result["rss_end_over_warm"] <= 1.1)
        and (result["latency_p95_outside_outage_s"] or 0) <= args.poll_interval + 60
    )
    print("PASS" if ok else "FAIL", "(machine load affects the latency; see README)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
