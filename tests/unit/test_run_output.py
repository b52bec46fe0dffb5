"""Run output helpers: JSON log lines, the live progress view, the summary document."""

import io
import json
import logging
import time

from rich.console import Console

from newsbeam.config.settings import load_settings
from newsbeam.pipeline.live import LiveProgress
from newsbeam.pipeline.logs import JsonFormatter
from newsbeam.pipeline.report import per_feed, reconcile, summary_document
from newsbeam.pipeline.run import RunSummary


def test_json_log_line_masks_credentials_and_keeps_one_line():
    record = logging.LogRecord(
        "newsbeam.x",
        logging.WARNING,
        __file__,
        1,
        "cannot reach %s\nsecond line",
        ("http://u:pw@h:9200",),
        None,
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "newsbeam.x"
    assert "pw" not in entry["message"] and "http://h:9200" in entry["message"]
    assert entry["@timestamp"].endswith("Z")


def test_json_log_error_without_traceback_unless_verbose():
    try:
        raise ValueError("bad value")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord("n", logging.ERROR, __file__, 1, "failed", (), exc_info)
    assert json.loads(JsonFormatter().format(record))["error"] == "ValueError: bad value"
    assert "traceback" not in json.loads(JsonFormatter().format(record))
    assert "Traceback" in json.loads(JsonFormatter(tracebacks=True).format(record))["traceback"]


def _summary(counters):
    return RunSummary(counters=counters, failures_by_reason={"fetch:http_404": 1}, seconds=2.0)


def test_summary_document_from_counters_and_per_feed_reconciliation():
    feed = "http://a.example/feed.xml"
    counters = {
        "news.feeds/polled": 1,
        "news.known/new": 4,
        "news.fetch/fetched": 3,
        "news.fetch/failed_http_404": 1,
        "news.extract/articles": 3,
        "news.run/articles_indexed": 3,
        f"news.feed/new|{feed}": 4,
        f"news.feed/indexed|{feed}": 2,
        f"news.feed/failed|{feed}": 1,
        f"news.feed/refused|{feed}": 1,
    }
    settings = load_settings(overrides={"feeds": [{"url": feed}]})
    doc = summary_document(_summary(counters), settings)
    assert doc["pages"] == {"fetched": 3, "failed": {"http_404": 1}}
    assert doc["articles_per_second"] == 1.5
    assert doc["per_feed"] == [
        {"url": feed, "new": 4, "indexed": 2, "failed": 1, "refused": 1, "unwritten": 0, "merged": 0}
    ]
    assert reconcile(doc) == []
    # more accounted for than new: reported, not hidden
    counters[f"news.feed/indexed|{feed}"] = 5
    assert per_feed(counters)[feed]["merged"] == 0
    assert reconcile(summary_document(_summary(counters), settings)) != []


def test_live_progress_draws_only_on_a_terminal_and_stops(monkeypatch):
    import newsbeam.pipeline.live as live

    monkeypatch.setattr(live, "progress_counts", lambda client, settings, since: {"articles indexed": 7})
    settings = load_settings(overrides={"elasticsearch": {"url": "http://127.0.0.1:9"}})
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with LiveProgress(settings, console, interval=0.05):
        # until the first refresh has drawn the figures (a fixed 0.5 s was too short on a loaded
        # machine, where the thread's first client import alone can take longer)
        deadline = time.monotonic() + 30
        while "articles indexed" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "articles indexed" in out.getvalue()

    plain = io.StringIO()
    with LiveProgress(settings, Console(file=plain, force_terminal=False), interval=0.05):
        time.sleep(0.1)
    assert plain.getvalue() == ""
    quiet = io.StringIO()
    with LiveProgress(settings, Console(file=quiet, force_terminal=True), enabled=False, interval=0.05):
        time.sleep(0.1)
    assert quiet.getvalue() == ""


def test_a_failed_run_still_writes_its_summary_then_fails(tmp_path, capsys):
    import argparse

    import pytest

    from newsbeam.pipeline.report import run_with_report
    from newsbeam.pipeline.run import RunFailed

    settings = load_settings(overrides={"elasticsearch": {"url": "http://127.0.0.1:9"}})
    summary = _summary({"news.run/dead_letters": 3, "news.known/new": 3})
    out = tmp_path / "s.json"
    args = argparse.Namespace(quiet=False, summary_json=str(out))

    def runner():
        raise RunFailed("3 documents could not be written", summary)

    with pytest.raises(RunFailed, match="3 documents"):
        run_with_report(args, settings, runner)
    document = json.loads(out.read_text())
    assert document["status"] == "failed" and document["dead_letters"] == 3
    assert "new entries" in capsys.readouterr().out


def test_summary_line_for_stream_cycles():
    from newsbeam.pipeline.report import summary_line

    settings = load_settings(overrides={"feeds": [{"url": "http://a.example/f.xml"}]})
    counters = {"news.feeds/polled": 2, "news.known/new": 5, "news.run/articles_indexed": 4}
    line = summary_line(summary_document(_summary(counters), settings, command="stream"))
    assert line.startswith("stream: 2 feeds polled") and "5 new, 4 articles indexed" in line
    assert "\n" not in line


def test_the_summary_table_names_the_command_that_ran():
    import io

    from rich.console import Console

    from newsbeam.config.settings import load_settings
    from newsbeam.pipeline.report import print_summary
    from newsbeam.pipeline.run import RunSummary

    summary = RunSummary(counters={"news.es/written": 3}, failures_by_reason={}, seconds=2.0)
    for command in ("run", "reextract"):
        out = io.StringIO()
        print_summary(summary, load_settings(), Console(file=out, width=120), command)
        assert f"newsbeam {command} (2.0 s" in out.getvalue()


def test_a_summary_the_disk_cannot_take_leaves_no_temporary_file(tmp_path, monkeypatch):
    """A full disk left an empty ``FILE.tmp-<pid>`` beside ``--summary-json FILE`` at every run."""
    import errno

    from newsbeam.pipeline import report

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report.json, "dump", full)
    path = tmp_path / "last-run.json"
    try:
        report.write_summary_json({"status": "ok"}, str(path))
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    else:
        raise AssertionError("the write did not fail")
    assert list(tmp_path.iterdir()) == []


def test_a_summary_file_the_disk_cannot_take_at_the_start_is_an_operational_failure(
    tmp_path, monkeypatch, capsys
):
    """Exit 1 (not 2, a usage error) naming the file and the reason, and nothing runs."""
    import errno

    from newsbeam.pipeline import report
    from newsbeam.pipeline.cli import main

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report, "write_started_summary", full)
    path = tmp_path / "last-run.json"
    code = main(["run", "--feeds", str(tmp_path / "never-read.yaml"), "--summary-json", str(path)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert f"--summary-json: cannot write {path}: No space left on device; nothing was run" in err, err


def test_a_runs_end_the_cluster_does_not_take_is_kept_for_status_and_the_next_writer(tmp_path, monkeypatch):
    """close_run_record was one brief try: when it failed (the cluster went away during the run),
    the run's ``running`` record stayed so for good and status showed it as GONE, as if killed.
    The end is now kept in the state directory (as a stream's), where status finds it."""
    from elastic_transport import ConnectionError as TransportConnectionError

    from newsbeam.pipeline.report import close_run_record, unrecorded_runs

    class Down:
        def options(self, **_kwargs):
            return self

        def index(self, **_kwargs):
            raise TransportConnectionError("connection refused")

    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path))
    settings = load_settings(overrides={"elasticsearch": {"url": "http://es.example:9200"}})
    summary = RunSummary({}, {}, 12.0, waves=1, started_at=1_780_000_000.0)
    close_run_record(Down(), settings, "run", summary, RuntimeError("Elasticsearch cannot be reached"))
    ((_path, document),) = unrecorded_runs(settings).values()
    assert (document["command"], document["status"]) == ("run", "failed")
    assert "ConnectionError" in document["unrecorded"]["why"]


def test_a_kept_end_the_cluster_refuses_is_dropped_one_it_cannot_take_yet_is_kept(tmp_path, monkeypatch):
    """A kept end was retried by every later writer whatever the cluster answered: one it refuses
    (HTTP 400, a document it will never take) stayed pending in status for good."""
    from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
    from elastic_transport import ConnectionError as TransportConnectionError
    from elasticsearch import ApiError

    from newsbeam.pipeline.report import keep_unrecorded, record_unrecorded, summary_document, unrecorded_runs

    def meta(status):
        return ApiResponseMeta(status, "1.1", HttpHeaders(), 0.01, NodeConfig("http", "es.example", 9200))

    class Cluster:
        def __init__(self, failure):
            self.failure = failure

        def options(self, **_kwargs):
            return self

        def search(self, **_kwargs):
            return {"hits": {"hits": []}}

        def index(self, **_kwargs):
            raise self.failure

    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path))
    settings = load_settings(overrides={"elasticsearch": {"url": "http://es.example:9200"}})
    summary = RunSummary({}, {}, 12.0, waves=1, started_at=1_780_000_000.0)
    keep_unrecorded(settings, summary_document(summary, settings, command="run", status="ok"), "HTTP 503")
    for failure in (
        TransportConnectionError("connection refused"),
        ApiError("unavailable", meta(503), {}),
        ApiError("forbidden", meta(403), {}),  # a key that may be given the privilege
    ):
        assert record_unrecorded(Cluster(failure), settings) == 0
        assert len(unrecorded_runs(settings)) == 1, failure
    assert record_unrecorded(Cluster(ApiError("mapper_parsing_exception", meta(400), {})), settings) == 0
    assert unrecorded_runs(settings) == {}
