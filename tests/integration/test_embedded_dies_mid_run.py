"""The embedded server (the default URL, started for the run) killed in the middle of a run — the
OOM killer, ``kill -9``, a reboot of its process: the run exits 1 saying Elasticsearch cannot be
reached, and now also that the embedded server stopped during the run, where its log is and that
the next run starts it again (the message named no server before: the hint only matched the
start-of-run wording); the next run does start it and indexes every article once."""

from __future__ import annotations

import os
import signal
import threading

import pytest
import yaml

from newsbeam.config.settings import ElasticsearchSettings
from newsbeam.connectors.embedded import EmbeddedServer, free_port
from newsbeam.connectors.es import connect
from newsbeam.pipeline.cli import main
from tests.stream.live_site import LiveSite

pytestmark = [
    pytest.mark.es,
    pytest.mark.skipif(bool(os.environ.get("ES_URL")), reason="manages the embedded server"),
]


def test_the_embedded_server_killed_mid_run_is_named_and_the_next_run_restarts_it(
    tmp_path, monkeypatch, capsys
):
    for var in ("ES_URL", "ES_API_KEY", "ES_USERNAME", "ES_PASSWORD", "ES_CLOUD_ID", "NEWSBEAM_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    state = tmp_path / "state"
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(state))
    port = free_port()
    server = EmbeddedServer(port=port)
    server.start(timeout=60)
    try:
        with LiveSite() as site:
            urls = site.add(3)
            config = site.write_config(
                tmp_path, run={"wave_size": 2}, embedded={"port": port}, elasticsearch={"max_retries": 0}
            )
            settings = yaml.safe_load(config.read_text())
            settings["elasticsearch"]["dead_letter_dir"] = str(tmp_path / "dead")
            config.write_text(yaml.safe_dump(settings))
            argv = ["run", "--config", str(config), "--allow-private-hosts", "--quiet",
                    "--direct_running_mode=in_memory"]  # fmt: skip
            site.hold_after(2)  # wave 2's page waits until the server is gone

            def kill_the_server():
                import time

                deadline = time.monotonic() + 120
                while len(site.served) < 3 and time.monotonic() < deadline:
                    time.sleep(0.05)
                pgid = server.recorded()[0]
                os.killpg(pgid, signal.SIGKILL)  # not a clean stop: its pid file stays
                try:
                    os.waitpid(pgid, 0)  # started by this process: reaped here, as init reaps the CLI's
                except ChildProcessError:
                    pass
                while server.answers():
                    time.sleep(0.05)
                site.release()

            killer = threading.Thread(target=kill_the_server, daemon=True)
            killer.start()
            assert main(argv) == 1
            killer.join(10)
            err = capsys.readouterr().err
            assert "Traceback" not in err, err
            assert f"Elasticsearch at http://127.0.0.1:{port} cannot be reached" in err, err
            assert "the embedded server of this state directory stopped during the run" in err, err
            assert str(server.log_file) in err and "the next newsbeam run starts it again" in err, err

            assert main(argv) == 0  # starts the embedded server itself, replays, fetches the rest
            assert "starting the embedded" in capsys.readouterr().err
        client = connect(ElasticsearchSettings(url=server.url))
        try:
            client.indices.refresh(index="news-articles")
            hits = client.search(index="news-articles", size=100)["hits"]["hits"]
        finally:
            client.close()
        assert sorted(hit["_source"]["url"] for hit in hits) == sorted(urls)  # every article, once
    finally:
        server.stop()


def test_a_killed_servers_zombie_is_not_a_running_server():
    """A server killed but not reaped yet is a zombie: its command line reads as nothing, which
    was taken for 'running' (``es status``, ``newsbeam status`` and the hint above said "runs but
    does not answer" for a dead server)."""
    import subprocess
    import sys
    import time

    import psutil

    from newsbeam.connectors.embedded import _runs_noida

    child = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:  # exited, not reaped
            assert time.monotonic() < deadline, "the child did not exit"
            time.sleep(0.05)
        assert _runs_noida(child.pid, "") is False
    finally:
        child.wait()
