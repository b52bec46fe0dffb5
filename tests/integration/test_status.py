"""``newsbeam status`` after runs over the demo site: counts, runs, feed
health, failures and the writer lease, as tables and as JSON."""

import json
import socket
import subprocess
import sys

import pytest

from newsbeam.pipeline.cli import main
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.report import record_run, summary_document
from newsbeam.pipeline.run import run_batch

pytestmark = [pytest.mark.slow, pytest.mark.es_client]


def _status(capsys, es, *extra):
    code = main(["status", "--es-url", es.url, "--index-prefix", es.index_prefix, *extra])
    return code, capsys.readouterr()


def test_status_after_runs(demo_settings, expected, es_client, capsys, monkeypatch):
    for var in ("ES_URL", "ES_API_KEY", "ES_USERNAME", "ES_PASSWORD", "ES_CLOUD_ID"):
        monkeypatch.delenv(var, raising=False)
    es = demo_settings.elasticsearch
    for _ in range(2):
        summary = run_batch(demo_settings, beam_options([]))
        record_run(es_client, es.runs_alias, summary_document(summary, demo_settings))
    es_client.indices.refresh(index=",".join([es.articles_alias, es.failures_alias, es.feeds_alias]))

    code, out = _status(capsys, es, "--json")
    assert code == 0, out.err
    status = json.loads(out.out)
    assert status["indices"][es.articles_alias]["documents"] == len(expected["articles"])
    assert sum(status["indices"][es.articles_alias]["indices"].values()) == len(expected["articles"])
    assert status["indices"][es.runs_alias]["documents"] == 2
    newest, first = status["runs"]  # newest first: the second run found nothing new
    assert newest["entries"]["new"] == 0 and first["entries"]["new"] > 0
    assert newest["started"] > first["started"]
    assert status["poll_interval_seconds"] > 0
    assert len(status["feeds"]) == status["feeds_total"] == len(demo_settings.feeds)
    broken = [f for f in status["feeds"] if f["status"] not in ("ok", "not_modified")]
    assert broken and all(f["error_streak"] == 2 for f in broken)
    assert status["feeds"][0]["error_streak"] == 2  # failing feeds first
    assert all(f["next_poll"] > f["last_poll"] for f in status["feeds"])
    failures = es_client.count(index=es.failures_alias)["count"]
    assert (
        status["failures"]["total"]
        == failures
        == sum(r["count"] for r in status["failures"]["by_stage_reason"])
    )
    assert {"stage": "fetch", "reason": "http_404", "count": 1} in status["failures"]["by_stage_reason"]
    assert status["lease"] is None
    assert status["embedded"]["used"] is False

    # a run records the counts at its end; on the embedded server (which counts by
    # scanning) status shows that articles count, --exact counts now
    runs = es_client.search(index=es.runs_alias, sort=[{"@timestamp": "desc"}], size=1)["hits"]["hits"][0]
    es_client.update(
        index=runs["_index"], id=runs["_id"], doc={"counts": {es.articles_alias: 999}}, refresh=True
    )
    code, out = _status(capsys, es, "--json")
    articles = json.loads(out.out)["indices"][es.articles_alias]
    if es_client.info()["name"] == "noida-db":
        assert articles["documents"] == 999 and articles["source"] == "last run"
    else:
        assert articles["documents"] == len(expected["articles"]) and articles["source"] == "live"
    code, out = _status(capsys, es, "--json", "--exact")
    articles = json.loads(out.out)["indices"][es.articles_alias]
    assert articles["documents"] == len(expected["articles"]) and articles["source"] == "live"

    # the writer lease, in the format the stream command writes
    es_client.index(
        index=f"{es.index_prefix}-locks",
        id="writer",
        document={
            "holder": {"host": "h1", "pid": 4242, "command": "newsbeam stream"},
            "since": "2030-01-01T00:00:00Z",
            "renewed": "2030-01-01T00:05:00Z",
            "expires": "2030-01-01T00:06:00Z",
        },
        refresh=True,
    )
    monkeypatch.setenv("COLUMNS", "200")
    code, out = _status(capsys, es)
    assert code == 0
    table = out.out
    for text in ("documents", "last runs", "feed health", "failures", "http_404", "error streak"):
        assert text in table
    # why the failing feed fails, not only its reason code
    assert any(
        line.strip().endswith("/broken/feed.xml is not a parseable RSS/Atom feed")
        for line in table.splitlines()
    ), table
    assert "writer lease: held by newsbeam stream (pid 4242 on h1)" in table
    assert "embedded server:" in table

    # A holder on this host whose process is gone: not expired yet, but the next
    # writer takes it at once, and status says so instead of "held".
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    es_client.index(
        index=f"{es.index_prefix}-locks",
        id="writer",
        document={
            "holder": {"host": socket.gethostname(), "pid": gone.pid, "command": "newsbeam run"},
            "since": "2030-01-01T00:00:00Z",
            "renewed": "2030-01-01T00:05:00Z",
            "expires": "2999-01-01T00:06:00Z",
        },
        refresh=True,
    )
    code, out = _status(capsys, es)
    assert f"writer lease: STALE (its holder pid {gone.pid} on this host is gone" in out.out
    code, out = _status(capsys, es, "--json")
    lease = json.loads(out.out)["lease"]
    assert lease["expired"] is False and f"pid {gone.pid}" in lease["stale"]


def test_status_on_empty_prefix_and_unreachable(es_settings, capsys):
    code, out = _status(capsys, es_settings, "--json")
    assert code == 0
    status = json.loads(out.out)
    assert status["runs"] == [] and status["feeds"] == [] and status["lease"] is None
    assert all(info["documents"] == 0 for info in status["indices"].values())

    code, out = main(["status", "--es-url", "http://127.0.0.1:9"]), capsys.readouterr()
    assert code == 1
    assert "embedded server" in out.out and "127.0.0.1:9" in out.err and "Traceback" not in out.err


def test_status_bad_runs_flag_exits_2(capsys):
    assert main(["status", "--runs", "0", "--es-url", "http://127.0.0.1:9"]) == 2
    assert "--runs" in capsys.readouterr().err


@pytest.mark.es
def test_next_poll_is_the_one_the_stream_stored(es_settings, es_client, capsys):
    """A feed polled by ``newsbeam stream`` showed 'next poll: unknown' (no runs in <prefix>-runs)
    although its document holds the stream's schedule.next_poll; one stored before the last poll
    (an old stream's, runs since) is not shown."""
    from newsbeam.connectors.es import setup_indices

    setup_indices(es_client, es_settings.index_prefix)
    streamed = {
        "feed": {"url": "http://a.example/feed", "name": "A"},
        "@timestamp": "2026-01-01T10:00:00Z",
        "status": "ok",
        "schedule": {"next_poll": "2026-01-01T10:05:00Z", "interval_seconds": 300.0},
    }
    stale = {**streamed, "feed": {"url": "http://b.example/feed", "name": "B"}}
    stale["schedule"] = {"next_poll": "2025-12-31T10:05:00Z"}
    es_client.index(index=es_settings.feeds_alias, id="a", document=streamed, refresh=True)
    es_client.index(index=es_settings.feeds_alias, id="b", document=stale, refresh=True)
    code, out = _status(capsys, es_settings, "--json")
    assert code == 0
    feeds = {feed["name"]: feed for feed in json.loads(out.out)["feeds"]}
    assert feeds["A"]["next_poll"] == "2026-01-01T10:05:00Z"
    assert feeds["B"]["next_poll"] is None  # no runs to estimate from
