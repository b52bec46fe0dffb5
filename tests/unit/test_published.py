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
