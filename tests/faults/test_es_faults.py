"""Fault tests: the sink against the real embedded server behind a proxy
that injects faults (tests/faults/proxy.py), and the CLI when the server is
unreachable or stops in the middle of a run.

Every test asserts the exact final set of documents (ids, no duplicates)
and exactly where the rejected or unwritten documents ended up.  Backoff is
injected in milliseconds so the suite stays fast.
"""

from __future__ import annotations

import json
import uuid

import apache_beam as beam
import pytest
import yaml
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline

from newsbeam.config.settings import ElasticsearchSettings
from newsbeam.connectors.embedded import EmbeddedServer, free_port
from newsbeam.connectors.es import connect, setup_indices
from newsbeam.connectors.es_sink import (
    BulkWriter,
    IndexAction,
    RetryPolicy,
    WriteToElasticsearch,
    read_dead_letters,
    replay_dead_letters,
)
from newsbeam.transforms.model import doc_id_for_url, failure_id
from tests.faults.proxy import ContentLimit, FaultProxy, Hook, ItemStatus, ResetAfterForward, WholeRequest

pytestmark = [pytest.mark.es, pytest.mark.es_client]

FAST = RetryPolicy(max_retries=4, initial_backoff=0.001, max_backoff=0.01)


def doc(url: str, **fields) -> dict:
    body = {
        "url": url,
        "canonical_url": url,
        "urls": [url],
        "title": f"Title {url}",
        "body": "Text.",
        "published": "2020-06-27T10:00:00Z",
        "@timestamp": "2020-06-27T10:00:00Z",
    }
    body.update(fields)
    return body


def actions_for(alias: str, n: int, op: str = "upsert") -> list[IndexAction]:
    urls = [f"https://example.org/story/{i}" for i in range(n)]
    return [IndexAction(alias, doc_id_for_url(u), doc(u), url=u, op=op) for u in urls]


def ids_in(client, alias: str) -> list[str]:
    client.indices.refresh(index=alias)
    hits = client.search(index=alias, query={"match_all": {}}, size=1000)["hits"]["hits"]
    return sorted(hit["_id"] for hit in hits)  # a duplicate would show twice


_COLLECTED: dict[str, list] = {}


def _collect(key, item):
    _COLLECTED.setdefault(key, []).append(item)


def run_graph(settings, actions, **kwargs):
    """Articles sink → its failures → failures sink, as pipeline/build.py wires them.

    Returns ({"written"|"failed"|"unwritten": [...]}, counters of news.es).
    """
    key = uuid.uuid4().hex
    p = TestPipeline()
    written = p | beam.Create(actions) | "Articles" >> WriteToElasticsearch(settings, policy=FAST, **kwargs)
    recorded = (
        written.failed
        | "ToFailureActions"
        >> beam.Map(lambda f, a=settings.failures_alias: IndexAction(a, f.id, f.to_document(), url=f.url))
        | "Failures" >> WriteToElasticsearch(settings, policy=FAST, **kwargs)
    )
    _ = (
        (
            written.written | "W" >> beam.Map(lambda a: ("written", a.id)),
            written.failed | "F" >> beam.Map(lambda f: ("failed", (f.url, f.reason))),
            written.unwritten | "U" >> beam.Map(lambda a: ("unwritten", a.id)),
            recorded.unwritten | "UF" >> beam.Map(lambda a: ("unwritten", a.id)),
        )
        | beam.Flatten()
        | beam.Map(lambda item, key=key: _collect(key, item))
    )
    result = p.run()
    result.wait_until_finish()
    out: dict[str, list] = {}
    for name, value in _COLLECTED.pop(key, []):
        out.setdefault(name, []).append(value)
    counters: dict[str, int] = {}
    for c in result.metrics().query(MetricsFilter().with_namespace("news.es"))["counters"]:
        counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + c.committed
    return {k: sorted(v) for k, v in out.items()}, counters


@pytest.fixture
def proxy(es_url):
    with FaultProxy(es_url) as running:
        yield running


@pytest.fixture
def proxied(es_settings, es_client, proxy):
    setup_indices(es_client, es_settings.index_prefix)
    return es_settings.model_copy(update={"url": proxy.url})


def test_whole_request_429_is_retried_after_retry_after(proxied, proxy, es_client):
    proxy.add(WholeRequest(429, times=2, retry_after="0"))
    actions = actions_for(proxied.articles_alias, 20)
    out, counters = run_graph(proxied, actions)
    assert out == {"written": sorted(a.id for a in actions)}
    assert ids_in(es_client, proxied.articles_alias) == sorted(a.id for a in actions)
    assert (counters["written"], counters["retried"]) == (20, 40)
    assert proxy.bulk_requests() == 3


def test_retry_after_and_backoff_delays_are_honoured(proxied, proxy, es_client):
    sleeps: list[float] = []
    proxy.add(WholeRequest(429, times=1, retry_after="7"))
    proxy.add(WholeRequest(503, times=2))
    policy = RetryPolicy(max_retries=5, initial_backoff=1.0, max_backoff=3.0)
    client = connect(proxied, max_retries=0)
    outcome = BulkWriter(client, policy, sleep=sleeps.append).write(actions_for(proxied.articles_alias, 3))
    client.close()
    assert len(outcome.written) == 3 and not outcome.unwritten
    assert len(sleeps) == 3
    assert sleeps[0] == 7.0  # Retry-After
    assert 1.0 <= sleeps[1] <= 2.0  # retry 2: 1.0 * 2, half of it jittered
    assert 1.5 <= sleeps[2] <= 3.0  # retry 3: 4.0 capped at 3.0


def test_item_429_retries_only_the_rejected_items(proxied, proxy, es_client):
    actions = actions_for(proxied.articles_alias, 12)
    rejected = frozenset(a.id for a in actions[3:7])
    proxy.add(ItemStatus(429, rejected, times=2))
    out, counters = run_graph(proxied, actions)
    assert out == {"written": sorted(a.id for a in actions)}
    assert ids_in(es_client, proxied.articles_alias) == sorted(a.id for a in actions)
    assert (counters["written"], counters["retried"]) == (12, 8)


def test_503_then_recovery(proxied, proxy, es_client):
    proxy.add(WholeRequest(503, times=3))
    actions = actions_for(proxied.articles_alias, 7)
    out, counters = run_graph(proxied, actions)
    assert out == {"written": sorted(a.id for a in actions)}
    assert ids_in(es_client, proxied.articles_alias) == sorted(a.id for a in actions)
    assert counters["retried"] == 21


def test_connection_reset_mid_bulk_never_duplicates(proxied, proxy, es_client):
    # The server applies the request, the answer is lost: the retry rewrites the same ids.
    proxy.add(ResetAfterForward(times=2))
    actions = actions_for(proxied.articles_alias, 9)
    actions.append(
        IndexAction(proxied.articles_alias, "plain-index", doc("https://example.org/p"), op="index")
    )
    out, counters = run_graph(proxied, actions)
    assert out == {"written": sorted(a.id for a in actions)}
    assert ids_in(es_client, proxied.articles_alias) == sorted(a.id for a in actions)
    urls = es_client.get(index=proxied.articles_alias, id=actions[0].id)["_source"]["urls"]
    assert urls == [actions[0].url]  # the replayed upsert merged, not appended twice
    assert counters["retried"] == 20


def test_mapping_conflicts_end_in_failures_index_with_reason(proxied, proxy, es_client):
    alias = proxied.articles_alias
    good = actions_for(alias, 5)
    bad_urls = ["https://example.org/bad/date", "https://example.org/bad/size"]
    bad = [
        IndexAction(
            alias, doc_id_for_url(bad_urls[0]), doc(bad_urls[0], published="yesterday"), bad_urls[0], "upsert"
        ),
        IndexAction(
            alias, doc_id_for_url(bad_urls[1]), doc(bad_urls[1], story={"size": "x"}), bad_urls[1], "upsert"
        ),
    ]
    proxy.add(ItemStatus(429, frozenset({bad[0].id, good[0].id}), times=1))  # retried, then rejected for good
    out, counters = run_graph(proxied, good + bad)
    assert out == {
        "written": sorted(a.id for a in good),
        "failed": sorted((u, "mapping_error") for u in bad_urls),
    }
    assert ids_in(es_client, alias) == sorted(a.id for a in good)
    assert ids_in(es_client, proxied.failures_alias) == sorted(failure_id("index", u) for u in bad_urls)
    stored = es_client.get(index=proxied.failures_alias, id=failure_id("index", bad_urls[0]))["_source"]
    assert (stored["stage"], stored["reason"], stored["http"]["status"], stored["url"]) == (
        "index",
        "mapping_error",
        400,
        bad_urls[0],
    )
    assert "published" in stored["error"]
    assert counters["rejected"] == 2


def test_a_document_over_the_servers_content_limit_is_a_failure_not_unwritten(proxied, proxy, es_client):
    # One article too big for any request the server takes (http.max_content_length):
    # the request is split down to it, and it is rejected for good (too_large, in the
    # failures index); it used to be "unwritten", failing every run and every replay.
    alias = proxied.articles_alias
    actions = actions_for(alias, 6)
    big_url = "https://example.org/story/huge"
    big = IndexAction(alias, doc_id_for_url(big_url), doc(big_url, body="word " * 20_000), big_url, "upsert")
    proxy.add(ContentLimit(50_000))
    out, counters = run_graph(proxied, actions[:3] + [big] + actions[3:])
    assert out == {"written": sorted(a.id for a in actions), "failed": [(big_url, "too_large")]}
    assert ids_in(es_client, alias) == sorted(a.id for a in actions)
    stored = es_client.get(index=proxied.failures_alias, id=failure_id("index", big_url))["_source"]
    assert (stored["stage"], stored["reason"], stored["http"]["status"]) == ("index", "too_large", 413)
    assert counters["rejected"] == 1 and "unwritten" not in counters


def test_retries_exhausted_go_to_dead_letter_file_and_replay(proxied, proxy, es_client, tmp_path):
    proxy.add(WholeRequest(503, times=FAST.max_retries + 1))
    actions = actions_for(proxied.articles_alias, 6)
    out, counters = run_graph(proxied, actions, dead_letter_dir=str(tmp_path))
    assert out == {"unwritten": sorted(a.id for a in actions)}
    assert counters["unwritten"] == 6
    assert ids_in(es_client, proxied.articles_alias) == []
    files = read_dead_letters(str(tmp_path))
    assert [sorted(a.id for a in acts) for _p, acts in files] == [sorted(a.id for a in actions)]
    written, failures, unfinished = replay_dead_letters(es_client, str(tmp_path), FAST)
    assert (written, failures, unfinished) == (6, [], None)
    assert read_dead_letters(str(tmp_path)) == []
    assert ids_in(es_client, proxied.articles_alias) == sorted(a.id for a in actions)


def test_secrets_never_in_sink_logs_or_failures(es_settings, caplog, tmp_path):
    secret_url = f"http://newsbeam:pa55-w0rd-x@127.0.0.1:{free_port()}"
    settings = es_settings.model_copy(update={"url": secret_url})
    with caplog.at_level("DEBUG"):
        out, _ = run_graph(settings, actions_for(settings.articles_alias, 2), dead_letter_dir=str(tmp_path))
    assert len(out["unwritten"]) == 2
    assert "pa55-w0rd-x" not in caplog.text
    text = "".join(p.read_text() for p in tmp_path.iterdir())
    assert "pa55-w0rd-x" not in text


# -- the CLI ---------------------------------------------------------------------


def _write_feeds(tmp_path, demo_site) -> str:
    from newsbeam.pipeline.demo import demo_feeds

    path = tmp_path / "feeds.yaml"
    path.write_text(yaml.safe_dump({"feeds": demo_feeds(demo_site)}))
    return str(path)


def _write_config(tmp_path, prefix: str, dead: str) -> str:
    path = tmp_path / "config.yaml"
    config = {
        "elasticsearch": {"index_prefix": prefix, "max_retries": 1, "dead_letter_dir": dead},
        "fetch": {"retries": 0, "timeout": 10, "host_delay": 0},
    }
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.mark.parametrize(
    "secret_env",
    [{}, {"ES_API_KEY": "QUtJRC1zZWNyZXQta2V5LTEyMzQ1"}, {"ES_USERNAME": "u", "ES_PASSWORD": "hunter2-pw"}],
)
def test_cli_unreachable_at_start(secret_env, tmp_path, demo_site, capsys, monkeypatch):
    from newsbeam.pipeline.cli import main

    for var in ("ES_URL", "ES_API_KEY", "ES_USERNAME", "ES_PASSWORD", "ES_CLOUD_ID"):
        monkeypatch.delenv(var, raising=False)
    for var, value in secret_env.items():
        monkeypatch.setenv(var, value)
    port = free_port()
    dead = tmp_path / "dead"
    argv = [
        "run",
        "--config", _write_config(tmp_path, "nbtest-unreach", str(dead)),
        "--feeds", _write_feeds(tmp_path, demo_site),
        "--es-url", f"http://admin:s3cr3t-in-url@127.0.0.1:{port}",
        "--allow-private-hosts",
    ]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"http://127.0.0.1:{port}" in err
    assert "nothing was fetched or recorded" in err
    assert "Traceback" not in err
    for secret in ["s3cr3t-in-url", "admin:", *secret_env.values()]:
        if secret != "u":
            assert secret not in err
    assert not dead.exists() or list(dead.rglob("*")) == []


@pytest.mark.parametrize("stop_at", ["articles", "feeds"])
def test_cli_server_stopped_mid_run_then_rerun(stop_at, tmp_path, demo_site, expected, capsys, monkeypatch):
    """The server stops at the first bulk request of the articles (or of the
    feed health); the run exits 1 naming the URL; after a restart the next
    run replays the dead letters and ends with exactly the demo articles."""
    from newsbeam.pipeline.cli import main

    for var in ("ES_URL", "ES_API_KEY", "ES_USERNAME", "ES_PASSWORD", "ES_CLOUD_ID"):
        monkeypatch.delenv(var, raising=False)
    server = EmbeddedServer(port=free_port(), root=tmp_path / "es-state")
    server.start(timeout=60)
    prefix = "nbtest-stop"
    dead = tmp_path / "dead"
    argv_tail = [
        "--config", _write_config(tmp_path, prefix, str(dead)),
        "--feeds", _write_feeds(tmp_path, demo_site),
        "--allow-private-hosts",
    ]  # fmt: skip
    try:
        with FaultProxy(server.url) as proxy:
            proxy.add(Hook(server.stop, times=1, body=f'"_index":"{prefix}-{stop_at}"'.encode()))
            assert main(["run", "--es-url", proxy.url, *argv_tail]) == 1
            err = capsys.readouterr().err
            assert proxy.url in err
            assert "Traceback" not in err, err
            base = demo_site.base_url
            want = sorted(doc_id_for_url(base + a["canonical_path"]) for a in expected["articles"])
            left = [
                a.id
                for _path, actions in read_dead_letters(str(dead / prefix))
                for a in actions
                if a.index == f"{prefix}-articles"
            ]
            if stop_at == "articles":  # the sink kept what it could not send
                assert left and set(left) <= set(want) and len(left) == len(set(left))
            server.start(timeout=60)
            assert main(["run", "--es-url", proxy.url, *argv_tail]) == 0
            capsys.readouterr()
            client = connect(ElasticsearchSettings(url=server.url))
            try:
                assert ids_in(client, f"{prefix}-articles") == want
                failures = ids_in(client, f"{prefix}-failures")
                assert len(failures) == len(set(failures)) == 2  # the dead link and the broken feed
            finally:
                client.close()
            assert read_dead_letters(str(dead / prefix)) == []
            # A third run finds nothing new and writes nothing.
            assert main(["run", "--es-url", proxy.url, *argv_tail]) == 0
    finally:
        server.stop()


def test_dead_letter_file_format_is_json_lines(tmp_path):
    from newsbeam.connectors.es_sink import write_dead_letters

    actions = actions_for("news-articles", 2)
    path = write_dead_letters(str(tmp_path), actions)
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    assert [row["id"] for row in rows] == [a.id for a in actions]
    assert {row["op"] for row in rows} == {"upsert"}


def test_client_major_is_accepted_by_the_server(proxied, proxy, es_client):
    """8.x and 9.x clients ask for their own major (compatible-with=N); the
    embedded server answers both (Elasticsearch 8 refuses compatible-with=9)."""
    import elasticsearch

    major = elasticsearch.__versionstr__.split(".")[0]
    out, _ = run_graph(proxied, actions_for(proxied.articles_alias, 2))
    assert len(out["written"]) == 2
    bulk_headers = [h for _m, path, h in proxy.requests if "_bulk" in path]
    assert bulk_headers
    accepts = [next(v for k, v in h.items() if k.lower() == "accept") for h in bulk_headers]
    assert all(f"compatible-with={major}" in accept for accept in accepts)


@pytest.mark.parametrize("command", ["es setup", "run"])
def test_a_key_without_the_setup_privilege_is_named_with_the_reason(
    command, es_settings, proxy, tmp_path, capsys, monkeypatch
):
    """A cluster refusing the template install (an API key without manage_index_templates) was an
    'unexpected error: AuthorizationException(403, ...)' naming neither the cluster nor the reason."""
    from newsbeam.pipeline.cli import main
    from tests.faults.proxy import Outage

    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path))
    proxy.add(Outage(403, seconds=60, path="_component_template"))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - url: http://127.0.0.1:9/feed.xml\n")
    argv = [*command.split(), "--es-url", proxy.url, "--index-prefix", es_settings.index_prefix]
    if command == "run":
        argv += ["--feeds", str(feeds), "--quiet"]
    assert main(argv) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert (
        f"Elasticsearch at {proxy.url} refused installing the {es_settings.index_prefix}-* templates" in err
    )
    assert "lacks a privilege" in err and "HTTP 403, injected" in err and "unexpected" not in err
