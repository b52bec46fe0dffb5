"""The hostile run of issue 15 as a user runs it: ``newsbeam run`` with the
shipped defaults (NER on) against the loopback servers of
tests/integration/test_hostile_run.py (a 5,000-entry feed of slow pages, an
endless chain of slow redirects, a body dribbled one byte at a time, a 4.5 MB
HTML page served as a feed, and a normal site with four articles).

Only ``--allow-private-hosts`` (the servers are on loopback) and
``--max-run-time`` (the run's budget, default 90 s) are added to the shipped
defaults.  Each runner mode runs in turn, side by side, into its own indices:

* ``default``: no runner flag (what ``newsbeam run`` ships with: one worker
  process per core);
* ``in_memory``: ``--direct_running_mode=in_memory`` (everything in one process).
  This mode was ``multi_processing`` while the default ran in one process; once
  worker processes became the default the two modes ran the same configuration.

One JSON line per mode: wall seconds against the budget, normal articles
indexed (of 4), hostile pages indexed (must be 0), and the peak RSS of the
whole ``newsbeam`` process tree (CLI, Beam workers, extraction and feed
sandboxes; sampled every 0.25 s; the Elasticsearch server is not counted).
Exit 1 when a mode misses a target of issue 15: within the budget, every
normal article, no hostile page, peak RSS <= 1.5 GB.  No data set is needed.

    python bench/hostile.py
    python bench/hostile.py --max-run-time 60 --modes in_memory
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.throughput import BIN, bench_elasticsearch, run_measured  # noqa: E402

RSS_TARGET_MB = 1500.0
# Time past the budget for what was fetched to be extracted, tagged and indexed, and for
# the process to start and load its models (the budget bounds fetching, not start-up).
BUDGET_SLACK_S = 60.0
MODES = {
    "default": [],
    "in_memory": ["--direct_running_mode=in_memory"],
}


def _indexed_urls(es_url: str, alias: str) -> list[str]:
    from elasticsearch import Elasticsearch

    es = Elasticsearch(es_url, request_timeout=60)
    try:
        es.indices.refresh(index=alias)
        hits = es.search(index=alias, query={"match_all": {}}, size=10000, source=["url"])["hits"]["hits"]
        return [h["_source"].get("url", "") for h in hits]
    finally:
        es.close()


def run_mode(mode: str, es_url: str, normal, hostile, workdir: Path, max_run_time: float) -> dict:
    import yaml

    from tests.integration.test_hostile_run import TOPICS, hostile_feeds

    prefix = f"bench-hostile-{mode.replace('_', '-')}-{int(time.time())}"
    config = workdir / f"{mode}.yaml"
    feeds = [{"url": f.url, "name": f.name} for f in hostile_feeds(normal, hostile)]
    config.write_text(
        yaml.safe_dump({"feeds": feeds, "elasticsearch": {"index_prefix": prefix}}), encoding="utf-8"
    )
    env = dict(os.environ, ES_URL=es_url, NEWSBEAM_STATE_DIR=str(workdir / f"state-{mode}"))
    cmd = [str(BIN / "newsbeam"), "run", "--config", str(config), "--allow-private-hosts",
           "--max-run-time", str(max_run_time), "--quiet", *MODES[mode]]  # fmt: skip
    measured = run_measured(cmd, env)
    urls = _indexed_urls(es_url, f"{prefix}-articles")
    normal_urls = {f"{normal.base_url}/a{n}.html" for n in range(len(TOPICS))}
    normal_indexed = len(normal_urls & set(urls))
    hostile_indexed = sum(1 for u in urls if u.startswith(hostile.base_url))
    peak_mb = measured["peak_rss"] / 1e6
    wall = measured["wall"]
    return {
        "mode": mode,
        "flags": MODES[mode],
        "wall_s": round(wall, 1),
        "budget_s": max_run_time,
        "wall_over_budget": round(wall / max_run_time, 2),
        "normal_indexed": normal_indexed,
        "normal_total": len(normal_urls),
        "hostile_indexed": hostile_indexed,
        "peak_rss_mb": round(peak_mb, 1),
        "peak_pss_mb": round(measured["peak_pss"] / 1e6, 1),
        "cpu_s": round(measured["cpu"], 1),
        "targets_met": (
            wall <= max_run_time + BUDGET_SLACK_S
            and normal_indexed == len(normal_urls)
            and hostile_indexed == 0
            and peak_mb <= RSS_TARGET_MB
        ),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--max-run-time", type=float, default=90.0, help="the run's budget in seconds (default 90)"
    )
    ap.add_argument(
        "--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)} (default: all)"
    )
    args = ap.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        ap.error(
            f"--modes: unknown mode(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(MODES)}"
        )
    if args.max_run_time <= 0:
        ap.error("--max-run-time must be positive")

    from tests.integration.test_hostile_run import hostile_sites

    results = []
    with tempfile.TemporaryDirectory(prefix="newsbeam-hostile-") as tmp:
        workdir = Path(tmp)
        with bench_elasticsearch(workdir) as es_url, hostile_sites(workdir / "site") as (normal, hostile):
            for mode in modes:
                result = run_mode(mode, es_url, normal, hostile, workdir, args.max_run_time)
                results.append(result)
                print(json.dumps(result), flush=True)
    if len(results) > 1:
        base = results[0]
        for other in results[1:]:
            print(json.dumps({
                "ratio": f"{other['mode']}/{base['mode']}",
                "wall": round(other["wall_s"] / base["wall_s"], 2),
                "peak_rss": round(other["peak_rss_mb"] / base["peak_rss_mb"], 2),
            }))  # fmt: skip
    missed = [r["mode"] for r in results if not r["targets_met"]]
    if missed:
        print(f"targets missed (budget + {BUDGET_SLACK_S:.0f} s, every normal article, no hostile page, "
              f"peak RSS <= {RSS_TARGET_MB:.0f} MB): {', '.join(missed)}")  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
