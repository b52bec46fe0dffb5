"""``newsbeam search``: ranked hits from the articles alias."""

from __future__ import annotations

from typing import Any

__all__ = ["format_hits", "search_articles"]

_SOURCE = ["title", "source", "published", "url", "story"]


def search_articles(client, alias: str, query: str, size: int = 10) -> list[dict[str, Any]]:
    response = client.search(
        index=alias,
        query={
            "multi_match": {
                "query": query,
                "fields": ["title^3", "body"],
                "type": "best_fields",
            }
        },
        source=_SOURCE,
        size=size,
    )
    hits = []
    for hit in response["hits"]["hits"]:
        src = hit.get("_source", {})
        hits.append(
            {
                "id": hit["_id"],
                "score": hit.get("_score"),
                "title": src.get("title"),
                "source": (src.get("source") or {}).get("name") or (src.get("source") or {}).get("domain"),
                "published": src.get("published"),
                "url": src.get("url"),
            }
        )
    return hits


def format_hits(hits: list[dict[str, Any]], console) -> None:
    from rich.table import Table

    table = Table(show_lines=False)
    for column in ("title", "source", "published", "url"):
        table.add_column(column, overflow="fold")
    for hit in hits:
        table.add_row(
            hit["title"] or "",
            hit["source"] or "",
            hit["published"] or "",
            hit["url"] or "",
        )
    console.print(table)
