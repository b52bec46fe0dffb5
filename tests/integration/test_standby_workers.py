"""Standby workers (pipeline/local_runner.py ``prestart``, pipeline/worker.py):
the worker processes of a multi-process LocalRunner pipeline start before the
pipeline does, and the runner's workers hand their job to them."""

from __future__ import annotations

import json
import os

import apache_beam as beam
import pytest

from newsbeam.pipeline import local_runner
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.worker import STANDBY_ENV

pytestmark = pytest.mark.default_runner


def _who(_):
    return os.getpid(), os.environ.get("NEWSBEAM_TEST_MARK")


def _ran_in(options, out, elements: int) -> list[tuple[int, str | None]]:
    """(pid, NEWSBEAM_TEST_MARK) of the process that ran each element of a Map."""
    with beam.Pipeline(options=options) as p:
        rows = p | beam.Create(range(elements)) | beam.Reshuffle() | beam.Map(_who) | beam.combiners.ToList()
        rows | beam.Map(lambda r, path: out.write_text(json.dumps(r)), path=out)
    return [tuple(row) for row in json.loads(out.read_text())]


def _worker_pids(options, out, monkeypatch, marker: str) -> tuple[set, set]:
    """(pids of the standbys started, pids of the processes that ran the Map)."""
    count = local_runner.prestart(options)
    assert count == 2
    standby = {proc.pid for proc in local_runner._STANDBY.procs}
    monkeypatch.setenv("NEWSBEAM_TEST_MARK", marker)  # set after prestart: must reach the workers
    rows = _ran_in(options, out, 40)
    assert {mark for _, mark in rows} == {marker}
    return standby, {pid for pid, _ in rows}


@pytest.fixture
def options():
    yield beam_options(["--direct_num_workers=2"], batch=True)
    local_runner.close_standby()


def test_the_pipeline_runs_in_the_standby_workers_with_the_runners_environment(
    options, tmp_path, monkeypatch
):
    out = tmp_path / "who.json"
    standby, ran_in = _worker_pids(options, out, monkeypatch, "first")
    assert ran_in and ran_in <= standby, (ran_in, standby)
    assert os.getpid() not in ran_in
    # the next pipeline (a run's next wave) gets new standbys (the first ones may still be exiting)
    again, ran_again = _worker_pids(options, out, monkeypatch, "second")
    assert ran_again <= again and not (ran_again & standby)


def test_without_standbys_the_workers_start_as_before(options, tmp_path, monkeypatch):
    monkeypatch.delenv(STANDBY_ENV, raising=False)
    monkeypatch.setenv("NEWSBEAM_TEST_MARK", "plain")
    rows = _ran_in(options, tmp_path / "who.json", 10)
    assert {mark for _, mark in rows} == {"plain"}
    assert os.getpid() not in {pid for pid, _ in rows}


def test_close_ends_the_standbys_no_pipeline_took(options):
    import psutil

    local_runner.prestart(options)
    procs = list(local_runner._STANDBY.procs)
    directory = local_runner._STANDBY.directory
    assert len(procs) == 2 and os.environ[STANDBY_ENV] == directory
    local_runner.close_standby()
    assert all(not psutil.pid_exists(proc.pid) or proc.poll() is not None for proc in procs)
    assert not os.path.exists(directory) and STANDBY_ENV not in os.environ


def test_as_many_stand_by_as_the_runner_will_start():
    import multiprocessing

    assert local_runner.worker_count(beam_options(["--direct_num_workers=3"], batch=True)) == 3
    # 0 is one per CPU to FnApiRunner
    assert local_runner.worker_count(beam_options(["--direct_num_workers=0"], batch=True)) == (
        multiprocessing.cpu_count()
    )
    assert local_runner.worker_count(beam_options(["--runner=DirectRunner"], batch=True)) == 0


def test_nothing_stands_by_for_a_run_in_this_process():
    options = beam_options(["--direct_running_mode=in_memory"], batch=True)
    assert local_runner.prestart(options) == 0
    assert local_runner._STANDBY.directory is None


def _hold_exit(element):
    """Starts, once per worker process, a thread that would keep the
    interpreter's teardown waiting for ever (a non-daemon thread never ends)."""
    import threading

    if not any(t.name == "newsbeam-test-hold" for t in threading.enumerate()):
        threading.Thread(target=threading.Event().wait, name="newsbeam-test-hold", daemon=False).start()
    return element


def test_the_pipeline_ends_without_waiting_for_its_standbys_teardown(options):
    """The runner closes its workers one after the other and waits for each to
    end: when that waited for a standby's interpreter teardown (about 1 s with
    the NER model loaded; here a thread that never ends), every wave's end
    waited for it.  ``close_standby`` still ends the standbys at the run's end."""
    import threading

    assert local_runner.prestart(options) == 2
    procs = list(local_runner._STANDBY.procs)
    done = threading.Event()

    def run():
        with beam.Pipeline(options=options) as p:
            _ = p | beam.Create(range(20)) | beam.Reshuffle() | beam.Map(_hold_exit)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    finished = done.wait(60)
    if not finished:  # let the pipeline end before failing
        for proc in procs:
            proc.kill()
    assert finished, "the pipeline's end waited for its workers' interpreter teardown"
    local_runner.close_standby()
    assert all(proc.poll() is not None for proc in procs)


def test_folders_of_drivers_killed_before_close_are_swept_by_the_next(options, tmp_path, monkeypatch):
    """``kill -9`` of a run (or the OOM killer) leaves its ``newsbeam-workers-*`` folder in /tmp,
    with its workers' socket and claim files; every such run added one.  The next driver removes
    those whose driver is gone, and leaves a live driver's."""
    import subprocess
    import sys
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    left = tmp_path / f"newsbeam-workers-{gone.pid}-abc123"
    left.mkdir()
    (left / "4242.claimed").touch()
    alive = tmp_path / f"newsbeam-workers-{os.getppid()}-def456"  # a driver that runs
    alive.mkdir()
    local_runner.prestart(options)
    try:
        directory = local_runner._STANDBY.directory
        assert os.path.basename(directory).startswith(f"newsbeam-workers-{os.getpid()}-")
        assert not left.exists() and alive.exists()
    finally:
        local_runner.close_standby()
