"""The run summary (``newsbeam run --summary-json``) against what is in
Elasticsearch after a run over the demo site: every figure is checked
against the documents, and per feed new = indexed + failed + refused."""

import json
from collections import Counter
from datetime import datetime, timezone

import pytest
import yaml

from newsbeam.pipeline.cli import main
from newsbeam.pipeline.live import progress_counts
from newsbeam.pipeline.report import reconcile

pytestmark = pytest.mark.slow


def _all(client, index):
    client.indices.refresh(index=index)
    response = client.search(index=index, query={"match_all": {}}, size=10_000)
    return [hit["_source"] for hit in response["hits"]["hits"]]


def _run_cli(tmp_path, demo_settings, *extra):
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "feeds": [feed.model_dump(exclude_none=True) for feed in demo_settings.feeds],
                "fetch": {"retries": 0, "timeout": 10, "host_delay": 0},
                "elasticsearch": {"dead_letter_dir": demo_settings.elasticsearch.dead_letter_dir},
            }
        )
    )
    es = demo_settings.elasticsearch
    argv = ["run", "--config", str(config), "--es-url", es.url, "--index-prefix", es.index_prefix]
    return main([*argv, "--allow-private-hosts", *extra])


def test_summary_json_matches_the_documents(
    demo_settings, expected, es_client, tmp_path, capsys, monkeypatch
):
    for var in ("ES_URL", "ES_API_KEY", "ES_USERNAME", "ES_PASSWORD", "ES_CLOUD_ID", "NEWSBEAM_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    out = tmp_path / "summary.json"
    since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert _run_cli(tmp_path, demo_settings, "--summary-json", str(out), "--log-format", "json") == 0
    captured = capsys.readouterr()
    assert "articles indexed" in captured.out
    logs = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    assert logs and all(set(entry) >= {"@timestamp", "level", "logger", "message"} for entry in logs)
    assert any("elasticsearch setup" in entry["message"] for entry in logs)
    assert not [line for line in captured.err.splitlines() if line.startswith(("INFO ", "WARNING "))]
    summary = json.loads(out.read_text())
    es = demo_settings.elasticsearch
    articles = _all(es_client, es.articles_alias)
    failures = _all(es_client, es.failures_alias)
    feeds = _all(es_client, es.feeds_alias)

    assert summary["documents"]["indexed"] == len(articles) == len(expected["articles"])
    assert summary["dead_letters"] == 0 and summary["documents"]["rejected"] == 0
    assert summary["feeds"]["polled"] == len(feeds) == len(demo_settings.feeds)
    bad = [f for f in feeds if f["status"] not in ("ok", "not_modified")]
    assert summary["feeds"]["failed"] == len(bad) >= 1  # the malformed demo feed
    assert summary["failures"]["written"] == len(failures)  # the feeds' own failures too
    by_reason = Counter(f"{f['stage']}:{f['reason']}" for f in failures)
    assert summary["failures"]["by_stage_reason"] == dict(by_reason)
    assert (
        sum(summary["pages"]["failed"].values()) == len([f for f in failures if f["stage"] == "fetch"]) >= 1
    )
    assert sum(summary["articles"]["failed"].values()) == len(
        [f for f in failures if f["stage"] == "extract"]
    )
    assert summary["entries"]["new"] == summary["pages"]["fetched"] + sum(summary["pages"]["failed"].values())
    clusters = {a["story"]["cluster_id"] for a in articles}
    assert summary["stories"]["new"] == len(clusters)
    assert summary["stories"]["joined"] == len(articles) - len(clusters)

    # per feed: the documents of each feed, and new = indexed + failed + refused (+ merged)
    assert reconcile(summary) == []
    per_feed = {f["url"]: f for f in summary["per_feed"]}
    indexed_by_feed = Counter(a["feed"]["url"] for a in articles)
    failed_by_feed = Counter(f["feed"]["url"] for f in failures if f["stage"] in ("fetch", "extract"))
    assert {u: f["indexed"] for u, f in per_feed.items() if f["indexed"]} == dict(indexed_by_feed)
    assert {u: f["failed"] for u, f in per_feed.items() if f["failed"]} == dict(failed_by_feed)
    assert sum(f["new"] for f in per_feed.values()) == summary["entries"]["new"]
    for feed in per_feed.values():
        # no two demo entries lead to one article: every new entry is accounted for exactly
        assert feed["merged"] == 0
        assert feed["new"] == feed["indexed"] + feed["failed"] + feed["refused"] + feed["unwritten"]
    assert summary["articles_per_second"] > 0

    # what the live progress view shows, read back from the indices
    live = progress_counts(es_client, demo_settings, since)
    assert live["articles indexed"] == len(articles)
    assert live["feeds polled"] == len(feeds)
    assert live["fetch failures"] == sum(summary["pages"]["failed"].values())

    # kept in <prefix>-runs for newsbeam status
    runs = _all(es_client, es.runs_alias)
    assert len(runs) == 1 and runs[0]["documents"] == summary["documents"]
    assert summary["counts"][es.articles_alias] == len(articles)  # what status shows on the embedded server

    # a second run finds nothing new, and says so in numbers
    assert _run_cli(tmp_path, demo_settings, "--summary-json", str(out), "--quiet") == 0
    assert capsys.readouterr().out == ""
    again = json.loads(out.read_text())
    assert again["entries"]["new"] == again["documents"]["indexed"] == 0
    assert again["entries"]["known"] == len(articles)
    assert len(_all(es_client, es.runs_alias)) == 2


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--summary-json", "/nonexistent-dir/x.json"], "--summary-json: directory"),
        (["--log-format", "xml"], "--log-format: expected one of text, json"),
        # An unset variable in a cron line was ignored: the run wrote no summary, silently.
        (["--summary-json", ""], "--summary-json: expected a file name, got an empty value"),
        (["--summary-json", "{tmp}/feeds.yaml/x.json"], "feeds.yaml is not a directory"),
    ],
)
def test_bad_report_flags_exit_2(flags, message, tmp_path, capsys):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - url: http://127.0.0.1:9/feed.xml\n")
    flags = [flag.replace("{tmp}", str(tmp_path)) for flag in flags]
    assert main(["run", "--feeds", str(feeds), "--es-url", "http://127.0.0.1:9", *flags]) == 2
    assert message in capsys.readouterr().err


def test_json_logs_carry_the_commands_own_messages_too(tmp_path, capsys, es_settings):
    """With --log-format json, the message that explains exit 1 ('every feed failed', 'cannot
    reach Elasticsearch') was printed as plain text among the JSON lines, so a log shipper
    parsing stderr dropped exactly the line that said what went wrong."""
    from tests.routes import serve_routes

    with serve_routes({}) as base:  # the one feed answers 404
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(f"feeds:\n  - url: {base}/feed.xml\n")
        common = ["run", "--feeds", str(feeds), "--allow-private-hosts", "--log-format", "json"]
        prefix = ["--index-prefix", es_settings.index_prefix, "--direct_running_mode=in_memory"]
        for argv, code, needle in (
            ([*common, "--quiet", "--es-url", es_settings.url, *prefix], 1, "every feed failed (1 of 1)"),
            (
                [*common, "--es-url", "http://127.0.0.1:9"],
                1,
                "cannot reach Elasticsearch at http://127.0.0.1:9",
            ),
        ):
            assert main(argv) == code
            lines = capsys.readouterr().err.splitlines()
            records = [json.loads(line) for line in lines]  # every line of stderr is JSON
            assert any(r["level"] == "ERROR" and needle in r["message"] for r in records), lines
    assert main(["status", "--es-url", "http://127.0.0.1:9"]) == 1  # other commands stay text
    assert "newsbeam: cannot reach Elasticsearch" in capsys.readouterr().err


def test_a_run_that_fails_at_its_start_still_writes_a_failed_summary(tmp_path, capsys, es_settings):
    """--summary-json kept the previous run's 'status: ok' when a run failed before its pipeline
    (Elasticsearch unreachable, the writer lease held, a refused template install): a monitor
    reading the recipes' last-run.json saw a healthy run."""
    out = tmp_path / "last-run.json"
    out.write_text(json.dumps({"status": "ok", "finished": "yesterday"}))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - url: http://127.0.0.1:9/feed.xml\n")
    argv = ["run", "--feeds", str(feeds), "--quiet", "--summary-json", str(out)]
    assert main([*argv, "--es-url", "http://user:pw-secret@127.0.0.1:9"]) == 1
    document = json.loads(out.read_text())
    assert document["status"] == "failed" and document["finished"] != "yesterday"
    assert "cannot reach Elasticsearch at http://127.0.0.1:9" in document["error"]
    assert "pw-secret" not in out.read_text()
    assert document["feeds"]["configured"] == 1 and document["documents"]["indexed"] == 0
    capsys.readouterr()


def test_summary_json_says_failed_from_the_start_until_the_run_writes_its_own(tmp_path, capsys, monkeypatch):
    """A run killed before it writes its summary (kill -9, the OOM killer, SIGTERM in its first
    seconds, before the stop handler is installed) left the previous run's 'status: ok' in
    --summary-json.  The file says failed from the start; a bad configuration (exit 2) says why."""
    import newsbeam.pipeline.cli as cli

    out = tmp_path / "last-run.json"
    out.write_text(json.dumps({"status": "ok", "finished": "yesterday"}))
    seen = {}

    def killed_here(args, rest):  # what a monitor reads while the run is under way, or after kill -9
        seen.update(json.loads(out.read_text()))
        return 0

    monkeypatch.setattr(cli, "_cmd_run", killed_here)
    assert main(["run", "--quiet", "--summary-json", str(out)]) == 0
    assert seen["status"] == "failed" and "ended before it wrote its summary" in seen["error"]
    assert seen["command"] == "run" and "finished" not in seen
    monkeypatch.undo()

    out.write_text(json.dumps({"status": "ok", "finished": "yesterday"}))
    config = tmp_path / "bad.yaml"
    config.write_text("fetch:\n  host_delay: -3\n")
    assert main(["run", "--config", str(config), "--quiet", "--summary-json", str(out)]) == 2
    document = json.loads(out.read_text())
    assert document["status"] == "failed" and "host_delay" in document["error"]
    capsys.readouterr()
