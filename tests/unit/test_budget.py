"""Wave selection and the fetcher's host budget and run deadline (connectors/budget.py)."""

from __future__ import annotations

import time

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.config.settings import FetchSettings
from newsbeam.connectors.budget import HostClock, WavePlan, select_wave, site_of
from newsbeam.connectors.fetch import FetchPages
from newsbeam.connectors.site_server import SiteServer
from newsbeam.transforms.model import FeedEntry


def _entry(feed: str, n: int, host: str = "http://a.test", published: str | None = None) -> FeedEntry:
    url = f"{host}/{feed}/{n}"
    return FeedEntry(feed_url=f"{host}/{feed}.xml", feed_name=feed, link=url, url=url, published=published)


def test_a_huge_feed_cannot_starve_the_others_and_keeps_the_rest_for_later():
    big = [_entry("big", n, published=f"2026-01-01T00:{n % 60:02d}:00Z") for n in range(5000)]
    small = [_entry("small", n) for n in range(3)]
    plan = WavePlan()
    selection = select_wave(big + small, plan, wave_size=10, max_entries_per_feed=50, host_budget=60)
    taken_feeds = [e.feed_url.rsplit("/", 1)[1] for e in selection.taken]
    assert taken_feeds.count("small.xml") == 3 and len(selection.taken) == 10
    assert len(selection.waiting) == 50 - 7  # the big feed's budget, minus what this wave took
    assert len(selection.deferred) == 5000 - 50  # beyond the feed's budget: the next run
    newest = [e.published for e in selection.taken if "big" in e.url]
    assert newest == sorted(newest, reverse=True) and newest[0] == "2026-01-01T00:59:00Z"


def test_selection_does_not_depend_on_arrival_order():
    entries = [_entry(f"f{n % 3}", n) for n in range(30)]
    one = select_wave(entries, WavePlan(), 7, 5, 60)
    two = select_wave(list(reversed(entries)), WavePlan(), 7, 5, 60)
    assert one == two


def test_later_waves_count_what_earlier_waves_took_and_spent():
    entries = [_entry("f", n) for n in range(10)] + [
        _entry("g", n, host="http://slow.test") for n in range(4)
    ]
    plan = WavePlan(taken={"http://a.test/f.xml": 8}, host_spent={"slow.test": 61.0})
    selection = select_wave(entries, plan, wave_size=100, max_entries_per_feed=10, host_budget=60)
    assert len(selection.taken) == 2 and not selection.waiting
    # 8 of f beyond its budget, and every entry of the host whose budget is used up
    assert len(selection.deferred) == 8 + 4
    assert site_of("HTTP://Slow.test:80/x") == "slow.test"


def test_host_clock_charges_only_measured_work_and_stops_at_the_run_deadline():
    now = [1000.0]
    mono = [50.0]
    plan = WavePlan(host_spent={"http://a.test": 50.0}, deadline=1030.0)
    host = HostClock(
        plan.host_left("http://a.test", 60), plan.deadline, now=lambda: now[0], clock=lambda: mono[0]
    )
    assert host.remaining() == 10.0
    with host.charge():
        mono[0] += 4.0
    mono[0] += 20.0  # time outside charge() (downstream stages working on a page) is not the host's
    assert host.spent == 4.0 and host.remaining() == 6.0
    now[0] = 1028.0  # but the run's deadline is wall-clock time
    assert host.remaining() == 2.0 and host.until() == mono[0] + 2.0
    now[0] = 1031.0
    assert host.remaining() < 0 and host.until() == mono[0]


PAGE = "<html><body><article><p>Page {n}.</p></article></body></html>"


def test_fetcher_defers_what_the_host_budget_leaves_no_time_for(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    for n in range(6):
        (root / f"{n}.html").write_text(PAGE.format(n=n), encoding="utf-8")
    # 0.4 s between two requests and a 1 s budget: at most 3 pages, the rest deferred.
    settings = FetchSettings(allow_private_hosts=True, retries=0, timeout=5, host_delay=0.4, host_budget=1.0)
    with SiteServer(root) as site:
        entries = [_entry("f", n, host=site.base_url) for n in range(6)]
        entries = [
            FeedEntry(**{**e.__dict__, "link": f"{site.base_url}/{n}.html"}) for n, e in enumerate(entries)
        ]
        with TestPipeline() as p:
            out = p | beam.Create(entries) | FetchPages(settings)
            counts = (
                (
                    out.pages | "P" >> beam.Map(lambda _: "page"),
                    out.deferred | "D" >> beam.Map(lambda _: "deferred"),
                )
                | beam.Flatten()
                | beam.combiners.Count.PerElement()
            )
            assert_that(counts | beam.Map(lambda kv: kv[0]), equal_to(["page", "deferred"]), label="kinds")
            assert_that(counts | beam.Map(lambda kv: kv[1]) | beam.CombineGlobally(sum), equal_to([6]))
            assert_that(out.failed, equal_to([]), label="no failures")
        fetched = [r for r in site.requests if r.endswith(".html")]
        assert 1 <= len(fetched) <= 3


def test_fetcher_starts_nothing_after_the_runs_deadline(tmp_path):
    settings = FetchSettings(allow_private_hosts=True, retries=0, timeout=5, host_delay=0)
    with SiteServer(tmp_path) as site:
        entries = [_entry("f", n, host=site.base_url) for n in range(3)]
        with TestPipeline() as p:
            out = p | beam.Create(entries) | FetchPages(settings, WavePlan(deadline=time.time() - 1))
            assert_that(out.deferred | beam.Map(lambda e: e.url), equal_to([e.url for e in entries]))
        assert site.requests == []
