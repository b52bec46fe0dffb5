"""The child process of an ``ExtractionSandbox`` (transforms/extraction.py).

Started as ``python -m newsbeam.transforms.sandbox_child FD`` (FD: its end of
a socket pair), not with ``multiprocessing``: a ``spawn`` child costs its
parent a *resource tracker* process (about 13 MB, one per worker) that the
sandbox has no use for, and imports the parent's main module.  This module
imports nothing but the standard library (and pipeline/memory.py, which
imports nothing else); the child then imports only the
module of the function it runs (extraction: trafilatura and the language
identifier; the feed parser: feedparser), never Apache Beam.

Protocol (``multiprocessing.connection.Connection`` over the socket): the
parent sends its ``sys.path``, then the function (pickled by reference), then
one ``(content, job)`` per call; the child answers each call with the
function's result, or with a ``CallFailed`` naming the exception the function
raised (the parent reports that page as crashed; the child lives on, and prints
no traceback on the run's stderr).  The child ends when the parent closes the socket,
or within a second of the parent's death (an orphan never lingers over a
slow page).  SIGINT is ignored: a terminal's Ctrl-C is the parent's to handle.
Blocks of 256 kB and more are mapped on their own (``map_large_blocks`` in
pipeline/memory.py), so a large page's memory goes back when it is done.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

__all__ = ["CallFailed", "main", "serve"]

#: seconds between two checks that the parent is still alive
PARENT_CHECK_S = 1.0


class CallFailed:
    """The answer to a call whose function raised: ``error`` names the exception."""

    def __init__(self, error: str):
        self.error = error


def serve(conn, fn) -> None:
    """Answer every ``(content, job)`` received with ``fn(content, job)`` until the pipe closes
    (also while an answer is sent: the parent stopped waiting, killed or stopping)."""
    while True:
        try:
            content, job = conn.recv()
        except (EOFError, ConnectionError):
            return
        try:
            result = fn(content, job)
        except Exception as exc:  # one page's bug (a RecursionError...), not the child's end
            result = CallFailed(f"{type(exc).__name__}: {exc}"[:300])
        try:
            conn.send(result)
        except (BrokenPipeError, ConnectionError):
            return


def _exit_with_parent(parent: int) -> None:
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent:  # re-parented: the parent is gone
            os._exit(0)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # it ends with its parent
    from newsbeam.pipeline.memory import map_large_blocks

    map_large_blocks()  # pages and their parse trees go back to the system when freed
    from multiprocessing.connection import Connection

    conn = Connection(int(argv[0]))
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()
    try:
        sys.path[:] = conn.recv()
        fn = conn.recv()
    except EOFError:
        return
    # This module runs as __main__: the package's copy of serve() answers with the package's
    # CallFailed, which the parent can unpickle.
    from newsbeam.transforms import sandbox_child

    sandbox_child.serve(conn, fn)


if __name__ == "__main__":
    main()
