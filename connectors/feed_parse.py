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
from newsbeam.transforms.model import MAX_URL_CHARS, FeedEntry, entry_key, parse_instant, short_name

__all__ = [
    "FeedRef",
    "advertised_feeds",
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
    """Parse feed bytes (RSS, Atom, RDF, or a JSON Feed) into ``FeedEntry`` values.  Pure.

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
    content = _bom_to_utf8(content, response_headers)
    parsed = _json_feed(content)
    if parsed is None:
        parsed = feedparser.parse(repair_char_refs(content), response_headers=response_headers)
    title = short_name((parsed.feed.get("title") or "").strip())
    if not parsed.entries and (parsed.bozo or not parsed.get("version")):
        return ParsedFeed([], title, "malformed_feed")
    entries, without_link, unsafe, unsafe_links = [], 0, 0, []
    shared = _shared_guids(parsed.entries)
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
                entry_key=None if _guid(item) in shared else entry_key(feed.url, _guid(item)),
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


class _JsonFeed(dict):
    """A JSON Feed as much as ``parse_feed`` reads of feedparser's result."""

    def __getattr__(self, name):
        return self[name]


def _json_time(value) -> time.struct_time | None:
    when = parse_instant(value) if isinstance(value, str) else None
    return None if when is None else when.utctimetuple()


_JSON_SUMMARY = ("summary", "content_text")


def _json_feed(content: bytes) -> _JsonFeed | None:
    """A JSON Feed (https://jsonfeed.org, versions 1 and 1.1), which feedparser does not read, in
    the shape of feedparser's result: items with ``url`` (else ``external_url``) as their link,
    ``id`` as guid, ``date_published``/``date_modified`` as dates.  None when the body is not
    one (every other body goes to feedparser)."""
    import json

    head = content[:64].lstrip()
    if not head.startswith(b"{"):
        return None
    try:
        document = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(document, dict) or "jsonfeed.org/version/" not in str(document.get("version") or ""):
        return None
    entries = []
    for item in document.get("items") or []:
        if not isinstance(item, dict):
            continue
        link = item.get("url") or item.get("external_url")
        entry = {
            "link": link if isinstance(link, str) else "",
            "id": str(item["id"]) if isinstance(item.get("id"), (str, int)) else None,
            "title": item.get("title") if isinstance(item.get("title"), str) else None,
            "summary": next(
                (item[k] for k in ("summary", "content_text") if isinstance(item.get(k), str)), None
            ),
            "published_parsed": _json_time(item.get("date_published")),
        }
        # authors (version 1.1) or author (1.0): objects with a name
        people = item.get("authors") if isinstance(item.get("authors"), list) else [item.get("author")]
        entry["authors"] = [p for p in people if isinstance(p, dict)]
        if _json_time(item.get("date_modified")) is not None:
            entry["updated"] = item["date_modified"]
            entry["updated_parsed"] = _json_time(item["date_modified"])
        entries.append(entry)
    title = document.get("title") if isinstance(document.get("title"), str) else ""
    return _JsonFeed(entries=entries, feed={"title": title}, bozo=False, version="json")


# Byte order marks, longest first (UTF-32 LE starts like UTF-16 LE).
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _bom_to_utf8(content: bytes, headers: dict[str, str]) -> bytes:
    """A body that starts with a byte order mark, as UTF-8 without it; ``headers`` (lower-cased
    names) then say ``charset=utf-8``.  The mark decides the encoding, whatever the
    ``Content-Type`` charset claims (as browsers and the WHATWG encoding standard have it):
    feedparser believed the header, and a UTF-16 feed served as ``text/xml; charset=utf-8``
    was ``malformed_feed`` (a UTF-8 one with a BOM served as ISO-8859-1 would be mojibake)."""
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            text = content[len(bom) :].decode(encoding, errors="replace")
            mime = (headers.get("content-type") or "").split(";")[0].strip() or "application/xml"
            headers["content-type"] = f"{mime}; charset=utf-8"
            return text.encode("utf-8")
    return content


def _guid(item) -> str:
    return str(item.get("id") or "").strip()


def _shared_guids(items) -> set[str]:
    """Guids this feed gives to entries with different links: such a guid names no one article
    (a CMS that writes one guid, or the feed's own URL, on every item), so it is no identity and
    each of those entries is known by its link alone."""
    links: dict[str, set[str]] = {}
    for item in items:
        guid = _guid(item)
        if guid:
            links.setdefault(guid, set()).add((item.get("link") or "").strip())
    return {guid for guid, seen in links.items() if len(seen) > 1}


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


_LINK_TAG = re.compile(rb"<link\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(rb"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_FEED_TYPES = (b"application/rss+xml", b"application/atom+xml", b"application/rdf+xml")


def advertised_feeds(content: bytes, base_url: str, limit: int = 3) -> list[str]:
    """The feeds an HTML page advertises (``<link rel="alternate" type="application/rss+xml"
    href=...>`` in its first 64 KiB), resolved against ``base_url``: an operator who put a
    site's address in the feeds file is told which feed URL to put there instead.  Pure."""
    found: list[str] = []
    for tag in _LINK_TAG.findall(content[:65536]):
        attributes = {
            name.lower(): (a if a is not None else b if b is not None else c)
            for name, a, b, c in (
                (m.group(1), m.group(2), m.group(3), m.group(4)) for m in _ATTRIBUTE.finditer(tag)
            )
        }
        rel = (attributes.get(b"rel") or b"").lower().split()
        kind = (attributes.get(b"type") or b"").strip().lower()
        href = (attributes.get(b"href") or b"").strip()
        if b"alternate" in rel and kind in _FEED_TYPES and href:
            url = _http_url(href.decode("utf-8", "replace"), base_url)
            if url and url not in found:
                found.append(url)
        if len(found) >= limit:
            break
    return found


def parse_job(content: bytes, job) -> ParsedFeed:
    """``parse_feed`` in the sandbox's child process; ``job`` = (``FeedRef``, final URL, headers)."""
    feed, final_url, headers = job
    try:
        return parse_feed(content, feed, final_url, headers)
    except Exception:
        return ParsedFeed([], None, "malformed_feed")
