"""End to end: ``newsbeam run`` over the demo site into a real server.

Asserts the exact set of documents, their content, the failure documents,
and that a second run adds nothing; once in-memory and once with the shipped
default of batch runs (``LocalRunner``, one worker process per core).
"""

from __future__ import annotations

import pytest
from apache_beam.options.pipeline_options import DirectOptions

from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import run_batch
from newsbeam.transforms.model import doc_id_for_url, failure_id
from newsbeam.transforms.urls import normalize_url

pytestmark = [pytest.mark.es, pytest.mark.slow]

RUNNERS = {
    "in_memory": ["--direct_running_mode=in_memory"],
    "default": [],
}


def _all_docs(client, alias):
    client.indices.refresh(index=alias)
    response = client.search(index=alias, query={"match_all": {}}, size=1000)
    return {hit["_id"]: hit["_source"] for hit in response["hits"]["hits"]}


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param("in_memory", marks=pytest.mark.es_client),
        pytest.param("default", marks=pytest.mark.default_runner),
    ],
)
def test_run_indexes_exactly_the_demo_articles(mode, demo_settings, demo_site, expected, es_client):
    settings = demo_settings
    options = beam_options(RUNNERS[mode], batch=True)
    if mode == "default":
        assert options.view_as(DirectOptions).direct_running_mode == "multi_processing"
    summary = run_batch(settings, options)
    base = demo_site.base_url

    articles = _all_docs(es_client, settings.elasticsearch.articles_alias)
    want = {doc_id_for_url(base + a["canonical_path"]): a for a in expected["articles"]}
    assert sorted(articles) == sorted(want)
    for doc_id, spec in want.items():
        doc = articles[doc_id]
        assert doc["title"] == spec["title"]
        assert doc["canonical_url"] == base + spec["canonical_path"]
        assert normalize_url(spec["resolved_link"]) in doc["urls"]
        assert doc["published"] == spec["published"], spec["path"]
        assert doc["published_source"] == spec["published_source"], spec["path"]
        assert doc["source"]["name"] == spec["outlet"]
        assert doc["source"]["domain"] == "127.0.0.1"
        assert doc["feed"]["url"] == base + spec["feed"]
        assert doc["language"] == "en"
        for sentence in spec["must_contain"]:
            assert sentence in doc["body"], (spec["path"], sentence)
        for chrome in spec["must_not_contain"]:
            assert chrome not in doc["body"], (spec["path"], chrome)

        assert doc["entities"]["model"].startswith("en_core_web_sm"), spec["path"]
    full_copy = articles[doc_id_for_url(base + "/courier/2020/06/27/russia-bounties-taliban-report.html")]
    assert {"Donald Trump", "Vladimir Putin", "John Ullyot"} <= set(full_copy["entities"]["person"])
    assert {"Taliban", "CIA", "NATO"} <= set(full_copy["entities"]["org"])
    assert {"Afghanistan", "Russia", "Washington"} <= set(full_copy["entities"]["location"])

    # Stories: copies share one cluster, labelled with the earliest copy's id.
    by_story: dict[str, list[str]] = {}
    for doc_id, spec in want.items():
        by_story.setdefault(spec["story"], []).append(doc_id)
    for story, ids in by_story.items():
        earliest = min(ids, key=lambda i: (want[i]["published"], i))
        clusters = {articles[i]["story"]["cluster_id"] for i in ids}
        assert clusters == {earliest}, story
        assert [i for i in ids if articles[i]["story"]["is_canonical"]] == [earliest], story
        assert {articles[i]["story"]["size"] for i in ids} == {len(ids)}, story
    assert len(by_story["russia-bounties"]) == 4
    for a, b in expected["same_topic_different_story"]:
        assert by_story[a][0] != by_story[b][0]
        assert (
            articles[by_story[a][0]]["story"]["cluster_id"] != articles[by_story[b][0]]["story"]["cluster_id"]
        )
    assert articles[by_story["russia-bounties"][0]]["dateline"]["places"]

    failures = _all_docs(es_client, settings.elasticsearch.failures_alias)
    dead = expected["dead"][0]
    dead_url = normalize_url(dead["resolved_link"])
    broken_feed = base + expected["malformed_feeds"][0]
    assert sorted(failures) == sorted([failure_id("fetch", dead_url), failure_id("feed", broken_feed)])
    fetch_failure = failures[failure_id("fetch", dead_url)]
    assert (fetch_failure["stage"], fetch_failure["reason"], fetch_failure["http"]["status"]) == (
        "fetch",
        "http_404",
        404,
    )
    assert fetch_failure["attempts"] == 1
    feed_failure = failures[failure_id("feed", broken_feed)]
    assert (feed_failure["stage"], feed_failure["reason"]) == ("feed", "malformed_feed")

    feeds = _all_docs(es_client, settings.elasticsearch.feeds_alias)
    assert len(feeds) == len(settings.feeds)
    by_url = {doc["feed"]["url"]: doc for doc in feeds.values()}
    assert by_url[broken_feed]["status"] == "malformed_feed"
    assert by_url[broken_feed]["error_streak"] == 1
    assert sum(doc["new_items"] for doc in feeds.values()) == len(want) + len(expected["dead"])
    assert summary.get("news.known/new") == len(want) + len(expected["dead"])

    # A second run recognises every article and adds nothing anywhere.
    again = run_batch(settings, beam_options(RUNNERS[mode], batch=True))
    assert again.get("news.known/new") == 0
    assert again.get("news.known/known") == len(want)
    assert again.get("news.known/retry_later") == 1
    assert again.get("news.fetch/fetched") == 0
    assert _all_docs(es_client, settings.elasticsearch.articles_alias).keys() == articles.keys()
    assert _all_docs(es_client, settings.elasticsearch.failures_alias).keys() == failures.keys()
    feeds_again = _all_docs(es_client, settings.elasticsearch.feeds_alias)
    assert feeds_again.keys() == feeds.keys()
    assert {doc["feed"]["url"]: doc["new_items"] for doc in feeds_again.values()} == dict.fromkeys(by_url, 0)
    assert {d["feed"]["url"]: d["error_streak"] for d in feeds_again.values()}[broken_feed] == 2
    failures_again = _all_docs(es_client, settings.elasticsearch.failures_alias)
    assert failures_again[failure_id("feed", broken_feed)]["attempts"] == 2
