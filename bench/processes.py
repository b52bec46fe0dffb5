"""What each process of a ``newsbeam`` run's tree is, from its command line
(the benchmarks' memory and CPU breakdowns)."""

from __future__ import annotations

__all__ = ["process_kind"]

# First match wins: the handoff's command line names the worker module too.
_MARKERS = (
    ("newsbeam.pipeline.worker-handoff", "handoff"),  # a worker that handed its job to a standby
    ("newsbeam.pipeline.worker", "beam-worker"),
    ("sdk_worker_main", "beam-worker"),
    ("worker_pool_main", "beam-worker"),
    ("newsbeam.transforms.sandbox_child", "sandbox"),  # a worker's extraction or feed-parser child
    ("resource_tracker", "resource-tracker"),
    ("multiprocessing", "sandbox"),  # a sandbox child started with spawn (not POSIX)
    ("sequential_pipeline", "sequential"),
    ("newsbeam run", "driver"),
    ("bin/newsbeam", "driver"),
)


def process_kind(cmdline: str) -> str:
    """A short name for the process run by ``cmdline``; the command line's start when unknown."""
    for marker, kind in _MARKERS:
        if marker in cmdline:
            return kind
    return cmdline[:60]
