"""The batch pipeline on a local Dask cluster beside the DirectRunner, in one
run, over the throughput benchmark's corpus.

The corpus and its servers are ``bench/throughput.py``'s (``build_corpus``,
``Outlets``): N articles (default 300) built from the ScrapingHub
article-extraction benchmark pages, about 15% syndicated copies, over
``--hosts`` loopback outlets (default 40), each with its RSS feed and
robots.txt; read from ``--data`` (default
``$NEWSBEAM_BENCH_DATA/extraction/html``; the ``html/`` folder of
https://github.com/scrapinghub/article-extraction-benchmark).  Settings are
the shipped defaults (politeness on) plus private hosts allowed, as in the
throughput benchmark.

It starts an embedded Elasticsearch-API server (or uses ``ES_URL``), a Dask
scheduler and ``--workers`` single-threaded worker processes on 127.0.0.1,
and runs the whole pipeline (fetch, extraction, NER, clustering, indexing)
into fresh indices, alternating runners for ``--rounds`` rounds:

* ``direct``: the DirectRunner in_memory (one process);
* ``direct-mp``: the DirectRunner multi_processing with ``--workers`` workers;
* ``dask``: ``--runner DaskRunner`` against the local cluster.

It prints one JSON line per run, then each runner's best and median wall
time, Dask's best over the DirectRunner's best (its better mode), the load
average of the machine, and checks that every runner indexed the same
articles and that each run's summary counted what it indexed.  The first
Dask round also pays for the workers' imports and model loads, which later
rounds reuse: compare best times.

    python bench/on_dask.py                 # N = 300, 40 outlets, 2 workers, 2 rounds
    python bench/on_dask.py --n 100 --rounds 3

Needs the dask extra: pip install -e '.[dask]'.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.throughput import Outlets, _default_data, _es_count, bench_elasticsearch, build_corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--data", type=Path, default=_default_data(),
                        help="folder of the ScrapingHub benchmark's html/ pages "
                        "(default $NEWSBEAM_BENCH_DATA/extraction/html)")  # fmt: skip
    parser.add_argument("--n", type=int, default=300, help="articles (default 300, as bench/throughput.py)")
    parser.add_argument("--hosts", type=int, default=40, help="loopback outlets (default 40)")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the three runners (default 2)")
    parser.add_argument(
        "--runners", default="direct,direct-mp,dask", help="comma-separated subset of direct,direct-mp,dask"
    )
    args = parser.parse_args(argv)
    if args.workers < 1 or args.rounds < 1 or args.n < 10 or not 2 <= args.hosts <= 250:
        parser.error("--workers and --rounds must be at least 1, --n at least 10, --hosts from 2 to 250")
    if not args.data.is_dir():
        from benchdata import missing

        return missing("bench/on_dask.py", "extraction", args.data)
    try:
        import distributed  # noqa: F401
    except ImportError:
        print("bench/on_dask.py needs the dask extra: pip install -e '.[dask]'")
        return 2
    logging.basicConfig(level=logging.ERROR)

    from newsbeam.config.settings import ElasticsearchSettings, load_settings
    from newsbeam.pipeline.dask_runner import local_cluster
    from newsbeam.pipeline.options import beam_options
    from newsbeam.pipeline.run import run_batch

    all_runners = {
        "direct": ["--direct_running_mode=in_memory"],
        "direct-mp": ["--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}"],
        "dask": ["--runner", "DaskRunner"],
    }
    wanted = [name.strip() for name in args.runners.split(",") if name.strip()]
    if not wanted or any(name not in all_runners for name in wanted):
        parser.error(f"--runners: choose from {','.join(all_runners)}")
    corpus = build_corpus(args.data, args.n, args.hosts)
    times: dict[str, list[float]] = {name: [] for name in wanted}
    docs: dict[str, set[int]] = {name: set() for name in wanted}
    load_before = os.getloadavg()
    mismatched = []

    with tempfile.TemporaryDirectory(prefix="newsbeam-bench-dask-") as tmp:
        stack = contextlib.ExitStack()
        es_url = stack.enter_context(bench_elasticsearch(Path(tmp)))
        outlets = Outlets(corpus, args.hosts)
        cluster = local_cluster(args.workers, 1, work_dir=tmp) if "dask" in wanted else None
        try:
            address = cluster.__enter__() if cluster is not None else None
            feeds = [{"url": url, "name": f"Outlet {k}"} for k, url in enumerate(outlets.feeds)]
            for round_no in range(1, args.rounds + 1):
                for name in wanted:
                    flags = all_runners[name]
                    if name == "dask":
                        flags = [*flags, "--dask_client_address", address]
                    es = ElasticsearchSettings(url=es_url, index_prefix=f"bench-dask-{uuid.uuid4().hex[:8]}")
                    settings = load_settings(
                        overrides={
                            "feeds": feeds,
                            "elasticsearch": {
                                **es.model_dump(),
                                "dead_letter_dir": f"{tmp}/dead-letter-{name}",
                            },
                            "archive": {"dir": f"{tmp}/archive-{name}"},
                            "fetch": {"allow_private_hosts": True},
                        }
                    )
                    started = time.monotonic()
                    summary = run_batch(settings, beam_options(flags))
                    wall = time.monotonic() - started
                    times[name].append(wall)
                    indexed = _es_count(es_url, es.articles_alias)
                    docs[name].add(indexed)
                    counted = summary.get("news.run/articles_indexed")
                    if counted != indexed:
                        mismatched.append((name, round_no, counted, indexed))
                    print(
                        json.dumps(
                            {
                                "round": round_no,
                                "runner": name,
                                "wall_s": round(wall, 2),
                                "articles": indexed,
                                "summary_indexed": counted,
                                "load_avg_1m": round(os.getloadavg()[0], 2),
                            }
                        ),
                        flush=True,
                    )
        finally:
            if cluster is not None:
                cluster.__exit__(*sys.exc_info())
            outlets.close()
            stack.close()

    load_after = os.getloadavg()
    print(
        f"\ncorpus: {args.n} articles over {args.hosts} loopback outlets (bench/throughput.py), "
        f"{args.workers} workers, {args.rounds} rounds; load average (1, 5, 15 min) "
        f"before {tuple(round(v, 1) for v in load_before)}, after {tuple(round(v, 1) for v in load_after)} "
        f"on {os.cpu_count()} CPUs"
    )
    print(f"{'runner':<10} {'best s':>8} {'median s':>9}")
    for name, values in times.items():
        print(f"{name:<10} {min(values):8.1f} {sorted(values)[len(values) // 2]:9.1f}")
    direct = [min(times[name]) for name in ("direct", "direct-mp") if name in times]
    if direct and "dask" in times:
        ratio = min(times["dask"]) / min(direct)
        print(f"dask best / DirectRunner best = {ratio:.2f}x (target <= 1.5x)")
    status = 0
    if len({count for counts in docs.values() for count in counts}) != 1:
        print(f"RUNNERS DISAGREE on the number of articles: {docs}")
        status = 1
    for name, round_no, counted, indexed in mismatched:
        print(f"SUMMARY WRONG: {name} round {round_no} counted {counted} articles indexed, found {indexed}")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
