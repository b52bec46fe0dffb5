import pytest

from newsbeam.transforms.extract import choose_published


@pytest.mark.parametrize(
    ("page", "has_time", "feed", "expected"),
    [
        # A page time of day wins over the feed.
        ("2020-06-27T14:05:00+05:00", True, "2020-06-27T09:20:00Z", ("2020-06-27T09:05:00Z", "page")),
        # A page date without time takes the feed's time on the same day.
        ("2020-06-27", False, "2020-06-27T09:20:00Z", ("2020-06-27T09:20:00Z", "feed")),
        # ... but not a feed time on another day.
        ("2020-06-27", False, "2020-06-29T09:20:00Z", ("2020-06-27T00:00:00Z", "page")),
        (None, False, "2020-06-27T09:20:00Z", ("2020-06-27T09:20:00Z", "feed")),
        ("not a date", False, None, (None, None)),
        (None, False, None, (None, None)),
    ],
)
def test_choose_published(page, has_time, feed, expected):
    assert choose_published(page, has_time, None, feed) == expected


def test_a_date_found_in_the_text_ranks_below_the_feed():
    # "August 12, 2010" mentioned in the article must not date it.
    assert choose_published("2010-08-12", False, "text", "2024-03-05T09:00:00Z") == (
        "2024-03-05T09:00:00Z",
        "feed",
    )
    assert choose_published("2010-08-12", False, "text", None) == ("2010-08-12T00:00:00Z", "page")
    assert choose_published("2024-03-05T08:00:00Z", True, "jsonld", "2024-03-05T09:00:00Z") == (
        "2024-03-05T08:00:00Z",
        "page",
    )


@pytest.mark.parametrize(
    ("page", "has_time", "feed", "expected"),
    [
        # the page prints its local date; the feed's 22:30 at UTC-5 is the next day in UTC
        ("2024-05-03", False, "2024-05-04T03:30:00Z", ("2024-05-04T03:30:00Z", "feed")),
        # ... and 09:00 at UTC+13 the day before
        ("2024-05-03", False, "2024-05-02T20:00:00Z", ("2024-05-02T20:00:00Z", "feed")),
        # two days apart is another day anywhere
        ("2024-05-03", False, "2024-05-05T13:00:00Z", ("2024-05-03T00:00:00Z", "page")),
    ],
)
def test_a_page_date_takes_the_feed_time_of_that_day_in_any_time_zone(page, has_time, feed, expected):
    assert choose_published(page, has_time, "meta", feed) == expected


def test_dates_after_the_fetch_or_at_the_epoch_are_not_publication_dates():
    fetched = "2024-05-07T10:00:00Z"
    assert choose_published(None, False, None, "2099-01-01T00:00:00Z", fetched) == (None, None)
    assert choose_published(None, False, None, "1970-01-01T00:00:00Z", fetched) == (None, None)
    assert choose_published("2099-01-01T08:00:00Z", True, "meta", "2024-05-07T08:00:00Z", fetched) == (
        "2024-05-07T08:00:00Z",
        "feed",
    )
    # clock skew of a few hours is not the future
    assert choose_published(None, False, None, "2024-05-07T20:00:00Z", fetched) == (
        "2024-05-07T20:00:00Z",
        "feed",
    )
