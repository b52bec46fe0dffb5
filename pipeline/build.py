"""The batch graph: only wiring of the stages, no I/O at construction.

    ReadFeeds ─► CanonicalizeUrls ─► SkipKnown ─► SelectWave ─► FetchPages ─► ExtractArticles ─► IndexArticles
        │                                             held │  deferred │ failed       │ failed        │
        └── status ─► FeedHealth ◄── incomplete feeds ─────┴───────────┘      └───────┴───────────┴─► Failures

One graph is one *wave* of a run (see connectors/budget.py): ``SelectWave``
takes at most ``run.wave_size`` new entries within the per-feed budget;
the rest are ``held`` for a later wave or the next run, and their feeds
keep their old validators (``incomplete``), as do the feeds of entries
whose known-URL lookup Elasticsearch did not answer (``unanswered``: not
fetched, seen again by the next run) and of entries a later run retries
(failed now, or ``waiting`` for a retry that is not due: a 304 to an
unchanged feed would hide them from every later run).

Entity tagging runs inside ``ExtractArticles``, before copies that share an
id are merged (see ``_tagging``); its model starts loading in each worker
once its feeds are polled (``WarmUpEntities``); story clustering plugs in between
``ExtractArticles`` and ``IndexArticles`` (see ``_enrich``).  ``build_pipeline`` returns the terminal
PCollections so tests can assert on them.
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam

from newsbeam.config.settings import Settings
from newsbeam.connectors.budget import SelectWave, WavePlan
from newsbeam.connectors.es_sink import IndexAction, WriteToElasticsearch
from newsbeam.connectors.feed_health import WriteFeedHealth
from newsbeam.connectors.feeds import ReadFeeds
from newsbeam.connectors.fetch import FetchPages
from newsbeam.connectors.known import SkipKnown, will_retry
from newsbeam.pipeline import introspection, run_counters
from newsbeam.transforms.extract import ExtractArticles
from newsbeam.transforms.model import Article, Failure
from newsbeam.transforms.urls import CanonicalizeUrls

__all__ = ["BuiltPipeline", "build_pipeline"]


@dataclasses.dataclass
class BuiltPipeline:
    articles: beam.PCollection
    failures: beam.PCollection
    unwritten: beam.PCollection
    deferred: beam.PCollection  # entries whose pages the run's deadline left unextracted


def _article_action(alias: str):
    def to_action(article: Article) -> IndexAction:
        # An upsert keeps what later writers own (story flags, first_seen, the
        # first feed) and merges urls: see connectors/es_sink.py.
        return IndexAction(
            alias, article.id, article.to_document(), url=article.entry_url or article.url, op="upsert"
        )

    return to_action


def _failure_action(alias: str):
    def to_action(failure: Failure) -> IndexAction:
        beam.metrics.Metrics.counter("news.failures", f"{failure.stage}:{failure.reason}").inc()
        return IndexAction(alias, failure.id, failure.to_document(), url=failure.url)

    return to_action


def _tagging(settings: Settings):
    """Entity tagging, applied by ``ExtractArticles`` to each extracted copy
    before the copies sharing an id are merged: with no grouping between
    fetching and it, Beam fuses it with fetching and extraction, so the CPU
    work of tagging runs while other sites' pages are still downloading."""
    if not settings.ner.enabled:
        return None
    from newsbeam.transforms.entities import TagEntities

    ner = settings.ner
    return "TagEntities" >> TagEntities(
        model=ner.model,
        max_per_type=ner.max_per_type,
        batch_size=ner.batch_size,
        chunk_chars=ner.chunk_chars,
    )


def _enrich(articles, settings: Settings):
    """Story clustering (it needs every article of the wave).  Returns the
    articles and the partial updates earlier clusters need."""
    updates = None
    if settings.dedup.enabled:
        from newsbeam.connectors.story_index import ApplyStoryUpdates
        from newsbeam.transforms.stories import ClusterStories

        clustered = articles | "ClusterStories" >> ClusterStories(
            es_settings=settings.elasticsearch, max_bucket=settings.dedup.max_bucket
        )
        articles = clustered.articles
        updates = clustered.updates | "StoryUpdates" >> ApplyStoryUpdates(settings.elasticsearch)
    return articles, updates


def archive_dir(settings: Settings) -> str:
    if settings.archive.dir:
        return settings.archive.dir
    from newsbeam.connectors.embedded import state_dir

    return str(state_dir() / "archive")


def _fetch_groups(options) -> int | None:
    """How many groups ``FetchPages`` packs the sites into: one per worker
    process of newsbeam's local runner, which hands each worker one group key
    in turn (so each gets about the same number of pages); None (a group per
    site) on other runners, which spread keys by themselves."""
    if options is None:
        return None
    from newsbeam.pipeline.local_runner import worker_count

    return worker_count(options) or None


def build_pipeline(
    p: beam.Pipeline, settings: Settings, feed_validators=None, plan: WavePlan | None = None
) -> BuiltPipeline:
    """``feed_validators``: feed URL → {etag, last_modified} read from
    ``news-feeds`` before the run, for conditional GETs.  ``plan``: this
    wave's feeds and budgets (default: the first wave, every feed)."""
    introspection.install()  # Beam's DoFn introspection once per DoFn (pipeline/introspection.py)
    es = settings.elasticsearch
    plan = plan or WavePlan()
    feed_order = {feed.url: i for i, feed in enumerate(settings.feeds)}
    feeds = [feed for feed in settings.feeds if plan.feeds is None or feed.url in plan.feeds]

    # No reshuffle in Create: ReadFeeds spreads the feeds over the workers itself, and
    # Create's own reshuffle was one more stage (0.25-0.37 s) before the first feed request.
    feeds_in = p | "Feeds" >> beam.Create(feeds, reshuffle=False)
    polled = feeds_in | "ReadFeeds" >> ReadFeeds(settings.fetch, feed_validators, plan.deadline)
    if settings.ner.enabled:
        from newsbeam.transforms.entities import WarmUpEntities

        # Fused with feed polling: each worker starts loading the NER model once its
        # feeds are read, while URLs are looked up and the wave is selected, not when
        # the fetch-extract-tag stage starts.
        _ = polled.status | "WarmUpEntities" >> WarmUpEntities(settings.ner.model)
    entries = polled.entries | "CanonicalizeUrls" >> CanonicalizeUrls(feed_order)
    # Entries whose lookup Elasticsearch could not answer are not fetched, and their feeds
    # keep their validators (incomplete), so the next run sees them again.
    looked_up = entries | "SkipKnown" >> SkipKnown(es, settings.fetch, keep_unanswered=True)
    new_entries = looked_up.new
    wave = new_entries | "SelectWave" >> SelectWave(settings.fetch, settings.run, plan)
    # "new" counts what this wave takes, so each wave's figures reconcile on their own.
    taken = wave.taken | "CountNew" >> beam.Map(run_counters.count_new_entry)
    fetched = taken | "FetchPages" >> FetchPages(settings.fetch, plan, groups=_fetch_groups(p.options))
    pages = fetched.pages
    if settings.archive.enabled:
        from newsbeam.connectors.archive import ArchivePages

        pages = pages | "ArchivePages" >> ArchivePages(archive_dir(settings))
    # A feed's own failure is written with its health (attempts = error streak);
    # failures of single entries (a link that is not http(s)) go with the others.
    entry_failures = polled.failed | "EntryFailures" >> beam.Filter(lambda f: f.url != f.feed_url)
    built = _extract_and_index(pages, settings, feed_order, [entry_failures, fetched.failed], plan.deadline)
    # A feed with an entry to retry later (one that failed now, or waits for its retry) keeps its
    # validators too: a 304 would hide that entry from every later run.
    fetch_settings = settings.fetch
    retried = built.failures | "ToRetry" >> beam.Filter(
        lambda f: bool(f.feed_url) and will_retry(f, fetch_settings)
    )
    incomplete = (
        (wave.held, fetched.deferred, looked_up.unanswered, looked_up.waiting, built.deferred, retried)
        | "NotDone" >> beam.Flatten()
        | "ItsFeed" >> beam.Map(lambda e: e.feed_url)
        | "IncompleteFeeds" >> beam.Distinct()
    )
    _ = (polled.status, new_entries, built.unwritten, incomplete) | "FeedHealth" >> WriteFeedHealth(es)
    return built


def build_reextract_pipeline(
    p: beam.Pipeline, settings: Settings, feed_validators=None, plan: WavePlan | None = None
) -> BuiltPipeline:
    """Extraction and every later stage over the raw archive, overwriting by id."""
    from newsbeam.connectors.archive import ReadArchive

    feed_order = {feed.url: i for i, feed in enumerate(settings.feeds)}
    pages = p | "ReadArchive" >> ReadArchive(archive_dir(settings))
    return _extract_and_index(pages, settings, feed_order, [])


def _extract_and_index(
    pages, settings: Settings, feed_order, earlier_failures, deadline: float | None = None
) -> BuiltPipeline:
    es = settings.elasticsearch
    extracted = pages | "ExtractArticles" >> ExtractArticles(
        settings.extract, feed_order, _tagging(settings), deadline
    )
    articles, story_updates = _enrich(extracted.articles, settings)
    articles = articles | "CountStories" >> beam.Map(run_counters.count_story)

    article_actions = articles | "ToArticleActions" >> beam.Map(_article_action(es.articles_alias))
    if story_updates is not None:
        article_actions = (article_actions, story_updates) | "WithStoryUpdates" >> beam.Flatten()
    written = article_actions | "IndexArticles" >> WriteToElasticsearch(
        es, clear_failures_alias=es.failures_alias
    )
    _ = written.written | "CountIndexed" >> beam.Map(run_counters.count_written_article)
    failures = (
        (*earlier_failures, extracted.failed, written.failed)
        | "AllFailures" >> beam.Flatten()
        | "CountFailed" >> beam.Map(run_counters.count_failure)
    )
    failed_writes = (
        failures
        | "ToFailureActions" >> beam.Map(_failure_action(es.failures_alias))
        | "IndexFailures" >> WriteToElasticsearch(es)
    )
    _ = failed_writes.written | "CountFailuresWritten" >> beam.Map(run_counters.count_failure_written)
    unwritten = (
        (
            written.unwritten,
            failed_writes.unwritten,
        )
        | "Unwritten" >> beam.Flatten()
        | "CountUnwritten" >> beam.Map(run_counters.count_unwritten)
    )
    return BuiltPipeline(
        articles=articles, failures=failures, unwritten=unwritten, deferred=extracted.deferred
    )
