"""Beam counters of the run summary that no stage counts by itself.

Namespace ``news.run`` holds totals (``articles_indexed``,
``failures_written``, ``dead_letters``, ``stories_new``,
``stories_joined``); namespace ``news.feed`` holds per-feed figures named
``<what>|<feed url>`` with ``what`` in ``new`` (entries that passed
SkipKnown), ``indexed`` (article documents written), ``failed`` (fetch and
extract failures), ``refused`` (documents Elasticsearch rejected) and
``unwritten`` (kept as dead letters).  They let a summary reconcile per
feed: ``new = indexed + failed + refused + unwritten`` (plus ``merged`` when
two entries led to one article, see ``pipeline/report.py``).

Each function is the identity on its element and increments counters, so
a runner's UI shows the same numbers as ``newsbeam run``.
"""

from __future__ import annotations

import apache_beam as beam

from newsbeam.pipeline.report import FEED_NAMESPACE, RUN_NAMESPACE
from newsbeam.transforms.model import mask_userinfo

__all__ = [
    "FEED_NAMESPACE",
    "RUN_NAMESPACE",
    "count_failure",
    "count_failure_written",
    "count_new_entry",
    "count_story",
    "count_unwritten",
    "count_written_article",
]


def _feed(what: str, feed_url: str | None) -> None:
    if feed_url:  # keyed as documents store it: without user info
        beam.metrics.Metrics.counter(FEED_NAMESPACE, f"{what}|{mask_userinfo(feed_url)}").inc()


def _article_feed(action) -> str | None:
    document = getattr(action, "source", None) or {}
    return (document.get("feed") or {}).get("url")


def count_new_entry(entry):
    _feed("new", entry.feed_url)
    return entry


def count_story(article):
    story = article.story or {}
    if story.get("cluster_id"):
        name = "stories_new" if story["cluster_id"] == article.id else "stories_joined"
        beam.metrics.Metrics.counter(RUN_NAMESPACE, name).inc()
    return article


def count_written_article(action):
    """Main output of the articles sink: article upserts (and story updates)."""
    if action.op == "upsert":
        beam.metrics.Metrics.counter(RUN_NAMESPACE, "articles_indexed").inc()
        _feed("indexed", _article_feed(action))
    elif action.op == "update":
        beam.metrics.Metrics.counter(RUN_NAMESPACE, "story_updates").inc()
    return action


def count_failure(failure):
    if failure.stage == "index":
        _feed("refused", failure.feed_url)
    elif failure.stage in ("fetch", "extract"):
        _feed("failed", failure.feed_url)
    return failure


def count_failure_written(action):
    beam.metrics.Metrics.counter(RUN_NAMESPACE, "failures_written").inc()
    return action


def count_unwritten(action):
    beam.metrics.Metrics.counter(RUN_NAMESPACE, "dead_letters").inc()
    if action.op == "upsert":
        _feed("unwritten", _article_feed(action))
    return action
