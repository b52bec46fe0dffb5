"""Progress lines for long runs: one INFO line every ``every`` elements per
worker, never one per element.  Counters stay the source of truth for the
summary; these lines only tell an operator watching a long run that it moves."""

from __future__ import annotations

import logging
import time

__all__ = ["Progress"]


class Progress:
    def __init__(self, logger: logging.Logger, what: str, every: int = 25, min_seconds: float = 5.0):
        self._logger = logger
        self._what = what
        self._every = every
        self._min_seconds = min_seconds
        self._count = 0
        self._last = time.monotonic()

    def tick(self, n: int = 1) -> None:
        before = self._count
        self._count += n
        now = time.monotonic()
        if self._count // self._every > before // self._every and now - self._last >= self._min_seconds:
            self._last = now
            self._logger.info("%s: %d so far on this worker", self._what, self._count)
