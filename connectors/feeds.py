"""ReadFeeds: poll RSS/Atom feeds and emit their entries.

Input: a PCollection of ``FeedSpec`` (url, optional name).  Outputs, as a
``DoOutputsTuple``:

- main: ``FeedEntry`` per item with a link (relative links resolved against
  the URL the feed was fetched from and its ``Content-Location``);
- ``failed``: a ``Failure(stage="feed")`` per feed that could not be polled
  (HTTP error, timeout, blocked host, a body that is not a parseable feed);
- ``status``: one ``FeedStatus`` per feed, for ``news-feeds``.

A feed's failure is never fatal to the run.  Bytes are fetched with the
project's own guarded session (``connectors.http``) and handed to feedparser
together with the response headers, so encodings and relative links resolve
as the server meant them.  Counters in namespace ``news.feeds``: ``polled``,
``failed``, ``entries``, ``entries_without_link``.

Example usage::

    polled = feeds | 'ReadFeeds' >> ReadFeeds(settings.fetch)
    entries, failures = polled.entries, polled.failed
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import time

import apache_beam as beam
from apache_beam import pvalue

from newsbeam.config.settings import FeedSpec, FetchSettings
from newsbeam.connectors.http import FetchError, HttpFetcher
from newsbeam.transforms.model import Failure, FeedEntry, FeedStatus

__all__ = ["ReadFeeds", "parse_feed"]

_LOG = logging.getLogger(__name__)
_NS = "news.feeds"
FAILED_TAG = "failed"
STATUS_TAG = "status"

_FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)


def utcnow_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


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


def parse_feed(
    content: bytes, feed: FeedSpec, final_url: str, headers: dict[str, str]
) -> tuple[list[FeedEntry], str | None, str | None]:
    """Parse feed bytes; return (entries, feed title, error reason or None).

    feedparser is lenient: a feed with recoverable errors (``bozo``) still
    yields its entries.  Only a body with no entries *and* a parse error is a
    failure (``malformed_feed``).
    """
    import feedparser

    response_headers = dict(headers)
    response_headers.setdefault("content-location", final_url)
    parsed = feedparser.parse(content, response_headers=response_headers)
    title = (parsed.feed.get("title") or "").strip() or None
    if parsed.bozo and not parsed.entries:
        return [], title, "malformed_feed"
    entries = []
    for item in parsed.entries:
        link = item.get("link")
        if not link:
            continue
        entries.append(
            FeedEntry(
                feed_url=feed.url,
                feed_name=feed.name or title,
                link=link,
                url=link,  # normalized by CanonicalizeUrls
                title=(item.get("title") or "").strip() or None,
                published=_struct_to_iso(item.get("published_parsed") or item.get("updated_parsed")),
                summary=(item.get("summary") or "")[:2000] or None,
                entry_id=item.get("id"),
            )
        )
    return entries, title, None


class _ReadFeedFn(beam.DoFn):
    def __init__(self, fetch_settings: FetchSettings):
        self._settings = fetch_settings
        self._fetcher = None
        self._polled = beam.metrics.Metrics.counter(_NS, "polled")
        self._failed = beam.metrics.Metrics.counter(_NS, "failed")
        self._entries = beam.metrics.Metrics.counter(_NS, "entries")
        self._no_link = beam.metrics.Metrics.counter(_NS, "entries_without_link")

    def setup(self):
        self._fetcher = HttpFetcher.from_settings(self._settings)

    def teardown(self):
        if self._fetcher is not None:
            self._fetcher.close()

    def process(self, feed: FeedSpec):
        polled_at = utcnow_iso()
        self._polled.inc()
        try:
            response = self._fetcher.get(feed.url, headers={"Accept": _FEED_ACCEPT})
        except FetchError as exc:
            self._failed.inc()
            _LOG.warning("feed %s: %s", feed.url, exc)
            yield pvalue.TaggedOutput(
                FAILED_TAG,
                Failure(url=feed.url, stage="feed", reason=exc.reason, http_status=exc.status,
                        error=str(exc), feed_url=feed.url, at=polled_at),
            )  # fmt: skip
            yield pvalue.TaggedOutput(
                STATUS_TAG,
                FeedStatus(feed_url=feed.url, feed_name=feed.name, status=exc.reason,
                           http_status=exc.status, entries=0, error=str(exc), polled_at=polled_at),
            )  # fmt: skip
            return
        entries, title, error = parse_feed(response.content, feed, response.url, dict(response.headers))
        if error:
            self._failed.inc()
            message = f"{feed.url} is not a parseable RSS/Atom feed"
            _LOG.warning("feed %s: %s", feed.url, message)
            yield pvalue.TaggedOutput(
                FAILED_TAG,
                Failure(url=feed.url, stage="feed", reason=error, http_status=response.status,
                        error=message, feed_url=feed.url, at=polled_at),
            )  # fmt: skip
        self._entries.inc(len(entries))
        yield pvalue.TaggedOutput(
            STATUS_TAG,
            FeedStatus(feed_url=feed.url, feed_name=feed.name or title, status=error or "ok",
                       http_status=response.status, entries=len(entries), title=title,
                       error=None if not error else "not a parseable feed", polled_at=polled_at),
        )  # fmt: skip
        yield from entries


class ReadFeeds(beam.PTransform):
    """FeedSpec → FeedEntry (main), Failure (``failed``), FeedStatus (``status``)."""

    def __init__(self, fetch_settings: FetchSettings):
        super().__init__()
        if not isinstance(fetch_settings, FetchSettings):
            raise ValueError("ReadFeeds: fetch_settings must be a FetchSettings")
        self._settings = fetch_settings

    def expand(self, feeds):
        return (
            feeds
            | "Spread" >> beam.Reshuffle()
            | "Poll"
            >> beam.ParDo(_ReadFeedFn(self._settings)).with_outputs(FAILED_TAG, STATUS_TAG, main="entries")
        )
