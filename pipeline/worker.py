"""A worker process of a local multi-process run (``pipeline/local_runner.py``).

Beam's SDK worker (``apache_beam.runners.worker.sdk_worker_main``) with three
differences that belong to a command-line tool:

* **Ctrl-C is the driver's.**  A terminal sends SIGINT to its whole
  foreground process group, workers included; Beam's worker would die with a
  ``KeyboardInterrupt`` traceback each.  The worker ignores SIGINT (the
  command that starts it already does, ``trap '' INT``, so that no window
  opens while Python starts); the driver stops its workers itself when it is
  interrupted.  SIGTERM and SIGKILL still end a worker at once.
* **It dies with the driver** (Linux): a driver killed outright (OOM killer,
  ``kill -9``) leaves no worker finishing its bundles for nobody.
* **Its log records go to the driver only.**  Beam's worker prints every
  record to its own stderr (the terminal's) as well as sending it to the
  driver, which shows it or not by ``-v`` (``pipeline/options.py``); here
  stderr only gets the WARNING+ records logged before that link exists,
  except Beam's import-time note about Google Cloud libraries.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

__all__ = ["main"]

_PR_SET_PDEATHSIG = 1


def _die_with_driver(driver_pid: int | None) -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if driver_pid is not None and os.getppid() != driver_pid:
        os._exit(0)  # the driver is already gone


class _NotForwardedYet(logging.Filter):
    """Passes a record only while no handler sends records to the driver."""

    def filter(self, record: logging.LogRecord) -> bool:
        if any(type(h).__name__ == "FnApiLogRecordHandler" for h in logging.getLogger().handlers):
            return False
        return "apitools not found" not in record.getMessage()


def _log_to_driver_only() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.addFilter(_NotForwardedYet())
    handler.setFormatter(logging.Formatter("%(levelname)s worker %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)  # before Beam's import-time basicConfig


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    driver = int(argv[argv.index("--driver-pid") + 1]) if "--driver-pid" in argv else None
    _die_with_driver(driver)
    _log_to_driver_only()
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main([])


if __name__ == "__main__":
    main()
