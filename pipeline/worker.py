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
  except Beam's import-time note about Google Cloud libraries, and not the
  traceback of a failed bundle, which Beam prints there besides sending it.

**Standby workers.**  Importing Beam takes a worker about 1.5 s of CPU, and the
runner starts its workers only once the driver has set up Elasticsearch and
built the graph.  ``pipeline/local_runner.py`` therefore starts *standby*
workers as soon as the run holds its writer lease (``--standby DIR``): each
imports Beam, then listens on a Unix socket ``DIR/<pid>.sock``.  When the
runner starts a worker (``python -m newsbeam.pipeline.worker``, the
environment naming the control and logging endpoints), that process hands
its environment to a standby that is ready, or about to be, and waits for it
to end, exiting with its status (as ``/bin/sh``, exec'd in its place: about
2 MB for the pipeline's duration instead of a 15 MB interpreter, BENCHMARKS.md); the
standby runs Beam's SDK worker with that environment.  Each side ends when the
other does.  With no standby (none started, or all taken or gone) the process
runs the SDK worker itself, as before.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import time

from newsbeam.pipeline.memory import limit_malloc_arenas

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


STANDBY_ENV = "NEWSBEAM_STANDBY_DIR"
#: How long a worker waits for a claimed standby that is still importing Beam.
CLAIM_WAIT_S = 20.0


def _print_not_to_stderr(*args, file=None, **kwargs) -> None:
    """``print`` for Beam's SDK worker: a failed bundle's traceback is not
    printed on this process's stderr (the terminal's).  Beam also sends it
    to the driver, which reports the failure in one message and shows the
    traceback with ``-v`` (pipeline/options.py)."""
    if file is sys.stderr:
        return
    print(*args, file=file, **kwargs)


def _run_sdk_worker() -> None:
    from apache_beam.runners.worker import sdk_worker, sdk_worker_main

    sdk_worker.print = _print_not_to_stderr  # its only print: the traceback of a failed instruction
    sdk_worker_main.main([])


def _claim(directory: str) -> socket.socket | None:
    """Take one standby of ``directory``: a ready one if any, else wait for
    one still starting; None when there is none left to take."""
    import psutil

    give_up = time.monotonic() + CLAIM_WAIT_S
    while time.monotonic() < give_up:
        try:
            names = os.listdir(directory)
        except OSError:
            return None
        for name in sorted(n for n in names if n.endswith(".sock")):
            claimed = os.path.join(directory, f"{name[: -len('.sock')]}.claimed")
            try:
                os.rename(os.path.join(directory, name), claimed)  # atomic: one claimer wins
            except OSError:
                continue
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                conn.connect(claimed)
                return conn
            except OSError:  # the standby died after listening
                conn.close()
        # A marker can outlive its standby's start (the driver writes it after the spawn, and
        # may come late): a standby that published or lost its socket is not starting.
        published = {n.split(".", 1)[0] for n in names if n.endswith((".sock", ".claimed"))}
        starting = [
            int(n.split(".", 1)[0])
            for n in names
            if n.endswith(".starting") and n.split(".", 1)[0] not in published
        ]
        if not any(psutil.pid_exists(pid) for pid in starting):
            return None
        time.sleep(0.02)
    return None


#: What a worker that handed its job over becomes (``_hand_over``): a shell that
#: reads the standby's exit status from its stdin (the socket), waits for the
#: standby's end (the socket closes) and exits with it; 1 when the standby ended
#: without one.
WAIT_FOR_STATUS = (
    "IFS= read -r code; while IFS= read -r _; do :; done; "
    'case "$code" in ""|*[!0-9]*) exit 1;; esac; exit "$code"'
)
#: The shell's ``$0``: ``local_runner.stop_workers`` and ``ps`` still see a worker.
HANDOFF_NAME = "newsbeam.pipeline.worker-handoff"
_SHELL = "/bin/sh"


def _hand_over(directory: str) -> int | None:
    """Give this process's job to a standby and wait for its end; its exit
    status, or None when no standby took it.

    On POSIX the wait is done by ``/bin/sh`` exec'd in this process's place
    (same pid, so the runner waits for and kills it as before; signals ignored
    and the parent-death signal carry over): about 1 MB for the rest of the
    pipeline instead of this interpreter's 14 MB."""
    conn = _claim(directory)
    if conn is None:
        return None
    with conn:
        conn.sendall(json.dumps(dict(os.environ)).encode() + b"\n")
        if os.name == "posix" and os.path.exists(_SHELL):
            try:
                os.dup2(conn.fileno(), 0)
                os.execv(_SHELL, ["sh", "-c", WAIT_FOR_STATUS, HANDOFF_NAME])
            except OSError:
                pass  # wait here instead
        reply = b""
        while True:
            chunk = conn.recv(64)
            if not chunk:
                break
            reply += chunk
    text = reply.decode(errors="replace").strip()
    return int(text) if text.lstrip("-").isdigit() else 1


def _standby(directory: str) -> int:
    """Import Beam, wait for a worker's environment, run as that worker."""
    _log_to_driver_only()
    marker = os.path.join(directory, f"{os.getpid()}.starting")
    open(marker, "w").close()
    from apache_beam.runners.worker import sdk_worker_main  # noqa: F401  (the point of standing by)

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # Bound under a name no claimer looks for, and published as ``.sock`` only once it
    # listens: a claimer that renamed the socket between bind and listen was refused,
    # took this standby for dead and left it unclaimed (its worker then started cold).
    binding = os.path.join(directory, f"{os.getpid()}.binding")
    server.bind(binding)
    server.listen(1)
    os.rename(binding, os.path.join(directory, f"{os.getpid()}.sock"))
    os.unlink(marker)
    conn, _ = server.accept()
    server.close()
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            return 0  # the worker that claimed this one is gone
        data += chunk
    os.environ.clear()
    os.environ.update(json.loads(data))

    reported = threading.Event()

    def _watch() -> None:  # the claimer was killed (the runner or Ctrl-C): end with it
        try:
            while conn.recv(64):
                pass
        except OSError:
            pass
        if not reported.is_set():  # else the claimer only closed after reading the status
            os._exit(1)

    threading.Thread(target=_watch, name="standby-watch", daemon=True).start()
    code = 1
    try:
        _run_sdk_worker()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        reported.set()
        try:
            conn.sendall(f"{code}\n".encode())
            # The claimer, hence the runner (it closes its workers one after the other),
            # goes on now, not once this process's teardown is over (1.1-1.4 s per worker
            # with the NER model loaded, measured on a loaded machine).
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    return code


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a closed terminal: the driver stops the run in order
    limit_malloc_arenas()  # before Beam's threads start (pipeline/memory.py)
    driver = int(argv[argv.index("--driver-pid") + 1]) if "--driver-pid" in argv else None
    _die_with_driver(driver)
    if "--standby" in argv:
        sys.exit(_standby(argv[argv.index("--standby") + 1]))
    directory = os.environ.get(STANDBY_ENV)
    if directory:
        code = _hand_over(directory)
        if code is not None:
            sys.exit(code)
    _log_to_driver_only()
    _run_sdk_worker()


if __name__ == "__main__":
    main()
