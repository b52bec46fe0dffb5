"""Which feeds ``newsbeam run`` leaves out: a feed that answered 410 Gone until its re-probe, a
failed poll with Retry-After until that time; every other feed is polled each run."""

from __future__ import annotations

import datetime as dt

from newsbeam.config.settings import StreamSettings
from newsbeam.connectors.feed_schedule import FeedHold, batch_hold
from newsbeam.pipeline.lifecycle import all_feeds_failed
from newsbeam.pipeline.report import held_message
from newsbeam.pipeline.run import RunSummary
from newsbeam.pipeline.stream import next_interval

URL = "https://example.org/feed.xml"
AT = "2026-11-29T03:00:00Z"
T0 = dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.timezone.utc).timestamp()


def _doc(status: str, hint: float | None = None, streak: int = 1) -> dict:
    return {"status": status, "@timestamp": AT, "error_streak": streak, "schedule": {"hint_seconds": hint}}


def test_a_gone_feed_is_held_until_its_reprobe():
    hold = batch_hold(URL, _doc("http_410"), T0 + 60, gone_reprobe=21600, max_hint=3600)
    assert hold == FeedHold(URL, T0 + 21600, "gone", AT)
    assert batch_hold(URL, _doc("http_410"), T0 + 21600, 21600, 3600) is None  # due again


def test_retry_after_on_a_failed_poll_holds_the_feed_capped():
    assert batch_hold(URL, _doc("http_429", hint=120), T0 + 60, 21600, 3600).until == T0 + 120
    assert batch_hold(URL, _doc("http_503", hint=10**7), T0 + 60, 21600, 3600).until == T0 + 3600
    assert batch_hold(URL, _doc("http_429", hint=120), T0 + 120, 21600, 3600) is None


def test_other_feeds_are_polled_every_run():
    assert batch_hold(URL, None, T0, 21600, 3600) is None  # never polled
    assert batch_hold(URL, _doc("http_404"), T0 + 1, 21600, 3600) is None  # no Retry-After
    assert batch_hold(URL, _doc("timeout"), T0 + 1, 21600, 3600) is None
    # a healthy feed's own <ttl> or max-age is the stream's business, not the cron line's
    assert batch_hold(URL, _doc("ok", hint=3600, streak=0), T0 + 1, 21600, 3600) is None
    assert batch_hold(URL, _doc("not_modified", hint=3600, streak=0), T0 + 1, 21600, 3600) is None
    assert batch_hold(URL, {"status": "http_410"}, T0, 21600, 3600) is None  # no poll time: poll


def test_the_stream_reprobes_a_gone_feed_instead_of_backing_off():
    config = StreamSettings(poll_interval=60, max_backoff=600, disable_after=5, reprobe_interval=7200)
    assert next_interval(_doc("http_410"), config) == (7200, "gone, re-probe")
    assert next_interval(_doc("http_404"), config) == (120, "backoff")


def test_held_feeds_are_named_and_count_as_failed():
    holds = (FeedHold("https://u:secret@example.org/a.xml", T0 + 21600, "gone", AT),)
    message = held_message(holds)
    assert "https://***@example.org/a.xml answered 410 Gone at 2026-11-29T03:00:00Z" in message
    assert "take it out of the feeds file" in message and "2026-11-29T09:00:00Z" in message
    assert "secret" not in message
    many = tuple(FeedHold(f"https://example.org/{i}.xml", T0 + 60, "retry_after", AT) for i in range(7))
    assert held_message(many).endswith("and 2 more (newsbeam status lists them)")
    assert "asked to wait (Retry-After)" in held_message(many)

    def summary(**counters):
        return RunSummary(
            counters={f"news.feeds/{k}": v for k, v in counters.items()}, failures_by_reason={}, seconds=1
        )

    assert all_feeds_failed(summary(held=1)) == "every feed failed (1 of 1)"
    assert all_feeds_failed(summary(held=1, polled=2, failed=2)) == "every feed failed (3 of 3)"
    assert all_feeds_failed(summary(held=1, polled=2, failed=1)) is None


def test_a_pages_retry_after_holds_its_site_capped_like_a_feeds():
    """A page's 429/503 with Retry-After, kept in its failure document, holds its whole site for
    later runs; capped at stream.max_hint as a feed's (a hostile Retry-After: 1000000000 would
    park the site for decades)."""
    from newsbeam.connectors.feed_schedule import site_hold

    asked = 1_780_000_000.0
    doc = {
        "url": "https://News.example/2026/a.html",
        "stage": "fetch",
        "reason": "http_429",
        "http": {"status": 429},
        "retry_after": 7200,
        "@timestamp": "2026-05-28T20:26:40Z",  # = asked
    }
    hold = site_hold(doc, asked + 60, max_hint=3600)
    assert hold is not None and hold.site == "news.example" and hold.status == 429
    assert hold.until == asked + 3600  # capped
    assert site_hold({**doc, "retry_after": 1e9}, asked + 60, max_hint=3600).until == asked + 3600
    assert site_hold(doc, asked + 60, max_hint=86400).until == asked + 7200
    assert site_hold(doc, asked + 3601, max_hint=3600) is None  # over
    assert site_hold({**doc, "retry_after": None}, asked + 60, max_hint=3600) is None
    assert site_hold({**doc, "stage": "extract"}, asked + 60, max_hint=3600) is None
    assert site_hold({**doc, "retry_after": True}, asked + 60, max_hint=3600) is None
    # the site that answered, when the failure names it (an off-site redirect moved the request)
    assert (
        site_hold({**doc, "retry_after_site": "publisher.example"}, asked + 60, 3600).site
        == "publisher.example"
    )
    # a stored document from another host's clock, or damaged, holds no longer than max_hint / nothing
    assert (
        site_hold({**doc, "@timestamp": "2030-01-01T00:00:00Z"}, asked + 60, max_hint=3600).until
        == asked + 3660
    )
    assert site_hold({**doc, "http": "429"}, asked + 60, max_hint=3600).status is None
    assert site_hold(["not", "a", "document"], asked + 60, max_hint=3600) is None
