"""The batch pipeline on a local Dask cluster beside the DirectRunner, in one run.

Starts an embedded Elasticsearch-API server, serves a site of feeds and
articles on 127.0.0.1 (default: the demo site shipped with newsbeam; or
``--site DIR``, a directory laid out like it, with a ``feeds.yaml``), starts
a Dask scheduler and ``--workers`` worker processes on 127.0.0.1, and runs
the whole pipeline (fetch, extraction, clustering, NER, indexing) into fresh
indices, alternating runners for ``--rounds`` rounds:

* ``direct``: the in-memory DirectRunner (one process);
* ``direct-mp``: the DirectRunner's multi_processing mode with as many workers;
* ``dask``: ``--runner DaskRunner`` against the local cluster.

It prints each runner's best wall time and Dask's ratio to the DirectRunner's
best.  The first Dask round also pays for the workers' imports and model
loads, which later rounds reuse: compare best times.

    python bench/on_dask.py                         # demo site, 2 workers, 3 rounds
    python bench/on_dask.py --site /path/to/site --rounds 2

Needs the dask extra: pip install -e '.[dask]'.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", metavar="DIR", help="site to serve (default: newsbeam's demo site)")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three runners (default 3)")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.rounds < 1:
        parser.error("--workers and --rounds must be at least 1")
    try:
        import distributed  # noqa: F401
    except ImportError:
        print("bench/on_dask.py needs the dask extra: pip install -e '.[dask]'")
        return 2
    logging.basicConfig(level=logging.ERROR)

    from newsbeam.config.settings import ElasticsearchSettings, load_settings
    from newsbeam.connectors.embedded import EmbeddedServer, free_port
    from newsbeam.connectors.site_server import SiteServer, demo_site_dir
    from newsbeam.pipeline.dask_runner import local_cluster
    from newsbeam.pipeline.demo import demo_feeds
    from newsbeam.pipeline.options import beam_options
    from newsbeam.pipeline.run import run_batch

    site_dir = Path(args.site) if args.site else demo_site_dir()
    if not (site_dir / "feeds.yaml").is_file():
        print(f"no feeds.yaml in the site directory {site_dir} (give --site DIR)")
        return 2

    with tempfile.TemporaryDirectory(prefix="newsbeam-bench-dask-") as tmp:
        server = EmbeddedServer(port=free_port(), root=Path(tmp) / "es")
        server.start(timeout=120)
        try:
            with SiteServer(site_dir) as site, local_cluster(args.workers, 1, work_dir=tmp) as address:
                runners = {
                    "direct": [],
                    "direct-mp": [
                        "--direct_running_mode=multi_processing",
                        f"--direct_num_workers={args.workers}",
                    ],
                    "dask": ["--runner", "DaskRunner", "--dask_client_address", address],
                }
                times: dict[str, list[float]] = {name: [] for name in runners}
                docs: dict[str, int] = {}
                for round_no in range(1, args.rounds + 1):
                    for name, flags in runners.items():
                        es = ElasticsearchSettings(
                            url=server.url, index_prefix=f"bench-{uuid.uuid4().hex[:8]}"
                        )
                        settings = load_settings(
                            overrides={
                                "feeds": demo_feeds(site),
                                "elasticsearch": es.model_dump(),
                                "fetch": {"allow_private_hosts": True, "retries": 0, "host_delay": 0},
                            }
                        ).model_copy(
                            update={
                                "elasticsearch": es.model_copy(update={"dead_letter_dir": f"{tmp}/dl-{name}"})
                            }
                        )
                        started = time.monotonic()
                        run_batch(settings, beam_options(flags))
                        times[name].append(time.monotonic() - started)
                        from newsbeam.connectors.es import connect

                        client = connect(es)
                        client.indices.refresh(index=es.articles_alias)
                        docs[name] = client.count(index=es.articles_alias)["count"]
                        client.close()
                        print(f"round {round_no} {name:<10} {times[name][-1]:6.1f} s  {docs[name]} articles")
        finally:
            server.stop()

    print(f"\nsite: {site_dir} ({docs['direct']} articles), {args.workers} workers, {args.rounds} rounds")
    print(f"{'runner':<10} {'best s':>8} {'median s':>9}")
    for name, values in times.items():
        print(f"{name:<10} {min(values):8.1f} {sorted(values)[len(values) // 2]:9.1f}")
    best_direct = min(min(times["direct"]), min(times["direct-mp"]))
    ratio = min(times["dask"]) / best_direct
    print(f"dask best / DirectRunner best = {ratio:.2f}x (target <= 1.5x)")
    if len(set(docs.values())) != 1:
        print(f"RUNNERS DISAGREE on the number of articles: {docs}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
