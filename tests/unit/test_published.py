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
