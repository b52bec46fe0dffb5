"""``newsbeam search``: ranked hits from the articles alias."""

from __future__ import annotations

from typing import Any

__all__ = ["format_hits", "search_articles"]

_SOURCE = ["title", "source", "published", "url", "story"]


def _source_name(src: dict[str, Any]) -> str | None:
    source = src.get("source") or {}
    return source.get("name") or source.get("domain")


def search_articles(
    client, alias: str, query: str, size: int = 10, collapse: bool = False
) -> list[dict[str, Any]]:
    """Ranked hits; with ``collapse`` one hit per story (``story.cluster_id``),
    the story's best-matching copy, with its number of copies and outlets."""
    body: dict[str, Any] = {
        "query": {"multi_match": {"query": query, "fields": ["title^3", "body"], "type": "best_fields"}},
        "source": _SOURCE,
        "size": size,
    }
    if collapse:
        body["collapse"] = {"field": "story.cluster_id"}
    response = client.search(index=alias, **body)
    hits = []
    for hit in response["hits"]["hits"]:
        src = hit.get("_source", {})
        story = src.get("story") or {}
        hits.append(
            {
                "id": hit["_id"],
                "score": hit.get("_score"),
                "title": src.get("title"),
                "source": _source_name(src),
                "published": src.get("published"),
                "url": src.get("url"),
                "cluster_id": story.get("cluster_id"),
                "copies": story.get("size", 1),
            }
        )
    if collapse and hits:
        outlets = _outlets_per_story(client, alias, [h["cluster_id"] for h in hits if h["cluster_id"]])
        for hit in hits:
            hit["outlets"] = outlets.get(hit["cluster_id"], [hit["source"]] if hit["source"] else [])
    return hits


def _outlets_per_story(client, alias: str, cluster_ids: list[str]) -> dict[str, list[str]]:
    response = client.search(
        index=alias,
        size=0,
        query={"terms": {"story.cluster_id": cluster_ids}},
        aggs={
            "stories": {
                "terms": {"field": "story.cluster_id", "size": len(cluster_ids)},
                "aggs": {"outlets": {"terms": {"field": "source.name", "size": 50}}},
            }
        },
    )
    return {
        bucket["key"]: sorted(b["key"] for b in bucket["outlets"]["buckets"])
        for bucket in response["aggregations"]["stories"]["buckets"]
    }


def format_hits(hits: list[dict[str, Any]], console, collapse: bool = False) -> None:
    from rich.table import Table

    table = Table(show_lines=False)
    columns = (
        ["title", "copies", "outlets", "published", "url"]
        if collapse
        else ["title", "source", "published", "url"]
    )
    for column in columns:
        table.add_column(column, overflow="fold")
    for hit in hits:
        if collapse:
            row = [
                hit["title"],
                str(hit.get("copies", 1)),
                ", ".join(hit.get("outlets") or []),
                hit["published"],
                hit["url"],
            ]
        else:
            row = [hit["title"], hit["source"], hit["published"], hit["url"]]
        table.add_row(*(value or "" for value in row))
    console.print(table)
