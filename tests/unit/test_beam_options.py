"""Batch runs use every core by default; explicit Beam flags win."""

from __future__ import annotations

import logging

import pytest
from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

from newsbeam.pipeline.options import beam_options, usable_cores


def _direct(options):
    direct = options.view_as(DirectOptions)
    return direct.direct_running_mode, direct.direct_num_workers


def test_a_batch_run_uses_one_worker_process_per_core():
    assert _direct(beam_options([], batch=True)) == ("multi_processing", usable_cores())


def test_other_pipelines_keep_beams_default():
    assert _direct(beam_options([]))[0] == "in_memory"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--direct_running_mode=in_memory"], ("in_memory", 1)),
        (["--direct_running_mode", "multi_threading"], ("multi_threading", 1)),
        (["--direct_num_workers=3"], ("in_memory", 3)),
    ],
)
def test_explicit_flags_win(flags, expected):
    assert _direct(beam_options(flags, batch=True)) == expected


def test_another_runner_gets_no_direct_runner_defaults():
    options = beam_options(["--runner=DirectRunner"], batch=True)
    assert options.view_as(StandardOptions).runner == "DirectRunner"
    assert _direct(options)[0] == "in_memory"


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
