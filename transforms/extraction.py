"""Article extraction: HTML in, body text and metadata out.  Pure functions.

``extract_article`` is the leaf the ``ExtractArticles`` transform calls.  It
never raises for bad HTML: an unusable page comes back with an empty ``body``
and the caller records an ``empty_text`` failure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

__all__ = ["ExtractionResult", "extract_article", "parse_iso_datetime"]

_DATE_PARAMS = {
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
    "original_date": True,
    "extensive_search": True,
}


@dataclasses.dataclass(frozen=True)
class ExtractionResult:
    body: str
    title: str | None = None
    authors: tuple[str, ...] = ()
    published: str | None = None  # ISO 8601; UTC when the page gives a time of day
    published_has_time: bool = False
    published_source: str | None = None  # jsonld, meta, url, text, ...
    language: str | None = None
    sitename: str | None = None
    canonical_href: str | None = None  # rel=canonical as written in the page
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)


_CANONICAL_RE = re.compile(rb"<link\b[^>]*\brel\s*=\s*[\"']?canonical[\"']?[^>]*>", re.IGNORECASE)
_HREF_RE = re.compile(rb"\bhref\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))", re.IGNORECASE)


def find_canonical_href(html: bytes) -> str | None:
    """The href of the first ``<link rel=canonical>`` in the page, if any."""
    match = _CANONICAL_RE.search(html[:500_000])
    if not match:
        return None
    href = _HREF_RE.search(match.group(0))
    if not href:
        return None
    value = next(g for g in href.groups() if g is not None).strip()
    return value.decode("utf-8", "replace") or None


def parse_iso_datetime(value: str | None) -> tuple[dt.datetime | None, bool]:
    """Parse an ISO 8601 string; return (aware UTC datetime, has_time_of_day).

    A value without a time (``2020-06-27``) or trafilatura's date-only
    rendering (midnight, no offset) counts as a date without time of day.
    """
    if not value:
        return None, False
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None, False
    date_only = len(text) <= 10 or (parsed.tzinfo is None and parsed.time() == dt.time(0, 0))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC), not date_only


def _split_authors(author: str | None) -> tuple[str, ...]:
    if not author:
        return ()
    parts = [a.strip() for a in re.split(r";|\band\b", author) if a.strip()]
    return tuple(dict.fromkeys(parts))


def extract_article(html: bytes | str, url: str | None = None) -> ExtractionResult:
    """Extract the main text and metadata of one article page."""
    import trafilatura

    raw = html.encode("utf-8") if isinstance(html, str) else html
    doc = trafilatura.bare_extraction(
        raw,
        url=url,
        with_metadata=True,
        include_comments=False,
        deduplicate=False,
        favor_precision=True,
        date_extraction_params=_DATE_PARAMS,
    )
    provenance = {
        "extractor": "trafilatura",
        "version": trafilatura.__version__,
        "method": "trafilatura.favor_precision",
    }
    if doc is None:
        return ExtractionResult(
            body="", canonical_href=find_canonical_href(raw), provenance=provenance
        )
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    body = (data.get("text") or "").strip()
    published, has_time = parse_iso_datetime(data.get("date"))
    provenance["signals"] = {"chars": len(body)}
    return ExtractionResult(
        body=body,
        title=(data.get("title") or None),
        authors=_split_authors(data.get("author")),
        published=published.isoformat().replace("+00:00", "Z") if published else None,
        published_has_time=has_time,
        published_source="page" if published else None,
        sitename=data.get("sitename") or None,
        canonical_href=find_canonical_href(raw),
        provenance=provenance,
    )
