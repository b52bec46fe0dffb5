"""SkipKnown: drop feed entries whose article is already indexed.

Entries are batched (``BatchElements``) and looked up with one ``terms``
query on the ``urls`` field of the articles alias per batch: an entry whose
normalized URL is any URL of an indexed article is known (``http`` and
``https`` of one URL are one: ``scheme_twin``).  So is an entry
whose feed-scoped guid (``entry_key``) is stored with an indexed article
(``entry_keys``), its link changed since (``same_guid``; counted in
``known_by_guid`` too).  The failures
alias is looked up the same way: a URL that failed before is retried only
after ``fetch.failure_retry_after`` seconds, doubled per earlier attempt,
and given up after ``fetch.max_attempts`` (at once when its failure is final:
``FINAL_REASONS``, or a failure recorded ``final``: a feed's link to its site's front page,
see transforms/extract.py ``not_article_final``); the attempts so far travel on in ``FeedEntry.attempts``.

Entries are never silently treated as new or as known.  If Elasticsearch
cannot answer a lookup (after the client's retries), by default the lookup
raises (the runner fails or retries the bundle); with
``keep_unanswered=True`` the batch's entries go to a second output,
``unanswered``, counted in ``news.known/unanswered`` and the failed request
in ``news.es_errors`` (connectors/es.py): the batch graph (pipeline/build.py)
does not fetch them and keeps their feeds' validators, so the next run sees
them again, and pipeline/run.py fails the run with its figures instead of a
traceback.  With it too, entries whose retry is not due yet go to a third
output, ``waiting``: their feeds also keep their validators, else the next
poll of an unchanged feed answers 304 and the retry never comes (see
``will_retry``).
An indexed article is fetched again when its feed entry says it was revised
(``is_revision``: the entry's own ``updated`` time is later than the one
stored with the article, ``entry_updated``): a correction reaches the index
(same ``_id``, the text replaced) instead of being skipped as known for ever.

Counters in ``news.known``: ``known``, ``new`` (to fetch), ``revised`` (of
those, indexed articles fetched again), ``retry_later``, ``given_up``,
``unanswered``.

Example usage::

    new_entries = entries | 'SkipKnown' >> SkipKnown(settings.elasticsearch, settings.fetch)
    looked_up = entries | 'SkipKnown' >> SkipKnown(es, fetch, keep_unanswered=True)
    looked_up.new, looked_up.unanswered
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import apache_beam as beam

from newsbeam.config.settings import ElasticsearchSettings, FetchSettings
from newsbeam.transforms.model import FeedEntry, mask_userinfo, parse_instant

__all__ = [
    "RETRIED_STAGES",
    "SkipKnown",
    "is_revision",
    "retry_due",
    "same_guid",
    "scheme_twin",
    "will_retry",
]

_NS = "news.known"
UNANSWERED = "unanswered"
WAITING = "waiting"
# Failures of these stages are tried again by a later run; a feed's own failure is its health's,
# and an entry link that is not http(s) (stage ``feed``) never becomes one.
RETRIED_STAGES = ("fetch", "extract", "index")
# Failures no retry mends: a link to a PDF or an mp3 stays one (``not_html``), and 410 Gone says
# the page was removed for good (RFC 9110 15.5.11).  They are given up at once, so a podcast feed
# is not fetched whole for the hours of their retries, nor each file requested five times.
FINAL_REASONS = frozenset({"not_html", "http_410"})
_LOG = logging.getLogger(__name__)


def retry_due(
    attempts: int,
    last: str | None,
    now: dt.datetime,
    settings: FetchSettings,
    reason: str | None = None,
    final: bool = False,
) -> str:
    """'retry', 'wait' or 'give_up' for a URL that failed ``attempts`` times, last at ``last``
    (``reason``: its last failure's; one of ``FINAL_REASONS`` is given up at once, and so is a
    failure recorded as ``final``: a feed's link to its site's front page, ``not_article``)."""
    if attempts >= settings.max_attempts or reason in FINAL_REASONS or final:
        return "give_up"
    when = parse_instant(last)
    if when is None:
        return "retry"
    wait = settings.failure_retry_after * (2 ** max(0, attempts - 1))
    return "retry" if (now - when).total_seconds() >= wait else "wait"


# A revision time this close to the feed's answer (or after it) is the feed's clock, not an edit:
# a feed generated on request stamps every entry with "now", and each would be fetched again at
# every poll.  A real correction settles past it by the next poll and is fetched then.
REVISION_SETTLE_S = 15 * 60


def is_revision(entry: FeedEntry, stored: list[tuple[str | None, str | None]]) -> bool:
    """Whether ``entry`` revises an indexed article: its own ``updated`` time is later than the one
    stored with the article (``entry_updated``), and the article came from this entry's feed
    (``stored``: (``feed.url``, ``entry_updated``) of each indexed article with the entry's URL).

    Only a stored time counts: an article indexed before its entry had one (or before newsbeam
    kept it) is never fetched again on that account, so no feed is fetched in full at once.  The
    feed must be the article's own: another feed's copy only adds URLs to it (connectors/es_sink.py),
    so its time would never be stored and the page would be fetched on every run.  A time less
    than ``REVISION_SETTLE_S`` before the feed answered (``feed_answered_at``) is not one yet: a
    feed that stamps its entries with the time it was generated would have every article fetched
    again at every poll."""
    new = parse_instant(entry.updated)
    if new is None:
        return False
    answered = entry.feed_answered_at
    if answered is not None and new.timestamp() > answered - REVISION_SETTLE_S:
        return False  # the feed's clock (see REVISION_SETTLE_S); a real edit is seen next poll
    feed = mask_userinfo(entry.feed_url)
    for feed_url, updated in stored:
        old = parse_instant(updated)
        if feed_url == feed and old is not None and new > old:
            return True
    return False


def scheme_twin(url: str) -> str:
    """``url`` with ``http`` and ``https`` swapped: the same article on a site that moved to
    https, whose feed now links every article anew (each was indexed a second time)."""
    for one, other in (("http://", "https://"), ("https://", "http://")):
        if url.startswith(one):
            return other + url[len(one) :]
    return url


# Two dates of one article (the feed entry's, the stored article's) further apart than this name
# two articles: a guid the publisher reuses (a daily digest's fixed guid, ids restarted by a new CMS).
GUID_SAME_WITHIN_S = 2 * 86400


def same_guid(entry: FeedEntry, published: list[str | None] | None) -> bool:
    """Whether ``entry``, whose link is not indexed, is an indexed article all the same: its
    feed-scoped guid (``entry_key``) is stored with an article (``published``: the published
    time of each such article), unless both dates are known and more than
    ``GUID_SAME_WITHIN_S`` apart (a reused guid).  A publisher that changes an article's slug
    keeps its guid: without this, every such change indexed the article a second time."""
    if not entry.entry_key or not published:
        return False
    mine = parse_instant(entry.published)
    for stored in published:
        theirs = parse_instant(stored)
        if mine is None or theirs is None or abs((mine - theirs).total_seconds()) <= GUID_SAME_WITHIN_S:
            return True
    return False


def will_retry(failure, settings: FetchSettings) -> bool:
    """Whether a later run tries ``failure`` (a ``Failure``) again.  The retry needs its entry
    in the feed once more: the feed of such a failure must keep its validators (the batch graph
    counts it as incomplete), or an unchanged feed answers the next poll with 304 and the entry,
    a 404 fixed since, is never seen again."""
    return (
        failure.stage in RETRIED_STAGES
        and failure.attempts < settings.max_attempts
        and failure.reason not in FINAL_REASONS
        and not failure.final
    )


class _LookupFn(beam.DoFn):
    def __init__(self, es: ElasticsearchSettings, fetch: FetchSettings, keep_unanswered: bool = False):
        self._es_settings = es
        self._fetch = fetch
        self._keep_unanswered = keep_unanswered
        self._client = None
        self._unanswered = beam.metrics.Metrics.counter(_NS, UNANSWERED)
        self._known = beam.metrics.Metrics.counter(_NS, "known")
        self._revised = beam.metrics.Metrics.counter(_NS, "revised")
        self._new = beam.metrics.Metrics.counter(_NS, "new")
        self._wait = beam.metrics.Metrics.counter(_NS, "retry_later")
        self._given_up = beam.metrics.Metrics.counter(_NS, "given_up")
        self._by_guid = beam.metrics.Metrics.counter(_NS, "known_by_guid")

    def setup(self):
        from newsbeam.connectors.es import connect

        self._client = connect(self._es_settings)

    def teardown(self):
        if self._client is not None:
            self._client.close()

    def _search_terms(self, index: str, field: str, values: list[str], source: list[str]):
        response = self._client.search(
            index=index,
            query={"terms": {field: values}},
            source=source,
            size=10_000,
            ignore_unavailable=True,
        )
        return [hit["_source"] for hit in response["hits"]["hits"]]

    def _search_articles(self, urls: list[str], keys: list[str]):
        """Indexed articles with one of ``urls`` or ``entry_keys`` (one query)."""
        query: dict = {"terms": {"urls": urls}}
        if keys:
            query = {"bool": {"should": [query, {"terms": {"entry_keys": keys}}], "minimum_should_match": 1}}
        response = self._client.search(
            index=self._es_settings.articles_alias,
            query=query,
            source=["urls", "feed.url", "entry_updated", "entry_keys", "published", "canonical_url"],
            size=10_000,
            ignore_unavailable=True,
        )
        return [hit["_source"] for hit in response["hits"]["hits"]]

    def process(self, batch: list[FeedEntry]):
        from elasticsearch import ApiError, TransportError

        urls = sorted({entry.url for entry in batch} | {scheme_twin(entry.url) for entry in batch})
        keys = sorted({entry.entry_key for entry in batch if entry.entry_key})
        try:
            articles = self._search_articles(urls, keys)
            failures = self._search_terms(
                self._es_settings.failures_alias,
                "url",
                urls,
                ["url", "attempts", "@timestamp", "stage", "reason", "final"],
            )
        except (ApiError, TransportError) as exc:
            if not self._keep_unanswered:
                raise
            from newsbeam.connectors.es import count_es_error

            what = count_es_error("lookup", exc)
            self._unanswered.inc(len(batch))
            _LOG.warning("%d feed entries not looked up (%s): left for the next run", len(batch), what)
            for entry in batch:
                yield beam.pvalue.TaggedOutput(UNANSWERED, entry)
            return
        known: dict[str, list[tuple[str | None, str | None]]] = {}
        canonicals: dict[str, set[str]] = {}  # URL -> canonical URLs of the articles holding it
        keyed: dict[str, list[str | None]] = {}  # entry_key -> published of its articles
        for doc in articles:
            value = doc.get("urls") or []
            stored = ((doc.get("feed") or {}).get("url"), doc.get("entry_updated"))
            for url in [value] if isinstance(value, str) else value:
                known.setdefault(url, []).append(stored)
                if doc.get("canonical_url"):
                    canonicals.setdefault(url, set()).add(doc["canonical_url"])
            value = doc.get("entry_keys") or []
            for key in [value] if isinstance(value, str) else value:
                keyed.setdefault(key, []).append(doc.get("published"))
        failed: dict[str, tuple[int, str | None, str | None, bool]] = {}
        for doc in failures:
            if doc.get("stage") not in RETRIED_STAGES:
                continue
            prev = failed.get(doc["url"], (0, None, None, False))
            attempts = max(prev[0], int(doc.get("attempts") or 1))
            stamp = doc.get("@timestamp")
            latest = not prev[1] or (stamp and stamp >= prev[1])  # the reason of the latest failure
            last = max(filter(None, [prev[1], stamp]), default=None)
            final = doc.get("final") is True
            failed[doc["url"]] = (attempts, last, *((doc.get("reason"), final) if latest else prev[2:]))
        now = dt.datetime.now(dt.timezone.utc)
        for entry in batch:
            revision = False
            # A site that moved from http to https (or back) links the same articles anew.
            stored = known.get(entry.url, []) + known.get(scheme_twin(entry.url), [])
            if not stored and same_guid(entry, keyed.get(entry.entry_key or "")):
                self._known.inc()  # its link changed, its guid did not: the article is indexed
                self._by_guid.inc()
                continue
            if stored:
                if not is_revision(entry, stored):
                    self._known.inc()
                    continue
                revision = True  # fetched again (a correction), unless a failed retry waits
            if entry.url in failed:
                attempts, last, reason, final = failed[entry.url]
                verdict = retry_due(attempts, last, now, self._fetch, reason, final)
                if verdict == "wait":
                    self._wait.inc()
                    if self._keep_unanswered:
                        yield beam.pvalue.TaggedOutput(WAITING, entry)
                    continue
                if verdict == "give_up":
                    self._given_up.inc()
                    continue
                entry = dataclasses.replace(entry, attempts=attempts)
            self._new.inc()  # what is fetched: the per-feed figures count a revision as new too
            if revision:
                self._revised.inc()
                # rewritten in place: under the _id it has, whatever canonical URL the page names now
                held = canonicals.get(entry.url, set()) | canonicals.get(scheme_twin(entry.url), set())
                entry = dataclasses.replace(entry, indexed_canonical=min(held, default=None))
            yield entry


class SkipKnown(beam.PTransform):
    """FeedEntry → FeedEntry not yet indexed (and not waiting for a retry);
    with ``keep_unanswered``: outputs ``new`` (those), ``unanswered``
    (entries whose lookup Elasticsearch could not answer) and ``waiting``
    (entries that failed before, whose retry is not due yet)."""

    def __init__(self, es: ElasticsearchSettings, fetch: FetchSettings, keep_unanswered: bool = False):
        super().__init__()
        if not isinstance(es, ElasticsearchSettings):
            raise ValueError("SkipKnown: es must be an ElasticsearchSettings")
        self._es = es
        self._fetch = fetch
        self._keep_unanswered = keep_unanswered

    def expand(self, entries):
        size = self._es.lookup_batch_size
        # Full batches from the first entry (BatchElements would start at 1 and grow: about 9
        # queries for 150 entries per worker); on the embedded server each query is a pass over
        # the index.  The last batch is flushed when the bundle ends.
        lookup = beam.ParDo(_LookupFn(self._es, self._fetch, self._keep_unanswered))
        if self._keep_unanswered:
            lookup = lookup.with_outputs(UNANSWERED, WAITING, main="new")
        return (
            entries
            | "Batch" >> beam.BatchElements(min_batch_size=size, max_batch_size=size)
            | "Lookup" >> lookup
        )
