"""FetchPages with ``groups``: the sites packed into groups of about the same
number of entries (``balance_sites``), one group per worker process of the
local runner, and still fetched politely."""

from __future__ import annotations

import json
import os
from collections import Counter

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.config.settings import FetchSettings
from newsbeam.connectors.fetch import FetchPages, _to_groups, balance_sites
from newsbeam.pipeline import local_runner
from newsbeam.pipeline.build import _fetch_groups
from newsbeam.pipeline.options import beam_options
from newsbeam.transforms.model import FeedEntry
from tests.transforms.test_fetch_politeness import _TimedServers

SETTINGS = FetchSettings(allow_private_hosts=True, retries=0, timeout=5, host_delay=0)


def _entries(counts: dict[str, int]) -> list[FeedEntry]:
    return [
        FeedEntry(feed_url=f"{base}/feed.xml", feed_name="F", link=f"{base}/{k}.html", url=f"{base}/{k}.html")
        for base, count in counts.items()
        for k in range(count)
    ]


def test_sites_are_balanced_by_entries_not_by_count():
    counts = {"http://a": 9, "http://b": 1, "http://c": 1, "http://d": 9, "http://e": 5, "http://f": 4}
    assignment = balance_sites(counts, 2)
    # the largest first, each to the lighter group: a, d, e, f, b, c
    assert assignment == {
        "http://a": 0,
        "http://d": 1,
        "http://e": 0,
        "http://f": 1,
        "http://b": 1,
        "http://c": 0,
    }
    loads = Counter()
    for site, group in assignment.items():
        loads[group] += counts[site]
    assert sorted(loads.values()) == [14, 15]  # three sites each, by count, could be 19 and 10
    assert balance_sites(counts, 1) == dict.fromkeys(counts, 0)
    assert set(balance_sites(counts, 10).values()) == set(range(6))  # more groups than sites: one each
    with pytest.raises(ValueError, match="groups"):
        balance_sites(counts, 0)


def test_each_site_goes_whole_to_one_group():
    entries = _entries({"http://a:1": 3, "http://b:2": 2, "http://c:3": 1})
    grouped = list(_to_groups(entries, 2))
    assert sorted(e.url for _, e in grouped) == sorted(e.url for e in entries)
    groups_of_site: dict[str, set[int]] = {}
    for group, entry in grouped:
        groups_of_site.setdefault(entry.url.rsplit("/", 1)[0], set()).add(group)
    assert groups_of_site == {"http://a:1": {0}, "http://b:2": {1}, "http://c:3": {1}}


def test_groups_must_be_a_positive_integer():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="groups"):
            FetchPages(SETTINGS, groups=bad)


def test_grouped_sites_are_fetched_at_once_each_spaced_by_host_delay():
    delay = 0.3
    servers = _TimedServers(hosts=4)
    try:
        entries = _entries(dict.fromkeys(servers.bases, 3))
        with TestPipeline() as p:
            out = (
                p
                | beam.Create(entries)
                | FetchPages(SETTINGS.model_copy(update={"host_delay": delay}), groups=2)
            )
            assert_that(out.pages | beam.Map(lambda page: page.entry.url), equal_to([e.url for e in entries]))
    finally:
        servers.close()
    by_host = servers.by_host()
    assert len(by_host) == 4 and all(len(times) == 4 for times in by_host.values())  # robots.txt + 3 pages
    for times in by_host.values():
        assert min(b - a for a, b in zip(times, times[1:])) >= delay
    order = [host for host, _path, _at in servers.requests]
    for host in by_host:  # hosts of one group, and of both, are served at once
        first, last = order.index(host), len(order) - 1 - order[::-1].index(host)
        assert set(order[first:last]) == set(by_host), order


def test_a_grouped_site_that_fails_is_a_failure_with_its_reason_beside_the_others_pages():
    servers = _TimedServers(hosts=2)
    dead = "http://127.0.0.1:1"  # nothing listens on port 1: its robots.txt is unreachable
    try:
        entries = _entries({**dict.fromkeys(servers.bases, 2), dead: 1})
        with TestPipeline() as p:
            out = p | beam.Create(entries) | FetchPages(SETTINGS, groups=2)
            assert_that(
                out.pages | beam.Map(lambda page: page.entry.url),
                equal_to([e.url for e in entries if not e.url.startswith(dead)]),
                label="pages",
            )
            assert_that(
                out.failed | beam.Map(lambda failure: (failure.url, failure.stage, failure.reason)),
                equal_to([(f"{dead}/0.html", "fetch", "robots_unavailable")]),
                label="failed",
            )
    finally:
        servers.close()


@pytest.mark.default_runner
def test_only_the_local_multi_process_runner_groups_sites():
    assert _fetch_groups(beam_options(["--direct_num_workers=2"], batch=True)) == 2
    assert _fetch_groups(beam_options(["--direct_running_mode=in_memory"], batch=True)) is None
    assert _fetch_groups(beam_options(["--runner=DirectRunner"], batch=True)) is None
    assert _fetch_groups(None) is None


def _pid_of(page):
    return os.getpid(), page.entry.url


@pytest.mark.default_runner
def test_each_worker_fetches_a_balanced_share(tmp_path):
    """On the local runner with two workers: one site of 5 pages and five of 1,
    first in that order; one group per site gave the workers 7 and 3 pages."""
    servers = _TimedServers(hosts=6)
    options = beam_options(["--direct_num_workers=2"], batch=True)
    try:
        counts = {base: 5 if k == 0 else 1 for k, base in enumerate(servers.bases)}
        out = tmp_path / "pids.txt"
        with beam.Pipeline(options=options) as p:
            fetched = p | beam.Create(_entries(counts)) | FetchPages(SETTINGS, groups=_fetch_groups(options))
            _ = (
                fetched.pages
                | beam.Map(_pid_of)
                | beam.combiners.ToList()
                | beam.Map(lambda rows, path: path.write_text(json.dumps(sorted(rows))), path=out)
            )
    finally:
        servers.close()
        local_runner.close_standby()
    rows = json.loads(out.read_text())
    assert len(rows) == 10
    assert sorted(Counter(pid for pid, _url in rows).values()) == [5, 5]
