"""Progress of ``newsbeam extract`` and ``newsbeam dedup`` when stderr is no terminal: one log
record every ``every`` seconds, none for a short run, none once the work is done."""

import logging

from newsbeam.pipeline.offline import OfflineProgress


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_log_line_every_interval_and_none_for_a_short_run(caplog):
    clock = _Clock()
    caplog.set_level(logging.INFO, logger="newsbeam")
    with OfflineProgress("fingerprinting in.jsonl", 1000, every=30, clock=clock) as progress:
        progress(10)  # at once: nothing
        clock.now += 31
        progress(400)
        clock.now += 5
        progress(500)  # within the interval: nothing
        clock.now += 30
        progress(1000)  # done: the summary line says it
    lines = [r.getMessage() for r in caplog.records if r.name == "newsbeam"]
    assert lines == ["fingerprinting in.jsonl: 400 of 1000"]
