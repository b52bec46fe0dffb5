"""A scheduled ``newsbeam run`` stopped by SIGTERM (systemd, a scheduler's timeout) or Ctrl-C
in the middle of a wave: the stop is recorded where the operator looks afterwards.

Before, the interrupted run left no document in ``<prefix>-runs`` (``newsbeam status`` showed
the run before it as the last one, or "none recorded yet" beside the articles it wrote) and
``--summary-json`` kept the previous run's ``status: ok``, which the README promises never
happens."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from newsbeam.pipeline.cli import main
from tests.integration.test_ctrl_c import _wait_for
from tests.stream.live_site import LiveSite

pytestmark = [pytest.mark.es]


def _runs(es_client, prefix):
    es_client.indices.refresh(index=f"{prefix}-runs")
    hits = es_client.search(index=f"{prefix}-runs", sort=[{"@timestamp": "desc"}], size=10)["hits"]["hits"]
    return [hit["_source"] for hit in hits]


def _start(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    """``newsbeam <argv>`` in its own session (its worker processes are killed with it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "newsbeam", *argv], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


# SIGHUP: the terminal or ssh session of a run started by hand closed; the run died at once, its
# lease left behind and nothing recorded
@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["sigterm", "sigint", "sighup"]
)
def test_a_run_stopped_mid_wave_is_recorded_as_stopped_and_the_next_run_completes_it(
    es_settings, es_client, tmp_path, monkeypatch, capsys, signum
):
    prefix = es_settings.index_prefix
    summary = tmp_path / "last-run.json"
    summary.write_text(json.dumps({"status": "ok", "from": "the previous run"}))
    with LiveSite() as site:
        urls = site.add(3)
        config = site.write_config(tmp_path, run={"wave_size": 2})
        site.hold_after(2)  # wave 1 (two pages) is written; wave 2's page waits for the signal
        argv = ["run", "--config", str(config), "--es-url", es_settings.url, "--index-prefix", prefix,
                "--allow-private-hosts", "--quiet", "--summary-json", str(summary),
                "--direct_running_mode=in_memory"]  # fmt: skip
        env = {**os.environ, "NEWSBEAM_STATE_DIR": str(tmp_path / "state")}
        proc = _start(argv, env)
        try:
            _wait_for(lambda: len(site.served) >= 3, 120, "the second wave's page", proc)
            proc.send_signal(signum)
            _out, err = proc.communicate(timeout=60)
        finally:
            site.release()
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert proc.returncode == 128 + signum, err
        assert "Traceback" not in err, err

        # --summary-json no longer says the previous run's "ok"
        document = json.loads(summary.read_text())
        name = signal.Signals(signum).name
        assert document["status"] == "failed" and document["signal"] == name, document
        assert "in wave 2" in document["error"] and "next run" in document["error"], document
        assert document["documents"]["indexed"] == 2  # the first wave's figures
        # ... and the run is kept in <prefix>-runs, where status shows what happened
        runs = _runs(es_client, prefix)
        assert [(r["command"], r["status"], r.get("signal")) for r in runs] == [("run", "failed", name)]
        assert main(["status", "--es-url", es_settings.url, "--index-prefix", prefix]) == 0
        shown = " ".join(capsys.readouterr().out.split())
        assert f"({name})" in shown, shown
        assert f"last run {document['error'].split(';')[0]}" in shown, shown

        # the next run (its lease released by the stopped one) indexes the rest, each article once
        monkeypatch.setenv("NEWSBEAM_STATE_DIR", env["NEWSBEAM_STATE_DIR"])
        assert main(argv) == 0
    es_client.indices.refresh(index=es_settings.articles_alias)
    hits = es_client.search(index=es_settings.articles_alias, size=100)["hits"]["hits"]
    assert sorted(hit["_source"]["url"] for hit in hits) == sorted(urls)
    assert json.loads(summary.read_text())["status"] == "ok"
    assert [r["status"] for r in _runs(es_client, prefix)] == ["ok", "failed"]


def test_a_run_killed_without_a_chance_to_record_its_end_shows_as_gone(
    es_settings, es_client, tmp_path, monkeypatch, capsys
):
    """``kill -9`` (or the OOM killer) leaves the run no moment to record anything: it was in
    ``<prefix>-runs`` nowhere, so ``newsbeam status`` showed the run before it as the last one.
    A run is recorded as ``running`` once it holds the lease; status shows it while it works and
    as gone once its process is."""
    prefix = es_settings.index_prefix
    with LiveSite() as site:
        urls = site.add(3)
        config = site.write_config(tmp_path, run={"wave_size": 2})
        site.hold_after(2)
        argv = ["run", "--config", str(config), "--es-url", es_settings.url, "--index-prefix", prefix,
                "--allow-private-hosts", "--quiet", "--direct_running_mode=in_memory"]  # fmt: skip
        env = {**os.environ, "NEWSBEAM_STATE_DIR": str(tmp_path / "state")}
        proc = _start(argv, env)
        try:
            _wait_for(lambda: len(site.served) >= 3, 120, "the second wave's page", proc)
            # while it works: one record, running, that status shows as such
            runs = _runs(es_client, prefix)
            assert [(r["command"], r["status"], r["pid"]) for r in runs] == [("run", "running", proc.pid)]
            assert main(["status", "--es-url", es_settings.url, "--index-prefix", prefix]) == 0
            shown = " ".join(capsys.readouterr().out.split())
            assert "(running)" in shown and "is still at work" in shown, shown
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        finally:
            site.release()
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert main(["status", "--es-url", es_settings.url, "--index-prefix", prefix, "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert [(r["status"], r["gone"]) for r in shown["runs"]] == [("running", True)], shown["runs"]
        assert main(["status", "--es-url", es_settings.url, "--index-prefix", prefix]) == 0
        shown = " ".join(capsys.readouterr().out.split())
        assert "(GONE)" in shown and "is gone without recording its end" in shown, shown

        # the next run takes the dead run's lease, indexes the rest and records itself beside it
        monkeypatch.setenv("NEWSBEAM_STATE_DIR", env["NEWSBEAM_STATE_DIR"])
        assert main(argv) == 0
    es_client.indices.refresh(index=es_settings.articles_alias)
    hits = es_client.search(index=es_settings.articles_alias, size=100)["hits"]["hits"]
    assert sorted(hit["_source"]["url"] for hit in hits) == sorted(urls)
    runs = _runs(es_client, prefix)
    assert [(r["status"], r["pid"]) for r in runs] == [("ok", os.getpid()), ("running", proc.pid)], runs
