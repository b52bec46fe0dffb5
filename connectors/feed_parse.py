"""Feed bodies → entries, without Beam: what the feed parser's child process runs.

``ReadFeeds`` (connectors/feeds.py) parses each feed body in a child process
(``ExtractionSandbox``) with a time limit.  The child imports the module
of the function it runs; this module imports no Beam and no settings model, so
the child costs feedparser and newsbeam's small record types (about 0.1 s of
CPU and 30 MB) instead of Apache Beam (about 0.9 s and 140 MB, measured with
``bench/throughput.py --timeline``), and a run's first page requests, which
wait for every feed, start that much earlier.  ``parse_job`` is the child's
entry point; the feed travels as a ``FeedRef`` (url and name), not as the
pydantic ``FeedSpec``.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import re
import time
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urljoin, urlsplit

from newsbeam.connectors.feed_schedule import feed_poll_hint
from newsbeam.transforms.model import MAX_URL_CHARS, FeedEntry, short_name

__all__ = [
    "FeedRef",
    "ParsedFeed",
    "feed_base_url",
    "looks_like_html",
    "parse_feed",
    "parse_job",
    "repair_char_refs",
]


class FeedRef(NamedTuple):
    """What parsing needs of a configured feed (``FeedSpec`` has the same fields)."""

    url: str
    name: str | None = None


def _struct_to_iso(value: time.struct_time | None) -> str | None:
    if not value:
        return None
    try:
        stamp = calendar.timegm(value)
        return (
            dt.datetime.fromtimestamp(stamp, dt.timezone.utc)
            .isoformat(timespec="seconds")
            .replace("+00:00", "Z")
        )
    except (OverflowError, ValueError, TypeError):
        return None


@dataclasses.dataclass(frozen=True)
class ParsedFeed:
    """What ``parse_feed`` found in one feed body."""

    entries: list[FeedEntry]
    title: str | None
    error: str | None  # a failure reason (``malformed_feed``, ``no_links``) or None
    without_link: int = 0  # items with no link at all
    unsafe_link: int = 0  # items whose link is not an http(s) URL (javascript:, file:, ...) or too long
    unsafe_links: tuple[str, ...] = ()  # those links, for their failure documents
    poll_after: float | None = None  # <ttl> or sy:updatePeriod/Frequency, seconds


def feed_base_url(final_url: str, headers: Mapping[str, str]) -> str:
    """The URL relative links of a feed resolve against: the response's
    ``Content-Location`` resolved against the URL the feed was fetched from,
    when that gives an http(s) URL, else the fetched URL itself.

    feedparser takes a relative or ``javascript:`` Content-Location as the
    base as it is (it has no document URL when handed bytes), so it is
    resolved and vetted here.
    """
    location = next((v for k, v in headers.items() if k.lower() == "content-location"), None)
    if location and location.strip():
        resolved = _http_url(location.strip(), final_url)
        if resolved:
            return resolved
    return final_url


def _http_url(link: str, base: str) -> str | None:
    """``link`` resolved against ``base`` if the result is an http(s) URL with a host, of at most
    ``MAX_URL_CHARS`` characters."""
    if len(link) > MAX_URL_CHARS:
        return None
    try:
        resolved = urljoin(base, link.strip())
        parts = urlsplit(resolved)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or len(resolved) > MAX_URL_CHARS:
        return None
    return resolved


def _plain_title(item) -> str | None:
    """An item's title as text: feedparser gives an HTML title as markup ("AT&amp;T <i>wins</i>"),
    which would be stored and shown as such."""
    title = (item.get("title") or "").strip()
    if title and (item.get("title_detail") or {}).get("type") in ("text/html", "application/xhtml+xml"):
        from lxml import etree
        from lxml import html as lxml_html

        try:
            title = " ".join(lxml_html.fragment_fromstring(title, create_parent="div").text_content().split())
        except (etree.ParserError, ValueError):
            pass
    return title or None


_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")


def _ref_code(match: re.Match) -> int:
    hexa, decimal = match.group(1), match.group(2)
    digits = (hexa or decimal).lstrip(b"0")
    if len(digits) > 8:
        return 0x110000  # past Unicode (and int() refuses 4,301 digits)
    return int(digits or b"0", 16 if hexa else 10)


def repair_char_refs(content: bytes) -> bytes:
    """``content`` with its numeric character references made valid: a UTF-16 surrogate pair
    written as two references (``&#55357;&#56832;``, as many CMSs write an emoji) becomes the one
    character it encodes (``&#128512;``), and a lone surrogate or a number past U+10FFFF becomes
    U+FFFD.  feedparser's fallback parser raised on them (``chr(55357).encode('utf-8')``), so one
    emoji in one title lost the whole feed as ``malformed_feed``.  ASCII-compatible encodings
    only (a UTF-16 feed is left as it is)."""
    if b"&#" not in content:
        return content
    out, last = [], 0
    for match in _CHAR_REF.finditer(content):
        if match.start() < last:
            continue  # the low half of a pair already written
        code, end = _ref_code(match), match.end()
        if 0xD800 <= code <= 0xDBFF:
            low = _CHAR_REF.match(content, end)
            if low is not None and 0xDC00 <= _ref_code(low) <= 0xDFFF:
                combined = 0x10000 + ((code - 0xD800) << 10) + (_ref_code(low) - 0xDC00)
                out += [content[last : match.start()], b"&#%d;" % combined]
                last = low.end()
                continue
        if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            out += [content[last : match.start()], b"&#xFFFD;"]
            last = end
    if not out:
        return content
    out.append(content[last:])
    return b"".join(out)


def parse_feed(content: bytes, feed: FeedRef, final_url: str, headers: Mapping[str, str]) -> ParsedFeed:
    """Parse feed bytes into ``FeedEntry`` values.  Pure.

    ``headers`` are the response headers (they carry the charset and the
    ``Content-Location``); relative links resolve against
    ``feed_base_url(final_url, headers)`` and ``xml:base``.  Items without a
    link, or whose link is not http(s) (``javascript:``, ``file:``,
    ``mailto:``, ...), are skipped and counted.  feedparser is lenient: a
    feed with recoverable errors (``bozo``) still yields its entries; only a
    body with no entries *and* a parse error, or with no entries and no feed
    format at all (an empty body, an XML document of another kind, which
    feedparser does not flag), is a failure (``malformed_feed``): an empty
    ``<rss>`` or ``<feed>`` is a healthy feed with nothing in it; one whose
    items all lack a link is ``no_links`` (nothing of it can be fetched).
    """
    import feedparser

    base = feed_base_url(final_url, headers)
    response_headers = {k.lower(): v for k, v in headers.items()}
    response_headers["content-location"] = base
    parsed = feedparser.parse(repair_char_refs(content), response_headers=response_headers)
    title = short_name((parsed.feed.get("title") or "").strip())
    if not parsed.entries and (parsed.bozo or not parsed.get("version")):
        return ParsedFeed([], title, "malformed_feed")
    entries, without_link, unsafe, unsafe_links = [], 0, 0, []
    for item in parsed.entries:
        link = (item.get("link") or "").strip()
        if not link:
            without_link += 1
            continue
        resolved = _http_url(link, base)
        if resolved is None:
            unsafe += 1
            unsafe_links.append(link[: MAX_URL_CHARS + 1])
            continue
        entries.append(
            FeedEntry(
                feed_url=feed.url,
                feed_name=feed.name or title,
                link=resolved,
                url=resolved,  # normalized by CanonicalizeUrls
                title=_plain_title(item),
                published=_struct_to_iso(item.get("published_parsed") or item.get("updated_parsed")),
                summary=(item.get("summary") or "")[:2000] or None,
                entry_id=item.get("id"),
                authors=entry_authors(item),
                # feedparser answers updated_parsed with the published date when there is no
                # updated element: only the entry's own counts as a revision time
                updated=_struct_to_iso(item.get("updated_parsed")) if "updated" in item else None,
            )
        )
    # Items, none of which has a link (a redesign that dropped <link>, a guid that is no
    # permalink): the feed gives nothing to fetch, which "ok" with no entries would hide.
    error = "no_links" if not entries and without_link else None
    return ParsedFeed(
        entries, title, error, without_link, unsafe, tuple(unsafe_links), feed_poll_hint(parsed.feed)
    )


_RSS_AUTHOR_NAME_RE = re.compile(r"\(([^()@]+)\)")


def entry_authors(item: Mapping) -> tuple[str, ...]:
    """The names a feed item gives as its authors (pure): atom:author and dc:creator names;
    an RSS ``<author>`` is an e-mail address, with the name in parentheses when there is one
    ("jane@example.com (Jane Doe)": feedparser splits that one wrongly, so it is read here);
    at most 20, each at most 200 characters."""
    raw = item.get("author")
    if isinstance(raw, str) and "@" in raw:
        names = _RSS_AUTHOR_NAME_RE.findall(raw)
    else:
        names = [a.get("name") for a in item.get("authors") or () if isinstance(a, Mapping)]
        if not any(names) and isinstance(raw, str):
            names = [raw]
    cleaned = [" ".join(n.split())[:200] for n in names if isinstance(n, str) and n.strip()]
    return tuple(dict.fromkeys(cleaned))[:20]


def looks_like_html(content: bytes) -> bool:
    """True for a body that is plainly an HTML document (``<!DOCTYPE html>`` or
    ``<html`` first) with no RSS, Atom or RDF root element near its start."""
    head = content[:65536].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not head.startswith((b"<!doctype html", b"<html")):
        return False
    return not any(tag in head for tag in (b"<rss", b"<feed", b"<rdf:rdf"))


def parse_job(content: bytes, job) -> ParsedFeed:
    """``parse_feed`` in the sandbox's child process; ``job`` = (``FeedRef``, final URL, headers)."""
    feed, final_url, headers = job
    try:
        return parse_feed(content, feed, final_url, headers)
    except Exception:
        return ParsedFeed([], None, "malformed_feed")
