"""An article whose URL is longer than the old 2,048-character ``ignore_above`` is indexed in
``urls`` and known on the next run (it was fetched and written again on every run); a link longer
than ``MAX_URL_CHARS`` is a ``bad_url`` failure; installed v2 templates are upgraded in place."""

from __future__ import annotations

import pytest

from newsbeam.config.settings import FeedSpec
from newsbeam.connectors.es import setup_indices
from newsbeam.connectors.site_server import SiteServer
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import run_batch
from newsbeam.transforms.model import MAX_URL_CHARS

pytestmark = pytest.mark.slow

PAGE = """<!DOCTYPE html><html><head><title>Harbour story</title></head><body><article>
<h1>Harbour story</h1><p>{body}</p></article></body></html>"""
FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Long links</title>
<item><title>Harbour story</title><link>{{{{BASE_URL}}}}/a.html?q={long}</link></item>
<item><title>Endless</title><link>{{{{BASE_URL}}}}/b.html?q={endless}</link></item>
</channel></rss>"""


def test_a_long_url_is_known_on_the_next_run_and_an_endless_one_is_a_bad_url(
    tmp_path, demo_settings, es_client
):
    root = tmp_path / "site"
    root.mkdir()
    body = " ".join(f"Sentence {i}: the harbour board met on Monday." for i in range(30))
    (root / "a.html").write_text(PAGE.format(body=body), encoding="utf-8")
    (root / "b.html").write_text(PAGE.format(body=body), encoding="utf-8")
    long, endless = "y" * 3000, "z" * MAX_URL_CHARS
    (root / "feed.xml").write_text(FEED.format(long=long, endless=endless), encoding="utf-8")
    with SiteServer(root) as site:
        feed = FeedSpec(url=f"{site.base_url}/feed.xml", name="Long links")
        settings = demo_settings.model_copy(update={"feeds": (feed,)})
        first = run_batch(settings, beam_options([]))
        assert first.get("news.known/new") == 1
        assert first.failures_by_reason == {"feed:bad_url": 1}
        failures = es_client.search(index=settings.elasticsearch.failures_alias, query={"match_all": {}})
        (failure,) = [hit["_source"] for hit in failures["hits"]["hits"]]
        assert failure["error"].endswith(f"is longer than {MAX_URL_CHARS} characters")
        pages = [path for path in site.requests if path.startswith("/a.html")]
        assert len(pages) == 1

        second = run_batch(settings, beam_options([]))
        assert (second.get("news.known/new"), second.get("news.known/known")) == (0, 1)
        assert len([path for path in site.requests if path.startswith("/a.html")]) == 1  # not fetched again


def test_installed_v2_templates_get_the_longer_url_keywords_in_place(es_client, index_prefix):
    setup_indices(es_client, index_prefix)
    old = {"properties": {"url": {"type": "keyword", "ignore_above": 2048}}}
    for part in ("articles", "failures"):  # back to a v2 installation and its indices
        es_client.cluster.put_component_template(
            name=f"{index_prefix}-{part}@mappings", template={"mappings": old}, meta={"version": 2}
        )
        # and the index's stamp of its mappings version (connectors/es.py) back to 2
        es_client.indices.put_mapping(
            index=f"{index_prefix}-{part}-000001", meta={"managed_by": "newsbeam", "version": 2}, **old
        )
    changes = setup_indices(es_client, index_prefix)
    for part in ("articles", "failures"):
        index = f"{index_prefix}-{part}-000001"
        assert f"mappings of {index} upgraded" in changes
        props = es_client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
        assert props["url"]["ignore_above"] == MAX_URL_CHARS
