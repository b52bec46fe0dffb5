"""Pure parts of the Elasticsearch connector: retry delays, item
classification, bulk lines, dead-letter lines, redaction, client options."""

from __future__ import annotations

import json
import random

import pytest

from newsbeam.config.settings import ElasticsearchSettings
from newsbeam.connectors.es import _split_userinfo, connect, describe, redact
from newsbeam.connectors.es_sink import (
    UPSERT_SCRIPT,
    IndexAction,
    RetryPolicy,
    WriteToElasticsearch,
    bulk_lines,
    classify_item,
)


def test_backoff_doubles_with_equal_jitter_and_cap():
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=3.0)
    rng = random.Random(7)
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0)]:
        delays = [policy.delay(retry, rng=rng) for _ in range(200)]
        assert min(delays) >= ceiling / 2 and max(delays) <= ceiling
        assert max(delays) - min(delays) > ceiling / 4  # really jittered


def test_retry_after_is_honoured_up_to_its_cap():
    policy = RetryPolicy(max_retry_after=20)
    assert policy.delay(1, retry_after=4.0) == 4.0
    assert policy.delay(1, retry_after=600.0) == 20.0
    assert policy.delay(3, retry_after=0.0) == 0.0


def test_retry_policy_refuses_negative_values():
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)


@pytest.mark.parametrize(
    ("op", "info", "want"),
    [
        ("index", {"status": 201}, ("ok", None)),
        ("update", {"status": 200}, ("ok", None)),
        ("delete", {"status": 404, "result": "not_found"}, ("ok", None)),
        (
            "index",
            {"status": 429, "error": {"type": "es_rejected_execution_exception"}},
            ("retry", "http_429"),
        ),
        ("index", {"status": 503}, ("retry", "http_503")),
        ("index", {"status": 502}, ("retry", "http_502")),
        ("index", {"status": 504}, ("retry", "http_504")),
        (
            "index",
            {"status": 400, "error": {"type": "document_parsing_exception"}},
            ("reject", "mapping_error"),
        ),
        (
            "index",
            {"status": 400, "error": {"type": "mapper_parsing_exception"}},
            ("reject", "mapping_error"),
        ),
        (
            "index",
            {"status": 400, "error": {"type": "strict_dynamic_mapping_exception"}},
            ("reject", "mapping_error"),
        ),
        (
            "create",
            {"status": 409, "error": {"type": "version_conflict_engine_exception"}},
            ("reject", "version_conflict"),
        ),
        ("update", {"status": 404, "error": {"type": "document_missing_exception"}}, ("reject", "not_found")),
        ("index", {"status": 500, "error": {"type": "exception"}}, ("reject", "http_500")),
    ],
)
def test_classify_item(op, info, want):
    assert classify_item(op, info) == want


def test_bulk_lines_per_operation():
    source = {"urls": ["u"], "title": "T"}
    index = bulk_lines(IndexAction("news-articles", "a1", source))
    assert [json.loads(line) for line in index.splitlines()] == [
        {"index": {"_index": "news-articles", "_id": "a1"}},
        source,
    ]
    header, body = (
        json.loads(line) for line in bulk_lines(IndexAction("x", "a1", source, op="upsert")).splitlines()
    )
    assert header == {"update": {"_index": "x", "_id": "a1", "retry_on_conflict": 3}}
    assert body == {
        "script": {
            "source": UPSERT_SCRIPT,
            "lang": "painless",
            "params": {
                "doc": source,
                "keep": ["story", "first_seen", "feed", "source"],
                "merge": ["urls", "entry_keys"],
                "claimed": False,  # no url and canonical_url: not a page claiming another's URL
            },
        },
        "upsert": {},
        "scripted_upsert": True,
    }
    update = bulk_lines(IndexAction("x", "a1", {"story": {"size": 2}}, op="update"), index="x-000002")
    assert [json.loads(line) for line in update.splitlines()] == [
        {"update": {"_index": "x-000002", "_id": "a1", "retry_on_conflict": 3}},
        {"doc": {"story": {"size": 2}}},
    ]
    assert bulk_lines(IndexAction("x", "a1", {}, op="delete")) == '{"delete":{"_index":"x","_id":"a1"}}\n'


def test_index_action_round_trips_through_a_dead_letter_line():
    action = IndexAction(
        "news-articles", "a1", {"title": "Zürich", "n": 1}, url="https://e.org/a", op="upsert"
    )
    line = action.to_json()
    assert "\n" not in line
    assert IndexAction.from_json(line) == action
    # Lines written by the first version (no "op") replay as index operations.
    old = json.dumps({"index": "news-articles", "id": "a2", "source": {"t": 1}, "url": None})
    assert IndexAction.from_json(old) == IndexAction("news-articles", "a2", {"t": 1})


def test_a_lone_surrogate_is_written_as_a_replacement_character():
    # UTF-8 cannot encode "\ud800": one such title stopped the whole run at the bulk write
    action = IndexAction("news-articles", "a1", {"title": "Bad \ud800 title", "t": "Zürich"}, op="upsert")
    for line in (*bulk_lines(action).splitlines(), action.to_json()):
        line.encode("utf-8")
    doc = json.loads(bulk_lines(IndexAction("x", "a1", action.source)).splitlines()[1])
    assert doc == {"title": "Bad \ufffd title", "t": "Zürich"}


def test_index_action_refuses_unknown_operation():
    with pytest.raises(ValueError, match="op"):
        IndexAction("x", "1", {}, op="replace")


def test_write_validates_parameters_at_construction():
    settings = ElasticsearchSettings(url="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="max_docs"):
        WriteToElasticsearch(settings, max_docs=0)
    with pytest.raises(ValueError, match="settings"):
        WriteToElasticsearch({"url": "http://x"})


def test_redact_removes_userinfo_and_secrets():
    settings = ElasticsearchSettings(
        url="https://elastic:pa%24%24word@es.example.org:9243", api_key="c2VjcmV0LWFwaS1rZXk="
    )
    text = (
        "failed https://elastic:pa%24%24word@es.example.org:9243/_bulk with key c2VjcmV0LWFwaS1rZXk= "
        "and pa$$word"
    )
    clean = redact(text, settings)
    assert clean == "failed https://es.example.org:9243/_bulk with key *** and ***"
    assert describe(settings) == "https://es.example.org:9243"
    assert describe(ElasticsearchSettings(cloud_id="prod:ZXUtd2VzdC0x")) == "cloud id prod"
    # an IPv6 literal keeps its brackets in messages ("http://::1:9200" names no server)
    assert describe(ElasticsearchSettings(url="http://u:p@[::1]:9200")) == "http://[::1]:9200"


def test_userinfo_moves_from_the_url_to_basic_auth():
    assert _split_userinfo("https://u%40x:p%3Aw@h.example:9200/base") == (
        "https://h.example:9200/base",
        ("u@x", "p:w"),
    )
    assert _split_userinfo("http://127.0.0.1:9200") == ("http://127.0.0.1:9200", None)


def test_connect_keeps_tls_verification_and_no_secret_in_repr():
    client = connect(ElasticsearchSettings(url="https://elastic:hunter2-pw@es.example.org:9243"))
    try:
        node = client.transport.node_pool.all()[0]
        assert node.config.verify_certs is True
        assert node.config.host == "es.example.org"
        assert "hunter2-pw" not in repr(client) + repr(node) + repr(node.config)
    finally:
        client.close()
