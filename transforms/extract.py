"""ExtractArticles: fetched pages → articles with body, metadata and identity.

Input ``FetchedPage``; outputs main ``Article`` and ``failed``
``Failure(stage="extract")`` with reason ``empty_text`` (no body, or fewer
than ``extract.min_chars`` characters, a Chinese or Japanese character
counting three: see ``body_size``), ``not_article`` (a page that declares no
article and is an error page, interstitial, login wall or list of teasers,
``ExtractionResult.not_article``, or is not the page its feed entry announced,
``unrelated_page``, or the entry's link was redirected to a front page,
``redirected_to_front``, or it declares no article and names a front page as
its canonical URL, ``names_front_page``), ``timeout`` (over ``extract.timeout``;
a page cut by the run's ``--max-run-time`` is deferred to the next run instead)
or ``extract_crash`` (the sandboxed extractor failed on the page).

Identity (see "Identity" in DESIGN.md): the canonical URL is the page's
``rel=canonical`` on its own host (or a configured alias), else the normalized final URL; ``_id`` derives
from it; ``urls`` holds every normalized URL seen (entry link, final URL,
canonical).  ``published`` keeps a time of day from the page, else from the
feed entry; ``published_source`` says which.  Counters in ``news.extract``.

Example usage::

    extracted = pages | 'ExtractArticles' >> ExtractArticles(settings.extract)
    articles, failures = extracted.articles, extracted.failed
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import threading
import time
from typing import NamedTuple
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam import pvalue

from newsbeam.config.settings import ExtractSettings
from newsbeam.transforms.charset import decode_html
from newsbeam.transforms.extraction import (
    _UNSPACED_RE,
    ExtractionCrashed,
    ExtractionResult,
    ExtractionSandbox,
    ExtractionTimeout,
    clean_authors,
    parse_iso_datetime,
)
from newsbeam.transforms.idle import CHILD_IDLE_SECONDS, IdleCloser
from newsbeam.transforms.model import Article, Failure, FetchedPage, doc_id_for_url, iso_utc, short_name
from newsbeam.transforms.progress import Progress
from newsbeam.transforms.urls import claims_canonical, is_front_page, normalize_url, resolve_canonical

__all__ = [
    "ExtractArticles",
    "build_article",
    "choose_published",
    "merge_same_article",
    "names_front_page",
    "redirected_to_front",
    "unrelated_page",
]

_NS = "news.extract"
_LOG = logging.getLogger(__name__)
FAILED_TAG = "failed"
DEFERRED_TAG = "deferred"
# Seconds past the run's deadline in which fetched pages are still extracted (see _ExtractFn).
DEADLINE_GRACE = 10.0
#: Extracted once when the child starts, so that the extractor's lazy loads (its
#: modules, the language identifier's model: about 1 s of CPU) happen before the
#: first page arrives and are not counted against that page's time limit.
WARM_UP_PAGE = (
    b"<html lang='en'><head><title>Warm-up</title></head><body><article><h1>Warm-up</h1>"
    b"<p>This short paragraph warms up the extraction child process before the first page."
    b" It is long enough for the language identifier to load its model.</p></article></body></html>"
)
WARM_UP_URL = "http://warm-up.invalid/warm-up.html"


# A calendar date printed somewhere on Earth: from 14 hours before its midnight in UTC (UTC+14)
# to 12 hours after its end (UTC-12).
_DAY_EARLIEST = dt.timedelta(hours=-14)
_DAY_LATEST = dt.timedelta(hours=36)
# A date more than this after the page was fetched is no publication date (a feed's 2099).
_FUTURE_SLACK = dt.timedelta(days=1)


def _believable(moment: dt.datetime | None, fetched: dt.datetime | None) -> dt.datetime | None:
    """``moment`` unless it cannot be a publication date: the Unix epoch or before (a feed's
    "no date" written as 0), or later than the fetch (a day of clock skew aside)."""
    if moment is None or moment.timestamp() <= 0:
        return None
    if fetched is not None and moment > fetched + _FUTURE_SLACK:
        return None
    return moment


def choose_published(
    page_value: str | None,
    page_has_time: bool,
    page_source: str | None,
    feed_value: str | None,
    fetched_at: str | None = None,
) -> tuple[str | None, str | None]:
    """Pick ``published`` and its source from the page and the feed entry.

    A date from the page's metadata (JSON-LD, meta tags, ``<time>``, the URL)
    with a time of day wins.  A page date without one takes the feed entry's
    time when the feed's moment falls on that calendar day somewhere on Earth
    (the page prints its local date; 22:30 at UTC-5 is the next day in UTC);
    otherwise the page's date stands.  A date merely found in the page's text
    (``page_source`` "text": any date the article mentions) ranks below the
    feed entry's date.  Without a page date, the feed's date is used.  A date
    later than the fetch (``fetched_at``, a day of clock skew aside) or at the
    Unix epoch is not a publication date and is not used.
    """
    fetched, _ = parse_iso_datetime(fetched_at)
    page_dt = _believable(parse_iso_datetime(page_value)[0], fetched)
    feed_dt, feed_has_time = parse_iso_datetime(feed_value)
    feed_dt = _believable(feed_dt, fetched)
    if page_source == "text" and feed_dt is not None:
        return iso_utc(feed_dt), "feed"
    if page_dt is not None and page_has_time:
        return iso_utc(page_dt), "page"
    if page_dt is not None:
        midnight = dt.datetime.combine(page_dt.date(), dt.time(), dt.timezone.utc)
        if (
            feed_dt is not None
            and feed_has_time
            and midnight + _DAY_EARLIEST <= feed_dt <= midnight + _DAY_LATEST
        ):
            return iso_utc(feed_dt), "feed"
        return iso_utc(page_dt), "page"
    if feed_dt is not None:
        return iso_utc(feed_dt), "feed"
    return None, None


# Han ideographs and kana: a language written without spaces packs about a
# word into one or two characters, so a complete four-sentence Japanese news
# item is ~190 characters where the English one is ~600.
_DENSE_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_DENSE_WEIGHT = 3


def body_size(body: str) -> int:
    """The length ``extract.min_chars`` is compared with: characters, each
    Chinese or Japanese one counting ``_DENSE_WEIGHT`` (3)."""
    return len(body) + (_DENSE_WEIGHT - 1) * len(_DENSE_RE.findall(body))


# A title written in a script without spaces (Chinese, Japanese, Thai...: extraction's
# _UNSPACED_RE) is a few clause-long tokens: no word to compare.
_TITLE_WORDS_MIN = 3


def _title_words(text: str | None) -> set[str]:
    return {w for w in re.findall(r"\w+", (text or "").lower()) if len(w) > 3}


def redirected_to_front(entry_url: str, final_url: str) -> str | None:
    """Why the page is not the entry's article, if the entry's link, to a page of a site, was
    redirected to a site's front page (the root path, no query: ``/?p=123`` is an article): the
    way many sites answer a removed article, with their home page and 200."""
    if not is_front_page(final_url) or is_front_page(entry_url):
        return None  # not a front page, or the feed linked to the front page itself
    return f"the link {entry_url} was redirected to the front page of {urlsplit(final_url).hostname}"


def not_article_final(page: FetchedPage) -> bool:
    """Whether a ``not_article`` verdict on ``page`` is for good (pure): the feed's link is the
    site's front page itself, and so is the page served (200).  Such a link stays what it is and
    each retry fetched it again, five times over about 31 h; it is given up at once, as a 410.
    Anything else keeps its retries, as a 404 does: an article link redirected to the front page,
    a "not found" page listing top stories, an interstitial or a wall are what a page published
    after its feed entry, or a wall that lifts, shows on the first tries; a section front or tag
    page cannot be told apart from them by its structure."""
    if page.status is not None and page.status != 200:
        return False
    return is_front_page(page.entry.url) and is_front_page(page.final_url)


def names_front_page(final_url: str, result: ExtractionResult) -> str | None:
    """Why the page is not an article, if it declares none (``result.article_evidence``) and
    its ``rel=canonical`` names a site's front page while it is not one: an error page that
    points search engines home.  (A page that declares an article keeps it, under its own URL:
    see ``resolve_canonical``.)"""
    if result.article_evidence or not result.canonical_href or is_front_page(final_url):
        return None
    named = normalize_url(result.canonical_href, base=final_url)
    if not named or not is_front_page(named):
        return None
    return f"the page declares no article and names the front page {named} as its canonical URL"


def unrelated_page(entry_title: str | None, result: ExtractionResult) -> str | None:
    """Why the page is not the article the feed entry announced, if it is not: the page
    declares no article (``result.article_evidence``), its title shares no word of four letters
    or more with the entry's title, and its body holds fewer than half of them.  An error page,
    a consent or login interstitial or a front page served with 200 instead of the article.

    Words are compared, so a title of fewer than three words, or written without spaces
    (Chinese, Japanese, Thai: its tokens are whole clauses), is not judged; nor is a page without
    a title of its own."""
    if result.article_evidence or not entry_title or not result.title:
        return None
    if len(re.findall(r"\w+", entry_title)) < _TITLE_WORDS_MIN or _UNSPACED_RE.search(entry_title):
        return None
    wanted = _title_words(entry_title)
    if len(wanted) < 2 or wanted & _title_words(result.title):
        return None
    if 2 * len(wanted & _title_words(result.body)) >= len(wanted):
        return None
    return (
        f"the page declares no article and is not the one the feed announced: its title "
        f"{result.title!r} shares no word with the entry's title {entry_title!r}, and its text "
        "holds fewer than half of them"
    )


def _site_domain(url: str) -> str | None:
    host = urlsplit(url).hostname
    if not host:
        return None
    return host.removeprefix("www.")


def build_article(
    page: FetchedPage,
    result: ExtractionResult,
    min_chars: int,
    canonical_aliases: tuple[tuple[str, ...], ...] = (),
) -> Article | Failure:
    """Combine a fetched page and its extraction into an ``Article`` (pure).
    ``canonical_aliases``: host groups whose pages may name each other as
    canonical (see ``resolve_canonical``)."""
    entry = page.entry

    def failure(reason: str, error: str, final: bool = False) -> Failure:
        return Failure(
            url=entry.url,
            stage="extract",
            reason=reason,
            http_status=page.status,
            error=error,
            feed_url=entry.feed_url,
            attempts=entry.attempts + 1,
            at=page.fetched_at,
            final=final,
        )

    body = result.body.strip()
    size = body_size(body)
    if size < max(1, min_chars):
        dense = (
            f", counted as {size}: Chinese/Japanese characters count {_DENSE_WEIGHT}"
            if size != len(body)
            else ""
        )
        return failure(
            "empty_text",
            f"extracted {len(body)} characters{dense} from {page.final_url} (minimum {min_chars})",
        )
    why = (
        redirected_to_front(entry.url, page.final_url)
        or names_front_page(page.final_url, result)
        or result.not_article
        or unrelated_page(entry.title, result)
    )
    if why:
        return failure("not_article", f"{why}: {page.final_url}", final=not_article_final(page))
    named = resolve_canonical(page.final_url, result.canonical_href, canonical_aliases)
    # A revision keeps the canonical URL, hence the _id, its article is indexed under: a page that
    # now names another canonical URL made a second document of the same article.
    canonical = entry.indexed_canonical or named
    urls = {entry.url, canonical, named}
    final = normalize_url(page.final_url)
    if final:
        urls.add(final)
    published, published_source = choose_published(
        result.published,
        result.published_has_time,
        result.published_source,
        entry.published,
        page.fetched_at,
    )
    return Article(
        id=doc_id_for_url(canonical),
        url=page.final_url,
        canonical_url=canonical,
        urls=tuple(sorted(urls)),
        title=result.title or entry.title,
        body=body,
        # the page's bylines, else the feed entry's (cleaned the same way)
        authors=tuple(result.authors)
        or clean_authors(entry.authors, canonical, entry.feed_name or result.sitename),
        published=published,
        published_source=published_source,
        first_seen=page.fetched_at,
        source_domain=_site_domain(canonical),
        source_name=short_name(entry.feed_name or result.sitename),
        feed_url=entry.feed_url,
        entry_url=entry.url,
        entry_updated=entry.updated,
        entry_keys=(entry.entry_key,) if entry.entry_key else (),
        language=result.language,
        extraction={**result.provenance, "date_source": result.published_source},
    )


class _ExtractFn(beam.DoFn):
    """Extraction runs in a child process (``ExtractionSandbox``) with a
    per-page time limit, so a pathological page costs one failure document,
    not a stalled or crashed worker.

    With the run's ``deadline`` (``--max-run-time``), no page's limit reaches past
    ``deadline + DEADLINE_GRACE``: a page cut there, or reached after it, is not failed but
    left for the next run (``deferred``), as the fetcher leaves the pages it has no time for.
    Pages that take a second of CPU each still get extracted in the grace; six pages that
    each took the full 30 s held a 10 s run for 190 s."""

    def __init__(self, settings: ExtractSettings, deadline: float | None = None):
        self._settings = settings
        self._deadline = deadline  # the run's end, a time.time() value
        self._sandbox = None
        self._ok = beam.metrics.Metrics.counter(_NS, "articles")
        self._chars = beam.metrics.Metrics.distribution(_NS, "body_chars")

    def setup(self):
        # Closed when idle (transforms/idle.py): a batch run extracts a wave's pages
        # in one stage, and the child would otherwise hold its memory to the end.
        self._sandbox = IdleCloser(ExtractionSandbox(), CHILD_IDLE_SECONDS)
        self._progress = Progress(_LOG, "articles extracted")
        # setup() runs when the fused fetch-and-extract stage starts, before its first
        # page request: the child starts and warms up on a thread while robots.txt and
        # the first pages download, instead of on the first page (the sandbox's lock
        # makes the first process() wait for it).
        self._warming = threading.Thread(target=self._warm_up, name="newsbeam-extract-warm-up", daemon=True)
        self._warming.start()

    def _warm_up(self) -> None:
        try:
            with self._sandbox.use() as sandbox:
                sandbox.extract_with_limit(WARM_UP_PAGE, WARM_UP_URL, 120)
        except Exception as exc:  # the first page starts the child again and meets the error
            _LOG.debug("the extraction child did not warm up: %s", exc)

    def finish_bundle(self):
        self._sandbox.idle_from_now()

    def teardown(self):
        if self._sandbox is not None:
            self._sandbox.close()

    def _failure(self, page: FetchedPage, reason: str, message: str) -> pvalue.TaggedOutput:
        beam.metrics.Metrics.counter(_NS, f"failed_{reason}").inc()
        entry = page.entry
        return pvalue.TaggedOutput(
            FAILED_TAG,
            Failure(url=entry.url, stage="extract", reason=reason, http_status=page.status,
                    error=f"{message}: {page.final_url}", feed_url=entry.feed_url,
                    attempts=entry.attempts + 1, at=page.fetched_at),
        )  # fmt: skip

    def _defer(self, page: FetchedPage) -> pvalue.TaggedOutput:
        from newsbeam.connectors import budget

        beam.metrics.Metrics.counter(budget.NS, f"{budget.DEFERRED}{page.entry.feed_url}").inc()
        return pvalue.TaggedOutput(DEFERRED_TAG, page.entry)

    def process(self, page: FetchedPage):
        limit, by_deadline = self._settings.timeout, False
        if self._deadline is not None:
            left = self._deadline + DEADLINE_GRACE - time.time()
            if left < limit:
                limit, by_deadline = left, True
            if left <= 0:
                yield self._defer(page)  # the run's time is up: the next run fetches it again
                return
        content = decode_html(page.content, page.encoding, page.final_url).text
        try:
            with self._sandbox.use() as sandbox:
                result = sandbox.extract_with_limit(content, page.final_url, limit)
        except ExtractionTimeout as exc:
            if by_deadline:
                yield self._defer(page)  # cut by the run's end, not by the page's own limit
                return
            yield self._failure(page, "timeout", str(exc))
            return
        except ExtractionCrashed as exc:
            yield self._failure(page, "extract_crash", str(exc))
            return
        outcome = build_article(page, result, self._settings.min_chars, self._settings.canonical_aliases)
        if isinstance(outcome, Failure):
            beam.metrics.Metrics.counter(_NS, f"failed_{outcome.reason}").inc()
            yield pvalue.TaggedOutput(FAILED_TAG, outcome)
            return
        self._ok.inc()
        self._progress.tick()
        self._chars.update(len(outcome.body))
        yield outcome


class ExtractOutputs(NamedTuple):
    articles: beam.PCollection
    failed: beam.PCollection
    deferred: beam.PCollection  # FeedEntry of pages the run's deadline left for the next run


class ExtractArticles(beam.PTransform):
    """FetchedPage → Article (``articles``), Failure (``failed``), and the ``FeedEntry`` of each
    page the run's ``deadline`` (a ``time.time()`` value) left unextracted (``deferred``).

    ``GroupById`` is a barrier on batch runners (all pages are extracted
    before any article moves on).  It stays: it is what makes one article of
    the copies that share an id.  Writes still flow because ``newsbeam run``
    runs in bounded waves (connectors/budget.py): the barrier holds one wave,
    not the whole run.

    ``enrich``: a ``PTransform`` of ``Article`` → ``Article`` applied to every
    extracted copy before copies that share an id are merged (entity tagging).
    It must depend on each article alone (``merge_same_article`` keeps one
    copy whole, so enriching before or after the merge gives the same
    article).  Before the barrier, Beam fuses it with fetching and
    extraction: it runs while other sites' pages are still downloading,
    instead of after the last page has arrived.
    """

    def __init__(
        self,
        settings: ExtractSettings,
        feed_order: dict[str, int] | None = None,
        enrich: beam.PTransform | None = None,
        deadline: float | None = None,
    ):
        super().__init__()
        if not isinstance(settings, ExtractSettings):
            raise ValueError("ExtractArticles: settings must be an ExtractSettings")
        if enrich is not None and not isinstance(enrich, beam.PTransform):
            raise ValueError(f"ExtractArticles: enrich must be a PTransform, got {enrich!r}")
        self._settings = settings
        self._order = dict(feed_order or {})
        self._enrich = enrich
        self._deadline = deadline

    def expand(self, pages):
        extracted = pages | "Extract" >> beam.ParDo(_ExtractFn(self._settings, self._deadline)).with_outputs(
            FAILED_TAG, DEFERRED_TAG, main="articles"
        )
        order = self._order
        copies = extracted.articles
        if self._enrich is not None:
            copies = copies | self._enrich
        articles = (
            copies
            | "KeyById" >> beam.Map(lambda a: (a.id, a))
            | "GroupById" >> beam.GroupByKey()
            | "MergeSameArticle" >> beam.MapTuple(lambda _id, group: merge_same_article(group, order))
        )
        return ExtractOutputs(articles=articles, failed=extracted.failed, deferred=extracted.deferred)


def merge_same_article(copies, feed_order: dict[str, int]) -> Article:
    """One article for entries that led to the same canonical URL (same ``_id``).

    The page that *is* the canonical URL wins over pages that only claim it
    (a comments or AMP page whose ``rel=canonical`` names the article); then
    the entry of the feed first in configuration order, then the smallest URL,
    so the result does not depend on arrival order; ``urls`` (and ``entry_keys``) is the
    union of every copy's.
    """
    copies = list(copies)
    first = min(
        copies,
        key=lambda a: (
            claims_canonical(a.url, a.canonical_url),
            feed_order.get(a.feed_url or "", len(feed_order)),
            a.feed_url or "",
            a.url,
        ),
    )
    urls = sorted({u for a in copies for u in a.urls})
    keys = sorted({k for a in copies for k in a.entry_keys})
    return dataclasses.replace(first, urls=tuple(urls), entry_keys=tuple(keys))
