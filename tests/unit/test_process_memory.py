"""What newsbeam's processes cost in memory (issue 9, N = 2000): the worker
that handed its job to a standby waits as a shell, not as a Python
interpreter; sandbox children start without a multiprocessing resource
tracker and without Beam; the driver and the workers cap glibc's malloc
arenas; the driver of a multi-process run and the sandbox children give
large blocks their own mappings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest

from newsbeam.pipeline import worker
from newsbeam.transforms.extraction import ExtractionSandbox

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc")


# -- the handoff process ----------------------------------------------------------------------


class _FakeStandby:
    """A standby's socket in ``directory``: takes the claimer's environment, then
    answers with ``status`` (None: closes without one) when told to."""

    def __init__(self, directory):
        self.path = os.path.join(str(directory), "4242.sock")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(1)
        self.env = b""
        self.conn = None
        self.got_env = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.conn, _ = self.server.accept()
        while not self.env.endswith(b"\n"):
            self.env += self.conn.recv(65536)
        self.got_env.set()

    def end(self, status: int | None):
        if status is not None:
            self.conn.sendall(f"{status}\n".encode())
        self.conn.close()
        self.server.close()


def _start_claimer(directory) -> subprocess.Popen:
    env = dict(os.environ, **{worker.STANDBY_ENV: str(directory), "NEWSBEAM_TEST_MARK": "handed"})
    return subprocess.Popen([sys.executable, "-m", "newsbeam.pipeline.worker"], env=env)


@pytest.mark.parametrize(("status", "code"), [(0, 0), (7, 7), (None, 1)])
def test_a_worker_that_handed_its_job_over_waits_as_a_small_shell(tmp_path, status, code):
    standby = _FakeStandby(tmp_path)
    claimer = _start_claimer(tmp_path)
    try:
        assert standby.got_env.wait(60)
        assert b'"NEWSBEAM_TEST_MARK": "handed"' in standby.env
        process = psutil.Process(claimer.pid)
        deadline = time.monotonic() + 10
        while worker.HANDOFF_NAME not in process.cmdline() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process.cmdline()[:2] == ["sh", "-c"] and worker.HANDOFF_NAME in process.cmdline()
        assert process.memory_info().rss < 6_000_000  # a Python interpreter: about 14 MB
        standby.end(status)
        assert claimer.wait(30) == code
    finally:
        if claimer.poll() is None:
            claimer.kill()
            claimer.wait()


def test_the_standby_sees_the_claimer_go_when_the_runner_kills_it(tmp_path):
    standby = _FakeStandby(tmp_path)
    claimer = _start_claimer(tmp_path)
    assert standby.got_env.wait(60)
    deadline = time.monotonic() + 10
    while worker.HANDOFF_NAME not in psutil.Process(claimer.pid).cmdline() and time.monotonic() < deadline:
        time.sleep(0.02)
    claimer.kill()  # what Beam's runner does to a worker process at the end
    claimer.wait(30)
    standby.conn.settimeout(10)
    assert standby.conn.recv(64) == b""  # the standby's watch thread ends the standby on this
    standby.end(None)


# -- sandbox children -------------------------------------------------------------------------


def _child_report(_content, _job):
    import os
    import sys

    return os.getppid(), "apache_beam" in sys.modules, "multiprocessing.resource_tracker" in sys.modules


def test_a_sandbox_child_costs_no_resource_tracker_and_no_beam():
    import apache_beam  # noqa: F401  (a worker has it; its child must not import it)

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with ExtractionSandbox(_child_report) as sandbox:
        parent, beam, tracker = sandbox.extract_with_limit(b"", None, 60)
        started = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
        commands = [" ".join(p.cmdline()) for p in started]
    assert parent == os.getpid()
    assert (beam, tracker) == (False, False)
    assert len(started) == 1, commands  # the child alone: no resource tracker beside it
    assert "newsbeam.transforms.sandbox_child" in commands[0]


def test_the_spawn_fallback_serves_calls_with_the_same_loop():
    """Where the lean child cannot start (not POSIX) the sandbox spawns its child with
    ``multiprocessing``; that child answers calls with sandbox_child's loop too."""
    with ExtractionSandbox(_child_report, start_method="spawn") as sandbox:
        assert sandbox.extract_with_limit(b"", None, 60)[0] == os.getpid()
        assert sandbox.extract_with_limit(b"", None, 60)[0] == os.getpid()  # one child, many calls


def _sleep_then_answer(content, _job):
    time.sleep(float(content))
    return "done"


def test_an_orphaned_sandbox_child_ends_with_its_parent():
    script = textwrap.dedent(
        """
        import os, sys
        sys.path[:0] = {path!r}
        from newsbeam.transforms.extraction import ExtractionSandbox
        from tests.unit.test_process_memory import _sleep_then_answer
        box = ExtractionSandbox(_sleep_then_answer)
        box.extract_with_limit(b"0", None, 60)
        print(box._proc.pid, flush=True)
        box._conn.send((b"600", None))  # a page that would keep the child busy for 10 minutes
        os._exit(0)  # the worker dies without closing its sandbox
        """
    ).format(path=sys.path)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    child = int(out.stdout.split()[0])
    deadline = time.monotonic() + 15
    while psutil.pid_exists(child) and time.monotonic() < deadline:
        try:
            if psutil.Process(child).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    alive = psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE
    assert not alive


# -- malloc arenas ----------------------------------------------------------------------------

_ARENAS = textwrap.dedent(
    """
    import ctypes, sys, threading
    from newsbeam.pipeline.memory import limit_malloc_arenas
    if sys.argv[1] == "limit":
        assert limit_malloc_arenas()
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = (ctypes.c_void_p,)
    start = threading.Barrier(12)

    def churn():  # ctypes calls release the GIL: the threads allocate at the same time
        start.wait()
        for _ in range(20000):
            libc.free(libc.malloc(1000))

    threads = [threading.Thread(target=churn) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    libc.malloc_stats()  # one "Arena N:" block per arena, on stderr
    """
)


def _probe(script: str, mode: str, unset: str) -> subprocess.CompletedProcess:
    """Run ``script`` with ``mode`` in a fresh interpreter that finds this test module,
    without the glibc setting ``unset`` in its environment (it would win over mallopt)."""
    env = {k: v for k, v in os.environ.items() if k != unset}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    return subprocess.run(
        [sys.executable, "-c", script, mode], capture_output=True, text=True, timeout=120, env=env, check=True
    )


def _arenas(mode: str) -> int:
    return _probe(_ARENAS, mode, "MALLOC_ARENA_MAX").stderr.count("Arena ")


@linux_only
def test_limit_malloc_arenas_caps_the_arenas_of_threads_that_allocate_at_once():
    assert _arenas("limit") <= 2
    assert _arenas("default") > 2  # the test can tell: without the cap, threads get arenas of their own


def test_the_command_and_the_workers_cap_the_arenas_before_anything_else(monkeypatch):
    from newsbeam.pipeline import cli

    calls = []
    monkeypatch.setattr("newsbeam.pipeline.memory.limit_malloc_arenas", lambda: calls.append("cli"))
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert calls == ["cli"]
    monkeypatch.setattr(worker, "limit_malloc_arenas", lambda: calls.append("worker"))
    monkeypatch.setattr(worker, "_die_with_driver", lambda pid: None)
    monkeypatch.setattr(worker, "_log_to_driver_only", lambda: None)
    monkeypatch.setattr(worker, "_run_sdk_worker", lambda: calls.append("sdk worker"))
    monkeypatch.delenv(worker.STANDBY_ENV, raising=False)
    previous = worker.signal.getsignal(worker.signal.SIGINT)
    try:
        worker.main([])
    finally:
        worker.signal.signal(worker.signal.SIGINT, previous)
    assert calls == ["cli", "worker", "sdk worker"]


# -- large blocks -----------------------------------------------------------------------------


def _large_block_mapped(_content=None, _job=None) -> bool:
    """After a 4 MB block was freed (glibc's default mmap threshold then rises to
    4 MB), is a new 1 MB block a mapping of its own?"""
    import ctypes

    class _Mallinfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                         "fordblks", "keepcost")
        ]  # fmt: skip

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = _Mallinfo2
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    libc.free(libc.malloc(4 << 20))
    before = libc.mallinfo2().hblks
    block = libc.malloc(1 << 20)
    mapped = libc.mallinfo2().hblks > before
    libc.free(block)
    return mapped


_MAPPED = textwrap.dedent(
    """
    import sys
    from newsbeam.pipeline.memory import map_large_blocks
    from tests.unit.test_process_memory import _large_block_mapped
    if sys.argv[1] == "map":
        assert map_large_blocks()
    print(_large_block_mapped())
    """
)


def _mapped(mode: str) -> bool:
    return _probe(_MAPPED, mode, "MALLOC_MMAP_THRESHOLD_").stdout.strip() == "True"


@linux_only
def test_map_large_blocks_keeps_large_blocks_out_of_the_arenas():
    assert _mapped("map")
    assert not _mapped("default")  # the test can tell: glibc's threshold rose past 1 MB


@linux_only
def test_sandbox_children_map_their_large_blocks():
    with ExtractionSandbox(_large_block_mapped) as sandbox:
        assert sandbox.extract_with_limit(b"", None, 60) is True


def test_the_driver_of_a_multi_process_run_maps_its_large_blocks(monkeypatch):
    from newsbeam.pipeline import local_runner
    from newsbeam.pipeline.options import beam_options

    calls = []
    monkeypatch.setattr("newsbeam.pipeline.memory.map_large_blocks", lambda: calls.append("mapped"))
    monkeypatch.setattr(local_runner._STANDBY, "start", lambda count: None)
    local_runner.prestart(beam_options(["--direct_running_mode=in_memory"], batch=True))
    assert calls == []  # a run in this process tags entities here: its NER arrays stay in the arenas
    local_runner.prestart(
        beam_options(["--direct_running_mode=multi_processing", "--direct_num_workers=2"], batch=True)
    )
    assert calls == ["mapped"]


# -- the standby's socket ---------------------------------------------------------------------


def test_a_standby_publishes_its_socket_only_once_it_listens(tmp_path, monkeypatch):
    """A claimer renames any ``*.sock`` it sees and connects: one seen between bind and
    listen was refused, and the standby was lost (the flaky cold start of
    test_standby_workers)."""
    listed_at_listen = []

    class _Recording(socket.socket):
        def listen(self, *args):
            listed_at_listen.append(sorted(os.listdir(tmp_path)))
            return super().listen(*args)

    monkeypatch.setattr(worker.socket, "socket", _Recording)
    monkeypatch.setattr(worker, "_log_to_driver_only", lambda: None)
    result = {}
    thread = threading.Thread(target=lambda: result.update(code=worker._standby(str(tmp_path))), daemon=True)
    thread.start()
    published = tmp_path / f"{os.getpid()}.sock"
    deadline = time.monotonic() + 60
    while not published.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(str(published))  # refused if published before listen
    conn.close()  # a claimer gone before sending its environment: the standby returns 0
    thread.join(30)
    assert result == {"code": 0}
    assert len(listed_at_listen) == 1
    assert not [name for name in listed_at_listen[0] if name.endswith(".sock")]


def test_a_claimer_does_not_wait_for_a_standby_already_taken(tmp_path):
    """The driver marks a standby ``.starting`` after spawning it; when that write comes
    after the standby started and was claimed, the marker is stale: the claimer starts
    its worker itself at once instead of waiting ``CLAIM_WAIT_S`` for it."""
    pid = os.getpid()  # a live pid: a standby running another worker's job
    (tmp_path / f"{pid}.starting").touch()
    (tmp_path / f"{pid}.claimed").touch()
    started = time.monotonic()
    assert worker._claim(str(tmp_path)) is None
    assert time.monotonic() - started < worker.CLAIM_WAIT_S / 2
