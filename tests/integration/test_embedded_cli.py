"""``newsbeam es start|stop|status`` against a real noida-db process."""

import os
import socket

import pytest

from newsbeam.connectors.embedded import EmbeddedServer, free_port
from newsbeam.pipeline.cli import main

pytestmark = pytest.mark.skipif(bool(os.environ.get("ES_URL")), reason="manages the embedded server")


def test_start_status_stop_and_the_whole_process_group_is_gone(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path))
    port = str(free_port())
    assert main(["es", "status", "--port", port]) == 1
    assert "not running" in capsys.readouterr().out
    assert main(["es", "start", "--port", port]) == 0
    assert f"http://127.0.0.1:{port}" in capsys.readouterr().out
    pgid = int((tmp_path / "es.pid").read_text().split()[0])
    assert main(["es", "start", "--port", port]) == 0  # already running: fine
    assert main(["es", "status", "--port", port]) == 0
    assert "answering" in capsys.readouterr().out
    other = str(free_port())
    assert main(["es", "status", "--port", other]) == 1
    assert f"runs on port {port}, not on port {other}" in capsys.readouterr().out
    assert main(["es", "start", "--port", other]) == 1
    assert f"already runs on port {port}" in capsys.readouterr().err
    assert main(["es", "stop", "--port", port]) == 0
    assert "stopped" in capsys.readouterr().out
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)  # the wrapper and the server binary are both gone
    assert not (tmp_path / "es.pid").exists()
    assert main(["es", "stop", "--port", port]) == 0
    assert "was not running" in capsys.readouterr().out


def test_port_taken_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["es", "start", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"port {port} is already in use" in err
    assert "Traceback" not in err


def test_an_unusable_data_dir_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path))
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    code = main(["es", "start", "--port", str(free_port()), "--data-dir", str(blocker / "data")])
    err = capsys.readouterr().err
    assert code == 1
    assert "cannot create the data directory" in err and "not-a-dir" in err
    assert "Traceback" not in err


def test_a_state_dir_that_is_a_file_is_named(tmp_path, monkeypatch, capsys):
    """NEWSBEAM_STATE_DIR naming a file: ``es stop`` was an unexpected NotADirectoryError and
    ``es start`` said 'File exists'."""
    state = tmp_path / "state"
    state.write_text("x")
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(state))
    port = str(free_port())
    assert main(["es", "stop", "--port", port]) == 0
    assert "was not running" in capsys.readouterr().out
    assert main(["es", "start", "--port", port]) == 1
    err = capsys.readouterr().err
    assert f"the state directory {state} is a file, not a directory" in err
    assert "unexpected" not in err


def test_a_binary_that_exits_at_once_is_reported_with_its_log(tmp_path, monkeypatch):
    import newsbeam.connectors.embedded as embedded

    fake = tmp_path / "fake-noida-db"
    fake.write_text("#!/bin/sh\necho 'bind: permission denied' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(embedded, "_find_binary", lambda: str(fake))
    server = EmbeddedServer(port=free_port(), root=tmp_path)
    with pytest.raises(embedded.EmbeddedError) as info:
        server.start(timeout=10)
    assert "did not answer" in str(info.value)
    assert "bind: permission denied" in str(info.value)
    assert not server.running()


def test_stop_ends_the_process_group(tmp_path):
    server = EmbeddedServer(port=free_port(), root=tmp_path)
    server.start(timeout=30)
    pgid = int(server.pid_file.read_text().split()[0])
    assert server.answers()
    assert server.stop(timeout=5)
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    assert not server.answers()


def test_run_starts_the_embedded_server_when_the_url_is_its_default(tmp_path, monkeypatch, capsys):
    """Issue 15 item 7: with the embedded server stopped, ``run`` (as the scheduling recipes call
    it) starts it rather than failing with ``cannot reach Elasticsearch``."""
    from tests.routes import serve_routes

    for key in [k for k in os.environ if k.startswith("ES_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path / "state"))
    port = free_port()
    config = tmp_path / "config.yaml"
    with serve_routes({}) as base:  # the one feed answers 404
        config.write_text(f"embedded:\n  port: {port}\nfeeds:\n  - url: {base}/feed.xml\n")
        server = EmbeddedServer(port=port, root=tmp_path / "state")
        assert not server.answers()
        try:
            code = main(["run", "--config", str(config), "--allow-private-hosts", "--quiet"])
            out, err = capsys.readouterr()
            assert f"starting the embedded Elasticsearch-compatible server on port {port}" in " ".join(
                (out + err).split()
            )
            assert "cannot reach" not in out + err
            assert code == 1, err  # its only feed failed: exit 1, but the run reached the server
            assert server.answers()
            assert "every feed failed (1 of 1)" in " ".join(err.split())
        finally:
            main(["es", "stop", "--config", str(config)])


def test_a_stale_pid_file_naming_another_program_is_not_the_server(tmp_path, monkeypatch, capsys):
    """A pid file outlives a reboot or a killed server; its number may since name another program's
    process group. ``es stop`` signalled that group (killing it) and ``es start`` waited for it to
    answer, then refused; ``es status`` said "running"."""
    import subprocess

    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path))
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        port = free_port()
        (tmp_path / "es.pid").write_text(f"{other.pid}\n{port}\n{tmp_path / 'es-data'}\n")
        server = EmbeddedServer(port=port, root=tmp_path)
        assert not server.running()
        assert server.recorded() is None
        assert main(["es", "status", "--port", str(port)]) == 1
        assert "not running" in capsys.readouterr().out
        assert main(["es", "stop", "--port", str(port)]) == 0
        assert "was not running" in capsys.readouterr().out
        assert other.poll() is None  # the other program was not signalled
        assert not (tmp_path / "es.pid").exists()  # the stale file is gone
    finally:
        other.kill()
        other.wait()


def test_unreachable_default_names_the_port_the_embedded_server_runs_on(tmp_path, monkeypatch, capsys):
    """With this state directory's server on port A and the URL on port B, ``search`` said 'the
    embedded server runs but does not answer; see es.log', a log with nothing wrong in it."""
    for key in [k for k in os.environ if k.startswith("ES_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path))
    used, other = free_port(), free_port()
    monkeypatch.setattr(EmbeddedServer, "recorded", lambda self: (12345, other, str(self.data_dir)))
    config = tmp_path / "config.yaml"
    config.write_text(f"embedded:\n  port: {used}\n")
    assert main(["search", "harbour", "--config", str(config)]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"runs on port {other}, not {used}: give --es-url http://127.0.0.1:{other}" in err
    assert "does not answer; see" not in err


def test_a_relative_state_dir_keeps_the_data_where_it_says(tmp_path, monkeypatch, capsys):
    """With NEWSBEAM_STATE_DIR=state (relative), the server (running in the state directory) wrote
    its data to state/state/es-data while newsbeam reported state/es-data."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", "state")
    port = str(free_port())
    assert main(["es", "start", "--port", port]) == 0
    try:
        assert f"data: {tmp_path / 'state' / 'es-data'}" in capsys.readouterr().out
        assert (tmp_path / "state" / "es-data").is_dir()
        assert not (tmp_path / "state" / "state").exists()
        assert main(["es", "status", "--port", port]) == 0
    finally:
        assert main(["es", "stop", "--port", port]) == 0
    assert "stopped" in capsys.readouterr().out


@pytest.mark.parametrize("how", ["ES_URL", "--es-url"])
def test_run_never_starts_the_embedded_server_for_a_cluster_the_operator_named(
    how, tmp_path, monkeypatch, capsys
):
    """``ES_URL=http://localhost:9200`` (docker compose's Elasticsearch, down or still starting):
    run started the embedded server on that port and wrote the articles into it. README: the
    embedded server is started for its default URL with no ES_URL."""
    for key in [k for k in os.environ if k.startswith("ES_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path / "state"))
    port = free_port()
    url = f"http://localhost:{port}"
    config = tmp_path / "config.yaml"
    config.write_text(f"embedded:\n  port: {port}\nfeeds:\n  - url: http://127.0.0.1:9/feed.xml\n")
    argv = ["run", "--config", str(config), "--quiet"]
    if how == "ES_URL":
        monkeypatch.setenv("ES_URL", url)
    else:
        argv += ["--es-url", url]
    server = EmbeddedServer(port=port, root=tmp_path / "state")
    try:
        assert main(argv) == 1
        err = " ".join(capsys.readouterr().err.split())
        assert f"cannot reach Elasticsearch at {url}" in err
        assert "starting the embedded" not in err and "es start" not in err
        assert not server.running() and not server.answers()
    finally:
        server.stop()


def test_two_starts_at_once_spawn_one_server(tmp_path, monkeypatch):
    """Two ``es start`` at once (two scheduled jobs after a reboot) both found no server and both
    spawned one: one lost the port, and the pid file could name the loser, leaving the winner
    running where ``es stop`` could not reach it."""
    import signal
    import subprocess
    import threading
    import time

    import newsbeam.connectors.embedded as embedded

    spawned, results = [], []
    real_popen, real_in_use = subprocess.Popen, embedded._port_in_use

    def counting_popen(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        spawned.append(proc)
        return proc

    def slow_check(port):  # widens the window between "nothing runs" and the spawn
        time.sleep(0.5)
        return real_in_use(port)

    monkeypatch.setattr(embedded.subprocess, "Popen", counting_popen)
    monkeypatch.setattr(embedded, "_port_in_use", slow_check)
    port = free_port()
    barrier = threading.Barrier(2)

    def start():
        barrier.wait()
        try:
            results.append(EmbeddedServer(port=port, root=tmp_path).start(timeout=30))
        except embedded.EmbeddedError as exc:
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(spawned) == 1, f"{len(spawned)} servers spawned"
        assert results == [f"http://127.0.0.1:{port}"] * 2
    finally:
        EmbeddedServer(port=port, root=tmp_path).stop(timeout=5)
        for proc in spawned:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def test_a_pid_file_the_disk_cannot_take_leaves_no_server_behind(tmp_path, monkeypatch, capsys):
    """A full state directory: the server was spawned, writing its pid file failed, and the start
    ended in 'unexpected error: OSError: [Errno 28]' with the server possibly running where
    ``es stop`` and status could not see it.  It is stopped, and the message names the file."""
    import errno
    from pathlib import Path

    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path))
    port = free_port()
    write_text = Path.write_text
    spawned = []
    real_popen = __import__("subprocess").Popen

    def popen(*args, **kwargs):
        spawned.append(real_popen(*args, **kwargs))
        return spawned[-1]

    def full(self, *args, **kwargs):
        if self.name == "es.pid":
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr("newsbeam.connectors.embedded.subprocess.Popen", popen)
    monkeypatch.setattr(Path, "write_text", full)
    assert main(["es", "start", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"cannot write {tmp_path / 'es.pid'}: No space left on device" in err, err
    assert "unexpected error" not in err, err
    assert len(spawned) == 1 and spawned[0].poll() is not None  # the spawned server was stopped
    with pytest.raises(ProcessLookupError):
        os.killpg(spawned[0].pid, 0)
