"""Memory of a local batch run: ``newsbeam demo`` with the default runner (one
worker process per core) against ``--direct_running_mode=in_memory`` (one
process), side by side.

Each round runs both, alternating, into one embedded server started for the
benchmark (its own temporary state directory and free port; the server is
not counted), each with its own index prefix so that every run indexes the
whole demo site.  The process tree of ``newsbeam`` (driver, worker processes,
extraction and feed sandboxes) is sampled every 0.1 s with psutil; one JSON
line per run: peak RSS of the whole tree, the processes at that moment by
kind, and the wall time.  Needs ``psutil`` (installed with newsbeam).

    python bench/runner_memory.py              # 2 rounds
    python bench/runner_memory.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = {"default": [], "in_memory": ["--direct_running_mode=in_memory"]}


def _kind(proc, driver_pid: int) -> str:
    if proc.pid == driver_pid:
        return "driver"
    from processes import process_kind

    return process_kind(" ".join(proc.cmdline()))


def measure(argv: list[str], env: dict[str, str]) -> dict:
    import psutil

    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    peak, at_peak = 0, []
    while proc.poll() is None:
        rows = []
        try:
            family = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        for member in family:
            try:
                rows.append((_kind(member, proc.pid), member.memory_info().rss))
            except psutil.Error:
                continue
        total = sum(rss for _kind_, rss in rows)
        if total > peak:
            peak, at_peak = total, rows
        time.sleep(0.1)
    _out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {err[-2000:]}")
    return {
        "peak_rss_mb": round(peak / 2**20),
        "at_peak_mb": sorted(
            ([kind, round(rss / 2**20)] for kind, rss in at_peak), key=lambda r: (r[0], -r[1])
        ),
        "wall_s": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="pairs of runs (default 2)")
    args = parser.parse_args()

    from newsbeam.connectors.embedded import EmbeddedServer, free_port
    from newsbeam.pipeline.options import usable_cores

    newsbeam = str(Path(sys.executable).with_name("newsbeam"))
    with tempfile.TemporaryDirectory(prefix="newsbeam-bench-") as state:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ES_")}
        env["NEWSBEAM_STATE_DIR"] = state
        server = EmbeddedServer(port=port, root=Path(state))
        server.start(timeout=120)
        try:
            for round_ in range(args.rounds):
                for mode, flags in MODES.items():
                    prefix = f"bench-{mode.replace('_', '')}-{round_}"
                    argv = [newsbeam, "demo", "--port", str(port), "--index-prefix", prefix, *flags]
                    row = {"mode": mode, "workers": usable_cores() if mode == "default" else 1}
                    row.update(measure(argv, env))
                    print(json.dumps(row), flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
