"""When a feed may be polled again: the hints a feed and its server give.

Pure functions over a response's headers and the feed's channel metadata
(feedparser's ``parsed.feed``), used by ``ReadFeeds`` to record, on each
``FeedStatus``, how long the publisher asks clients to wait
(``poll_after``, seconds), and by ``newsbeam stream`` to schedule the next
poll (``pipeline/stream.py``).

Hints read: RSS ``<ttl>`` (minutes), ``sy:updatePeriod`` /
``sy:updateFrequency`` (RSS 1.0 syndication module), ``Cache-Control:
max-age`` (``s-maxage`` too), ``Expires`` (against the response's ``Date``
when present) and, on a failed poll, ``Retry-After``.  The largest wins; a
hint that cannot be read is ignored, never an error.
"""

from __future__ import annotations

import dataclasses
import email.utils
import re
import time
from collections.abc import Mapping
from typing import Any

from newsbeam.connectors.http import MAX_RETRY_AFTER_SECONDS as MAX_HINT_SECONDS
from newsbeam.connectors.http import parse_retry_after
from newsbeam.transforms.model import epoch_iso, parse_instant

__all__ = [
    "GONE_STATUS",
    "MAX_HINT_SECONDS",
    "FeedHold",
    "SiteHold",
    "batch_hold",
    "read_site_holds",
    "site_hold",
    "feed_poll_hint",
    "header_poll_hint",
    "retry_after_hint",
]

_PERIOD_SECONDS = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 7 * 86400,
    "monthly": 30 * 86400,
    "yearly": 365 * 86400,
}
_MAX_AGE = re.compile(r"(?:^|[,\s])s?-?max-?age\s*=\s*\"?(\d{1,10})", re.IGNORECASE)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return when.timestamp()


def _hint(seconds: float) -> float | None:
    """A hint of ``seconds``: at most ``MAX_HINT_SECONDS`` (a year; ``max-age=9999999999`` or a
    ``<ttl>`` of ``1e38`` minutes is no schedule), None when it is no wait at all."""
    return min(seconds, MAX_HINT_SECONDS) if seconds > 0 else None


def header_poll_hint(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the response may be cached: ``Cache-Control: max-age`` (or
    ``s-maxage``), else ``Expires`` minus ``Date`` (or now).  ``no-cache``,
    ``no-store`` and ``max-age=0`` give no hint."""
    cache_control = _header(headers, "cache-control") or ""
    ages = [int(m) for m in _MAX_AGE.findall(cache_control[:2000])]
    if ages:
        return _hint(float(max(ages)))
    expires = _http_date(_header(headers, "expires"))
    if expires is None:
        return None
    base = _http_date(_header(headers, "date"))
    base = base if base is not None else (time.time() if now is None else now)
    return _hint(expires - base)


def _number(value) -> float | None:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 and number == number and number != float("inf") else None


def feed_poll_hint(channel: Mapping[str, object]) -> float | None:
    """Seconds from the feed's own metadata: ``<ttl>`` minutes, or
    ``sy:updatePeriod`` divided by ``sy:updateFrequency`` (default 1)."""
    hints = []
    ttl = _number(channel.get("ttl"))
    if ttl is not None:
        hints.append(ttl * 60)
    period = str(channel.get("sy_updateperiod") or "").strip().lower()
    if period in _PERIOD_SECONDS:
        frequency = _number(channel.get("sy_updatefrequency")) or 1.0
        hints.append(_PERIOD_SECONDS[period] / max(frequency, 1e-3))
    return _hint(max(hints)) if hints else None


def retry_after_hint(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not headers:
        return None
    value = parse_retry_after(_header(headers, "retry-after"))
    return value if value else None


def combine(*hints: float | None) -> float | None:
    """The largest of the hints given, or None."""
    present = [h for h in hints if h is not None]
    return max(present) if present else None


# A feed answered 410 Gone: removed for good (RFC 9110 15.5.11), not a fault that a retry mends.
GONE_STATUS = "http_410"


@dataclasses.dataclass(frozen=True)
class FeedHold:
    """A feed a batch run does not poll yet: until when (epoch seconds) and why."""

    feed_url: str
    until: float
    reason: str  # "gone" (410) or "retry_after" (429/503 with Retry-After)
    last_poll: str  # the stored poll that asked for it (ISO 8601)


def _iso_time(value: Any) -> float | None:
    when = parse_instant(value)
    return None if when is None else when.timestamp()


def batch_hold(
    feed_url: str, doc: Mapping[str, Any] | None, now: float, gone_reprobe: float, max_hint: float
) -> FeedHold | None:
    """Whether ``newsbeam run`` skips this feed now, from its ``news-feeds`` document (pure).

    A batch run polls every feed each time (its schedule is the operator's cron line), except a
    feed whose last poll asked it not to come back yet: one answered 410 Gone is probed again
    only ``gone_reprobe`` seconds later (a run every 15 minutes requested a removed feed 96 times
    a day, for ever), and a failed poll whose answer carried ``Retry-After`` (429, 503) is not
    repeated before that time, capped at ``max_hint`` seconds.  A feed's own ``<ttl>`` or
    ``Cache-Control`` on a healthy answer holds nothing here: the operator chose the interval."""
    if not doc:
        return None
    status = doc.get("status")
    last = _iso_time(doc.get("@timestamp"))
    if last is None or status in (None, "ok", "not_modified"):
        return None
    if status == GONE_STATUS:
        until, reason = last + gone_reprobe, "gone"
    else:
        hint = (doc.get("schedule") or {}).get("hint_seconds")
        if not isinstance(hint, (int, float)) or isinstance(hint, bool) or hint <= 0:
            return None
        until, reason = last + min(float(hint), max_hint), "retry_after"
    return FeedHold(feed_url, until, reason, str(doc.get("@timestamp"))) if until > now else None


@dataclasses.dataclass(frozen=True)
class SiteHold:
    """A site no page is requested from until ``until`` (epoch seconds): one of its pages answered
    ``status`` (429, 503) with ``Retry-After`` at ``asked_at`` (ISO 8601)."""

    site: str
    until: float
    url: str
    status: int | None
    asked_at: str


def site_hold(doc: Mapping[str, Any] | None, now: float, max_hint: float) -> SiteHold | None:
    """The hold a page's failure document (``news-failures``) puts on its site now, if any (pure):
    a 429 or 503 whose ``Retry-After`` (``retry_after``, seconds) has not passed since the failure
    (``@timestamp``).  Capped at ``max_hint`` (``stream.max_hint``, as a feed's Retry-After): a
    server answering ``Retry-After: 1000000000`` does not park a site for years, nor does a
    ``@timestamp`` in the future (another host's clock).  The site is the one that answered
    (``retry_after_site``), else, in documents written before it was kept, the link's."""
    from newsbeam.connectors.http import site_of

    if not isinstance(doc, Mapping) or doc.get("stage") != "fetch" or not isinstance(doc.get("url"), str):
        return None
    seconds = doc.get("retry_after")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds > 0:
        return None
    asked = _iso_time(doc.get("@timestamp"))
    if asked is None:
        return None
    until = min(asked + min(float(seconds), max_hint), now + max_hint)
    if until <= now:
        return None
    http = doc.get("http")
    status = http.get("status") if isinstance(http, Mapping) else None
    answered = doc.get("retry_after_site")
    site = answered if isinstance(answered, str) and answered else site_of(doc["url"])
    return SiteHold(
        site, until, doc["url"], status if isinstance(status, int) else None, str(doc["@timestamp"])
    )


def read_site_holds(
    client, failures_alias: str, now: float, max_hint: float, size: int = 1000
) -> dict[str, SiteHold]:
    """Site -> its hold (the latest-ending one), from the failures of the last ``max_hint`` seconds
    that asked to wait (one bounded search; the field is read from ``_source``)."""
    response = client.search(
        index=failures_alias,
        size=size,
        query={
            "bool": {
                "filter": [
                    {"term": {"stage": "fetch"}},
                    {"terms": {"reason": ["http_429", "http_503"]}},
                    {"exists": {"field": "retry_after"}},  # 503s without it do not crowd them out
                    {"range": {"@timestamp": {"gte": epoch_iso(now - max_hint)}}},
                ]
            }
        },
        source=["url", "stage", "retry_after", "retry_after_site", "@timestamp", "http.status"],
        sort=[{"@timestamp": {"order": "desc"}}],
        ignore_unavailable=True,
    )
    holds: dict[str, SiteHold] = {}
    for hit in response["hits"]["hits"]:
        hold = site_hold(hit["_source"], now, max_hint)
        if hold is not None and (hold.site not in holds or hold.until > holds[hold.site].until):
            holds[hold.site] = hold
    return holds
