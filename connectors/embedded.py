"""The embedded Elasticsearch-compatible server (noida-db).

``EmbeddedServer.start`` runs ``noida-db start --only elasticsearch
--elasticsearch-port N --data-dir D`` in a new session (its own process
group), records the group id in a pid file under the state directory and
waits until the server answers HTTP.  ``stop`` signals the whole group
(the ``noida-db`` command is a Python wrapper around the server binary, so
killing only the wrapper would orphan the server), then waits; ``status``
reports whether it runs and answers.

State lives under ``$NEWSBEAM_STATE_DIR``, else ``.state/`` in the source
checkout newsbeam runs from (an editable install: each checkout has its own
server data), else ``$XDG_STATE_HOME/newsbeam``, else
``~/.local/state/newsbeam``: ``es.pid``, ``es.port``, ``es.log``, ``es.lock`` (held while a
start runs) and the data directory ``es-data/``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["EmbeddedError", "EmbeddedServer", "free_port", "state_dir"]


class EmbeddedError(Exception):
    """The embedded server could not be started or stopped."""


def state_dir() -> Path:
    explicit = os.environ.get("NEWSBEAM_STATE_DIR")
    if explicit:
        return Path(explicit)
    checkout = _checkout()
    if checkout is not None:
        return checkout / ".state"
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "newsbeam"


def _checkout() -> Path | None:
    """The source checkout this code runs from (editable install), if any."""
    root = Path(__file__).resolve().parent.parent
    if (root / "setup.py").is_file() and (root / ".git").exists() and (root / "connectors").is_dir():
        return root
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200 and b"cluster_name" in resp.read(4096)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _runs_noida(pgid: int, data_dir: str) -> bool:
    """Whether process group ``pgid`` is a noida-db server (with ``data_dir``, when given).

    A pid file outlives a reboot or a killed server, and its number may since belong to another
    program's process group: without this check ``es stop`` signalled that group and ``es start``
    waited for it to answer.  A process whose command line cannot be read (another user's, with
    /proc hidden) is taken at the pid file's word, as before.
    """
    import psutil

    unreadable = False
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if os.getpgid(proc.pid) != pgid:
                continue
        except OSError:
            continue
        if proc.info.get("status") == psutil.STATUS_ZOMBIE:
            # a killed server not reaped yet (its parent gone, an init that reaps late): its
            # command line reads as None, which took it for "running but not answering"
            continue
        cmdline = proc.info.get("cmdline")
        if cmdline is None:
            unreadable = True
            continue
        if not any(Path(arg).name == "noida-db" for arg in cmdline):
            continue
        if not data_dir or data_dir in cmdline:
            return True
    return unreadable


def _find_binary() -> str:
    candidate = Path(sys.executable).with_name("noida-db")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("noida-db")
    if not found:
        raise EmbeddedError(
            "the noida-db command is not installed (pip install noida-db, or install newsbeam "
            "with its dependencies)"
        )
    return found


@dataclasses.dataclass
class EmbeddedServer:
    port: int = 9200
    data_dir: Path | None = None
    root: Path | None = None  # state directory

    def __post_init__(self):
        # Absolute: the server runs with the state directory as its working directory, so a
        # relative --data-dir (or NEWSBEAM_STATE_DIR) put its data in <state>/<state>/es-data
        # while newsbeam reported and checked <state>/es-data.
        self.root = (Path(self.root) if self.root else state_dir()).absolute()
        self.data_dir = (Path(self.data_dir) if self.data_dir else self.root / "es-data").absolute()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.root / "es.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "es.log"

    def recorded(self) -> tuple[int, int | None, str | None] | None:
        """(pid, port, data dir) of the server this state directory started, if it runs."""
        pid = self._recorded_pid()
        if pid is None:
            return None
        fields = self.pid_file.read_text().split("\n")
        port = int(fields[1]) if len(fields) > 1 and fields[1].strip().isdigit() else None
        data_dir = fields[2].strip() if len(fields) > 2 and fields[2].strip() else None
        return pid, port, data_dir

    def _recorded_pid(self) -> int | None:
        try:
            fields = self.pid_file.read_text().split("\n")
            pid = int(fields[0])
        except (OSError, ValueError, IndexError):
            return None
        if pid <= 1:  # killpg(0) is our own group, killpg(1) init's: no pid file of ours says so
            return None
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        data_dir = fields[2].strip() if len(fields) > 2 else ""
        return pid if _runs_noida(pid, data_dir) else None

    def running(self) -> bool:
        return self._recorded_pid() is not None

    def answers(self) -> bool:
        return _answers(self.url)

    def start(self, timeout: float = 60.0) -> str:
        """Start the server unless ours already runs; return its URL.

        Two starts at once (two scheduled jobs after a reboot) are one: the second waits on
        ``<state>/es.lock`` for the first, then finds its server.  Without the lock both spawned a
        server, one lost the port (its start failed after ``timeout``), and the pid file could name
        the loser, leaving the winner running where ``es stop`` could not reach it."""
        with self._start_lock():
            return self._start(timeout)

    @contextlib.contextmanager
    def _start_lock(self):
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            yield
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle = open(self.root / "es.lock", "a")
        except OSError:  # an unusable state directory: _start names it
            yield
            return
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _start(self, timeout: float) -> str:
        recorded = self.recorded()
        if recorded is not None:
            pid, port, data_dir = recorded
            if port is not None and port != self.port:
                raise EmbeddedError(
                    f"the embedded server already runs on port {port} (data: {data_dir}); "
                    f"stop it first (newsbeam es stop) to start one on port {self.port}"
                )
            if data_dir and Path(data_dir).absolute() != self.data_dir:
                raise EmbeddedError(
                    f"the embedded server already runs with data directory {data_dir}; "
                    f"stop it first (newsbeam es stop) to use {self.data_dir}"
                )
            if self._wait_until_up(timeout, pid):
                return self.url
            raise EmbeddedError(f"embedded server (pid {pid}) runs but does not answer at {self.url}")
        if _port_in_use(self.port):
            raise EmbeddedError(
                f"port {self.port} is already in use by another program; choose another with "
                f"--port or embedded.port"
            )
        for folder, what in ((self.root, "state directory"), (self.data_dir, "data directory")):
            if folder.exists() and not folder.is_dir():
                raise EmbeddedError(f"the {what} {folder} is a file, not a directory")
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise EmbeddedError(f"cannot create the {what} {folder}: {exc.strerror}") from None
        command = [
            _find_binary(), "start", "--only", "elasticsearch",
            "--elasticsearch-port", str(self.port), "--data-dir", str(self.data_dir),
        ]  # fmt: skip
        log = open(self.log_file, "ab")
        try:
            proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=str(self.root),
            )  # fmt: skip
        except OSError as exc:
            raise EmbeddedError(f"cannot run {command[0]}: {exc.strerror}") from None
        finally:
            log.close()
        try:
            self.pid_file.write_text(f"{proc.pid}\n{self.port}\n{self.data_dir}\n")
        except OSError as exc:
            # Without its pid file the server would run where `es stop` and status cannot see it.
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            with contextlib.suppress(OSError):
                self.pid_file.unlink()
            raise EmbeddedError(
                f"cannot write {self.pid_file}: {exc.strerror}; the embedded server was not started "
                f"(free space in the state directory {self.root}, or set NEWSBEAM_STATE_DIR)"
            ) from None
        if not self._wait_until_up(timeout, proc.pid, proc):
            self.stop()
            tail = self._log_tail()
            raise EmbeddedError(
                f"the embedded server did not answer at {self.url} within {timeout:.0f}s"
                + (f"; its log ends with:\n{tail}" if tail else "")
            )
        return self.url

    def _wait_until_up(self, timeout: float, pid: int, proc: subprocess.Popen | None = None) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                return False
            if _answers(self.url, timeout=1.0):
                return True
            time.sleep(0.2)
        return False

    def _log_tail(self, lines: int = 10) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        useful = [line for line in text if "GLIBC" not in line]
        return "\n".join(useful[-lines:])

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop the whole process group; True if something was running."""
        pid = self._recorded_pid()
        if pid is None:
            try:
                self.pid_file.unlink(missing_ok=True)
            except OSError:  # a state directory that is a file holds no pid file
                pass
            return False
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            except PermissionError:
                raise EmbeddedError(
                    f"the embedded server (process group {pid}) belongs to another user: stop it as that user"
                ) from None
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                try:
                    os.killpg(pid, 0)
                except ProcessLookupError:
                    break
                try:  # reap our own child if we started it in this process
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
                time.sleep(0.1)
            else:
                continue
            break
        self.pid_file.unlink(missing_ok=True)
        return True
