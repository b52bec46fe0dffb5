"""run, demo and reextract hand the pipeline one worker process per core
(newsbeam's LocalRunner) unless Beam's flags say otherwise; stream runs its cycles in process on the
LocalRunner."""

from __future__ import annotations

import pytest
from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

from newsbeam.pipeline.cli import main
from newsbeam.pipeline.options import LOCAL_RUNNER, default_workers

pytestmark = pytest.mark.default_runner


class _Captured(Exception):
    pass


@pytest.fixture
def captured(monkeypatch):
    """The pipeline options each command would run with (the run itself is stopped)."""
    seen = []

    def capture(settings, options, *args, **kwargs):
        seen.append(options)
        raise _Captured

    monkeypatch.setattr("newsbeam.pipeline.run.run_batch", capture)
    monkeypatch.setattr("newsbeam.pipeline.demo.run_demo", capture)
    monkeypatch.setattr("newsbeam.pipeline.stream.run_stream", capture)
    monkeypatch.setattr("newsbeam.pipeline.lifecycle.ensure_embedded", lambda *a: None)
    return seen


def _argv(command, tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - url: http://127.0.0.1:9/rss\n")
    (tmp_path / "archive").mkdir(exist_ok=True)
    return {
        "run": ["run", "--feeds", str(feeds), "--es-url", "http://127.0.0.1:9", "--quiet"],
        "reextract": [
            "reextract",
            "--archive-dir",
            str(tmp_path / "archive"),
            "--es-url",
            "http://127.0.0.1:9",
        ],
        "demo": ["demo"],
        "stream": ["stream", "--feeds", str(feeds), "--es-url", "http://127.0.0.1:9"],
    }[command]


def _mode(options):
    direct = options.view_as(DirectOptions)
    return options.view_as(StandardOptions).runner, direct.direct_running_mode, direct.direct_num_workers


@pytest.mark.parametrize("command", ["run", "reextract", "demo"])
def test_batch_commands_use_a_worker_process_per_core(command, captured, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path / "state"))
    main(_argv(command, tmp_path))
    assert [_mode(o) for o in captured] == [(LOCAL_RUNNER, "multi_processing", default_workers())]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--direct_running_mode=in_memory"], (LOCAL_RUNNER, "in_memory", 1)),
        (["--direct_num_workers=3"], (LOCAL_RUNNER, "multi_processing", 3)),
        (["--runner=DirectRunner"], ("DirectRunner", "in_memory", 1)),
    ],
)
def test_beam_flags_override_the_default(flags, expected, captured, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path / "state"))
    main([*_argv("run", tmp_path), *flags])
    assert [_mode(o) for o in captured] == [expected]


def test_run_help_says_how_to_change_it(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "one worker process per CPU core" in out
    assert "--direct_num_workers=N" in out and "--direct_running_mode=in_memory" in out


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], (LOCAL_RUNNER, "in_memory", 1)),
        (["--direct_running_mode=multi_processing"], (LOCAL_RUNNER, "multi_processing", default_workers())),
    ],
)
def test_stream_cycles_run_in_process_on_the_local_runner(flags, expected, captured, tmp_path, monkeypatch):
    """Not Beam's DirectRunner, which may swap in its Prism runner; not worker
    processes started again every cycle."""
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path / "state"))
    main([*_argv("stream", tmp_path), *flags])
    assert [_mode(o) for o in captured] == [expected]
