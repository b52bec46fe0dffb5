"""``StopSignal``'s watchdog: after a stop signal, a cluster that does not answer ends the stream
at once instead of after the whole ``stream.stop_timeout``; one that answers lets the cycle in
flight finish."""

from __future__ import annotations

import signal
import threading
import time

from newsbeam.pipeline.stream import StopSignal


def _stop(probe):
    exited: list[int] = []
    done = threading.Event()

    def exit_now(code: int) -> None:
        exited.append(code)
        done.set()

    stop = StopSignal(timeout=60, exit_now=exit_now, grace=0.3, every=0.05)
    stop.watch(probe, "http://es.example:9200")
    return stop, exited, done


def test_a_cluster_that_does_not_answer_after_the_signal_stops_the_stream_at_once(caplog):
    stop, exited, done = _stop(lambda: "ConnectionTimeout")
    stop._handle(signal.SIGTERM, None)
    assert stop.requested
    assert done.wait(5), "the watchdog did not stop the stream"
    stop.uninstall()
    assert exited == [128 + signal.SIGTERM]
    assert "Elasticsearch at http://es.example:9200 has not answered for" in caplog.text
    assert "(ConnectionTimeout)" in caplog.text


def test_a_cluster_that_answers_lets_the_cycle_finish():
    answers = {"now": None}
    stop, exited, done = _stop(lambda: answers["now"])
    stop._handle(signal.SIGINT, None)
    assert not done.wait(0.8)  # answering: the cycle in flight goes on
    answers["now"] = "HTTP 503"  # ... until the cluster fails for the grace period
    assert done.wait(5)
    assert exited == [128 + signal.SIGINT]
    stop.uninstall()


def test_no_watchdog_once_the_stream_ended():
    stop, exited, done = _stop(lambda: "ConnectionError")
    stop._handle(signal.SIGTERM, None)
    stop.uninstall()  # the stream ended by itself in time
    time.sleep(0.6)
    assert exited == []


def test_a_stream_stopped_at_once_keeps_its_end_for_status_and_the_next_writer(tmp_path, monkeypatch):
    """The watchdog's exit (the cluster not answering after the signal) left the stream's record
    ``running`` for good, shown as GONE as if it had been killed.  Before that exit the stream now
    keeps its end (``failed``, with the signal) in the state directory, where status finds it."""
    import json

    from newsbeam.config.settings import load_settings
    from newsbeam.pipeline.report import unrecorded_runs
    from newsbeam.pipeline.stream import StreamRecord

    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path))
    settings = load_settings(overrides={"elasticsearch": {"url": "http://es.example:9200"}})
    record = StreamRecord(settings, 1_780_000_000.0)
    stop, exited, done = _stop(lambda: "ConnectionTimeout")
    stop.before_exit = lambda signum: record.keep(signum, 1_780_000_090.0)
    stop._handle(signal.SIGTERM, None)
    assert done.wait(5), "the watchdog did not stop the stream"
    stop.uninstall()
    assert exited == [128 + signal.SIGTERM]
    ((path, document),) = unrecorded_runs(settings).values()
    assert (document["command"], document["status"], document["signal"]) == ("stream", "failed", "SIGTERM")
    assert "stopped at once by SIGTERM" in document["error"]
    assert json.loads(path.read_text())["document"]["unrecorded"]["why"]


def test_once_the_cycle_is_over_closing_the_stream_is_not_cut_short():
    """The watchdog and the stop timeout watch the cycle in flight.  They ran on while the stream
    wrote its end (retried for up to 10 s while the cluster is down) and released its lease, so a
    cluster down since before the cycle ended made a clean stop exit 143 with its end kept as
    "stopped at once".  After ``settle`` neither fires; a second signal still does."""
    stop, exited, done = _stop(lambda: "ConnectionError")
    stop._handle(signal.SIGTERM, None)
    stop.settle()  # the cycle ended: run_stream now closes the record
    assert not done.wait(0.8)
    assert exited == []
    stop._handle(signal.SIGTERM, None)  # the operator insists
    assert exited == [128 + signal.SIGTERM]
    stop.uninstall()


def test_the_stop_timeout_does_not_fire_after_the_cycle_is_over():
    exited: list[int] = []
    stop = StopSignal(timeout=0.3, exit_now=exited.append, grace=60, every=0.05)
    stop._handle(signal.SIGINT, None)
    stop.settle()
    time.sleep(0.6)
    assert exited == []
    stop.uninstall()
