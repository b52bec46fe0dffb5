"""Progress of the offline commands (``newsbeam extract``, ``newsbeam dedup``).

They work through a whole directory or file before they print their one-line summary, which on
thousands of pages or rows is minutes: on a terminal a transient bar on stderr shows how far they
are; otherwise (a log file, CI, ``--log-format json``) one ``newsbeam`` INFO record every
``every`` seconds says it, so a long run is never silent and a short one adds nothing.
"""

from __future__ import annotations

import logging
import time

__all__ = ["OfflineProgress"]

_LOG = logging.getLogger("newsbeam")


class OfflineProgress:
    """A context manager; call it with the number of items done so far (from one thread)."""

    def __init__(self, what: str, total: int, every: float = 30.0, clock=time.monotonic) -> None:
        self._what = what
        self._total = total
        self._every = every
        self._clock = clock
        self._last = clock()
        self._bar = None

    def __enter__(self) -> OfflineProgress:
        from newsbeam.pipeline.logs import json_logs
        from newsbeam.pipeline.text import SafeConsole

        console = SafeConsole(stderr=True, highlight=False)
        if console.is_terminal and not json_logs() and self._total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("newsbeam: " + self._what.replace("[", r"\[")),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self._what, total=self._total)
        return self

    def __call__(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done)
            return
        now = self._clock()
        if now - self._last >= self._every and done < self._total:
            self._last = now
            _LOG.info("%s: %d of %d", self._what, done, self._total)

    def __exit__(self, *exc) -> bool:
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False
