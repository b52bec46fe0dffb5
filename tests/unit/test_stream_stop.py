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
