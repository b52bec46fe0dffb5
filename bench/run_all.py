"""``make bench``: run every benchmark in turn and print its figures.

Each benchmark is a standalone script that prints its own table of figures
and side-by-side ratios; one whose public data set is absent fails (exit 2)
with a message naming the data set, where to get it and ``$NEWSBEAM_BENCH_DATA``
(default ``<repo>/.bench-data``; see bench/benchdata.py).

    python bench/run_all.py              # all
    python bench/run_all.py dedup ner    # some
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "extraction",
    "charset",
    "dedup",
    "ner",
    "es_sink",
    "graph_build",
    "status",
    "resolve",
    "throughput",
    "runner_memory",
    "on_dask",
    "hostile",
    "stream_soak",
]


def main(argv: list[str]) -> int:
    wanted = argv or ORDER
    failed = []
    for name in wanted:
        script = HERE / f"{name}.py"
        if not script.exists():
            print(f"FAIL {name}: no bench/{name}.py")
            failed.append(name)
            continue
        print(f"\n===== bench/{name}.py =====", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(script)])
        print(f"===== {name}: exit {code} in {time.monotonic() - started:.0f} s =====", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks that failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
