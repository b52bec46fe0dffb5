"""``newsbeam stream``: the schedule (pure) and cycles against real servers."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from newsbeam.config.settings import FeedSpec, StreamSettings, load_settings
from newsbeam.connectors.feed_schedule import feed_poll_hint, header_poll_hint, retry_after_hint
from newsbeam.pipeline.stream import StopSignal, due_feeds, next_interval, next_poll, run_stream
from tests.stream.live_site import LiveSite

CONFIG = StreamSettings(
    poll_interval=60, max_hint=3600, max_backoff=600, disable_after=5, reprobe_interval=7200
)


def test_feed_and_header_hints():
    assert feed_poll_hint({"ttl": "30"}) == 1800
    assert feed_poll_hint({"sy_updateperiod": "hourly", "sy_updatefrequency": "2"}) == 1800
    assert feed_poll_hint({"sy_updateperiod": "daily"}) == 86400
    assert feed_poll_hint({"ttl": "soon", "sy_updateperiod": "sometimes"}) is None
    assert header_poll_hint({"Cache-Control": "public, max-age=900"}) == 900
    assert header_poll_hint({"cache-control": "s-maxage=120, max-age=60"}) == 120
    assert header_poll_hint({"Cache-Control": "no-cache, max-age=0"}) is None
    assert (
        header_poll_hint(
            {"Date": "Sun, 29 Nov 2026 03:00:00 GMT", "Expires": "Sun, 29 Nov 2026 03:10:00 GMT"}
        )
        == 600
    )
    assert header_poll_hint({"Expires": "0"}) is None
    assert retry_after_hint({"Retry-After": "120"}) == 120
    assert retry_after_hint({}) is None


def test_hints_are_at_most_a_year_so_a_feeds_document_can_hold_them():
    """A float field holds no 6e39 (a <ttl> of 1e38 minutes) and JSON no inf (a 400-digit
    Retry-After): the feed's health document was rejected, so its error streak never grew."""
    year = 365 * 86400
    assert feed_poll_hint({"ttl": "1e38"}) == year
    assert feed_poll_hint({"sy_updateperiod": "yearly", "sy_updatefrequency": "0.0001"}) == year
    assert header_poll_hint({"Cache-Control": "max-age=9999999999"}) == year
    assert (
        header_poll_hint(
            {"Date": "Sun, 29 Nov 2026 03:00:00 GMT", "Expires": "Fri, 31 Dec 9999 23:59:59 GMT"}
        )
        == year
    )
    assert retry_after_hint({"Retry-After": "9" * 400}) == year
    assert retry_after_hint({"Retry-After": "\xb2"}) is None


def _doc(streak=0, hint=None, at="2026-11-29T03:00:00Z"):
    return {"error_streak": streak, "schedule": {"hint_seconds": hint}, "@timestamp": at}


def test_next_interval_raises_by_hint_backs_off_and_reprobes():
    assert next_interval(_doc(), CONFIG) == (60, "poll interval")
    assert next_interval(_doc(hint=30), CONFIG) == (60, "poll interval")  # a hint never polls faster
    assert next_interval(_doc(hint=1800), CONFIG) == (1800, "feed hint")
    assert next_interval(_doc(hint=10**9), CONFIG)[0] == 3600  # capped
    assert next_interval(_doc(streak=1), CONFIG) == (120, "backoff")
    assert next_interval(_doc(streak=3), CONFIG) == (480, "backoff")
    assert next_interval(_doc(streak=4), CONFIG) == (600, "backoff")  # capped
    assert next_interval(_doc(streak=2, hint=900), CONFIG) == (900, "backoff")  # Retry-After wins
    assert next_interval(_doc(streak=5), CONFIG) == (7200, "disabled, re-probe")


def test_due_feeds_resume_from_the_stored_poll_times():
    at = dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.timezone.utc).timestamp()
    feeds = [FeedSpec(url="http://a/"), FeedSpec(url="http://b/"), FeedSpec(url="http://c/")]
    docs = {"http://a/": _doc(), "http://b/": _doc(streak=2)}  # c never polled: due now
    assert next_poll(docs["http://a/"], CONFIG) == at + 60
    assert [f.url for f in due_feeds(feeds, docs, CONFIG, at + 59)] == ["http://c/"]
    assert [f.url for f in due_feeds(feeds, docs, CONFIG, at + 60)] == ["http://a/", "http://c/"]
    assert [f.url for f in due_feeds(feeds, docs, CONFIG, at + 240)] == [
        "http://a/",
        "http://b/",
        "http://c/",
    ]


def _settings(site, es_settings, tmp_path, **stream):
    return load_settings(
        overrides={
            "feeds": [{"url": site.feed_url, "name": "Live"}],
            "elasticsearch": {**es_settings.model_dump(), "dead_letter_dir": str(tmp_path / "dead")},
            "fetch": {"allow_private_hosts": True, "retries": 0, "timeout": 10, "host_delay": 0},
            "ner": {"enabled": False},
            "stream": {"poll_interval": 1, **stream},
        }
    )


def _indexed(client, alias):
    client.indices.refresh(index=alias)
    hits = client.search(index=alias, query={"match_all": {}}, size=1000)["hits"]["hits"]
    return {hit["_source"]["url"]: hit["_source"] for hit in hits}


@pytest.mark.es
def test_stream_indexes_items_as_they_appear_and_resumes(es_settings, es_client, tmp_path, caplog):
    from newsbeam.pipeline.options import beam_options

    with LiveSite(copy_every=3) as site:
        site.add(3)
        settings = _settings(site, es_settings, tmp_path)
        stop = StopSignal(timeout=60)
        reports = []

        def on_cycle(report):
            reports.append(report)
            if len(reports) == 1:
                site.add(2)  # 4: a copy of story 1... appears between two cycles
            elif len(reports) >= 3:
                stop.request()

        with caplog.at_level(logging.DEBUG, logger="newsbeam.pipeline.stream"):
            cycles = run_stream(settings, beam_options([]), stop=stop, on_cycle=on_cycle)
        assert cycles == 3 and all(r.summary is not None for r in reports)
        # each cycle's run summary is logged at DEBUG, with this cycle's figures
        lines = [r.getMessage() for r in caplog.records if r.name == "newsbeam.pipeline.stream"]
        assert any(
            line.startswith("cycle 1: stream: 1 feeds polled") and "3 new" in line for line in lines
        ), lines
        docs = _indexed(es_client, es_settings.articles_alias)
        assert sorted(docs) == sorted(site.url(n) for n in range(5))
        copy = docs[site.url(3)]  # item 3 copies story of item 1
        assert copy["story"]["cluster_id"] == docs[site.url(1)]["story"]["cluster_id"]
        assert docs[site.url(1)]["story"]["is_canonical"] and not copy["story"]["is_canonical"]
        # the schedule is recorded in news-feeds ...
        es_client.indices.refresh(index=es_settings.feeds_alias)
        feed = es_client.search(index=es_settings.feeds_alias, query={"match_all": {}})["hits"]["hits"]
        schedule = feed[0]["_source"]["schedule"]
        assert schedule["interval_seconds"] == 1 and schedule["next_poll"]
        # ... and a restart with a long interval finds nothing due: it resumes, polls nothing
        later = settings.model_copy(
            update={"stream": settings.stream.model_copy(update={"poll_interval": 3600})}
        )
        stop = StopSignal(timeout=60)

        def clock():
            import time

            stop.request()  # one pass over the schedule, then stop
            return time.time()

        assert run_stream(later, beam_options([]), stop=stop, clock=clock) == 0
        # the lease was released by both
        from newsbeam.connectors.lease import LEASE_ID, lease_index

        assert not es_client.exists(index=lease_index(es_settings.index_prefix), id=LEASE_ID)


@pytest.mark.es
def test_elasticsearch_answering_503_mid_stream_loses_and_duplicates_nothing(
    es_settings, es_client, tmp_path
):
    """Every bulk request answered 503 for a while (one whole cycle): the cycle
    fails, its documents wait as dead letters, and a later cycle writes them."""
    from newsbeam.pipeline.options import beam_options
    from tests.faults.proxy import FaultProxy, WholeRequest

    with LiveSite() as site, FaultProxy(es_settings.url) as proxy:
        site.add(3)
        proxied = es_settings.model_copy(update={"url": proxy.url, "max_retries": 1})
        settings = _settings(site, proxied, tmp_path)
        settings = settings.model_copy(
            update={"elasticsearch": settings.elasticsearch.model_copy(update={"max_retries": 1})}
        )
        stop = StopSignal(timeout=60)
        reports = []

        def on_cycle(report):
            reports.append(report)
            if len(reports) == 1:
                site.add(3)
                proxy.add(WholeRequest(503, times=8))  # the bulk requests of the next cycle
            indexed = _indexed(es_client, es_settings.articles_alias)
            if len(indexed) >= 6 or len(reports) >= 8:
                stop.request()

        run_stream(settings, beam_options([]), stop=stop, on_cycle=on_cycle)
    assert reports[0].summary is not None
    assert any(r.summary is None for r in reports[1:]), "the outage did not fail a cycle"
    docs = _indexed(es_client, es_settings.articles_alias)
    assert sorted(docs) == sorted(site.url(n) for n in range(6))  # once each, none lost
    assert not list((tmp_path / "dead").rglob("*.jsonl"))  # every dead letter was sent
    # the stream's record in <prefix>-runs counts the failed cycles (newsbeam status shows them)
    es_client.indices.refresh(index=es_settings.runs_alias)
    (record,) = [hit["_source"] for hit in es_client.search(index=es_settings.runs_alias)["hits"]["hits"]]
    assert record["command"] == "stream" and record["status"] == "ok", record
    failed = sum(1 for r in reports if r.summary is None)
    assert record["cycles"] == {**record["cycles"], "run": len(reports), "failed": failed}, record


@pytest.mark.es
def test_elasticsearch_down_503_over_several_polls_loses_and_duplicates_nothing(
    es_settings, es_client, tmp_path, caplog
):
    """Every request to Elasticsearch answered 503 for 6 s (six poll
    intervals: schedule reads, bulk writes, feed health, lease renewals),
    with new items published as it starts: once the cluster answers again
    the stream carries on, and every item is indexed exactly once."""
    from newsbeam.pipeline.options import beam_options
    from tests.faults.proxy import FaultProxy, Outage

    with LiveSite(copy_every=3) as site, FaultProxy(es_settings.url) as proxy:
        site.add(3)
        settings = _settings(site, es_settings.model_copy(update={"url": proxy.url}), tmp_path)
        settings = settings.model_copy(
            update={"elasticsearch": settings.elasticsearch.model_copy(update={"max_retries": 1})}
        )
        stop = StopSignal(timeout=60)
        reports = []
        outage = Outage(503, seconds=6)

        def on_cycle(report):
            reports.append(report)
            if len(reports) == 1:
                site.add(3)
                proxy.add(outage)
            elif not outage.active and (
                len(_indexed(es_client, es_settings.articles_alias)) >= 6 or len(reports) >= 12
            ):
                stop.request()

        with caplog.at_level(logging.WARNING, logger="newsbeam.pipeline.stream"):
            run_stream(settings, beam_options([]), stop=stop, on_cycle=on_cycle)
    assert reports[0].summary is not None
    # the outage spanned several polls: the schedule was read (and refused) again and again
    assert outage.answered >= 4, outage.answered
    # ... which the log says once (not at every attempt, each with the error's whole text), and
    # then that the cluster answers again
    lines = [r.getMessage() for r in caplog.records if r.name == "newsbeam.pipeline.stream"]
    refused = [line for line in lines if "cannot read the feeds' schedule" in line]
    assert len(refused) == 1 and "(HTTP 503)" in refused[0], lines
    assert any(f"Elasticsearch at {proxy.url} answers again after" in line for line in lines), lines
    docs = _indexed(es_client, es_settings.articles_alias)
    assert sorted(docs) == sorted(site.url(n) for n in range(6))  # once each, none lost
    copy = docs[site.url(3)]  # item 3 copies the story of item 1
    assert copy["story"]["cluster_id"] == docs[site.url(1)]["story"]["cluster_id"]
    assert not list((tmp_path / "dead").rglob("*.jsonl"))  # every dead letter was sent


def test_read_feeds_records_the_feeds_own_hint():
    from newsbeam.connectors.feed_health import health_document
    from newsbeam.connectors.feeds import parse_feed
    from newsbeam.transforms.model import FeedStatus

    body = (
        b'<?xml version="1.0"?><rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">'
        b"<channel><title>T</title><ttl>20</ttl><sy:updatePeriod>hourly</sy:updatePeriod>"
        b"<item><link>http://example.org/a</link></item></channel></rss>"
    )
    parsed = parse_feed(body, FeedSpec(url="http://example.org/feed"), "http://example.org/feed", {})
    assert parsed.poll_after == 3600  # the larger of <ttl> 20 min and sy:updatePeriod hourly
    status = FeedStatus("http://example.org/feed", None, "ok", 200, 1, poll_after=parsed.poll_after)
    assert health_document(status, 1, None)["schedule"] == {"hint_seconds": 3600}
