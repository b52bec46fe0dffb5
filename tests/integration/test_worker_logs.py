"""A default batch run (one worker process per core) prints none of Beam's
worker log lines (start-up, options, status) at the default verbosity; -v
shows them, through the driver."""

from __future__ import annotations

import pytest

from newsbeam.pipeline.cli import main
from tests.stream.live_site import LiveSite

pytestmark = [pytest.mark.es, pytest.mark.slow, pytest.mark.default_runner]

# Lines Beam's SDK worker logs on every start (sdk_worker_main.py, sdk_worker.py, pipeline_options.py).
BEAM_WORKER_LINES = (
    "Logging handler created",
    "No semi_persistent_directory found",
    "Discarding unparseable args",
    "Python sdk harness starting",
    "Control channel established",
)


def _run(argv_head, site, es_settings, tmp_path):
    config = site.write_config(tmp_path)
    return main([*argv_head, "run", "--config", str(config), "--es-url", es_settings.url, "--index-prefix",
                 es_settings.index_prefix, "--allow-private-hosts"])  # fmt: skip


def test_worker_log_lines_only_with_verbose(es_settings, tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path / "state"))
    with LiveSite() as site:
        site.add(1)
        assert _run([], site, es_settings, tmp_path) == 0
        out, err = capfd.readouterr()
        assert "articles indexed" in out  # the summary
        shown = [line for line in BEAM_WORKER_LINES if line in err]
        assert shown == [], err
        assert "apache_beam" not in err and "sdk_worker" not in err, err

        site.add(1)
        assert _run(["-v"], site, es_settings, tmp_path) == 0
        _out, err = capfd.readouterr()
        assert "Python sdk harness starting" in err
        assert "Discarding unparseable args" in err
