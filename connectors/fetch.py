"""FetchPages: download the article page of each new feed entry.

Input: ``FeedEntry``.  Outputs: main ``FetchedPage``; ``failed``
``Failure(stage="fetch")`` with reasons ``http_<status>``, ``timeout``,
``too_large``, ``too_many_redirects``, ``blocked_host``, ``connection_error``,
``ssl_error``, ``dns_error``, ``bad_url`` or ``not_html``.

Guarantees: one pooled session per DoFn instance (``setup``); every
redirect hop is checked against the host policy; bodies are capped at
``fetch.max_bytes``; timeouts, 429 and 5xx are retried with backoff and
jitter before the entry is recorded as failed.  A ``Reshuffle`` before the
fetch spreads downloads across workers after the feed fan-out.
Counters in ``news.fetch``: ``fetched``, ``failed_<reason>``; distribution
``bytes``.

Example usage::

    fetched = new_entries | 'FetchPages' >> FetchPages(settings.fetch)
    pages, failures = fetched.pages, fetched.failed
"""

from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam import pvalue

from newsbeam.config.settings import FetchSettings
from newsbeam.connectors.http import FetchError, HttpFetcher
from newsbeam.transforms.model import Failure, FeedEntry, FetchedPage, utcnow_iso
from newsbeam.transforms.progress import Progress

__all__ = ["FetchPages"]

_LOG = logging.getLogger(__name__)
_NS = "news.fetch"
FAILED_TAG = "failed"
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xml", "text/xml", "text/plain"})
_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"


class _FetchPageFn(beam.DoFn):
    def __init__(self, fetch_settings: FetchSettings):
        self._settings = fetch_settings
        self._fetcher = None
        self._fetched = beam.metrics.Metrics.counter(_NS, "fetched")
        self._bytes = beam.metrics.Metrics.distribution(_NS, "bytes")

    def setup(self):
        self._fetcher = HttpFetcher.from_settings(self._settings)
        self._progress = Progress(_LOG, "pages fetched")

    def teardown(self):
        if self._fetcher is not None:
            self._fetcher.close()

    def _fail(self, entry: FeedEntry, reason: str, message: str, status: int | None):
        beam.metrics.Metrics.counter(_NS, f"failed_{reason}").inc()
        _LOG.debug("fetch %s: %s", entry.url, message)
        return pvalue.TaggedOutput(
            FAILED_TAG,
            Failure(url=entry.url, stage="fetch", reason=reason, http_status=status, error=message,
                    feed_url=entry.feed_url, attempts=entry.attempts + 1, at=utcnow_iso()),
        )  # fmt: skip

    def process(self, entry: FeedEntry):
        try:
            response = self._fetcher.get(entry.link, headers={"Accept": _ACCEPT})
        except FetchError as exc:
            yield self._fail(entry, exc.reason, str(exc), exc.status)
            return
        if response.content_type and response.content_type not in _HTML_TYPES:
            yield self._fail(
                entry,
                "not_html",
                f"{response.url} is {response.content_type}, not HTML",
                response.status,
            )
            return
        self._fetched.inc()
        self._progress.tick()
        self._bytes.update(len(response.content))
        yield FetchedPage(
            entry=entry,
            final_url=response.url,
            status=response.status,
            content=response.content,
            content_type=response.content_type,
            encoding=response.charset,
            fetched_at=utcnow_iso(),
        )


class FetchPages(beam.PTransform):
    """FeedEntry → FetchedPage (``pages``), Failure (``failed``)."""

    def __init__(self, fetch_settings: FetchSettings):
        super().__init__()
        if not isinstance(fetch_settings, FetchSettings):
            raise ValueError("FetchPages: fetch_settings must be a FetchSettings")
        self._settings = fetch_settings

    def expand(self, entries):
        return (
            entries
            | "Spread" >> beam.Reshuffle()
            | "Fetch" >> beam.ParDo(_FetchPageFn(self._settings)).with_outputs(FAILED_TAG, main="pages")
        )
