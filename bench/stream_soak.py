"""Stream soak: ``newsbeam stream`` over a local site whose feed gains items
every few seconds (every fifth a copy of an earlier story), for ``--minutes``
(default 30).

Measures, side by side in one run:

- RSS of every process (the stream, its Beam workers, the Elasticsearch
  server) each minute, and the stream's end RSS over its RSS after warm-up
  (target: at most 1.1);
- every item indexed exactly once (by URL) at the end;
- latency from an item's appearance in its feed to its being searchable
  (polled every second), p50 and p95 (target p95: poll interval + 60 s).

Needs no external data.  Elasticsearch: ``ES_URL`` if set (the bench uses
its own index prefix and deletes it), else an embedded server in a temporary
state directory.  Linux only (RSS from /proc).

    python bench/stream_soak.py                       # 30 min
    python bench/stream_soak.py --minutes 2 --warmup 0.5
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
) -> dict:
    """Run the soak against ``es_url``; returns its figures."""
    import yaml

    from newsbeam.config.settings import ElasticsearchSettings
    from newsbeam.connectors.es import connect
    from tests.stream.live_site import LiveSite

    prefix = f"soak-{uuid.uuid4().hex[:8]}"
    es = ElasticsearchSettings(url=es_url, index_prefix=prefix)
    client = connect(es)
    work = Path(tempfile.mkdtemp(prefix="newsbeam-soak-"))
    seen: dict[str, float] = {}
    duplicates: list[str] = []
    rss_log: list[dict] = []
    with LiveSite(copy_every=5) as site:
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
            [sys.executable, "-m", "newsbeam", "stream", "--config", str(config), "--es-url", es_url,
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
                if time.monotonic() >= next_sample:
                    pids = {"stream": [stream.pid], "workers": descendants(stream.pid)}
                    if es_pid:
                        pids["elasticsearch"] = [es_pid, *descendants(es_pid)]
                    sample = {
                        "minute": round((time.monotonic() - started) / 60, 1),
                        **{name: sum(rss_kb(p) for p in group) for name, group in pids.items()},
                        "items": len(site.items),
                        "indexed": len(seen),
                    }
                    rss_log.append(sample)
                    log(json.dumps(sample))
                    if warm_rss is None and sample["minute"] >= warmup:
                        warm_rss = sample["stream"] + sample["workers"]
                    next_sample += 60
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
            end_rss = rss_kb(stream.pid) + sum(rss_kb(p) for p in descendants(stream.pid))
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
        "rss_after_warmup_kb": warm_rss,
        "rss_end_kb": end_rss,
        "rss_end_over_warm": round(end_rss / warm_rss, 3) if warm_rss else None,
        "stream_exit": stream.returncode,
        "rss_log": rss_log,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5, help="minutes before the reference RSS")
    parser.add_argument("--poll-interval", type=float, default=10)
    parser.add_argument("--add-every", type=float, default=3, help="seconds between two new items")
    args = parser.parse_args(argv)
    from newsbeam.connectors.embedded import EmbeddedServer, free_port

    server = None
    es_url, es_pid = os.environ.get("ES_URL"), None
    if not es_url:
        server = EmbeddedServer(port=free_port(), root=Path(tempfile.mkdtemp(prefix="newsbeam-soak-es-")))
        es_url = server.start(timeout=120)
        es_pid = (server.recorded() or (None,))[0]
    try:
        result = soak(es_url, args.minutes, args.warmup, args.poll_interval, args.add_every, es_pid=es_pid)
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
        and (result["latency_p95_s"] or 0) <= args.poll_interval + 60
    )
    print("PASS" if ok else "FAIL", "(machine load affects the latency; see README)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
