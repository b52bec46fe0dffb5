"""Ctrl-C in a terminal during a default ``newsbeam run`` (one worker process
per core): SIGINT reaches the whole foreground process group, workers
included.  The run says ``interrupted`` and exits 130, nothing prints a
traceback, no process of the run survives it, and the next run indexes every
article exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from newsbeam.pipeline.cli import main
from tests.stream.live_site import LiveSite

pytestmark = [pytest.mark.es, pytest.mark.slow, pytest.mark.default_runner]


def _wait_for(predicate, timeout, what, proc):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended ({proc.returncode}) before {what}: {proc.communicate()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _session(sid: int) -> list[psutil.Process]:
    alive = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == sid:
                alive.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return alive


def _workers(proc, recursive: bool = True) -> list[psutil.Process]:
    """The pipeline's worker processes (Beam's or newsbeam's worker module) under ``proc``."""
    try:
        children = psutil.Process(proc.pid).children(recursive=recursive)
    except psutil.Error:
        return []
    return [p for p in children if ".worker" in " ".join(p.cmdline())]


def _ctrl_c_when(ready, what, proc, term: bool = False) -> tuple[str, str]:
    """Wait for ``ready()``, then send SIGINT to ``proc``'s whole process group
    as a terminal's Ctrl-C does (``term``: SIGTERM to ``proc`` alone, as ``kill``
    or a scheduler does); its (stdout, stderr).  Killed if it hangs."""
    try:
        _wait_for(ready, 120, what, proc)
        if term:
            os.kill(proc.pid, signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        return proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _assert_interrupted_cleanly(proc, out: str, err: str, term: bool = False) -> None:
    """``interrupted``, exit 130 (SIGTERM: ``terminated``, 143), no traceback, and no process of
    its session left."""
    assert proc.returncode == (143 if term else 130), out + err
    assert ("newsbeam: terminated" if term else "newsbeam: interrupted") in err
    assert "Traceback" not in out + err, err
    assert "KeyboardInterrupt" not in out + err, err
    deadline = time.monotonic() + 10
    while _session(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _session(proc.pid) == [], "processes of the interrupted command survived it"


def _urls(es_client, alias) -> list[str]:
    es_client.indices.refresh(index=alias)
    hits = es_client.search(index=alias, query={"match_all": {}}, size=100)["hits"]["hits"]
    return [hit["_source"]["url"] for hit in hits]


@pytest.mark.parametrize("term", [False, True], ids=["ctrl_c", "sigterm"])
def test_ctrl_c_mid_run_stops_every_process_cleanly_and_loses_nothing(
    es_settings, es_client, tmp_path, monkeypatch, term
):
    with LiveSite(page_delay=0.8) as site:
        urls = site.add(3)
        # the first wave is written before the interrupt
        config = site.write_config(tmp_path, run={"wave_size": 2})
        argv = [sys.executable, "-m", "newsbeam", "run", "--config", str(config), "--es-url", es_settings.url,
                "--index-prefix", es_settings.index_prefix, "--allow-private-hosts", "--quiet"]  # fmt: skip
        env = {**os.environ, "NEWSBEAM_STATE_DIR": str(tmp_path / "state")}
        proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        articles = es_settings.articles_alias
        workers = []

        def second_wave_in_flight():
            if len(site.served) < 3:
                return False
            workers.extend(_workers(proc, recursive=False))
            return True

        out, err = _ctrl_c_when(second_wave_in_flight, "the second wave's pages", proc, term)
        assert workers, "the run started no worker process"
        # the first wave was written, the second (its page in flight) was not
        assert len(_urls(es_client, articles)) == 2, "make page_delay longer"
        _assert_interrupted_cleanly(proc, out, err, term)

        monkeypatch.setenv("NEWSBEAM_STATE_DIR", env["NEWSBEAM_STATE_DIR"])
        assert main([*argv[3:], "--direct_running_mode=in_memory"]) == 0  # the next run, in this process
    indexed = _urls(es_client, es_settings.articles_alias)
    assert sorted(indexed) == sorted(urls)  # every article, once
    es_client.indices.refresh(index=es_settings.failures_alias)
    assert es_client.count(index=es_settings.failures_alias)["count"] == 0


def test_ctrl_c_during_demo_stops_it_cleanly_and_the_next_demo_completes(
    es_settings, es_client, tmp_path, monkeypatch
):
    """The demo against the test cluster (``ES_URL``), interrupted as soon as its
    pipeline's worker processes exist; run again, it indexes its site once."""
    env = {**os.environ, "NEWSBEAM_STATE_DIR": str(tmp_path / "state"), "ES_URL": es_settings.url}
    argv = [sys.executable, "-m", "newsbeam", "demo", "--index-prefix", es_settings.index_prefix]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    out, err = _ctrl_c_when(lambda: bool(_workers(proc)), "the demo's worker processes", proc)
    _assert_interrupted_cleanly(proc, out, err)

    monkeypatch.setenv("NEWSBEAM_STATE_DIR", env["NEWSBEAM_STATE_DIR"])
    monkeypatch.setenv("ES_URL", es_settings.url)
    assert main([*argv[3:], "--direct_running_mode=in_memory"]) == 0
    indexed = _urls(es_client, es_settings.articles_alias)
    assert indexed and len(indexed) == len(set(indexed))
    # the completed demo is listed by newsbeam status with the runs (it was not), and so is the
    # interrupted one, as stopped by SIGINT (recorded as running once it held the lease)
    runs = es_client.search(index=f"{es_settings.index_prefix}-runs", size=10)["hits"]["hits"]
    shown = sorted(
        (hit["_source"]["command"], hit["_source"]["status"], hit["_source"].get("signal")) for hit in runs
    )
    assert shown == [("demo", "failed", "SIGINT"), ("demo", "ok", None)], shown


def test_a_worker_killed_mid_run_is_one_message_and_the_next_run_resumes(
    es_settings, es_client, tmp_path, monkeypatch
):
    """A worker process killed from outside (the OOM killer, ``kill -9``): the run printed a page of
    gRPC tracebacks from Beam's threads and 'unexpected error: RuntimeError: Channel closed
    prematurely', with no summary. Now: one message naming the worker, exit 1, --summary-json with
    status failed, the first wave kept, and the next run indexes the rest once."""
    import json

    with LiveSite(page_delay=0.8) as site:
        urls = site.add(3)
        config = site.write_config(tmp_path, run={"wave_size": 2})
        summary = tmp_path / "summary.json"
        argv = [sys.executable, "-m", "newsbeam", "run", "--config", str(config), "--es-url", es_settings.url,
                "--index-prefix", es_settings.index_prefix, "--allow-private-hosts", "--quiet",
                "--summary-json", str(summary)]  # fmt: skip
        env = {**os.environ, "NEWSBEAM_STATE_DIR": str(tmp_path / "state")}
        proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            _wait_for(lambda: len(site.served) >= 3, 120, "the second wave's pages", proc)
            killed = [
                w.pid for w in _workers(proc, recursive=False) if "newsbeam.pipeline.worker" in w.cmdline()
            ]
            assert killed, "the run started no worker process"
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert proc.returncode == 1, out + err
        assert "ended while the pipeline ran" in err and "the run stopped in wave 2" in err
        assert any(f"(pid {pid})" in err for pid in killed), err
        assert "Traceback" not in out + err and "Channel closed" not in err, err
        assert json.loads(summary.read_text())["status"] == "failed"
        assert len(_urls(es_client, es_settings.articles_alias)) == 2  # the first wave stays

        monkeypatch.setenv("NEWSBEAM_STATE_DIR", env["NEWSBEAM_STATE_DIR"])
        assert main([*argv[3:-2], "--direct_running_mode=in_memory"]) == 0  # the next run resumes
    indexed = _urls(es_client, es_settings.articles_alias)
    assert sorted(indexed) == sorted(urls)  # every article, once
