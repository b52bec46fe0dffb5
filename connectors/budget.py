"""Bounded runs: waves, per-feed and per-host budgets, the run's deadline.

Pure helpers (``select_wave``, ``WavePlan``) and the ``SelectWave`` stage
that applies them between ``SkipKnown`` and ``FetchPages``.

Why waves.  On Beam's batch runners every ``GroupByKey`` is a barrier: a
fused stage consumes *all* its input before the next stage starts.  The
batch graph has barriers after fetching (``GroupById`` in
transforms/extract.py merges copies of one article) and in
``ClusterStories`` (story resolution needs the run's articles together), so
in one big pipeline nothing reaches Elasticsearch until the last page of
the run is fetched: a run killed after an hour keeps nothing.  Removing the
barriers would change what they compute (one article per id, one cluster
per story).  Instead ``newsbeam run`` processes new entries in *waves*:
each wave is a complete pipeline (poll, skip known, fetch, extract,
cluster, tag, index) over at most ``run.wave_size`` new entries, and the
next wave starts only after the previous one was written.  A killed run
keeps every finished wave; the next run's ``SkipKnown`` skips what was
indexed or recorded as failed and picks up the rest.

Budgets, all leaving the rest *for the next run* (not failed, not lost):

- per feed: at most ``fetch.max_entries_per_feed`` new entries per run
  (newest first); a 5,000-link feed is worked through over several runs;
- per host: at most ``fetch.host_budget`` seconds of page fetching per run
  (robots.txt, pauses and requests included); each request's deadline is
  cut to what the host has left;
- per run: ``run.max_run_time`` seconds: no page request starts after it,
  no wave starts after it; the wave in flight finishes extracting and
  indexing what it fetched, extraction stopping ``DEADLINE_GRACE`` (10 s)
  past the limit (transforms/extract.py; a page cut there goes back to the
  next run), so the run ends cleanly a little after the limit.

A feed with entries left over keeps its stored ETag/Last-Modified (the
feed-health writer is told it is incomplete), so the next poll is a full
one and sees those entries again.

Between waves the driver learns what happened from counters in
``news.budget``: ``taken|<feed>`` and ``waiting|<feed>`` (entries taken in
this wave, entries left for a later wave of this run), ``host_ms|<site>``
(milliseconds spent on a site), ``deferred|<feed>`` (entries left for the
next run).  Wall-clock times (``time.time()``) are used for deadlines because
workers may be other processes.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping

import apache_beam as beam
from apache_beam import pvalue

from newsbeam.connectors.http import site_of  # the unit of politeness and of the host budget
from newsbeam.transforms.model import FeedEntry

__all__ = [
    "NS",
    "HostClock",
    "SelectWave",
    "WavePlan",
    "WaveSelection",
    "host_spent_from_counters",
    "per_key_counters",
    "select_wave",
    "site_of",
]

NS = "news.budget"
TAKEN = "taken|"
WAITING = "waiting|"
HOST_MS = "host_ms|"
DEFERRED = "deferred|"


@dataclasses.dataclass(frozen=True)
class WavePlan:
    """What one wave may do; made by the driver (pipeline/run.py) per wave.

    ``feeds``: feed URLs to poll (None: all); ``taken``: entries each feed
    had taken in earlier waves of this run; ``host_spent``: seconds each
    site used in earlier waves; ``deadline``: the run's end (``time.time()``
    value) or None; ``site_holds``: site -> ``time.time()`` value before which
    it is not requested (a page's ``Retry-After`` seen by an earlier run, see
    connectors/feed_schedule.py ``site_hold``).
    """

    wave: int = 1
    feeds: frozenset[str] | None = None
    taken: Mapping[str, int] = dataclasses.field(default_factory=dict)
    host_spent: Mapping[str, float] = dataclasses.field(default_factory=dict)
    deadline: float | None = None
    site_holds: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def feed_left(self, feed_url: str, max_entries_per_feed: int) -> int:
        return max(0, max_entries_per_feed - self.taken.get(feed_url, 0))

    def host_left(self, site: str, host_budget: float) -> float:
        return host_budget - self.host_spent.get(site, 0.0)

    def host_clock(self, site: str, host_budget: float) -> HostClock:
        return HostClock(self.host_left(site, host_budget), self.deadline)


class HostClock:
    """What one site has left of its budget in this wave.

    Only the time spent *working for the site* is charged (robots.txt,
    requests, pauses between them, measured with ``charge``), never the time
    the fetcher's generator is suspended while a fused downstream stage
    (extraction, indexing) handles a page it yielded.  ``remaining`` is also
    bounded by the run's deadline (a ``time.time()`` value).
    """

    def __init__(self, left: float, deadline: float | None, now=time.time, clock=time.monotonic):
        self.left = left
        self.deadline = deadline
        self.spent = 0.0
        self._now = now
        self._clock = clock

    def remaining(self) -> float:
        left = self.left - self.spent
        if self.deadline is not None:
            left = min(left, self.deadline - self._now())
        return left

    def until(self) -> float:
        """The end of what remains, on the monotonic clock (for ``HttpFetcher.get``)."""
        return self._clock() + max(0.0, self.remaining())

    def charge(self):
        """``with clock.charge(): ...`` adds the block's duration to ``spent``."""
        return _Charge(self)


class _Charge:
    def __init__(self, host_clock: HostClock):
        self._host = host_clock

    def __enter__(self):
        self._started = self._host._clock()
        return self

    def __exit__(self, *exc):
        self._host.spent += self._host._clock() - self._started
        return False


@dataclasses.dataclass(frozen=True)
class WaveSelection:
    taken: list[FeedEntry]
    waiting: list[FeedEntry]  # for a later wave of this run
    deferred: list[FeedEntry]  # for the next run (feed or host budget used up)


def _newest_first(entry: FeedEntry):
    # ISO 8601 UTC strings sort chronologically; entries without a date go last.
    return (entry.published is None, _Reversed(entry.published or ""), entry.url)


@dataclasses.dataclass(frozen=True)
class _Reversed:
    value: str

    def __lt__(self, other: _Reversed) -> bool:
        return self.value > other.value


def select_wave(
    entries: Iterable[FeedEntry],
    plan: WavePlan,
    wave_size: int,
    max_entries_per_feed: int,
    host_budget: float,
) -> WaveSelection:
    """Pick this wave's entries: newest first within a feed, one feed after
    the other in turn (so one huge feed cannot starve the rest), at most
    ``wave_size`` in all and what each feed has left of its run budget.
    Entries of a site whose host budget is used up, or beyond their feed's
    budget, are deferred to the next run; the others not taken wait for a
    later wave.  Deterministic for any input order."""
    by_feed: dict[str, list[FeedEntry]] = {}
    deferred: list[FeedEntry] = []
    for entry in entries:
        if plan.host_left(site_of(entry.link), host_budget) <= 0:
            deferred.append(entry)
        else:
            by_feed.setdefault(entry.feed_url, []).append(entry)
    queues = {}
    for feed_url in sorted(by_feed):
        ordered = sorted(by_feed[feed_url], key=_newest_first)
        left = plan.feed_left(feed_url, max_entries_per_feed)
        queues[feed_url] = ordered[:left]
        deferred.extend(ordered[left:])
    taken: list[FeedEntry] = []
    position = 0
    while len(taken) < wave_size and any(len(q) > position for q in queues.values()):
        for feed_url in sorted(queues):
            queue = queues[feed_url]
            if position < len(queue) and len(taken) < wave_size:
                taken.append(queue[position])
        position += 1
    chosen = {id(e) for e in taken}
    waiting = [e for q in queues.values() for e in q if id(e) not in chosen]
    return WaveSelection(taken=taken, waiting=waiting, deferred=deferred)


def per_key_counters(counters: Mapping[str, int], prefix: str) -> dict[str, int]:
    """``{key: value}`` of the counters ``news.budget/<prefix><key>``."""
    head = f"{NS}/{prefix}"
    return {name[len(head) :]: value for name, value in counters.items() if name.startswith(head) and value}


def host_spent_from_counters(counters: Mapping[str, int]) -> dict[str, float]:
    return {site: ms / 1000.0 for site, ms in per_key_counters(counters, HOST_MS).items()}


HELD_TAG = "held"


def _select(keyed, plan: WavePlan, wave_size: int, max_entries_per_feed: int, host_budget: float):
    _key, entries = keyed
    selection = select_wave(entries, plan, wave_size, max_entries_per_feed, host_budget)
    for entry in selection.taken:
        beam.metrics.Metrics.counter(NS, f"{TAKEN}{entry.feed_url}").inc()
        yield entry
    for entry in selection.waiting:
        beam.metrics.Metrics.counter(NS, f"{WAITING}{entry.feed_url}").inc()
        yield pvalue.TaggedOutput(HELD_TAG, entry)
    for entry in selection.deferred:
        beam.metrics.Metrics.counter(NS, f"{DEFERRED}{entry.feed_url}").inc()
        yield pvalue.TaggedOutput(HELD_TAG, entry)


class SelectWave(beam.PTransform):
    """FeedEntry → the entries of this wave (main) and those ``held`` back
    (for a later wave or the next run), see ``select_wave``.  All new
    entries meet in one group: they are small, and the choice must see every
    feed's entries at once to share the wave fairly."""

    def __init__(self, fetch_settings, run_settings, plan: WavePlan | None = None):
        super().__init__()
        self._args = (
            plan or WavePlan(),
            run_settings.wave_size,
            fetch_settings.max_entries_per_feed,
            fetch_settings.host_budget,
        )

    def expand(self, entries):
        return (
            entries
            | "OneGroup" >> beam.Map(lambda e: (None, e))
            | "All" >> beam.GroupByKey()
            | "Select" >> beam.FlatMap(_select, *self._args).with_outputs(HELD_TAG, main="taken")
        )
