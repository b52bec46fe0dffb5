"""A stream in ``<prefix>-runs``: ``newsbeam status`` listed no stream at all (its cycles were
recorded nowhere), so an operator could not tell whether a stream ran, how many cycles it did,
whether the last one failed, or whether it had been killed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from newsbeam.pipeline.cli import main
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.stream import StopSignal, run_stream
from tests.stream.live_site import LiveSite
from tests.stream.test_stream import _settings

pytestmark = [pytest.mark.es]


def _runs(es_client, prefix):
    es_client.indices.refresh(index=f"{prefix}-runs")
    hits = es_client.search(index=f"{prefix}-runs", size=100)["hits"]["hits"]
    return [hit["_source"] for hit in hits]


def _status(es_settings, capsys) -> str:
    assert main(["status", "--es-url", es_settings.url, "--index-prefix", es_settings.index_prefix]) == 0
    return " ".join(capsys.readouterr().out.split())


def test_a_stream_is_one_record_updated_after_each_cycle(es_settings, es_client, tmp_path, capsys):
    prefix = es_settings.index_prefix
    seen = []
    with LiveSite() as site:
        site.add(2)
        settings = _settings(site, es_settings, tmp_path)
        stop = StopSignal(timeout=60)

        def on_cycle(report):
            seen.append(_runs(es_client, prefix))
            if report.number == 1:
                site.add(1)
            else:
                stop.request()

        assert run_stream(settings, beam_options([]), stop=stop, on_cycle=on_cycle) == 2
    # while it ran: one record, "running", with the cycles so far and their figures summed
    first = seen[0]
    assert [(r["command"], r["status"]) for r in first] == [("stream", "running")]
    assert first[0]["cycles"]["run"] == 1 and first[0]["cycles"]["failed"] == 0
    assert first[0]["documents"]["indexed"] == 2
    assert first[0]["counts"][es_settings.articles_alias] == 2
    assert seen[1][0]["cycles"]["run"] == 2 and seen[1][0]["documents"]["indexed"] == 3
    # after the stop: still one record (same id), "ok", with every cycle
    final = _runs(es_client, prefix)
    assert len(final) == 1 and final[0]["status"] == "ok", final
    assert final[0]["started"] == first[0]["started"] and final[0]["cycles"]["run"] == 2
    assert final[0]["entries"]["new"] == 3 and final[0]["documents"]["indexed"] == 3
    shown = _status(es_settings, capsys)
    assert "stream" in shown and "(running)" not in shown and "(GONE)" not in shown, shown


def test_status_says_when_a_running_streams_process_is_gone(es_settings, es_client, capsys):
    """A stream killed with ``kill -9`` (or the second signal, or the OOM killer) cannot record
    its end: its record stays ``running``, and status says its process is gone."""
    import socket

    from newsbeam.config.settings import load_settings
    from newsbeam.connectors.es import setup_indices
    from newsbeam.pipeline.report import record_run
    from newsbeam.pipeline.stream import StreamRecord

    settings = load_settings(overrides={"elasticsearch": es_settings.model_dump()})
    setup_indices(es_client, es_settings.index_prefix)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid of this host that no longer exists
    document = StreamRecord(settings, 1_780_000_000.0).document("running", 1_780_000_060.0)
    record_run(es_client, es_settings.runs_alias, {**document, "pid": dead.pid})
    shown = _status(es_settings, capsys)
    assert "(GONE)" in shown, shown
    assert f"stream (pid {dead.pid} on {socket.gethostname()}): 0 cycles" in shown, shown
    assert "its process is gone" in shown, shown
