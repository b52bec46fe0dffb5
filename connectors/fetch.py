"""FetchPages: download the article page of each new feed entry.

Input: ``FeedEntry``.  Outputs: main ``FetchedPage``; ``failed``
``Failure(stage="fetch")`` with reasons ``http_<status>``, ``timeout``,
``too_large``, ``too_many_redirects``, ``blocked_host``, ``connection_error``,
``ssl_error``, ``dns_error``, ``bad_url``, ``not_html``, ``robots_disallowed``
or ``robots_unavailable``.

Guarantees: one pooled session per DoFn instance (``setup``); every
redirect hop is checked against the host policy; bodies are capped at
``fetch.max_bytes``; timeouts, 429 and 5xx are retried with backoff and
jitter before the entry is recorded as failed.  Politeness: entries are
grouped by site (scheme, host and port); each site's robots.txt is read
once per run and obeyed (RFC 9309, with protego: ``robots_disallowed``;
an unreachable robots.txt means complete disallow, ``robots_unavailable``,
retried by later runs), and its pages are fetched one at a time,
``fetch.host_delay`` seconds apart or the site's ``Crawl-delay`` if larger
(capped at ``fetch.max_crawl_delay``).  Different sites are fetched in
parallel; the grouping is also the shuffle that spreads downloads across
workers after the feed fan-out.
Budgets (see connectors/budget.py): each site gets what is left of
``fetch.host_budget`` seconds for this run, and nothing starts after the
run's deadline; every request's deadline is cut to that.  Entries a site
had no time left for go to the ``deferred`` output (not failed: the next
run fetches them).
Counters in ``news.fetch``: ``fetched``, ``failed_<reason>``; distribution
``bytes``; in ``news.budget``: ``deferred|<feed>``, ``host_ms|<site>``.

Example usage::

    fetched = new_entries | 'FetchPages' >> FetchPages(settings.fetch)
    pages, failures = fetched.pages, fetched.failed
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam import pvalue

from newsbeam.config.settings import FetchSettings
from newsbeam.connectors import budget
from newsbeam.connectors.http import FetchError, HttpFetcher
from newsbeam.transforms.model import Failure, FeedEntry, FetchedPage, utcnow_iso
from newsbeam.transforms.progress import Progress

__all__ = ["FetchPages"]

_LOG = logging.getLogger(__name__)
_NS = "news.fetch"
FAILED_TAG = "failed"
DEFERRED_TAG = "deferred"
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xml", "text/xml", "text/plain"})
_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
_AGENT = "newsbeam"  # the product token robots.txt groups are matched against


def robots_verdict(fetch_error: FetchError | None) -> str:
    """What a failed robots.txt request means (RFC 9309, section 2.3.1):
    "allow" (4xx: there are no rules; or a file too large to read),
    "disallow" (the server or the network failed: assume complete disallow)
    or "refused" (newsbeam's host policy refused the site itself)."""
    if fetch_error is None:
        return "allow"
    if fetch_error.reason in ("blocked_host", "bad_url"):
        return "refused"  # our own host policy: each page is refused with that reason
    status = fetch_error.status or 0
    if 400 <= status < 500 or fetch_error.reason in ("too_large", "not_html", "too_many_redirects"):
        return "allow"
    return "disallow"


class _FetchPageFn(beam.DoFn):
    """Fetches the entries of one host in sequence: its robots.txt first,
    then one page at a time, ``fetch.host_delay`` (or the site's
    ``Crawl-delay``, capped) apart.  Hosts are fetched in parallel."""

    def __init__(
        self,
        fetch_settings: FetchSettings,
        sleep: Callable[[float], None] = time.sleep,
        plan: budget.WavePlan | None = None,
    ):
        self._settings = fetch_settings
        self._sleep = sleep
        self._plan = plan or budget.WavePlan()
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

    def _robots(self, site: str, until: float | None = None):
        """(parser or None, "allow" | "disallow", message) for ``site`` (scheme://host:port)."""
        from protego import Protego

        url = f"{site}/robots.txt"
        try:
            response = self._fetcher.get(url, headers={"Accept": "text/plain,*/*;q=0.5"}, deadline=until)
        except FetchError as exc:
            return None, robots_verdict(exc), f"{url}: {exc}"
        text = response.content[:500_000].decode("utf-8", "replace")  # RFC 9309: parse at least 500 KiB
        return Protego.parse(text), "allow", ""

    def process(self, keyed):
        site, entries = keyed
        host = self._plan.host_clock(site, self._settings.host_budget)
        try:
            yield from self._process_site(site, entries, host)
        finally:
            spent_ms = int(host.spent * 1000)
            beam.metrics.Metrics.counter(budget.NS, f"{budget.HOST_MS}{site}").inc(spent_ms)

    def _defer(self, entry: FeedEntry):
        beam.metrics.Metrics.counter(budget.NS, f"{budget.DEFERRED}{entry.feed_url}").inc()
        return pvalue.TaggedOutput(DEFERRED_TAG, entry)

    def _process_site(self, site: str, entries, host: budget.HostClock):
        settings = self._settings
        entries = sorted(entries, key=lambda e: e.url)
        if host.remaining() <= 0:
            for entry in entries:
                yield self._defer(entry)
            return
        rules, verdict, message = (None, "allow", "")
        if settings.respect_robots:
            with host.charge():
                rules, verdict, message = self._robots(site, host.until())
            if verdict == "disallow" and host.remaining() <= 0:
                for entry in entries:  # robots.txt cut by the budget, not refused by the site
                    yield self._defer(entry)
                return
        delay = settings.host_delay
        if rules is not None:
            crawl_delay = rules.crawl_delay(_AGENT)
            if crawl_delay:
                delay = max(delay, min(float(crawl_delay), settings.max_crawl_delay))
        requested = False
        for entry in entries:
            if verdict == "disallow":
                why = f"robots.txt unavailable, so disallowed: {message}"
                yield self._fail(entry, "robots_unavailable", why, None)
                continue
            if rules is not None and not rules.can_fetch(entry.link, _AGENT):
                why = f"{entry.link} is disallowed by {site}/robots.txt"
                yield self._fail(entry, "robots_disallowed", why, None)
                continue
            # The host's budget or the run's time used up: left for the next run.
            if requested and delay:
                if delay >= host.remaining():
                    yield self._defer(entry)
                    continue
                with host.charge():
                    self._sleep(delay)
            if host.remaining() <= 0:
                yield self._defer(entry)
                continue
            requested = True
            with host.charge():  # outputs are yielded after the clock stops
                outputs = list(self._fetch(entry, host))
            yield from outputs

    def _fetch(self, entry: FeedEntry, host: budget.HostClock | None = None):
        try:
            until = host.until() if host is not None else None
            response = self._fetcher.get(entry.link, headers={"Accept": _ACCEPT}, deadline=until)
        except FetchError as exc:
            if exc.reason == "timeout" and host is not None and host.remaining() <= 0.01:
                yield self._defer(entry)  # cut by the host budget or the run's end, not by the page
                return
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
    """FeedEntry → FetchedPage (``pages``), Failure (``failed``), FeedEntry
    left for the next run by the host budget or the run's deadline (``deferred``)."""

    def __init__(self, fetch_settings: FetchSettings, plan: budget.WavePlan | None = None):
        super().__init__()
        if not isinstance(fetch_settings, FetchSettings):
            raise ValueError("FetchPages: fetch_settings must be a FetchSettings")
        self._settings = fetch_settings
        self._plan = plan

    def expand(self, entries):
        # Grouping by site spreads the downloads across workers (it is a
        # shuffle, like Reshuffle) while keeping each site's requests in one
        # place, where they are spaced out and checked against its robots.txt.
        return (
            entries
            | "BySite" >> beam.Map(lambda e: (_site_of(e.link), e))
            | "GroupBySite" >> beam.GroupByKey()
            | "Fetch"
            >> beam.ParDo(_FetchPageFn(self._settings, plan=self._plan)).with_outputs(
                FAILED_TAG, DEFERRED_TAG, main="pages"
            )
        )


def _site_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}"
