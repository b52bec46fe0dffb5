"""WriteToElasticsearch against a real server (embedded noida-db, or ES_URL).

Exact documents after upserts, partial updates, rollover, mapping
conflicts, stale-failure clean-up and the sink's metrics.
"""

from __future__ import annotations

import uuid

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline

from newsbeam.connectors.es import EsSetupError, setup_indices
from newsbeam.connectors.es_sink import (
    BulkWriter,
    IndexAction,
    RetryPolicy,
    WriteToElasticsearch,
    bulk_lines,
)
from newsbeam.transforms.model import doc_id_for_url, failure_id

pytestmark = [pytest.mark.es, pytest.mark.es_client]

FAST = RetryPolicy(max_retries=3, initial_backoff=0.001, max_backoff=0.005)


def article(url: str, **fields) -> dict:
    doc = {
        "url": url,
        "canonical_url": url,
        "urls": [url],
        "title": f"Title of {url}",
        "body": "Body text.",
        "published": "2020-06-27T10:00:00Z",
        "@timestamp": "2020-06-27T10:00:00Z",
        "first_seen": "2024-01-01T00:00:00Z",
        "source": {"domain": "example.org", "name": "Example"},
    }
    doc.update(fields)
    return doc


def upsert(alias: str, url: str, **fields) -> IndexAction:
    return IndexAction(alias, doc_id_for_url(url), article(url, **fields), url=url, op="upsert")


def all_docs(client, alias: str) -> dict[str, tuple[str, dict]]:
    client.indices.refresh(index=alias)
    hits = client.search(index=alias, query={"match_all": {}}, size=1000)["hits"]["hits"]
    ids = [hit["_id"] for hit in hits]
    assert len(ids) == len(set(ids)), f"duplicate ids across {alias}: {sorted(ids)}"
    return {hit["_id"]: (hit["_index"], hit["_source"]) for hit in hits}


_COLLECTED: dict[str, list] = {}  # the in-memory runner runs the pipeline in this process


def _collect(key: str, item) -> None:
    _COLLECTED.setdefault(key, []).append(item)


def run_sink(settings, actions, **kwargs):
    """Run the sink over ``actions``: ({"written"|"failed"|"unwritten": [...]}, counters)."""
    key = uuid.uuid4().hex
    p = TestPipeline()
    result = (
        p | beam.Create(actions) | WriteToElasticsearch(settings, policy=kwargs.pop("policy", FAST), **kwargs)
    )
    merged = (
        result.written | "W" >> beam.Map(lambda a: ("written", a.id)),
        result.failed | "F" >> beam.Map(lambda f: ("failed", (f.url, f.reason, f.http_status))),
        result.unwritten | "U" >> beam.Map(lambda a: ("unwritten", a.id)),
    ) | beam.Flatten()
    _ = merged | beam.Map(lambda item, key=key: _collect(key, item))
    run = p.run()
    run.wait_until_finish()
    out: dict[str, list] = {}
    for name, value in _COLLECTED.pop(key, []):
        out.setdefault(name, []).append(value)
    counters = {
        c.key.metric.name: c.committed
        for c in run.metrics().query(MetricsFilter().with_namespace("news.es"))["counters"]
    }
    return out, counters


def test_setup_installs_versioned_composable_templates_idempotently(es_client, index_prefix):
    import json
    from importlib import resources

    def shipped(name: str) -> int:
        text = resources.files("newsbeam.config").joinpath("templates", f"{name}.json").read_text("utf-8")
        return json.loads(text)["_meta"]["version"]

    changes = setup_indices(es_client, index_prefix)
    kinds = ("articles", "failures", "feeds", "runs")
    assert sorted(changes) == sorted(
        [f"component template {index_prefix}@settings v{shipped('component-settings')}"]
        + [f"component template {index_prefix}-{k}@mappings v{shipped('component-' + k)}" for k in kinds]
        + [f"index template {index_prefix}-{k}-template v{shipped(k)}" for k in kinds]
        + [f"index {index_prefix}-{k}-000001 with alias {index_prefix}-{k}" for k in kinds]
    )
    assert setup_indices(es_client, index_prefix) == []
    template = es_client.indices.get_index_template(name=f"{index_prefix}-articles-template")
    body = template["index_templates"][0]["index_template"]
    assert body["_meta"]["version"] == 2
    assert body["composed_of"] == [f"{index_prefix}@settings", f"{index_prefix}-articles@mappings"]
    mapping = es_client.indices.get_mapping(index=f"{index_prefix}-articles-000001")
    props = mapping[f"{index_prefix}-articles-000001"]["mappings"]["properties"]
    assert props["title"]["analyzer"] == "news_english"
    assert props["title"]["fields"]["keyword"]["type"] == "keyword"
    assert props["body"]["analyzer"] == "news_english"
    assert props["story"]["properties"]["is_canonical"]["type"] == "boolean"
    assert props["entities"]["properties"]["org"]["type"] == "keyword"
    failures = es_client.indices.get_mapping(index=f"{index_prefix}-failures-000001")
    assert (
        failures[f"{index_prefix}-failures-000001"]["mappings"]["properties"]["reason"]["type"] == "keyword"
    )
    aliases = es_client.indices.get_alias(name=f"{index_prefix}-articles")
    assert aliases[f"{index_prefix}-articles-000001"]["aliases"][f"{index_prefix}-articles"]["is_write_index"]


def test_setup_upgrades_an_older_installed_version(es_client, index_prefix):
    # An installation of version 1 (mappings inline, no story_bands field).
    alias = f"{index_prefix}-articles"
    es_client.indices.put_index_template(
        name=f"{alias}-template",
        index_patterns=[f"{alias}-*"],
        template={
            "settings": {"analysis": {"analyzer": {"news_english": {"type": "english"}}}},
            "mappings": {"dynamic": "false", "properties": {"url": {"type": "keyword"}}},
        },
        priority=200,
        meta={"version": 1},
    )
    es_client.indices.create(index=f"{alias}-000001", aliases={alias: {"is_write_index": True}})
    changes = setup_indices(es_client, index_prefix)
    assert f"index template {alias}-template v2" in changes
    assert f"mappings of {alias}-000001 upgraded" in changes
    props = es_client.indices.get_mapping(index=f"{alias}-000001")[f"{alias}-000001"]["mappings"][
        "properties"
    ]
    assert props["story_bands"]["type"] == "keyword"
    assert props["title"]["analyzer"] == "news_english"
    # A newer installed version is left alone.
    es_client.cluster.put_component_template(
        name=f"{index_prefix}-articles@mappings", template={"mappings": {}}, meta={"version": 99}
    )
    assert setup_indices(es_client, index_prefix) == []


def test_setup_keeps_refusing_mappings_it_could_not_apply(es_client, index_prefix):
    # An installation whose articles index has a field of another type (story.size a
    # keyword): the new mappings cannot go in place.  The first setup says so; it has
    # already installed the new templates, and the second setup used to find them
    # current and pass in silence, leaving the index without title, body, story, ...
    alias = f"{index_prefix}-articles"
    old = {"dynamic": "false", "properties": {"url": {"type": "keyword"}, "story": {"properties": {
        "size": {"type": "keyword"}}}}}  # fmt: skip
    es_client.cluster.put_component_template(
        name=f"{index_prefix}-articles@mappings", template={"mappings": old}, meta={"version": 2}
    )
    es_client.indices.create(index=f"{alias}-000001", aliases={alias: {"is_write_index": True}}, mappings=old)
    for _attempt in range(2):
        with pytest.raises(EsSetupError, match=r"story\.size.*roll the alias over"):
            setup_indices(es_client, index_prefix)
    props = es_client.indices.get_mapping(index=f"{alias}-000001")[f"{alias}-000001"]["mappings"][
        "properties"
    ]
    assert "title" not in props
    # Rolled over as told: the new index gets the mappings, the old one is left as it is.
    es_client.indices.rollover(alias=alias, new_index=f"{alias}-000002")
    changes = setup_indices(es_client, index_prefix)
    assert not any("mappings of" in change for change in changes)
    props = es_client.indices.get_mapping(index=f"{alias}-000002")[f"{alias}-000002"]["mappings"][
        "properties"
    ]
    assert props["story"]["properties"]["size"]["type"] == "integer"
    assert props["title"]["analyzer"] == "news_english"


def test_setup_warns_while_the_write_index_analyses_text_the_old_way(es_client, index_prefix, caplog):
    """Analysis settings cannot change on an existing index: an upgrade that changes the analyzers
    (settings v3 added accent folding) reached only indices created after it, and setup installed
    the new template without a word while new articles went on into the old analysis."""
    import logging

    from newsbeam.connectors.es import load_template

    alias = f"{index_prefix}-articles"
    setup_indices(es_client, index_prefix)
    caplog.set_level(logging.WARNING, logger="newsbeam.connectors.es")
    assert setup_indices(es_client, index_prefix) == []
    assert "text analysis" not in caplog.text  # an index made by this newsbeam: nothing to say
    # An index whose mappings are current but whose analyzer is an older one (no accent folding).
    es_client.indices.rollover(alias=alias, new_index=f"{alias}-000002")
    settings = load_template("component-settings")["template"]["settings"]
    settings["analysis"]["analyzer"]["news_english"]["filter"].remove("asciifolding")
    mappings = es_client.indices.get_mapping(index=f"{alias}-000002")[f"{alias}-000002"]["mappings"]
    es_client.indices.create(index=f"{alias}-000003", settings=settings, mappings=mappings)
    es_client.indices.update_aliases(
        actions=[
            {"add": {"index": f"{alias}-000002", "alias": alias, "is_write_index": False}},
            {"add": {"index": f"{alias}-000003", "alias": alias, "is_write_index": True}},
        ]
    )
    caplog.clear()
    setup_indices(es_client, index_prefix)
    assert f"{alias}-000003 (the write index of {alias}) was created with other text analysis" in caplog.text
    assert f"POST /{alias}/_rollover" in caplog.text
    # Rolled over as told: quiet again (the older index behind the alias is the operator's to reindex).
    es_client.indices.rollover(alias=alias, new_index=f"{alias}-000004")
    caplog.clear()
    setup_indices(es_client, index_prefix)
    assert "text analysis" not in caplog.text


def test_upsert_keeps_story_and_first_seen_and_merges_urls(es_settings, es_client):
    setup_indices(es_client, es_settings.index_prefix)
    alias = es_settings.articles_alias
    url = "https://example.org/a"
    out, counters = run_sink(es_settings, [upsert(alias, url, story={"cluster_id": "c1", "size": 1})])
    assert out == {"written": [doc_id_for_url(url)]}
    # A later, separate update moves the cluster flags.
    es_client.update(
        index=alias,
        id=doc_id_for_url(url),
        doc={"story": {"cluster_id": "c0", "is_canonical": False, "size": 3}},
    )
    # A retry/replay of the original write with a new URL and newer extraction.
    again = upsert(
        alias,
        url,
        urls=["https://example.org/a?id=1", url],
        title="Corrected title",
        first_seen="2024-02-01T00:00:00Z",
        story={"cluster_id": "c1", "size": 1},
    )
    out, counters = run_sink(es_settings, [again])
    assert out == {"written": [doc_id_for_url(url)]}
    assert counters["written"] == 1
    docs = all_docs(es_client, alias)
    assert list(docs) == [doc_id_for_url(url)]
    _index, doc = docs[doc_id_for_url(url)]
    assert doc["story"] == {"cluster_id": "c0", "is_canonical": False, "size": 3}
    assert doc["urls"] == [url, "https://example.org/a?id=1"]
    assert doc["first_seen"] == "2024-01-01T00:00:00Z"
    assert doc["title"] == "Corrected title"


def test_upsert_of_an_undated_article_keeps_its_timestamp_at_the_first_seen_time(es_settings, es_client):
    """``@timestamp`` is ``published``, else the first-seen time (DESIGN.md). An undated article
    written again (another link redirecting to it, a retry) kept its ``first_seen`` but took the
    new write's fetch time as ``@timestamp``, moving it on Kibana's time axis."""
    setup_indices(es_client, es_settings.index_prefix)
    alias = es_settings.articles_alias
    undated, dated = "https://example.org/undated", "https://example.org/dated"
    first = {"published": None, "@timestamp": "2024-01-01T00:00:00Z", "first_seen": "2024-01-01T00:00:00Z"}
    run_sink(es_settings, [upsert(alias, undated, **first), upsert(alias, dated)])
    later = {"published": None, "@timestamp": "2024-03-01T00:00:00Z", "first_seen": "2024-03-01T00:00:00Z"}
    run_sink(
        es_settings,
        [
            upsert(alias, undated, title="Again", **later),
            upsert(alias, dated, published="2020-06-28T10:00:00Z", **{"@timestamp": "2020-06-28T10:00:00Z"}),
        ],
    )
    docs = all_docs(es_client, alias)
    doc = docs[doc_id_for_url(undated)][1]
    assert (doc["title"], doc["first_seen"], doc["@timestamp"]) == ("Again", *["2024-01-01T00:00:00Z"] * 2)
    doc = docs[doc_id_for_url(dated)][1]  # a dated article's @timestamp follows its published
    assert (doc["published"], doc["@timestamp"]) == ("2020-06-28T10:00:00Z", "2020-06-28T10:00:00Z")


def test_upsert_from_another_feed_never_overwrites_the_article(es_settings, es_client):
    setup_indices(es_client, es_settings.index_prefix)
    alias = es_settings.articles_alias
    url = "https://victim.substack.com/p/story"
    victim = {"url": "https://victim.substack.com/feed"}
    run_sink(es_settings, [upsert(alias, url, title="Real", body="Real body.", feed=victim)])
    intruder = upsert(
        alias,
        url,
        urls=["https://evil.substack.com/p/x", url],
        title="Fake",
        body="Fake body.",
        feed={"url": "https://evil.substack.com/feed"},
    )
    out, _ = run_sink(es_settings, [intruder])
    assert out == {"written": [doc_id_for_url(url)]}
    _index, doc = all_docs(es_client, alias)[doc_id_for_url(url)]
    assert (doc["title"], doc["body"], doc["feed"]) == ("Real", "Real body.", victim)
    assert doc["urls"] == [url, "https://evil.substack.com/p/x"]
    # The same feed may still correct its own article (re-extraction, a retry).
    run_sink(es_settings, [upsert(alias, url, title="Corrected", body="Real body.", feed=victim)])
    assert all_docs(es_client, alias)[doc_id_for_url(url)][1]["title"] == "Corrected"


def test_rolled_over_alias_keeps_each_id_in_one_index(es_settings, es_client):
    setup_indices(es_client, es_settings.index_prefix)
    alias = es_settings.articles_alias
    first = [upsert(alias, f"https://example.org/{i}") for i in range(3)]
    run_sink(es_settings, first)
    rolled = es_client.indices.rollover(alias=alias)
    assert rolled["rolled_over"] is True
    new_index = rolled["new_index"]
    # Re-writes of old ids (upsert and plain index) and two new documents.
    again = [upsert(alias, "https://example.org/0", title="Again")]
    again.append(
        IndexAction(alias, doc_id_for_url("https://example.org/1"), article("https://example.org/1"))
    )
    again += [upsert(alias, f"https://example.org/new{i}") for i in range(2)]
    out, _ = run_sink(es_settings, again)
    assert sorted(out["written"]) == sorted(a.id for a in again)
    docs = all_docs(es_client, alias)
    old_index = f"{alias}-000001"
    want = {doc_id_for_url(f"https://example.org/{i}"): old_index for i in range(3)}
    want.update({doc_id_for_url(f"https://example.org/new{i}"): new_index for i in range(2)})
    assert {doc_id: index for doc_id, (index, _doc) in docs.items()} == want
    assert docs[doc_id_for_url("https://example.org/0")][1]["title"] == "Again"


def test_mapping_conflicts_are_failures_with_reason(es_settings, es_client):
    setup_indices(es_client, es_settings.index_prefix)
    alias = es_settings.articles_alias
    good = [upsert(alias, f"https://example.org/g{i}") for i in range(3)]
    bad = [
        upsert(alias, "https://example.org/bad-date", published="not a date"),
        IndexAction(alias, "bad-size", {"story": {"size": "many"}}, url="https://example.org/bad-size"),
    ]
    out, counters = run_sink(es_settings, good + bad)
    assert sorted(out["written"]) == sorted(a.id for a in good)
    assert sorted(out["failed"]) == [
        ("https://example.org/bad-date", "mapping_error", 400),
        ("https://example.org/bad-size", "mapping_error", 400),
    ]
    assert "unwritten" not in out
    assert (counters["written"], counters["rejected"]) == (3, 2)
    assert sorted(all_docs(es_client, alias)) == sorted(a.id for a in good)


def test_written_article_clears_its_stale_failures(es_settings, es_client):
    setup_indices(es_client, es_settings.index_prefix)
    failures = es_settings.failures_alias
    url, other = "https://example.org/late", "https://example.org/still-dead"
    entry_link = "https://example.org/late?from=feed"
    stale = [
        IndexAction(failures, failure_id("fetch", entry_link), {"url": entry_link, "stage": "fetch"}),
        IndexAction(failures, failure_id("extract", url), {"url": url, "stage": "extract"}),
        IndexAction(failures, failure_id("feed", url), {"url": url, "stage": "feed"}),
        IndexAction(failures, failure_id("fetch", other), {"url": other, "stage": "fetch"}),
    ]
    BulkWriter(es_client, FAST).write(stale)
    es_client.indices.refresh(index=failures)
    action = upsert(es_settings.articles_alias, url, urls=[url, entry_link])
    out, counters = run_sink(es_settings, [action], clear_failures_alias=failures)
    assert out == {"written": [action.id]}
    assert counters["failures_cleared"] == 2
    assert sorted(all_docs(es_client, failures)) == sorted(
        [failure_id("feed", url), failure_id("fetch", other)]
    )


def test_batches_by_count_and_bytes(es_settings, es_client):
    setup_indices(es_client, es_settings.index_prefix)
    alias = es_settings.articles_alias
    actions = [upsert(alias, f"https://example.org/b{i}") for i in range(10)]
    p = TestPipeline()
    _ = p | beam.Create(actions) | WriteToElasticsearch(es_settings, policy=FAST, max_docs=4)
    result = p.run()
    result.wait_until_finish()
    docs = result.metrics().query(MetricsFilter().with_name("bulk_docs"))["distributions"]
    dist = docs[0].committed
    assert (dist.count, dist.sum, dist.max) == (3, 10, 4)
    size = len(bulk_lines(actions[0]).encode())
    p = TestPipeline()
    _ = (
        p
        | beam.Create(actions)
        | "Bytes" >> WriteToElasticsearch(es_settings, policy=FAST, max_bytes=size * 5 + 1)
    )
    result = p.run()
    result.wait_until_finish()
    dist = result.metrics().query(MetricsFilter().with_name("bulk_docs"))["distributions"][0].committed
    assert dist.sum == 10 and dist.max <= 6 and dist.count >= 2
    assert len(all_docs(es_client, alias)) == 10


def test_unwritten_when_server_unreachable_go_to_dead_letter_file(es_settings, tmp_path):
    from newsbeam.connectors.embedded import free_port
    from newsbeam.connectors.es_sink import read_dead_letters

    closed = es_settings.model_copy(update={"url": f"http://127.0.0.1:{free_port()}"})
    actions = [upsert(closed.articles_alias, f"https://example.org/u{i}") for i in range(3)]
    out, counters = run_sink(closed, actions, dead_letter_dir=str(tmp_path))
    assert sorted(out["unwritten"]) == sorted(a.id for a in actions)
    assert counters["unwritten"] == 3
    files = read_dead_letters(str(tmp_path))
    assert len(files) == 1
    assert sorted(files[0][1], key=lambda a: a.id) == sorted(actions, key=lambda a: a.id)


def test_max_buffer_seconds_flushes_old_buffers(es_settings, es_client):
    setup_indices(es_client, es_settings.index_prefix)
    actions = [upsert(es_settings.articles_alias, f"https://example.org/t{i}") for i in range(5)]
    p = TestPipeline()
    _ = p | beam.Create(actions) | WriteToElasticsearch(es_settings, policy=FAST, max_buffer_seconds=0)
    result = p.run()
    result.wait_until_finish()
    dist = result.metrics().query(MetricsFilter().with_name("bulk_docs"))["distributions"][0].committed
    assert (dist.count, dist.sum, dist.max) == (5, 5, 1)
    assert len(all_docs(es_client, es_settings.articles_alias)) == 5


def test_a_page_that_only_claims_the_articles_url_never_replaces_its_text(es_settings, es_client):
    setup_indices(es_client, es_settings.index_prefix)
    alias = es_settings.articles_alias
    url = "https://example.org/a/scholz-macron.html"
    run_sink(es_settings, [upsert(alias, url, title="Scholz trifft Macron", body="Der Kanzler ...")])
    # the comments page of the same site names the article as its canonical
    comments = "https://example.org/a/comments.html"
    claimer = IndexAction(
        alias,
        doc_id_for_url(url),
        {**article(url, urls=[comments, url], title="Reader comments", body="First!"), "url": comments},
        url=comments,
        op="upsert",
    )
    out, _ = run_sink(es_settings, [claimer])
    assert out == {"written": [doc_id_for_url(url)]}
    _index, doc = all_docs(es_client, alias)[doc_id_for_url(url)]
    assert (doc["title"], doc["body"], doc["url"]) == ("Scholz trifft Macron", "Der Kanzler ...", url)
    assert comments in doc["urls"]
    # the article's own page may still correct it, and a claiming page creates a missing article
    run_sink(
        es_settings, [upsert(alias, url, title="Scholz trifft Macron in Berlin", body="Der Kanzler ...")]
    )
    assert all_docs(es_client, alias)[doc_id_for_url(url)][1]["title"] == "Scholz trifft Macron in Berlin"
    other = "https://example.org/a/other.html"
    amp = "https://example.org/amp/other.html"
    created = IndexAction(
        alias, doc_id_for_url(other), {**article(other, title="Other"), "url": amp}, amp, "upsert"
    )
    run_sink(es_settings, [created])
    assert all_docs(es_client, alias)[doc_id_for_url(other)][1]["title"] == "Other"
