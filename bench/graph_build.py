"""What building a run's graph costs, with and without pipeline/introspection.py.

Every ``newsbeam run`` wave and every ``newsbeam stream`` cycle builds a new Beam graph and
translates it to the runner API before a page is fetched.  This builds the batch graph over the
demo feeds and translates it (``Pipeline.to_runner_api``, which the DirectRunner does first),
alternately with Beam's own ``get_dofn_specs`` and with newsbeam's memoized one, in one process,
and prints the CPU time per graph (best and median of ``--rounds``) and the ratio.  No
Elasticsearch and no network are needed: nothing is run.

    python bench/graph_build.py [--rounds 8]
"""

from __future__ import annotations

import argparse
import statistics
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.direct import transform_evaluator
from apache_beam.transforms import userstate

from newsbeam.config.settings import load_settings
from newsbeam.connectors.site_server import SiteServer, demo_site_dir
from newsbeam.pipeline import introspection
from newsbeam.pipeline.build import build_pipeline
from newsbeam.pipeline.demo import demo_feeds


def _use(specs) -> None:
    userstate.get_dofn_specs = specs
    transform_evaluator.get_dofn_specs = specs


def _one_graph(settings) -> float:
    started = time.process_time()
    p = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    build_pipeline(p, settings)
    p.to_runner_api()
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8, help="graphs built per variant (default 8)")
    args = parser.parse_args()
    introspection.install()
    memoized = userstate.get_dofn_specs
    real = memoized.__wrapped__
    times: dict[str, list[float]] = {"beam": [], "memoized": []}
    with SiteServer(demo_site_dir()) as site:
        settings = load_settings(overrides={"feeds": demo_feeds(site)})
        try:
            _use(memoized)
            _one_graph(settings)  # warm imports and caches of both variants' shared code
            for _ in range(args.rounds):
                for name, specs in (("beam", real), ("memoized", memoized)):
                    _use(specs)
                    times[name].append(_one_graph(settings))
        finally:
            _use(memoized)
    print(f"graph build + translate, demo feeds, CPU seconds per graph ({args.rounds} rounds, interleaved)")
    print(f"{'variant':<10} {'best':>6} {'median':>7}")
    for name, values in times.items():
        print(f"{name:<10} {min(values):>6.3f} {statistics.median(values):>7.3f}")
    ratio = statistics.median(times["memoized"]) / statistics.median(times["beam"])
    print(f"ratio memoized / beam (median): {ratio:.2f}x")


if __name__ == "__main__":
    main()
