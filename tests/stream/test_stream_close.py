"""A stream stopped while Elasticsearch does not answer: its end was one brief try, so the
record stayed ``running`` for good and ``newsbeam status`` showed it as GONE, as if the stream
had been killed, though it stopped cleanly (exit 0).  The end is now tried for a few seconds,
then kept in the state directory: status shows it from there, and the next writer records it."""

from __future__ import annotations

import pytest

from newsbeam.pipeline import stream as stream_module
from newsbeam.pipeline.cli import main
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.stream import StopSignal, run_stream
from tests.faults.proxy import FaultProxy, Outage
from tests.stream.live_site import LiveSite
from tests.stream.test_stream import _settings

pytestmark = [pytest.mark.es]


def _runs(es_client, prefix):
    es_client.indices.refresh(index=f"{prefix}-runs")
    hits = es_client.search(index=f"{prefix}-runs", size=100)["hits"]["hits"]
    return [hit["_source"] for hit in hits]


def _stream_through(proxy, site, es_settings, tmp_path, heal_after: float | None = None):
    """One cycle through ``proxy``, then a cluster answering 503 to everything, and the stop
    signal; ``heal_after``: the cluster answers again that many seconds after the stream's first
    try to record its end.  Returns the settings and the outage (``until = 0`` ends it)."""
    import threading
    import time

    proxied = es_settings.model_copy(update={"url": proxy.url})
    settings = _settings(site, proxied, tmp_path)
    stop = StopSignal(timeout=60)
    outage = Outage(status=503, seconds=600, path="")

    def heal(since: int):
        runs = f"/{es_settings.index_prefix}-runs/"
        while outage.active and not any(runs in path for _m, path, _h in proxy.requests[since:]):
            time.sleep(0.05)
        time.sleep(heal_after)
        outage.until = 0.0

    def on_cycle(_report):
        if heal_after is not None:
            threading.Thread(target=heal, args=(len(proxy.requests),), daemon=True).start()
        proxy.add(outage)
        stop.request()

    assert run_stream(settings, beam_options([]), stop=stop, on_cycle=on_cycle) == 1
    return settings, outage


def test_the_end_of_a_stream_stopped_during_a_short_outage_is_recorded(
    es_settings, es_client, tmp_path, monkeypatch
):
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path / "state"))
    with LiveSite() as site, FaultProxy(es_settings.url) as proxy:
        site.add(1)
        _stream_through(proxy, site, es_settings, tmp_path, heal_after=2.5)
    runs = _runs(es_client, es_settings.index_prefix)
    assert [(r["command"], r["status"]) for r in runs] == [("stream", "ok")], runs
    assert not (tmp_path / "state" / "unrecorded-runs").exists() or not any(
        (tmp_path / "state" / "unrecorded-runs").rglob("*.json")
    )


def test_an_end_the_cluster_did_not_take_is_shown_then_recorded_by_the_next_writer(
    es_settings, es_client, tmp_path, monkeypatch, capsys, caplog
):
    from newsbeam.connectors.es import connect
    from newsbeam.pipeline.run import prepare_writer

    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(stream_module, "CLOSE_BUDGET", 2.0)
    prefix = es_settings.index_prefix
    with LiveSite() as site, FaultProxy(es_settings.url) as proxy:
        site.add(1)
        settings, outage = _stream_through(proxy, site, es_settings, tmp_path)
        assert "could not record the stream's end (ok)" in caplog.text, caplog.text
        assert "the next run or stream records it" in caplog.text, caplog.text
        # Elasticsearch still has it running; status (once the cluster answers) shows its end
        assert [r["status"] for r in _runs(es_client, prefix)] == ["running"]
        kept = list((tmp_path / "state" / "unrecorded-runs" / prefix).glob("*.json"))
        assert len(kept) == 1, kept
        outage.until = 0.0
        assert main(["status", "--es-url", proxy.url, "--index-prefix", prefix]) == 0
        shown = " ".join(capsys.readouterr().out.split())
        assert "(GONE)" not in shown and "(running)" not in shown, shown
        assert "ended ok" in shown and "could not record it then" in shown and "HTTP 503" in shown, shown

        # the next writer of this prefix on this cluster records it, and the kept file goes
        client = connect(settings.elasticsearch)
        try:
            prepare_writer(client, settings, "run").release()
        finally:
            client.close()
    runs = _runs(es_client, prefix)
    assert [r["status"] for r in runs] == ["ok"], runs
    assert "HTTP 503" in runs[0]["unrecorded"]["why"]
    assert not any((tmp_path / "state" / "unrecorded-runs").rglob("*.json"))
