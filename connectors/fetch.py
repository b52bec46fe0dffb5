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
grouped by site, that is by host (``site_of``: ``http://`` and ``https://``
of a host are one site, one server; a port other than the scheme's default
is a site of its own); a site has at most one request in flight, and each
of its requests (robots.txt included) starts ``fetch.host_delay`` seconds
after the previous one ended, or the site's ``Crawl-delay`` if larger
(capped at ``fetch.max_crawl_delay``); when the feed that listed the entries
is on the same site, its response counts as the previous request.
robots.txt is per origin (scheme, host and port: ``origin_of``), read once
per run for each origin a site's pages are on and obeyed (RFC 9309, with
protego: ``robots_disallowed``; an unreachable robots.txt means complete
disallow, ``robots_unavailable``, retried by later runs; only its first
``ROBOTS_PARSE_LIMIT`` bytes are read, whatever ``fetch.max_bytes``, and a
longer one is obeyed up to its last whole line there).  A page redirected to
another origin is not followed there by the request: the entry queues at
the target's site (read from its ``Location``; the same site from ``http``
to ``https`` of a host, where it is the next request), behind that origin's
robots.txt and the site's delay, with what is left of ``fetch.max_redirects``
for the whole chain; its failures and pages still carry the entry the feed
gave (``FetchedPage.final_url`` is where it ended).  Redirects within an
origin are followed at once.  A page
answered 429 or 503 with ``Retry-After`` holds its whole site that long (its
other entries go to the next run when that passes the site's budget).  Different
sites are fetched at the same time, inside each worker, up to
``fetch.max_connections`` requests in flight; pages are emitted as they arrive.
The grouping by site is also the shuffle that spreads sites across workers
after the feed fan-out.  With ``groups`` (newsbeam's local runner: one per
worker process, ``pipeline/build.py``), the sites are packed into that many
groups of about the same number of entries (``balance_sites``) instead: that
runner hands out one group key per worker in turn, so one group per site
split the sites by count, not by work, and one worker ran out of pages
seconds before the other.
Budgets (see connectors/budget.py): each site gets what is left of
``fetch.host_budget`` seconds for this run (its requests and the pauses
between them), and nothing starts after the run's deadline; every
request's deadline is cut to that.  Entries a site had no time left for go
to the ``deferred`` output (not failed: the next run fetches them).
Counters in ``news.fetch``: ``fetched``, ``failed_<reason>``; distribution
``bytes``; in ``news.budget``: ``deferred|<feed>``, ``host_ms|<site>``.

Example usage::

    fetched = new_entries | 'FetchPages' >> FetchPages(settings.fetch)
    pages, failures = fetched.pages, fetched.failed
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.transforms.window import BoundedWindow, GlobalWindows
from apache_beam.utils.windowed_value import WindowedValue

from newsbeam.config.settings import FetchSettings
from newsbeam.connectors import budget
from newsbeam.connectors.http import (
    SNIFFED_TYPES,
    FetchError,
    HttpFetcher,
    OffSiteRedirect,
    origin_of,
    site_of,
)
from newsbeam.transforms.model import Failure, FeedEntry, FetchedPage, epoch_iso, utcnow_iso
from newsbeam.transforms.progress import Progress

__all__ = ["FetchPages", "balance_sites"]

_LOG = logging.getLogger(__name__)
_NS = "news.fetch"
FAILED_TAG = "failed"
DEFERRED_TAG = "deferred"
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xml", "text/xml", "text/plain"})
_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
_AGENT = "newsbeam"  # the product token robots.txt groups are matched against
_DONE = object()  # the scheduler's last event of a bundle
_INTAKE_POLL = 0.05  # seconds: how often a busy scheduler looks for new sites
# RFC 9309 section 2.5: a robots.txt is parsed up to a limit of at least 500 KiB, not ignored when
# larger.  Only that much is read (whatever fetch.max_bytes), and parsed up to its last whole line.
ROBOTS_PARSE_LIMIT = 512 * 1024


def robots_prefix(content: bytes) -> bytes:
    """The whole lines of a robots.txt cut short: up to its last line break (none: nothing),
    so that a rule cut in the middle (``Disallow: /priv``) is not obeyed as another rule."""
    end = max(content.rfind(b"\n"), content.rfind(b"\r"))
    return content[: end + 1]


def robots_verdict(fetch_error: FetchError | None) -> str:
    """What a failed robots.txt request means (RFC 9309, section 2.3.1):
    "allow" (4xx: there are no rules; also ``too_large``, which the page fetcher no longer
    gets: it reads a robots.txt up to ``ROBOTS_PARSE_LIMIT``),
    "disallow" (the server or the network failed: assume complete disallow)
    or "refused" (newsbeam's host policy refused the site itself)."""
    if fetch_error is None:
        return "allow"
    if fetch_error.reason in ("blocked_host", "bad_url"):
        return "refused"  # our own host policy: each page is refused with that reason
    status = fetch_error.status or 0
    # 3xx that could not be followed (a 304 to a plain request) is unavailable like 4xx (RFC 9309 2.3.1.2)
    if 300 <= status < 500 or fetch_error.reason in ("too_large", "not_html", "too_many_redirects"):
        return "allow"
    return "disallow"


class _Job:
    """One entry on its way: the URL to request next (its link, or where a redirect to
    another site sent it) and the redirects its chain may still take."""

    __slots__ = ("entry", "url", "redirects_left")

    def __init__(self, entry: FeedEntry, url: str, redirects_left: int):
        self.entry = entry
        self.url = url
        self.redirects_left = redirects_left


class _Robots:
    """One origin's robots.txt, once read: its rules (protego) or, when it could not be
    read, the verdict that stands for them (``robots_verdict``) and why."""

    __slots__ = ("rules", "verdict", "message")

    def __init__(self, rules=None, verdict: str = "allow", message: str = ""):
        self.rules = rules
        self.verdict = verdict
        self.message = message


class _Site:
    """One site's (host's, ``site_of``) state during a bundle: what is left to fetch, the
    robots.txt of each of its origins read so far (http and https have one each), its delay,
    and when the next request to it may start."""

    __slots__ = ("key", "queue", "robots", "delay", "ready_at", "busy", "host", "requested", "reported")

    def __init__(self, key: str, jobs, delay: float, host: budget.HostClock):
        self.key = key
        self.host = host  # the site's budget: its requests and the pauses between them
        self.requested = False
        self.reported = 0  # milliseconds of host.spent already counted in host_ms
        self.queue: deque[_Job] = deque(sorted(jobs, key=lambda j: j.entry.url))
        self.robots: dict[str, _Robots] = {}  # origin -> its robots.txt, once read
        self.delay = delay
        self.ready_at = 0.0  # monotonic time before which no request to this site starts
        self.busy = False  # a request to this site is in flight


class _FetchPageFn(beam.DoFn):
    """Fetches many sites at once, each politely.

    Sites arrive one per ``process`` call (the output of ``GroupBySite``).
    A scheduler thread per bundle starts requests on a pool of
    ``fetch.max_connections`` threads: a site gets a request only when it has
    none in flight and its delay since the end of its previous request
    (``fetch.host_delay`` or its ``Crawl-delay``) has passed; the robots.txt of
    an origin (``http://host``, ``https://host``) is its first request there.
    The DoFn's own thread emits each page as soon as it has arrived (in
    ``process`` for what is ready, then in ``finish_bundle``), so the stages
    fused after this one (extraction, entity tagging) run while other sites
    download, and downloads go on while those stages compute.  The scheduler
    sleeps only when every site it holds is waiting for its delay."""

    def __init__(
        self,
        fetch_settings: FetchSettings,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        plan: budget.WavePlan | None = None,
    ):
        self._settings = fetch_settings
        self._sleep = sleep
        self._clock = clock
        self._plan = plan or budget.WavePlan()
        self._fetched = beam.metrics.Metrics.counter(_NS, "fetched")
        self._bytes = beam.metrics.Metrics.distribution(_NS, "bytes")

    def setup(self):
        self._local = threading.local()
        self._fetchers: list[HttpFetcher] = []
        self._fetchers_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=self._settings.max_connections, thread_name_prefix="newsbeam-fetch"
        )
        self._progress = Progress(_LOG, "pages fetched")
        self._robots_cut: set[str] = set()  # origins whose long robots.txt was logged as cut

    def teardown(self):
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        for fetcher in getattr(self, "_fetchers", []):
            fetcher.close()

    def start_bundle(self):
        self._sites: list[_Site] = []  # the scheduler's own
        self._windows: dict = {}  # site key -> (timestamp, window) of its input
        self._inflight: dict = {}  # future -> (site, _Job or None: robots.txt, origin); the scheduler's
        self._known: dict[str, _Site] = {}  # site key -> its state, done or not; the scheduler's own
        self._intake: list[_Site] = []  # handed over by process(), under _intake_lock
        self._intake_lock = threading.Lock()
        self._closed = False  # finish_bundle: no more sites
        self._wake = threading.Event()
        self._outputs: queue.SimpleQueue = queue.SimpleQueue()
        self._scheduler = None

    # -- one request, on a pool thread ------------------------------------------

    def _get(
        self,
        url: str,
        accept: str,
        deadline: float | None = None,
        redirects: int | None = None,
        prefix: int | None = None,
    ):
        """Runs on a pool thread: one ``requests`` session per thread.  A page request
        (``redirects`` given) stops at a redirect to another origin (``OffSiteRedirect``);
        with ``prefix`` only the body's first bytes are read (robots.txt).
        Returns (response, error, seconds spent)."""
        fetcher = getattr(self._local, "fetcher", None)
        if fetcher is None:
            fetcher = HttpFetcher.from_settings(self._settings)
            self._local.fetcher = fetcher
            with self._fetchers_lock:
                self._fetchers.append(fetcher)
        started = time.monotonic()
        try:
            page = redirects is not None
            response = fetcher.get(
                url,
                headers={"Accept": accept},
                deadline=deadline,
                max_redirects=redirects,
                stay_on_site=page,
                prefix=prefix,
                content_types=_HTML_TYPES if page else None,  # a PDF or an mp3 is refused unread
            )
            return response, None, self._since(started)
        except FetchError as exc:
            return None, exc, self._since(started)

    @staticmethod
    def _since(started: float) -> float:
        return time.monotonic() - started

    # -- the DoFn's thread: hand sites over, emit what arrived --------------------

    def process(self, keyed, window=beam.DoFn.WindowParam, timestamp=beam.DoFn.TimestampParam):
        _key, entries = keyed  # one site's entries, or a group of sites' (``balance_sites``)
        by_site: dict[str, list[FeedEntry]] = {}
        for entry in entries:
            by_site.setdefault(site_of(entry.link), []).append(entry)
        redirects = self._settings.max_redirects
        sites = [
            self._site(key, [_Job(e, e.link, redirects) for e in its], window, timestamp)
            for key, its in sorted(by_site.items())
        ]
        with self._intake_lock:
            self._intake.extend(sites)
        if self._scheduler is None:
            self._scheduler = threading.Thread(
                target=self._schedule, name="newsbeam-fetch-scheduler", daemon=True
            )
            self._scheduler.start()
        self._wake.set()
        while True:
            try:
                item = self._outputs.get_nowait()
            except queue.Empty:
                return
            yield from self._emit(item)

    def _site(self, key: str, jobs, window=None, timestamp=None) -> _Site:
        # What finish_bundle emits goes to the window its site came in (streaming: fixed windows).
        if isinstance(window, BoundedWindow):  # (not when the DoFn is called directly, as in tests)
            self._windows[key] = (timestamp, window)
        host = self._plan.host_clock(key, self._settings.host_budget)
        site = _Site(key, jobs, self._settings.host_delay, host)
        # The feed itself was a request to its site: the first request here waits host_delay after it.
        polled = [
            j.entry.feed_answered_at
            for j in site.queue
            if j.entry.feed_answered_at and site_of(j.entry.feed_url) == key
        ]
        if polled:
            site.ready_at = self._clock() + max(0.0, max(polled) + site.delay - time.time())
        self._held(site)
        return site

    def finish_bundle(self):
        if self._scheduler is None:
            return
        with self._intake_lock:
            self._closed = True
        self._wake.set()
        while True:
            item = self._outputs.get()
            if item is _DONE:
                break
            where = None
            if isinstance(item, tuple) and isinstance(item[1], FeedEntry):
                where = self._windows.get(site_of(item[1].link))
            for output in self._emit(item):
                if isinstance(output, pvalue.TaggedOutput):
                    yield pvalue.TaggedOutput(output.tag, self._windowed(output.value, where))
                else:
                    yield self._windowed(output, where)
        self._scheduler.join()
        self._scheduler = None

    @staticmethod
    def _windowed(value, where):
        if where is None:
            return GlobalWindows.windowed_value(value)
        timestamp, window = where
        return WindowedValue(value, timestamp, [window])

    def _emit(self, item):
        """Scheduler events become outputs (and metrics) on the DoFn's thread."""
        if isinstance(item, BaseException):
            raise item
        kind, entry, *rest = item
        if kind == "page":
            yield from self._page(entry, rest[0])
        elif kind == "defer":
            beam.metrics.Metrics.counter(budget.NS, f"{budget.DEFERRED}{entry.feed_url}").inc()
            yield pvalue.TaggedOutput(DEFERRED_TAG, entry)
        elif kind == "spent":  # entry is the site's key here
            beam.metrics.Metrics.counter(budget.NS, f"{budget.HOST_MS}{entry}").inc(rest[0])
        else:
            yield self._fail(entry, *rest)

    # -- the scheduler thread ---------------------------------------------------------

    def _schedule(self):
        try:
            self._run_schedule()
        except BaseException as exc:  # handed to the DoFn's thread, which raises it
            self._outputs.put(exc)
        self._outputs.put(_DONE)

    def _run_schedule(self):
        while True:
            with self._intake_lock:
                for site in self._intake:
                    self._adopt(site)
                self._intake.clear()
                closed = self._closed
                self._wake.clear()
            next_ready = self._launch()
            if not self._inflight:
                if next_ready is None:
                    if closed:
                        return
                    self._wake.wait()
                elif closed:
                    self._sleep(max(0.0, next_ready - self._clock()))
                else:
                    self._wake.wait(max(0.0, next_ready - self._clock()))
                continue
            timeout = None if next_ready is None else max(0.0, next_ready - self._clock())
            if not closed:  # new sites may come: look again soon
                timeout = _INTAKE_POLL if timeout is None else min(timeout, _INTAKE_POLL)
            done, _ = futures_wait(list(self._inflight), timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                site, job, origin = self._inflight.pop(future)
                self._arrived(site, job, origin, *future.result())

    def _adopt(self, site: _Site) -> None:
        """Schedule ``site``; a site already known in this bundle (a redirect led there
        first) takes its entries instead, so it keeps one robots.txt and one pace."""
        known = self._known.get(site.key)
        if known is None:
            self._known[site.key] = site
            self._sites.append(site)
            return
        known.queue.extend(site.queue)
        known.ready_at = max(known.ready_at, site.ready_at)
        if known not in self._sites:  # it was done: back on the list
            self._sites.append(known)

    def _redirected(self, site: _Site, job: _Job, error: OffSiteRedirect) -> None:
        """A page redirected to another origin: the entry queues at its site, behind that
        origin's robots.txt and the site's delay, with what is left of its redirects.  On the
        same host (``http://a`` to ``https://a``) that is this site: the entry is its next
        request (one pace, one budget for both schemes); else another site."""
        key = site_of(error.url)
        moved = _Job(job.entry, error.url, job.redirects_left - error.redirects)
        if key == site.key:
            site.queue.appendleft(moved)
        else:
            self._adopt(self._site(key, [moved]))

    def _launch(self) -> float | None:
        """Submit one request to each site that may have one, within
        ``fetch.max_connections``; hand over the failures decided without a
        request.  Returns when the earliest waiting site becomes ready."""
        now = self._clock()
        next_ready = None
        remaining = []
        for site in self._sites:
            if not site.busy and site.queue and not self._within_budget(site):
                self._defer_all(site)  # the host's budget or the run's time is used up: next run
            if not site.queue and not site.busy:
                # done: dropped from the list (kept in _known: a redirect may bring it back)
                spent = int(site.host.spent * 1000) - site.reported
                site.reported += spent
                self._outputs.put(("spent", site.key, spent))
                continue
            remaining.append(site)
            if site.busy:
                continue
            self._refuse(site)
            if not site.queue:
                continue
            if site.ready_at > now:
                next_ready = site.ready_at if next_ready is None else min(next_ready, site.ready_at)
                continue
            if len(self._inflight) >= self._settings.max_connections:
                continue
            until = site.host.until()
            origin = origin_of(site.queue[0].url)
            if origin in site.robots or not self._settings.respect_robots:
                job = site.queue.popleft()
                future = self._pool.submit(self._get, job.url, _ACCEPT, until, job.redirects_left)
            else:  # the first request to an origin is its robots.txt
                job = None
                future = self._pool.submit(
                    self._get, f"{origin}/robots.txt", "text/plain,*/*;q=0.5", until, None, ROBOTS_PARSE_LIMIT
                )
            if site.requested:  # the pause since its previous request was spent on this site
                site.host.spent += site.delay
            site.busy = site.requested = True
            self._inflight[future] = (site, job, origin)
        self._sites = remaining
        return next_ready

    def _within_budget(self, site: _Site) -> bool:
        """Whether the site may have another request: its budget must cover
        the pause before it (as a sequential fetcher would sleep it)."""
        pause = site.delay if site.requested else 0.0
        return site.host.remaining() > pause

    def _defer_all(self, site: _Site) -> None:
        while site.queue:
            self._outputs.put(("defer", site.queue.popleft().entry))

    def _refuse(self, site: _Site) -> None:
        """Record the site's queued entries the robots.txt of their origin, when read, does
        not let us fetch (up to the first one it does, or whose robots.txt is still to read)."""
        while site.queue:
            job = site.queue[0]
            origin = origin_of(job.url)
            robots = site.robots.get(origin)
            via = "" if job.url == job.entry.link else f" (redirected from {job.entry.link})"
            if robots is None:
                return
            if robots.verdict == "disallow":
                why = f"robots.txt unavailable, so disallowed: {robots.message}{via}"
                self._outputs.put(("fail", site.queue.popleft().entry, "robots_unavailable", why, None))
            elif robots.rules is not None and not robots.rules.can_fetch(job.url, _AGENT):
                why = f"{job.url} is disallowed by {origin}/robots.txt{via}"
                self._outputs.put(("fail", site.queue.popleft().entry, "robots_disallowed", why, None))
            else:
                return

    def _arrived(
        self, site: _Site, job: _Job | None, origin: str, response, error: FetchError | None, spent: float
    ) -> None:
        site.busy = False
        site.host.spent += spent
        site.ready_at = self._clock() + site.delay
        cut = error is not None and error.reason == "timeout" and site.host.remaining() <= 0.01
        if job is None:
            if cut:  # robots.txt cut by the budget, not refused by the site: all for the next run
                self._defer_all(site)
                return
            self._read_robots(site, origin, response, error)
        elif cut:
            self._outputs.put(
                ("defer", job.entry)
            )  # cut by the host budget or the run's end, not by the page
        elif isinstance(error, OffSiteRedirect):
            self._redirected(site, job, error)
        elif error is not None:
            asked = error.retry_after if error.status in (429, 503) and error.retry_after else None
            self._outputs.put(("fail", job.entry, error.reason, str(error), error.status, asked, site.key))
            self._hold_off(site, error)
        else:
            self._outputs.put(("page", job.entry, response))

    def _hold_off(self, site: _Site, error: FetchError) -> None:
        """A 429 or 503 with ``Retry-After`` asks the client to stay away from the site, not
        only from that URL (RFC 6585, RFC 9110 section 10.2.3): its next request waits that
        long, charged to its budget; past what is left of the budget its other entries go to
        the next run, and the budget counts as used, so later waves of the run leave it too.
        (Each page got a request ``host_delay`` apart, the whole feed's worth of them.)"""
        if error.status not in (429, 503) or not error.retry_after:
            return
        wait = float(error.retry_after)
        if wait >= site.host.remaining():
            site.host.spent = max(site.host.spent, site.host.left)
            if site.queue:
                _LOG.warning(
                    "%s answered %s with Retry-After %g s: its %d other entries are left for the next run",
                    site.key, error.status, wait, len(site.queue),
                )  # fmt: skip
            self._defer_all(site)
            return
        site.host.spent += max(0.0, wait - site.delay)  # the launch charges the usual delay
        site.ready_at = max(site.ready_at, self._clock() + wait)

    def _held(self, site: _Site) -> None:
        """A site that asked an earlier run to stay away (``WavePlan.site_holds``: a page's 429 or
        503 with ``Retry-After``, kept in its failure document) is not requested before that time:
        its first request waits for it, charged to its budget, or its entries go to the next run
        when that is past the budget.  (The hold lasted only the run that got the answer; the next
        run, minutes later, went back at once.)"""
        until = self._plan.site_holds.get(site.key)
        wait = (until or 0.0) - time.time()
        if wait <= 0:
            return
        if wait >= site.host.remaining():
            site.host.spent = max(site.host.spent, site.host.left)  # _launch defers its entries
            _LOG.warning(
                "%s asked to wait (Retry-After) until %s: its %d entries are left for a later run",
                site.key, epoch_iso(until), len(site.queue),
            )  # fmt: skip
            return
        site.host.spent += wait
        site.ready_at = max(site.ready_at, self._clock() + wait)

    def _read_robots(self, site: _Site, origin: str, response, error: FetchError | None) -> None:
        """Record ``origin``'s robots.txt; its ``Crawl-delay`` paces the whole site (the
        largest of its origins')."""
        from protego import Protego

        if error is not None:
            site.robots[origin] = _Robots(
                verdict=robots_verdict(error), message=f"{origin}/robots.txt: {error}"
            )
            return
        content = response.content
        if response.truncated:  # parsed up to its last whole line (RFC 9309 section 2.5)
            content = robots_prefix(content)
            if origin not in self._robots_cut:
                self._robots_cut.add(origin)
                _LOG.warning(
                    "%s/robots.txt is larger than %d KiB: only its first %d bytes (whole lines) are obeyed",
                    origin, ROBOTS_PARSE_LIMIT // 1024, len(content),
                )  # fmt: skip
        rules = Protego.parse(content.decode("utf-8", "replace"))
        site.robots[origin] = _Robots(rules=rules)
        crawl_delay = rules.crawl_delay(_AGENT)
        if crawl_delay:
            site.delay = max(site.delay, min(float(crawl_delay), self._settings.max_crawl_delay))
            site.ready_at = self._clock() + site.delay

    def _fail(
        self,
        entry: FeedEntry,
        reason: str,
        message: str,
        status: int | None,
        retry_after: float | None = None,
        site: str | None = None,
    ):
        beam.metrics.Metrics.counter(_NS, f"failed_{reason}").inc()
        _LOG.debug("fetch %s: %s", entry.url, message)
        return pvalue.TaggedOutput(
            FAILED_TAG,
            Failure(url=entry.url, stage="fetch", reason=reason, http_status=status, error=message,
                    feed_url=entry.feed_url, attempts=entry.attempts + 1, at=utcnow_iso(),
                    retry_after=retry_after, retry_after_site=site if retry_after else None),
        )  # fmt: skip

    def _page(self, entry: FeedEntry, response):
        content_type, charset = response.media_type
        if content_type in SNIFFED_TYPES:  # the fetcher found an HTML page in it (looks_like_markup)
            content_type = "text/html"
        if content_type and content_type not in _HTML_TYPES:
            yield self._fail(
                entry, "not_html", f"{response.url} is {content_type}, not HTML", response.status
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
            content_type=content_type,
            encoding=charset,
            fetched_at=utcnow_iso(),
        )


class FetchPages(beam.PTransform):
    """FeedEntry → FetchedPage (``pages``), Failure (``failed``), FeedEntry
    left for the next run by the host budget or the run's deadline (``deferred``)."""

    def __init__(
        self, fetch_settings: FetchSettings, plan: budget.WavePlan | None = None, groups: int | None = None
    ):
        super().__init__()
        if not isinstance(fetch_settings, FetchSettings):
            raise ValueError("FetchPages: fetch_settings must be a FetchSettings")
        if groups is not None and (not isinstance(groups, int) or isinstance(groups, bool) or groups < 1):
            raise ValueError(f"FetchPages: groups must be a positive integer or None, got {groups!r}")
        self._settings = fetch_settings
        self._plan = plan
        self._groups = groups

    def expand(self, entries):
        # Grouping by site spreads the downloads across workers (it is a
        # shuffle, like Reshuffle) while keeping each site's requests in one
        # place, where they are spaced out and checked against its robots.txt.
        if self._groups is None or self._groups == 1:
            grouped = (
                entries
                | "BySite" >> beam.Map(lambda e: (site_of(e.link), e))
                | "GroupBySite" >> beam.GroupByKey()
            )
        else:
            groups = self._groups
            grouped = (
                entries
                | "OneGroup" >> beam.Map(lambda e: (None, e))
                | "AllEntries" >> beam.GroupByKey()
                | "ToGroups" >> beam.FlatMapTuple(lambda _none, all_entries: _to_groups(all_entries, groups))
                | "GroupSites" >> beam.GroupByKey()
            )
        return grouped | "Fetch" >> beam.ParDo(_FetchPageFn(self._settings, plan=self._plan)).with_outputs(
            FAILED_TAG, DEFERRED_TAG, main="pages"
        )


def balance_sites(entries_per_site: dict[str, int], groups: int) -> dict[str, int]:
    """Site → group (0 … ``groups`` - 1) so that the groups hold about the same
    number of entries: the sites with the most entries first (ties: by site),
    each into the group with the fewest entries so far (ties: the lowest
    number).  An entry is the unit of work known before fetching (a page to
    download, extract and tag); a site's pages are also spaced ``host_delay``
    apart, so a big site placed first gets its group's longest head start."""
    if groups < 1:
        raise ValueError(f"groups must be positive, got {groups}")
    loads = [0] * groups
    assignment = {}
    for site in sorted(entries_per_site, key=lambda s: (-entries_per_site[s], s)):
        group = min(range(groups), key=lambda g: (loads[g], g))
        assignment[site] = group
        loads[group] += entries_per_site[site]
    return assignment


def _to_groups(entries, groups: int):
    """All of a wave's entries → (group, entry), the sites balanced over ``groups``."""
    entries = list(entries)
    sites = [site_of(entry.link) for entry in entries]
    assignment = balance_sites(Counter(sites), groups)
    for site, entry in zip(sites, entries):
        yield assignment[site], entry
