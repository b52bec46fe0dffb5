"""ReadFeeds: poll RSS/Atom feeds and emit their entries.

Input: a PCollection of ``FeedSpec`` (url, optional name).  Outputs, as a
``DoOutputsTuple``:

- main: ``FeedEntry`` per item with a link (relative links resolved against
  the URL the feed was fetched from and its ``Content-Location``);
- ``failed``: a ``Failure(stage="feed")`` per feed that could not be polled
  (HTTP error, timeout, blocked host, a body that is not a parseable feed,
  ``no_links``: items, none of which has a link);
- ``status``: one ``FeedStatus`` per feed, for ``news-feeds``.

A feed's failure is never fatal to the run.  Bytes are fetched with the
project's own guarded session (``connectors.http``) and handed to feedparser
together with the response headers, so encodings and relative links resolve
as the server meant them.  Every entry link is an absolute http(s) URL:
a relative or ``javascript:`` ``Content-Location`` never becomes the base,
and items whose link is not http(s) are skipped.  A 304 answer (conditional
request) gives status ``not_modified`` and no entries.

Parsing is bounded like extraction: feedparser runs in a child process
(``ExtractionSandbox``, running ``connectors/feed_parse.py``, which imports no
Beam) and a body that takes longer than
``fetch.feed_parse_timeout`` seconds is a ``timeout`` failure of the feed (a
5 MB HTML page served as a feed took 56 s in feedparser); a body that is
plainly an HTML document, not a feed, is ``malformed_feed`` without being
parsed at all.  Counters in namespace
``news.feeds``: ``polled``, ``failed``, ``entries``, ``entries_without_link``,
``entries_unsafe_link``, ``not_modified``, ``moved`` (answered after a permanent redirect,
301 or 308: the status carries the new URL as ``moved_to``), ``not_polled`` (the run's time limit came
first: see ``ReadFeeds``).

Example usage::

    polled = feeds | 'ReadFeeds' >> ReadFeeds(settings.fetch)
    entries, failures = polled.entries, polled.failed
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping

import apache_beam as beam
from apache_beam import pvalue

from newsbeam.config.settings import FeedSpec, FetchSettings
from newsbeam.connectors.feed_parse import (
    FeedRef,
    ParsedFeed,
    advertised_feeds,
    feed_base_url,
    looks_like_html,
    parse_feed,
    parse_job,
)
from newsbeam.connectors.feed_schedule import combine, header_poll_hint
from newsbeam.connectors.http import FetchError, HttpFetcher, site_of
from newsbeam.transforms.model import MAX_URL_CHARS, Failure, FeedStatus, mask_userinfo, utcnow_iso

__all__ = ["ParsedFeed", "ReadFeeds", "feed_base_url", "looks_like_html", "parse_feed"]

_LOG = logging.getLogger(__name__)
_NS = "news.feeds"
FAILED_TAG = "failed"
STATUS_TAG = "status"

_FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/feed+json;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)


def _status_error(reason: str | None, message: str) -> str | None:
    """The error a feed's health (and its failure document) shows: the message that says why,
    naming the feed ("... is an HTML page, not an RSS/Atom feed" after a site's redesign, "...
    answered an empty body"), not one phrase for every ``malformed_feed``."""
    return None if reason is None else message


# Longer validators are not kept: http.etag is a keyword (doc values), which Elasticsearch
# refuses over 32,766 bytes, so a 40 kB ETag had the feed's health document rejected.
MAX_VALIDATOR_CHARS = 1024


def validator(value: str | None) -> str | None:
    """An ``ETag`` or ``Last-Modified`` worth keeping for the next conditional request: stripped,
    non-empty and at most ``MAX_VALIDATOR_CHARS`` characters (else None: the feed is fetched
    whole next time)."""
    value = (value or "").strip()
    return value if value and len(value) <= MAX_VALIDATOR_CHARS else None


def conditional_headers(validators: Mapping[str, str] | None) -> dict[str, str]:
    """``If-None-Match``/``If-Modified-Since`` from a feed's stored validators."""
    headers = {}
    if validators:
        if (validators.get("etag") or "").strip():
            headers["If-None-Match"] = validators["etag"].strip()
        if (validators.get("last_modified") or "").strip():
            headers["If-Modified-Since"] = validators["last_modified"].strip()
    return headers


class _ReadFeedFn(beam.DoFn):
    def __init__(
        self,
        fetch_settings: FetchSettings,
        validators: Mapping[str, Mapping[str, str]],
        deadline: float | None = None,
        sleep=time.sleep,
        clock=time.monotonic,
    ):
        self._settings = fetch_settings
        self._validators = dict(validators)
        self._deadline = deadline  # the run's end, a time.time() value
        self._sleep, self._clock = sleep, clock  # for the pause between two feeds of one site
        self._fetcher = None
        self._polled = beam.metrics.Metrics.counter(_NS, "polled")
        self._not_polled = beam.metrics.Metrics.counter(_NS, "not_polled")
        self._failed = beam.metrics.Metrics.counter(_NS, "failed")
        self._entries = beam.metrics.Metrics.counter(_NS, "entries")
        self._no_link = beam.metrics.Metrics.counter(_NS, "entries_without_link")
        self._unsafe_link = beam.metrics.Metrics.counter(_NS, "entries_unsafe_link")
        self._not_modified = beam.metrics.Metrics.counter(_NS, "not_modified")
        self._moved_count = beam.metrics.Metrics.counter(_NS, "moved")

    def setup(self):
        from newsbeam.transforms.extraction import ExtractionSandbox
        from newsbeam.transforms.idle import CHILD_IDLE_SECONDS, IdleCloser

        # A feed has its own size limit: a podcast's or a full-text feed's runs to tens of MB.
        self._fetcher = HttpFetcher.from_settings(
            self._settings, max_bytes=self._settings.feed_limit, limit_name="fetch.feed_max_bytes"
        )
        # The parser child is closed when idle (feeds are read in one burst per run or
        # cycle); it starts again, warmed up first, on the next parse.
        self._sandbox = IdleCloser(ExtractionSandbox(parse_job), CHILD_IDLE_SECONDS, on_close=self._cooled)
        self._warm = False
        self._answered: dict[str, float] = {}  # site -> clock() when its last feed request ended

    def _cooled(self):
        self._warm = False

    def _skip(self, feed: FeedSpec) -> None:
        self._not_polled.inc()
        _LOG.debug("feed %s not polled: the run's time limit was reached", mask_userinfo(feed.url))

    def finish_bundle(self):
        self._sandbox.idle_from_now()

    def teardown(self):
        if self._fetcher is not None:
            self._fetcher.close()
        if getattr(self, "_sandbox", None) is not None:
            self._sandbox.close()

    def _parse(self, response, feed: FeedSpec) -> tuple[ParsedFeed, str]:
        """(parsed feed, why it failed) with the parse time limit."""
        from newsbeam.transforms.extraction import ExtractionCrashed, ExtractionTimeout

        if not response.content.strip():
            return ParsedFeed([], None, "malformed_feed"), f"{feed.url} answered an empty body, not a feed"
        if looks_like_html(response.content):
            message = f"{feed.url} is an HTML page, not an RSS/Atom feed"
            advertised = advertised_feeds(response.content, response.url)
            if advertised:  # the site's address in the feeds file: name the feed it links to
                links = " and ".join(advertised)
                message += f"; the page links to the feed {links}: put that in the feeds file"
            return ParsedFeed([], None, "malformed_feed"), message
        limit = self._settings.feed_parse_timeout
        # A FeedRef, not the FeedSpec: the child then needs neither pydantic nor the settings module.
        job = (FeedRef(feed.url, feed.name), response.url, dict(response.headers))
        try:
            with self._sandbox.use() as sandbox:
                if not self._warm:  # start the child first, so the limit measures parsing, not its start-up
                    self._warm = True
                    warm = FeedRef("http://warm-up.invalid/")
                    try:
                        sandbox.extract_with_limit(b"<rss/>", (warm, warm.url, {}), 120)
                    except (ExtractionTimeout, ExtractionCrashed):
                        _LOG.debug(
                            "the feed parser's child process did not start; trying again with the feed"
                        )
                parsed = sandbox.extract_with_limit(response.content, job, limit)
        except ExtractionTimeout:
            return ParsedFeed([], None, "timeout"), f"parsing {feed.url} took longer than {limit:g} s"
        except ExtractionCrashed:
            return ParsedFeed([], None, "malformed_feed"), f"the feed parser crashed on {feed.url}"
        if parsed.error == "no_links":
            return parsed, f"none of the {parsed.without_link} items of {feed.url} has a link to an article"
        return parsed, f"{feed.url} is not a parseable RSS/Atom feed"

    def _moved(self, response, feed: FeedSpec) -> str | None:
        """Where the feed moved for good (301/308), for its health; counted and logged once per
        poll, so the operator updates the feeds file instead of every poll taking the detour."""
        moved = response.moved_to
        if not moved or len(moved) > MAX_URL_CHARS:
            return None
        self._moved_count.inc()
        _LOG.warning(
            "feed %s has moved permanently to %s: update the feeds file",
            mask_userinfo(feed.url),
            mask_userinfo(moved),
        )
        return mask_userinfo(moved)

    def _until(self) -> float | None:
        """The run's deadline on the monotonic clock (``HttpFetcher.get``'s), or None."""
        if self._deadline is None:
            return None
        return time.monotonic() + (self._deadline - time.time())

    def _pace(self, site: str, until: float | None) -> bool:
        """Wait until ``fetch.host_delay`` has passed since this site's last feed request ended
        (``ReadFeeds`` hands one site's feeds to one worker, one after the other); False, without
        waiting, when the run's deadline comes first."""
        last = self._answered.get(site)
        wait = 0.0 if last is None else last + self._settings.host_delay - self._clock()
        if wait <= 0:
            return True
        if until is not None and time.monotonic() + wait >= until:
            return False
        self._sleep(wait)
        return True

    def process(self, feed: FeedSpec):
        until = self._until()
        site = site_of(feed.url)
        if (until is not None and time.monotonic() >= until) or not self._pace(site, until):
            self._skip(feed)  # the run's time is up before this feed's turn
            return
        polled_at = utcnow_iso()
        try:
            yield from self._poll(feed, polled_at, until)
        finally:
            self._answered[site] = self._clock()

    def _poll(self, feed: FeedSpec, polled_at: str, until: float | None):
        try:
            headers = {"Accept": _FEED_ACCEPT, **conditional_headers(self._validators.get(feed.url))}
            response = self._fetcher.get(feed.url, headers=headers, deadline=until)
            answered = time.time()
        except FetchError as exc:
            if exc.reason == "timeout" and until is not None and time.monotonic() >= until - 0.05:
                self._skip(feed)  # cut by the run's end, not by a fault of the feed
                return
            self._polled.inc()
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
                           http_status=exc.status, entries=0, error=str(exc), polled_at=polled_at,
                           poll_after=getattr(exc, "retry_after", None)),
            )  # fmt: skip
            return
        self._polled.inc()
        if response.status == 304:  # only after a conditional request: nothing new
            self._not_modified.inc()
            yield pvalue.TaggedOutput(
                STATUS_TAG,
                FeedStatus(feed_url=feed.url, feed_name=feed.name, status="not_modified",
                           http_status=304, entries=0, polled_at=polled_at,
                           moved_to=self._moved(response, feed),
                           poll_after=header_poll_hint(response.headers)),
            )  # fmt: skip
            return
        parsed, message = self._parse(response, feed)
        if parsed.error:
            self._failed.inc()
            _LOG.warning("feed %s: %s", feed.url, message)
            yield pvalue.TaggedOutput(
                FAILED_TAG,
                Failure(url=feed.url, stage="feed", reason=parsed.error, http_status=response.status,
                        error=message, feed_url=feed.url, at=polled_at),
            )  # fmt: skip
        self._entries.inc(len(parsed.entries))
        self._no_link.inc(parsed.without_link)
        self._unsafe_link.inc(parsed.unsafe_link)
        for link in parsed.unsafe_links:  # recorded, not dropped silently
            what = (
                f"is longer than {MAX_URL_CHARS} characters"
                if len(link) > MAX_URL_CHARS
                else "is not an http(s) URL"
            )
            yield pvalue.TaggedOutput(
                FAILED_TAG,
                Failure(url=link[:MAX_URL_CHARS], stage="feed", reason="bad_url", http_status=None,
                        error=f"entry link of {feed.url} {what}", feed_url=feed.url, at=polled_at),
            )  # fmt: skip
        yield pvalue.TaggedOutput(
            STATUS_TAG,
            FeedStatus(feed_url=feed.url, feed_name=feed.name or parsed.title, status=parsed.error or "ok",
                       http_status=response.status, entries=len(parsed.entries), title=parsed.title,
                       error=_status_error(parsed.error, message), polled_at=polled_at,
                       etag=validator(response.headers.get("etag")),
                       last_modified=validator(response.headers.get("last-modified")),
                       moved_to=self._moved(response, feed),
                       poll_after=combine(parsed.poll_after, header_poll_hint(response.headers))),
        )  # fmt: skip
        for entry in parsed.entries:
            yield dataclasses.replace(entry, feed_answered_at=answered)


class ReadFeeds(beam.PTransform):
    """FeedSpec → FeedEntry (main), Failure (``failed``), FeedStatus (``status``).

    Feeds of one site (scheme, host and port) are polled one after the other,
    ``fetch.host_delay`` apart (in a bounded input; a stream of polls is spread
    feed by feed), as pages are: a newspaper's thirty section feeds are not
    thirty requests at once.

    ``deadline``: the run's end (a ``time.time()`` value, ``--max-run-time``): no feed request
    starts after it (nor a pause before one that would end past it) and one in flight is cut
    at it; such a feed gives nothing (no failure, no status, its validators kept), counted in
    ``not_polled``, and the next run polls it."""

    def __init__(
        self,
        fetch_settings: FetchSettings,
        validators: Mapping[str, Mapping[str, str]] | None = None,
        deadline: float | None = None,
    ):
        super().__init__()
        if not isinstance(fetch_settings, FetchSettings):
            raise ValueError("ReadFeeds: fetch_settings must be a FetchSettings")
        self._settings = fetch_settings
        self._validators = {url: dict(v) for url, v in (validators or {}).items()}
        self._deadline = deadline

    def expand(self, feeds):
        if getattr(feeds, "is_bounded", True):
            # One site's feeds go to one worker and are polled one after the other, host_delay
            # apart: 30 section feeds of one newspaper were 30 requests within a fraction of a
            # second, where its pages are spaced host_delay apart.  (Grouping also spreads the
            # sites over the workers, as the Reshuffle did.)
            spread = (
                feeds
                | "BySite" >> beam.Map(lambda feed: (site_of(feed.url), feed))
                | "GroupBySite" >> beam.GroupByKey()
                | "OneByOne" >> beam.FlatMapTuple(lambda _site, its: sorted(its, key=lambda f: f.url))
            )
        else:  # a stream of polls (newsbeam's unbounded graph): a grouping would wait for ever
            spread = feeds | "Spread" >> beam.Reshuffle()
        return spread | "Poll" >> beam.ParDo(
            _ReadFeedFn(self._settings, self._validators, self._deadline)
        ).with_outputs(FAILED_TAG, STATUS_TAG, main="entries")
