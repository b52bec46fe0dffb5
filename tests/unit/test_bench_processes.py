"""The benchmarks name each process of a run's tree (bench/processes.py) from the
command lines newsbeam gives them."""

from __future__ import annotations

import sys

from bench.processes import process_kind
from newsbeam.pipeline import worker
from newsbeam.transforms import sandbox_child


def test_each_process_of_a_run_is_named_by_what_it_runs():
    python = sys.executable
    assert process_kind(f"{python} -m {worker.__name__} --driver-pid 1 --standby /tmp/w") == "beam-worker"
    handoff = ["sh", "-c", worker.WAIT_FOR_STATUS, worker.HANDOFF_NAME]  # what _hand_over execs
    assert process_kind(" ".join(handoff)) == "handoff"
    assert process_kind(f"{python} -m {sandbox_child.__name__} 7") == "sandbox"
    assert process_kind(f"{python} /venv/bin/newsbeam run --config c.yaml") == "driver"
    assert process_kind("something else entirely") == "something else entirely"
