"""The runner of local batch runs: Beam's FnApiRunner, with worker processes
that leave Ctrl-C to the driver.

Without ``--runner``, ``newsbeam run``, ``demo`` and ``reextract`` run on
``LocalRunner`` (``pipeline/options.py`` chooses it): the FnApiRunner that
Beam's DirectRunner uses for batch pipelines, named directly, because Beam's
DirectRunner (2.77) first tries its Prism runner, downloading the binary from
GitHub on a machine that can, and then ignores ``--direct_running_mode``.
``--direct_running_mode`` and ``--direct_num_workers`` mean what they mean to
the DirectRunner; batch runs default to ``multi_processing`` with one worker
process per core.

What differs from Beam's own multi-process mode:

* Workers start as ``python -m newsbeam.pipeline.worker`` with SIGINT ignored
  from the first instruction (``trap '' INT; exec ...``), so a terminal's
  Ctrl-C, which reaches the whole foreground process group, interrupts the
  driver only.  While a pipeline runs in the main thread, the driver's SIGINT
  handler first stops its worker processes (SIGTERM, with their own children),
  then interrupts as before: ``newsbeam`` prints ``interrupted`` and exits
  130 after its ``finally`` blocks ran (the writer lease is released).  Beam's
  complaints about the workers it lost on the way are not shown.
* A worker dies with its driver (Linux), so a driver killed outright leaves
  no worker behind either.
* Workers send their log records to the driver only (``pipeline/worker.py``);
  their log levels are the driver's (``options.logger_levels``).
* Standby workers (``prestart``): the worker processes of the next pipeline
  start, and import Beam, while the driver still sets up Elasticsearch and
  builds the graph; the runner's workers hand their job to them
  (``pipeline/worker.py``).  a batch run starts them once it holds its
  writer lease and again before each wave; ``close_standby`` ends those
  not taken.
"""

from __future__ import annotations

import atexit
import logging
import os
import shlex
import signal
import sys
import threading

from apache_beam.runners.portability.fn_api_runner.fn_runner import ExtendedProvisionInfo, FnApiRunner

__all__ = [
    "LocalRunner",
    "WorkerLost",
    "close_standby",
    "prestart",
    "stop_workers",
    "worker_command",
    "worker_count",
]

_LOG = logging.getLogger(__name__)

WORKER_MODULE = "newsbeam.pipeline.worker"
_BEAM_WORKER = "%s -m apache_beam.runners.worker.sdk_worker_main"  # fn_runner.py, multi_processing


def worker_command() -> str:
    """The shell command that starts one worker process."""
    if os.name != "posix":
        return f'"{sys.executable}" -m {WORKER_MODULE} --driver-pid {os.getpid()}'
    return f"trap '' INT; exec {shlex.quote(sys.executable)} -m {WORKER_MODULE} --driver-pid {os.getpid()}"


_STANDBY_PREFIX = "newsbeam-workers-"


def _sweep_left_behind(tmp: str) -> None:
    """Remove the standby folders of drivers that are gone (``kill -9``, the OOM killer: no
    ``close()`` ran), named ``newsbeam-workers-<driver pid>-*``; a cron line killed now and
    then filled /tmp with them.  Folders of live drivers, and of other users, stay."""
    import shutil

    try:
        names = os.listdir(tmp)
    except OSError:
        return
    for name in names:
        if not name.startswith(_STANDBY_PREFIX):
            continue
        pid = name[len(_STANDBY_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # its driver runs
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # another user's
        shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)


class _Standby:
    """The standby worker processes of this driver (see ``prestart``)."""

    def __init__(self):
        self.directory: str | None = None
        self.procs: list = []

    def start(self, count: int) -> None:
        import subprocess
        import tempfile

        from newsbeam.pipeline.worker import STANDBY_ENV

        if self.directory is None:
            _sweep_left_behind(tempfile.gettempdir())
            self.directory = tempfile.mkdtemp(prefix=f"{_STANDBY_PREFIX}{os.getpid()}-")
            os.environ[STANDBY_ENV] = self.directory
        self.procs = [p for p in self.procs if p.poll() is None]
        untaken = sum(1 for p in self.procs if not self._taken(p.pid))
        command = f"{worker_command()} --standby {shlex.quote(self.directory)}"
        for _ in range(max(0, count - untaken)):
            proc = subprocess.Popen(command, shell=True)  # "exec": the shell's pid is the worker's
            # Marked as starting from now (the standby marks itself once Python runs), so that a
            # worker the runner starts at once waits for it instead of finding none and starting cold.
            open(os.path.join(self.directory, f"{proc.pid}.starting"), "w").close()
            # Reaped as soon as it exits: a standby ends after its pipeline has gone on
            # (pipeline/worker.py), and would otherwise stay a zombie until close().
            threading.Thread(target=proc.wait, name="newsbeam-standby-reaper", daemon=True).start()
            self.procs.append(proc)

    def _taken(self, pid: int) -> bool:
        return os.path.exists(os.path.join(self.directory, f"{pid}.claimed"))

    def close(self) -> None:
        import shutil
        import subprocess

        from newsbeam.pipeline.worker import STANDBY_ENV

        if self.directory is None:
            return
        for proc in self.procs:  # the ones taken end with their pipeline; the others now
            if proc.poll() is None and not self._taken(proc.pid):
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()  # reaped here or by its reaper thread: gone when close() returns
        self.procs = []
        shutil.rmtree(self.directory, ignore_errors=True)
        if os.environ.get(STANDBY_ENV) == self.directory:
            del os.environ[STANDBY_ENV]
        self.directory = None


_STANDBY = _Standby()


def worker_count(options) -> int:
    """How many worker processes ``options`` give this runner (0: not multi-process)."""
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

    from newsbeam.pipeline.options import LOCAL_RUNNER

    if options.view_as(StandardOptions).runner != LOCAL_RUNNER:
        return 0
    direct = options.view_as(DirectOptions)
    if direct.direct_running_mode != "multi_processing":
        return 0
    workers = direct.direct_num_workers
    if workers == 0:  # as FnApiRunner reads it: one per CPU
        import multiprocessing

        return multiprocessing.cpu_count()
    return max(1, workers or 1)


def prestart(options) -> int:
    """Start the worker processes the next pipeline run with ``options`` will
    take (nothing unless it is a multi-process ``LocalRunner`` run); returns
    how many stand by.  ``close_standby`` ends the ones no pipeline took."""
    count = worker_count(options)
    if count:
        _driver_memory()
    if count and os.name == "posix":
        _STANDBY.start(count)
    return count if os.name == "posix" else 0


def _driver_memory() -> None:
    """The driver of a multi-process run only moves data between stages: its
    large blocks go back to the system when freed (pipeline/memory.py)."""
    from newsbeam.pipeline.memory import map_large_blocks

    map_large_blocks()


def close_standby() -> None:
    _STANDBY.close()


atexit.register(close_standby)


def _workers():
    import psutil

    found = []
    for child in psutil.Process().children():
        try:
            if WORKER_MODULE in child.cmdline():
                found.append(child)
        except psutil.Error:
            continue
    return found


def stop_workers() -> int:
    """SIGTERM to this process's worker processes and to their children
    (extraction and feed sandboxes); returns how many workers there were."""
    import psutil

    workers = _workers()
    for worker in workers:
        try:
            family = [worker, *worker.children(recursive=True)]
        except psutil.Error:
            family = [worker]
        for proc in family:
            try:
                proc.terminate()
            except psutil.Error:
                pass
    return len(workers)


class WorkerLost(RuntimeError):
    """A worker process ended while its pipeline ran (the kernel's OOM killer, ``kill -9``)."""

    def __init__(self, pid: int):
        super().__init__(
            f"a worker process (pid {pid}) ended while the pipeline ran (killed from outside, or by "
            "the system when memory ran out)"
        )
        self.pid = pid


class _WorkerWatch:
    """The worker processes of one pipeline, and the first of them found dead when Beam reports a
    failure: Beam's own report of a lost worker is a page of gRPC tracebacks from its threads and
    ``RuntimeError: Channel closed prematurely``, which named neither the worker nor the cause."""

    POLL_S = 0.5

    def __init__(self):
        self.known: set[int] = set()
        self.lost: int | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._look()
        self._thread = threading.Thread(target=self._poll, name="newsbeam-worker-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._done.set()

    def _poll(self) -> None:
        while not self._done.wait(self.POLL_S):
            self._look()

    def _look(self) -> None:
        try:
            self.known.update(worker.pid for worker in _workers())
        except Exception:  # a lookup that failed only delays the next one
            pass

    def dead(self) -> int | None:
        """The first known worker that is gone (reaped, or a zombie), remembered once found."""
        if self.lost is None and not self._done.is_set():
            import psutil

            for pid in sorted(self.known):
                try:
                    gone = psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
                except psutil.NoSuchProcess:
                    gone = True
                except psutil.Error:
                    gone = False
                if gone:
                    self.lost = pid
                    break
        return self.lost


class _StopWorkersOnInterrupt:
    """While a pipeline runs in the main thread, SIGINT goes to the previous
    handler first; when it interrupts (``newsbeam``'s and Python's raise
    KeyboardInterrupt), the workers are stopped and Beam's reports of their
    loss silenced before the exception unwinds the run.  A worker that dies on
    its own (``watch``) gets the same silence, and the run a ``WorkerLost``."""

    def __init__(self, watch: _WorkerWatch | None = None):
        self.fired = False
        self.watch = watch
        self._previous = None
        self._levels: dict[str, int] = {}
        self._excepthook = None
        self._filtered: list[logging.Handler] = []

    def __enter__(self):
        if self.watch is not None:
            self.watch.start()
            self._excepthook = threading.excepthook
            threading.excepthook = self._thread_exception
            for handler in logging.getLogger().handlers:
                handler.addFilter(self._lost_worker_record)
                self._filtered.append(handler)
        if threading.current_thread() is not threading.main_thread():
            return self
        previous = signal.getsignal(signal.SIGINT)
        if previous in (signal.SIG_IGN, None):
            return self
        self._previous = previous
        signal.signal(signal.SIGINT, self._handle)
        if self._excepthook is None:
            self._excepthook = threading.excepthook
            threading.excepthook = self._thread_exception
        return self

    def _lost(self) -> bool:
        """A worker died: Beam's reports of it are silenced (unless -v shows Beam's warnings)."""
        if self.watch is None or self.watch.dead() is None:
            return False
        if logging.getLogger("apache_beam").getEffectiveLevel() >= logging.ERROR:
            for name in ("apache_beam", "grpc"):
                logger = logging.getLogger(name)
                self._levels.setdefault(name, logger.level)
                logger.setLevel(logging.CRITICAL + 1)
            return True
        return False

    def _lost_worker_record(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.name.startswith(("apache_beam", "grpc")):
            return not self._lost()
        return True

    def _handle(self, signum, frame):
        try:
            if callable(self._previous):
                self._previous(signum, frame)
                return  # that handler chose not to interrupt (a graceful stop): the workers go on
            raise KeyboardInterrupt  # SIG_DFL
        except BaseException:
            self._stop()
            raise

    def _stop(self) -> None:
        if self.fired:
            return
        self.fired = True
        for name in ("apache_beam", "grpc"):
            logger = logging.getLogger(name)
            self._levels.setdefault(name, logger.level)
            logger.setLevel(logging.CRITICAL + 1)
        try:
            stop_workers()
        except Exception as exc:  # never hide the interrupt; the workers end with their control channel
            _LOG.debug("could not stop the worker processes: %s", exc)

    def _thread_exception(self, args):
        # Beam's threads that wait for a worker or read from it raise when the
        # worker is gone; some only notice after the run has unwound.
        if _raised_in_beam(args.exc_traceback) and (self.fired or self._lost()):
            return
        self._excepthook(args)

    def __exit__(self, *exc):
        if self.watch is not None:
            # Not looked at again here: by now Beam has stopped every worker of a failed pipeline.
            self.watch.stop()
        if self._previous is not None and signal.getsignal(signal.SIGINT) == self._handle:
            signal.signal(signal.SIGINT, self._previous)
        lost = self.watch is not None and self.watch.lost is not None
        if not (self.fired or lost):  # else stragglers may still report the lost workers
            if threading.excepthook == self._thread_exception:
                threading.excepthook = self._excepthook
            for name, level in self._levels.items():
                logging.getLogger(name).setLevel(level)
            for handler in self._filtered:
                handler.removeFilter(self._lost_worker_record)
        return False


def _raised_in_beam(tb) -> bool:
    while tb is not None:
        path = tb.tb_frame.f_code.co_filename.replace("\\", "/")
        if "/apache_beam/" in path or "/grpc/" in path:
            return True
        tb = tb.tb_next
    return False


class LocalRunner(FnApiRunner):
    """Beam's FnApiRunner for newsbeam's local batch runs (see the module's docstring)."""

    def run_pipeline(self, pipeline, options):
        from apache_beam.portability.api import beam_provision_api_pb2
        from apache_beam.runners.portability.portable_runner import JobServiceHandle

        if worker_count(options):
            _driver_memory()
        # As Beam's DirectRunner does: the workers get the pipeline's options.
        self._provision_info = ExtendedProvisionInfo(
            beam_provision_api_pb2.ProvisionInfo(
                pipeline_options=JobServiceHandle.encode_pipeline_options(options.get_all_options())
            )
        )
        return super().run_pipeline(pipeline, options)

    def run_via_runner_api(self, pipeline_proto, options):
        from apache_beam.portability import python_urns

        beams = (_BEAM_WORKER % sys.executable).encode()
        for environment in pipeline_proto.components.environments.values():
            if environment.urn == python_urns.SUBPROCESS_SDK and environment.payload == beams:
                environment.payload = worker_command().encode()
        watch = _WorkerWatch() if worker_count(options) else None
        guard = _StopWorkersOnInterrupt(watch)
        try:
            with guard:
                return super().run_via_runner_api(pipeline_proto, options)
        except Exception as exc:
            if watch is not None and watch.lost is not None and not guard.fired:
                raise WorkerLost(watch.lost) from exc
            raise
