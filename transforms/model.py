"""Immutable elements that flow between the stages of the pipeline.

Every stage takes one of these and produces a new one with
``dataclasses.replace``; nothing is mutated in place.  They are plain frozen
dataclasses, so Beam pickles them and they compare by value in tests.

    FeedEntry ──FetchPages──► FetchedPage ──ExtractArticles──► Article ─► ... ─► document
                         └──────────── Failure (stage, reason) ──────────────┘
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from typing import Any

__all__ = [
    "MAX_NAME_CHARS",
    "MAX_URL_CHARS",
    "Article",
    "Failure",
    "FeedEntry",
    "FeedStatus",
    "FetchedPage",
    "doc_id_for_url",
    "failure_id",
    "iso_utc",
    "mask_userinfo",
    "short_name",
    "utcnow_iso",
    "without_userinfo",
]

# The longest URL newsbeam takes (an entry link longer is a ``bad_url`` failure): a keyword of
# 8,191 characters is at most 32,764 bytes in UTF-8, under Lucene's limit for one term, so ``urls``
# indexes every URL kept (``ignore_above: 8191`` in the templates) and a re-run finds it known
# instead of fetching it again.
MAX_URL_CHARS = 8191
# The longest outlet name kept (``source.name`` of an article, ``feed.name`` of a feed's health
# document: keywords indexed whole): it comes from the feed's <title> or the page's og:site_name,
# which a server may make 40,000 characters long; over 32,766 UTF-8 bytes Elasticsearch rejects
# the document ("immense term"), so every article of that feed and its health document were lost.
MAX_NAME_CHARS = 512


def short_name(value: str | None) -> str | None:
    """``value`` cut to ``MAX_NAME_CHARS`` characters (None stays None, blank becomes None)."""
    if value is None:
        return None
    return value[:MAX_NAME_CHARS].strip() or None


MASK = "***"
# Linear: a fixed scheme prefix, then one run of one class up to "@".
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]{0,30}://)[^/?#@\s]{1,1000}@")


def without_userinfo(url: str) -> str:
    """``url`` without its user info (``user:password@``): the address an article is known by,
    and shows, whatever credentials fetched it (a feed's, inherited by its relative links)."""
    if "@" not in url:
        return url
    return _URL_USERINFO.sub(lambda m: m.group("scheme"), url, count=1)


def mask_userinfo(text: str | None) -> str | None:
    """``text`` with the user info of every URL in it (``user:password@``) replaced by ``***@``:
    a feed URL's credentials never reach a document, a counter or a message."""
    if not text or "@" not in text:
        return text
    return _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


def iso_utc(value: dt.datetime) -> str:
    """``2020-06-27T09:05:00Z``: the one timestamp format of every document."""
    return value.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_instant(value: object) -> dt.datetime | None:
    """An ISO 8601 time (``2020-06-27T09:05:00Z``, ``...+02:00``, ``2020-06-27``), a ``datetime`` or a
    ``date`` as an aware ``datetime``; a value without offset is taken as UTC.  ``None`` for
    anything else (empty, unreadable): the one reader of the times newsbeam stores and compares."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip():
        try:
            # Python 3.10's fromisoformat knows no "Z".
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def utcnow_iso() -> str:
    return iso_utc(dt.datetime.now(dt.timezone.utc))


def epoch_iso(epoch: float) -> str:
    """``iso_utc`` of a ``time.time()`` value."""
    return iso_utc(dt.datetime.fromtimestamp(epoch, dt.timezone.utc))


def doc_id_for_url(canonical_url: str) -> str:
    """The Elasticsearch ``_id`` of the article whose canonical URL is given.

    A hash keeps ids short and free of characters that need escaping; 32 hex
    digits (128 bits) of SHA-256 make a collision as unlikely as a UUID's.
    """
    return hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()[:32]


MAX_GUID_CHARS = 2048  # a longer guid is no identity (a body pasted into <guid>)


def entry_key(feed_url: str, guid: str | None) -> str | None:
    """The identity of a feed entry by its guid (RSS ``<guid>``, Atom ``<id>``), scoped to its
    feed (two publishers' numeric ids do not meet): 32 hex digits, or None without a guid."""
    guid = (guid or "").strip()
    if not guid or len(guid) > MAX_GUID_CHARS:
        return None
    return hashlib.sha256(f"{mask_userinfo(feed_url)}\n{guid}".encode()).hexdigest()[:32]


def failure_id(stage: str, url: str) -> str:
    """The ``_id`` of the failure document for ``url`` at ``stage``: a retry
    of the same URL at the same stage updates the same document."""
    return hashlib.sha256(f"{stage}\n{url}".encode()).hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class FeedEntry:
    """One item of a feed, its link already normalized."""

    feed_url: str
    feed_name: str | None
    link: str  # as the feed gave it, resolved against the feed's URL
    url: str  # normalized (see transforms.urls.normalize_url)
    title: str | None = None
    published: str | None = None  # ISO 8601 UTC, from the feed entry
    summary: str | None = None
    entry_id: str | None = None
    # The entry's authors as the feed writes them (dc:creator, <author>, atom:author), for a
    # page that names none
    authors: tuple[str, ...] = ()
    # ISO 8601 UTC of the entry's own "updated" (Atom <updated>, atom:updated, dc:date or
    # dc:modified), when it has one: a later value than the one stored with the article is a revision
    updated: str | None = None
    attempts: int = 0  # earlier failed attempts at this URL (from news-failures)
    # A revision (connectors/known.py): the canonical URL its article is indexed under. The
    # article keeps it, and its _id, when the page now names another canonical URL.
    indexed_canonical: str | None = None
    # The entry's guid/id scoped to its feed (``entry_key``): the article's identity when the
    # publisher changes the link (a new slug) but not the guid; None when the entry has no
    # guid, or one this poll's feed gives to entries with other links (no identity then)
    entry_key: str | None = None
    # time.time() when the feed's response arrived: the fetcher leaves the feed's own site
    # host_delay after it before its first request there (connectors/fetch.py); a time, not
    # part of what the entry is
    feed_answered_at: float | None = dataclasses.field(default=None, compare=False)


@dataclasses.dataclass(frozen=True)
class FeedStatus:
    """The outcome of polling one feed: becomes a ``news-feeds`` document."""

    feed_url: str
    feed_name: str | None
    status: str  # "ok" or a failure reason such as "http_404"
    http_status: int | None
    entries: int
    title: str | None = None
    error: str | None = None
    polled_at: str | None = None
    etag: str | None = None  # validators of this response, for the next conditional GET
    last_modified: str | None = None
    # Seconds the publisher asks clients to wait before the next poll (<ttl>,
    # sy:updatePeriod, Cache-Control/Expires, Retry-After): connectors/feed_schedule.py
    poll_after: float | None = None
    moved_to: str | None = None  # the feed answered from here after a 301/308: update the config


@dataclasses.dataclass(frozen=True)
class FetchedPage:
    """A page downloaded for a feed entry."""

    entry: FeedEntry
    final_url: str  # after redirects, as fetched
    status: int
    content: bytes
    content_type: str | None
    encoding: str | None
    fetched_at: str  # ISO 8601 UTC


@dataclasses.dataclass(frozen=True)
class Article:
    """An extracted article; ``to_document`` gives its Elasticsearch body."""

    id: str
    url: str
    canonical_url: str
    urls: tuple[str, ...]
    title: str | None
    body: str
    authors: tuple[str, ...] = ()
    published: str | None = None
    published_source: str | None = None
    first_seen: str | None = None
    source_domain: str | None = None
    source_name: str | None = None
    feed_url: str | None = None
    entry_url: str | None = None  # normalized link of the feed entry (identity of its failures)
    entry_updated: str | None = None  # the feed entry's ``updated`` when the page was fetched
    entry_keys: tuple[str, ...] = ()  # feed-scoped guids of its entries (``entry_key``)
    language: str | None = None
    extraction: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Filled by later stages; None or empty until they run.
    dateline_places: tuple[str, ...] = ()
    agency: str | None = None
    story: dict[str, Any] | None = None
    band_keys: tuple[str, ...] = ()
    fingerprint: dict[str, Any] | None = None  # verification data of story clustering
    entities: dict[str, Any] | None = None

    def to_document(self) -> dict[str, Any]:
        """The document of the contract in docs/DESIGN.md."""
        doc: dict[str, Any] = {
            "url": without_userinfo(self.url),
            "canonical_url": self.canonical_url,
            "urls": list(self.urls),
            "title": self.title,
            "body": self.body,
            "authors": list(self.authors),
            "published": self.published,
            "published_source": self.published_source,
            "@timestamp": self.published or self.first_seen,
            "first_seen": self.first_seen,
            "source": {"domain": self.source_domain, "name": self.source_name},
            "feed": {"url": mask_userinfo(self.feed_url)},
            "entry_updated": self.entry_updated,
            "language": self.language,
            "extraction": dict(self.extraction),
        }
        if self.entry_keys:
            doc["entry_keys"] = list(self.entry_keys)
        if self.dateline_places:
            doc["dateline"] = {"places": list(self.dateline_places)}
        if self.agency:
            doc["agency"] = self.agency
        if self.story is not None:
            doc["story"] = dict(self.story)
        if self.band_keys:
            doc["story_bands"] = list(self.band_keys)
        if self.fingerprint is not None:
            doc["story_fp"] = dict(self.fingerprint)  # kept in _source, not indexed
        if self.entities is not None:
            doc["entities"] = dict(self.entities)
        return doc


@dataclasses.dataclass(frozen=True)
class Failure:
    """A per-item failure: becomes a ``news-failures`` document."""

    url: str
    stage: str  # feed, fetch, extract, index, ...
    reason: str  # short stable code: http_404, timeout, too_large, empty_text, ...
    http_status: int | None = None
    error: str | None = None  # one line for humans; never a payload or a secret
    feed_url: str | None = None
    attempts: int = 1
    at: str | None = None  # ISO 8601 UTC
    # No retry mends it, whatever its reason's usual verdict: a feed's link to its site's front
    # page (``not_article``) stays one.  Later runs give it up (connectors/known.py).
    final: bool = False
    # Seconds the page's site asked to be left alone (429/503 with ``Retry-After``): later runs
    # hold the whole site that long from ``at`` (capped: connectors/feed_schedule.py ``site_hold``).
    retry_after: float | None = None
    # The site (``connectors.http.site_of``) that answered with it: the held one.  Not always the
    # link's: an off-site redirect (a feed proxy to the publisher) moves the request to another.
    retry_after_site: str | None = None

    @property
    def id(self) -> str:
        return failure_id(self.stage, self.url)

    def to_document(self) -> dict[str, Any]:
        """The failure document; a feed's URL and every message go without user info (the
        ``_id`` still comes from the URL as configured, see ``id``)."""
        return {
            "url": mask_userinfo(self.url) if self.stage == "feed" else self.url,
            "stage": self.stage,
            "reason": self.reason,
            "http": {"status": self.http_status},
            "error": mask_userinfo(self.error),
            "feed": {"url": mask_userinfo(self.feed_url)},
            "attempts": self.attempts,
            "@timestamp": self.at,
            **({"final": True} if self.final else {}),
            **({"retry_after": self.retry_after} if self.retry_after else {}),
            **(
                {"retry_after_site": self.retry_after_site}
                if self.retry_after and self.retry_after_site
                else {}
            ),
        }
