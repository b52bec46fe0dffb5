"""Batch runs use every core by default, on newsbeam's LocalRunner; explicit Beam flags win."""

from __future__ import annotations

import logging

import pytest
from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

from newsbeam.pipeline import options as options_module
from newsbeam.pipeline.options import LOCAL_RUNNER, beam_options, default_workers, usable_cores

pytestmark = pytest.mark.default_runner  # these tests are about the shipped default


def _direct(options):
    direct = options.view_as(DirectOptions)
    return direct.direct_running_mode, direct.direct_num_workers


def test_a_batch_run_uses_one_worker_process_per_core():
    options = beam_options([], batch=True)
    assert _direct(options) == ("multi_processing", default_workers())
    # Beam's DirectRunner would try Prism first (a download) and ignore the running mode.
    assert options.view_as(StandardOptions).runner == LOCAL_RUNNER


def test_other_pipelines_keep_beams_default():
    options = beam_options([])
    assert _direct(options)[0] == "in_memory"
    assert options.view_as(StandardOptions).runner is None


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--direct_running_mode=in_memory"], ("in_memory", 1)),
        (["--direct_running_mode", "multi_threading"], ("multi_threading", usable_cores())),
        (["--direct_num_workers=3"], ("multi_processing", 3)),
        (["--direct_running_mode=multi_processing"], ("multi_processing", default_workers())),
        (["--direct_running_mode=in_memory", "--direct_num_workers", "2"], ("in_memory", 2)),
    ],
)
def test_explicit_flags_win(flags, expected):
    options = beam_options(flags, batch=True)
    assert _direct(options) == expected
    assert options.view_as(StandardOptions).runner == LOCAL_RUNNER


GB = 2**30


@pytest.mark.parametrize(
    ("cores", "available", "workers"),
    [
        (2, 16 * GB, 2),  # plenty: one per core
        (32, 8 * GB, 12),  # a big machine with little memory: as many as fit
        (4, 1 * GB, 1),  # never fewer than one
        (4, None, 4),  # memory unknown: one per core
    ],
)
def test_workers_are_capped_by_the_memory_available(monkeypatch, caplog, cores, available, workers):
    monkeypatch.setattr(options_module, "usable_cores", lambda: cores)
    monkeypatch.setattr(options_module, "available_memory", lambda: available)
    with caplog.at_level(logging.INFO, logger="newsbeam.pipeline.options"):
        options = beam_options([], batch=True)
    assert _direct(options) == ("multi_processing", workers)
    capped = [r.getMessage() for r in caplog.records if "not one per core" in r.getMessage()]
    assert bool(capped) == (workers < cores)
    if capped:
        assert "--direct_num_workers" in capped[0]
    # the flag still wins
    assert _direct(beam_options(["--direct_num_workers=5"], batch=True)) == ("multi_processing", 5)


def test_a_cgroup_limit_counts_as_the_memory_available(monkeypatch, tmp_path):
    limit, usage = tmp_path / "memory.max", tmp_path / "memory.current"
    limit.write_text(f"{3 * GB}\n")
    usage.write_text(f"{1 * GB}\n")
    real_open = open

    def fake_open(path, *args, **kwargs):
        name = {"/sys/fs/cgroup/memory.max": limit, "/sys/fs/cgroup/memory.current": usage}.get(str(path))
        return real_open(name or path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    assert options_module.available_memory() <= 2 * GB
    limit.write_text("max\n")
    assert options_module._cgroup_room() is None


def test_another_runner_gets_no_direct_runner_defaults():
    options = beam_options(["--runner=DirectRunner"], batch=True)
    assert options.view_as(StandardOptions).runner == "DirectRunner"
    assert _direct(options)[0] == "in_memory"


def test_streaming_is_left_to_the_runner_named():
    options = beam_options(["--streaming"], batch=True)
    assert options.view_as(StandardOptions).runner is None


def test_workers_log_at_the_levels_of_this_process():
    from apache_beam.options.pipeline_options import WorkerOptions

    quiet = beam_options([], batch=True).view_as(WorkerOptions)
    assert quiet.default_sdk_harness_log_level == "WARNING"
    assert quiet.sdk_harness_log_level_overrides["elastic_transport"] == "ERROR"
    assert quiet.sdk_harness_log_level_overrides["newsbeam"] == "INFO"
    verbose = beam_options([], batch=True, verbose=True).view_as(WorkerOptions)
    assert verbose.default_sdk_harness_log_level == "INFO"
    assert verbose.sdk_harness_log_level_overrides["newsbeam"] == "DEBUG"
    given = beam_options(["--default_sdk_harness_log_level=DEBUG"], batch=True).view_as(WorkerOptions)
    assert given.default_sdk_harness_log_level == "DEBUG"


def _forwarded(entry: str) -> logging.LogRecord:
    return logging.LogRecord(
        "apache_beam.runners.portability.local_job_service",
        logging.ERROR,
        __file__,
        1,
        "Worker: %s",
        (entry,),
        None,
    )


def test_worker_records_become_one_readable_line():
    from newsbeam.pipeline.options import _WorkerLogFilter

    ours = _forwarded(
        'severity: ERROR message: "7 documents not written \\"now\\"\\nTraceback: x" '
        'log_location: "/src/newsbeam/connectors/es_sink.py:430" thread: "t"'
    )
    assert _WorkerLogFilter(verbose=False).filter(ours)
    assert ours.getMessage() == '7 documents not written "now"'
    assert ours.name == "worker connectors/es_sink.py:430"
    beams = _forwarded(
        'severity: ERROR message: "Error processing instruction" trace: "Traceback ..." '
        'log_location: "/venv/site-packages/apache_beam/runners/worker/sdk_worker.py:314"'
    )
    assert not _WorkerLogFilter(verbose=False).filter(beams)
    assert _WorkerLogFilter(verbose=True).filter(beams)


def test_quiet_drops_newsbeam_records_of_workers_below_warning():
    from newsbeam.pipeline.options import _WorkerLogFilter

    entry = 'severity: INFO message: "fetched 25 pages" log_location: "/src/newsbeam/connectors/fetch.py:1"'
    info = _forwarded(entry)
    info.levelno, info.levelname = logging.INFO, "INFO"
    logger = logging.getLogger("newsbeam")
    before = logger.level
    try:
        logger.setLevel(logging.INFO)
        assert _WorkerLogFilter(verbose=False).filter(info)
        logger.setLevel(logging.WARNING)  # newsbeam run --quiet
        assert not _WorkerLogFilter(verbose=False).filter(info)
    finally:
        logger.setLevel(before)
