"""Close a DoFn's child process when it sits idle.

The extraction and feed-parsing sandboxes (``ExtractionSandbox``) each keep a
child process of 150–250 MB.  A batch run uses them in one burst per wave
(all of a worker's feeds, then all of its pages) and then moves on to story
clustering and writing for the rest of the wave, where the children would
only hold memory.  ``IdleCloser`` closes the resource ``idle`` seconds after
a bundle finished with no use since; the sandbox starts a fresh child on its
next call, so a DoFn that is busy (streaming, many bundles) keeps its child.

Example usage (in a DoFn)::

    def setup(self):
        self._child = IdleCloser(ExtractionSandbox(), idle=CHILD_IDLE_SECONDS)

    def process(self, page):
        with self._child.use() as sandbox:
            result = sandbox.extract_with_limit(...)

    def finish_bundle(self):
        self._child.idle_from_now()

    def teardown(self):
        self._child.close()
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["CHILD_IDLE_SECONDS", "IdleCloser"]

#: seconds a sandbox child may sit unused after a bundle before it is closed
CHILD_IDLE_SECONDS = 2.0


class IdleCloser:
    """Holds ``resource`` (anything with ``close()`` that reopens itself on
    its next use) and closes it after ``idle`` seconds without use, counted
    from ``idle_from_now()``.  ``on_close`` runs (under the lock) each time it
    is closed that way.  Thread-safe: ``use()`` and the timer share a lock."""

    def __init__(self, resource: Any, idle: float, on_close: Callable[[], None] | None = None):
        if idle <= 0:
            raise ValueError(f"idle must be positive, got {idle!r}")
        self._resource = resource
        self._idle = idle
        self._on_close = on_close
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._last_use = time.monotonic()
        self._open = False  # used since it was last closed
        self.closed_idle = 0  # how many times it was closed for idleness

    @contextlib.contextmanager
    def use(self) -> Iterator[Any]:
        with self._lock:
            self._cancel()
            self._open = True
            try:
                yield self._resource
            finally:
                self._last_use = time.monotonic()

    def idle_from_now(self) -> None:
        """Close the resource ``idle`` seconds from now unless it is used before."""
        with self._lock:
            self._cancel()
            if not self._open:
                return
            self._timer = threading.Timer(self._idle, self._close_if_idle)
            self._timer.daemon = True
            self._timer.name = "newsbeam-idle-close"
            self._timer.start()

    def _close_if_idle(self) -> None:
        with self._lock:
            if not self._open or time.monotonic() - self._last_use < self._idle * 0.99:
                return
            self._resource.close()
            self._open = False
            self.closed_idle += 1
            if self._on_close is not None:
                self._on_close()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        with self._lock:
            self._cancel()
            self._resource.close()
            self._open = False
