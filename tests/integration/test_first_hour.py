"""A new user's first hour (issue 15 items 6, 7, 8, 11): Ctrl-C, a stopped
embedded server, a foreign server on the demo's port, every feed failing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from newsbeam.connectors.embedded import free_port
from newsbeam.pipeline.cli import main
from tests.routes import serve_routes


class _Recorder:
    """A loopback HTTP server: GET answers ``body`` after ``delay`` seconds; records every request."""

    def __init__(self, body: bytes, delay: float = 0.0, content_type: str = "application/json"):
        self.requests: list[tuple[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def _answer(self):
                recorder.requests.append((self.command, self.path))
                time.sleep(delay)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the interrupted run hung up
                    pass

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ES_", "NEWSBEAM_"))}
    env.update(NEWSBEAM_STATE_DIR=str(tmp_path / "state"), **extra)
    return env


def test_demo_refuses_a_foreign_server_on_its_port(tmp_path, monkeypatch, capsys):
    """Another checkout's server (here: anything answering like Elasticsearch) is not written into."""
    info = json.dumps({"cluster_name": "someone-else", "version": {"number": "8.15.0"}}).encode()
    for key in [k for k in os.environ if k.startswith("ES_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path / "state"))
    with _Recorder(info) as foreign:
        code = main(["demo", "--port", str(foreign.port)])
        writes = [r for r in foreign.requests if r[0] != "GET"]
    err = capsys.readouterr().err
    assert code == 1, err
    assert f"another Elasticsearch server already answers on port {foreign.port}" in " ".join(err.split())
    assert "--port" in err
    assert writes == []


def test_stopped_embedded_server_names_es_start(tmp_path, monkeypatch, capsys):
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(f"embedded:\n  port: {port}\n")
    for key in [k for k in os.environ if k.startswith("ES_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path / "state"))
    assert main(["search", "anything", "--config", str(config)]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "cannot reach Elasticsearch" in err
    assert f"newsbeam es start --port {port}" in err


def test_every_feed_failing_exits_1_with_the_summary(tmp_path, es_url, index_prefix, capsys, monkeypatch):
    with serve_routes({}) as base:  # every path: 404
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(f"feeds:\n  - url: {base}/a.xml\n  - url: {base}/b.xml\n")
        code = main(
            [
                "run",
                "--feeds",
                str(feeds),
                "--es-url",
                es_url,
                "--index-prefix",
                index_prefix,
                "--allow-private-hosts",
                "--summary-json",
                str(tmp_path / "last-run.json"),
            ]
        )
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "feeds failed" in out  # the summary table is printed
    assert "every feed failed (2 of 2)" in " ".join(err.split())
    # a monitor reading the file, or newsbeam status, sees the failure too (it said "ok")
    document = json.loads((tmp_path / "last-run.json").read_text())
    assert document["status"] == "failed" and document["error"] == "every feed failed (2 of 2)"
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["status", "--es-url", es_url, "--index-prefix", index_prefix]) == 0
    assert "run (FAILED)" in " ".join(capsys.readouterr().out.split())


def test_ctrl_c_during_run_exits_130_without_traceback(tmp_path, es_url, index_prefix):
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it."""
    rss = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
    with _Recorder(rss, delay=30, content_type="application/rss+xml") as slow:
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(f"feeds:\n  - url: http://127.0.0.1:{slow.port}/feed.xml\n")
        proc = subprocess.Popen(
            [sys.executable, "-m", "newsbeam", "run", "--feeds", str(feeds), "--es-url", es_url,
             "--index-prefix", index_prefix, "--allow-private-hosts"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_env(tmp_path, **{k: v for k, v in os.environ.items() if k.startswith("ES_")}),
            start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not slow.requests and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.2)
            assert slow.requests, "the run never polled the feed"
            os.killpg(proc.pid, signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert proc.returncode == 130, err
    assert "newsbeam: interrupted" in err
    assert "Traceback" not in err
    assert "unexpected error" not in err


@pytest.mark.parametrize("argv", [["-v", "es", "status"], ["es", "status", "-v"], ["es", "-v", "status"]])
def test_verbose_before_or_after_the_subcommand(argv):
    from newsbeam.pipeline.cli import build_parser

    args = build_parser().parse_args(argv)
    assert args.verbose is True


def test_default_state_directory_belongs_to_the_checkout(monkeypatch):
    """Two checkouts never share server data by default (issue 15 item 8)."""
    from pathlib import Path

    from newsbeam.connectors.embedded import state_dir

    monkeypatch.delenv("NEWSBEAM_STATE_DIR", raising=False)
    assert state_dir() == Path(__file__).resolve().parents[2] / ".state"
