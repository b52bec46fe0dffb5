"""Benchmark: ``newsbeam status`` answer time as the articles index grows.

    python bench/status.py [--sizes 10000,100000] [--repeats 5]

Starts the embedded server on a free loopback port (its own temporary
state directory, stopped at the end), and for each size bulk-loads that
many small synthetic articles (title, body of ~60 words, urls, source,
feed, published, story) into a fresh prefix, plus 200 feed-health
documents, 2,000 failures over 6 stage/reason pairs and 20 run summaries
(the same for every size), and one run summary with the counts a run
records at its end.  Then it times ``collect_status`` (every request
``newsbeam status`` makes) ``--repeats`` times per size, by default and
with ``--exact`` (live counts however slow), and prints the medians and the
ratio to the smallest size, side by side in one run; and the whole
``newsbeam status --json`` command (a new process: start, imports, requests).
No external data is needed.  Target (issue 13): under 1 s at 100k.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = [
    "government", "minister", "said", "report", "city", "police", "court", "election", "market",
    "budget", "health", "school", "water", "energy", "climate", "talks", "border", "trade", "union",
    "strike", "council", "vote", "project", "company", "shares",
]  # fmt: skip


def _articles(prefix: str, n: int, rng: random.Random):
    for i in range(n):
        body = " ".join(rng.choice(WORDS) for _ in range(60))
        url = f"https://outlet{i % 50}.example/{i}.html"
        yield {
            "_index": f"{prefix}-articles",
            "_id": f"a{i}",
            "_source": {
                "url": url,
                "canonical_url": url,
                "urls": [url],
                "title": " ".join(rng.choice(WORDS) for _ in range(8)),
                "body": body,
                "source": {"domain": f"outlet{i % 50}.example", "name": f"Outlet {i % 50}"},
                "feed": {"url": f"https://outlet{i % 200}.example/feed.xml"},
                "published": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
                "language": "en",
                "story": {"cluster_id": f"a{i - i % 3}", "is_canonical": i % 3 == 0, "size": 3},
            },
        }


def _fixed(prefix: str, rng: random.Random):
    reasons = [("fetch", "http_404"), ("fetch", "timeout"), ("extract", "empty_text"),
               ("index", "mapping_error"), ("feed", "malformed_feed"), ("fetch", "http_500")]  # fmt: skip
    for i in range(200):
        yield {
            "_index": f"{prefix}-feeds",
            "_id": f"f{i}",
            "_source": {
                "feed": {"url": f"https://outlet{i}.example/feed.xml", "name": f"Outlet {i}"},
                "status": "ok" if i % 10 else "http_500",
                "new_items": rng.randint(0, 30),
                "error_streak": 0 if i % 10 else 3,
                "@timestamp": "2024-06-01T10:00:00Z",
                "last_success": "2024-06-01T10:00:00Z",
            },
        }
    for i in range(2000):
        stage, reason = reasons[i % len(reasons)]
        yield {
            "_index": f"{prefix}-failures",
            "_id": f"x{i}",
            "_source": {"url": f"https://o.example/{i}", "stage": stage, "reason": reason, "attempts": 1,
                        "@timestamp": "2024-06-01T10:00:00Z"},
        }  # fmt: skip
    for i in range(20):
        yield {
            "_index": f"{prefix}-runs",
            "_id": f"r{i}",
            "_source": {"@timestamp": f"2024-06-01T{i:02d}:00:00Z", "started": f"2024-06-01T{i:02d}:00:00Z",
                        "command": "run", "seconds": 30.0, "entries": {"new": 10},
                        "documents": {"indexed": 9}},
        }  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000", help="article counts, comma-separated")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed repeats per size, median taken (default 5)"
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    from elasticsearch import helpers

    from newsbeam.config.settings import load_settings
    from newsbeam.connectors.embedded import EmbeddedServer, free_port
    from newsbeam.connectors.es import connect, setup_indices
    from newsbeam.pipeline.report import record_run
    from newsbeam.pipeline.status import collect_status, count_aliases

    with tempfile.TemporaryDirectory(prefix="newsbeam-bench-status-") as state:
        server = EmbeddedServer(port=free_port(), root=Path(state))
        url = server.start(timeout=120)
        try:
            results = []
            for size in sizes:
                prefix = f"bench{size}"
                settings = load_settings(overrides={"elasticsearch": {"url": url, "index_prefix": prefix}})
                client = connect(settings.elasticsearch, request_timeout=600)
                setup_indices(client, prefix)
                rng = random.Random(13)
                started = time.monotonic()
                helpers.bulk(
                    client.options(request_timeout=600), _articles(prefix, size, rng), chunk_size=2000
                )
                helpers.bulk(client, _fixed(prefix, rng), chunk_size=2000)
                client.indices.refresh(index=f"{prefix}-*")
                load = time.monotonic() - started
                # what the end of a run records: the counts status falls back to
                es = settings.elasticsearch
                aliases = [es.articles_alias, es.failures_alias, es.feeds_alias]
                doc = {"@timestamp": "2024-06-01T21:00:00Z", "started": "2024-06-01T21:00:00Z",
                       "finished": "2024-06-01T21:00:30Z", "command": "run",
                       "counts": count_aliases(client, aliases)}  # fmt: skip
                record_run(client, es.runs_alias, {**doc, "host": "bench", "pid": 1})
                exact = collect_status(client, settings, exact=True)  # warm-up, and a sanity check
                assert exact["indices"][es.articles_alias]["documents"] == size, exact["indices"]
                times, exact_times = [], []
                for _ in range(args.repeats):
                    t0 = time.monotonic()
                    status = collect_status(client, settings)
                    times.append(time.monotonic() - t0)
                    t0 = time.monotonic()
                    collect_status(client, settings, exact=True)
                    exact_times.append(time.monotonic() - t0)
                cli = []
                for _ in range(args.repeats):  # the whole command: process start, imports, requests
                    t0 = time.monotonic()
                    subprocess.run(
                        [str(Path(sys.executable).with_name("newsbeam")), "status", "--json",
                         "--es-url", url, "--index-prefix", prefix],
                        check=True, capture_output=True, env={**os.environ, "NEWSBEAM_STATE_DIR": state},
                    )  # fmt: skip
                    cli.append(time.monotonic() - t0)
                assert status["indices"][es.articles_alias]["documents"] == size
                source = status["indices"][es.articles_alias]["source"]
                print(f"{size} articles: articles count from {source}; ms per part: {status['timings_ms']}")
                print(f"{size} articles: CLI runs (s): {[round(t, 2) for t in cli]}", flush=True)
                client.close()
                medians = (statistics.median(times), max(times), statistics.median(exact_times))
                results.append((size, *medians, statistics.median(cli), load))
        finally:
            server.stop()
    base = results[0][1]
    header = f"{'articles':>10} {'status median s':>16} {'max s':>8} {'ratio':>6}"
    print(f"{header} {'--exact median s':>18} {'CLI median s':>13} {'load s':>8}")
    for size, median, worst, exact, cli, load in results:
        row = f"{size:>10} {median:>16.3f} {worst:>8.3f} {median / base:>6.2f}"
        print(f"{row} {exact:>18.3f} {cli:>13.3f} {load:>8.1f}")
    size, requests, cli = results[-1][0], results[-1][1], results[-1][4]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine load average (1, 5, 15 min): {load} on {os.cpu_count()} cores")
    print(f"target < 1 s at {size} articles: status requests {'met' if requests < 1 else 'NOT met'}; whole "
          f"command {'met' if cli < 1 else 'NOT met'} (a new Python process: start and imports, "
          "mostly the elasticsearch client, independent of the article count)")  # fmt: skip
    return 0 if requests < 1 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
