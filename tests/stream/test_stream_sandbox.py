"""``keep_children``: a stream's cycles reuse the sandbox child processes
instead of spawning new ones each cycle (the process tree stays flat)."""

from __future__ import annotations

import os

from newsbeam.transforms.extraction import ExtractionSandbox, keep_children


def _child_pid(_html, _url):
    return os.getpid()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a killed but not yet reaped child is a zombie: not alive either
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_kept_children_serve_the_next_sandbox_and_end_with_the_stream():
    keep_children(True)
    try:
        first = ExtractionSandbox(_child_pid)
        pid = first.extract_with_limit(b"", None, 60)
        first.close()  # a cycle's DoFn teardown
        assert _alive(pid)
        second = ExtractionSandbox(_child_pid)  # the next cycle's DoFn setup
        assert second.extract_with_limit(b"", None, 60) == pid
        second.close()
    finally:
        keep_children(False)  # the stream ends
    assert not _alive(pid)


def test_without_keep_children_close_ends_the_child():
    box = ExtractionSandbox(_child_pid)
    pid = box.extract_with_limit(b"", None, 60)
    box.close()
    assert not _alive(pid)
    again = ExtractionSandbox(_child_pid)
    try:
        assert again.extract_with_limit(b"", None, 60) != pid
    finally:
        again.close()
