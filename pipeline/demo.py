"""``newsbeam demo``: the whole product on one machine in one command.

Starts what is not running (the embedded server, unless ES_URL names another
cluster; the demo news site on a free local port), runs the batch pipeline
over the demo feeds and reports what it found.  A second demo indexes
nothing new: the articles are recognised by their URLs.
"""

from __future__ import annotations

import os
import shutil
import sys

import yaml

from newsbeam.connectors.embedded import EmbeddedServer
from newsbeam.connectors.es import connect, describe
from newsbeam.connectors.site_server import SiteServer, demo_site_dir
from newsbeam.pipeline.report import keep_summary, print_summary
from newsbeam.pipeline.run import resolve_models, run_batch
from newsbeam.pipeline.search import format_hits, search_articles

__all__ = ["demo_feeds", "run_demo"]

SAMPLE_QUERY = "Russia Taliban bounties"


def demo_feeds(site: SiteServer) -> list[dict]:
    text = site.substitute((site.root / "feeds.yaml").read_text(encoding="utf-8"))
    return yaml.safe_load(text)["feeds"]


def run_demo(settings, options, console, start_embedded: bool = True) -> int:
    from newsbeam.config.settings import FeedSpec

    settings = resolve_models(settings)  # a missing spaCy model: a usage error before any server starts
    if start_embedded:
        from newsbeam.pipeline.lifecycle import check_own_server

        server = EmbeddedServer(port=settings.embedded.port, data_dir=settings.embedded.data_dir)
        check_own_server(server)  # never write into another checkout's server
        if not server.answers():
            console.print(f"starting the embedded Elasticsearch-compatible server on port {server.port} ...")
            server.start(timeout=settings.embedded.start_timeout)
        settings = settings.model_copy(
            update={"elasticsearch": settings.elasticsearch.model_copy(update={"url": server.url})}
        )
    try:
        site = SiteServer(demo_site_dir(), port=settings.demo.site_port, etags=True)
    except OSError:
        site = SiteServer(demo_site_dir(), port=0, etags=True)
        console.print(
            f"port {settings.demo.site_port} is taken; serving the demo site on port "
            f"{site.base_url.rsplit(':', 1)[1]} instead (its URLs differ from earlier demos, so "
            "their articles count as new)"
        )
    with site:
        feeds = tuple(FeedSpec(**feed) for feed in demo_feeds(site))
        settings = settings.model_copy(update={"feeds": feeds})
        console.print(
            f"demo news site at {site.base_url} ({len(feeds)} feeds); indexing into "
            f"{describe(settings.elasticsearch)}"
        )
        summary = run_batch(settings, options, command="demo")  # its lease and record name it
    print_summary(summary, settings, console)
    keep_summary(summary, settings, "demo")  # newsbeam status lists it with the runs
    client = connect(settings.elasticsearch)
    try:
        client.indices.refresh(index=settings.elasticsearch.articles_alias)
        total = client.count(index=settings.elasticsearch.articles_alias)["count"]
        hits = search_articles(
            client, settings.elasticsearch.articles_alias, SAMPLE_QUERY, size=5, collapse=True
        )
    finally:
        client.close()
    written = summary.get("news.es/written")
    console.print(
        f"\n{total} articles in {settings.elasticsearch.articles_alias}"
        + (
            ""
            if summary.get("news.known/new")
            else " (nothing new: the feeds answered 304 Not Modified or every entry was already indexed)"
        )
        + f"; {written} documents written in this run."
    )
    console.print(f"\nSample search, one line per story: newsbeam search --collapse {SAMPLE_QUERY!r}")
    format_hits(hits, console, collapse=True)
    url = describe(settings.elasticsearch)
    where = f" --es-url {url}"
    if settings.elasticsearch.index_prefix != "news":
        where += f" --index-prefix {settings.elasticsearch.index_prefix}"
    hint = ""
    if shutil.which("newsbeam") is None:
        hint = f" (first: . {os.path.relpath(os.path.dirname(sys.executable))}/activate)"
    console.print(
        f"\nGo on with{hint}:\n"
        f"  newsbeam search --collapse 'wire report'{where}\n"
        f"  curl -s '{url}/{settings.elasticsearch.articles_alias}/_search?q=Taliban&pretty'\n"
        f"  curl -s '{url}/{settings.elasticsearch.failures_alias}/_search?pretty'  # dead links, bad feeds\n"
        "  docker compose up -d   # real Elasticsearch + Kibana (see README)\n"
        "  ES_URL=http://localhost:9200 newsbeam demo\n"
        "  newsbeam es stop       # stop the embedded server (data is kept)"
    )
    return 0
