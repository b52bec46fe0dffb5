"""``parse_instant``: the one reader of stored times (published, @timestamp, retry and lease times)."""

import datetime as dt

import pytest

from newsbeam.transforms.model import iso_utc, parse_instant

UTC = dt.timezone.utc


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020-06-27T09:05:00Z", dt.datetime(2020, 6, 27, 9, 5, tzinfo=UTC)),
        ("2020-06-27T11:05:00+02:00", dt.datetime(2020, 6, 27, 9, 5, tzinfo=UTC)),
        ("2020-06-27T09:05:00", dt.datetime(2020, 6, 27, 9, 5, tzinfo=UTC)),  # no offset: UTC
        (" 2020-06-27 ", dt.datetime(2020, 6, 27, tzinfo=UTC)),
        ("2020-06-27T09:05:00.250Z", dt.datetime(2020, 6, 27, 9, 5, 0, 250000, tzinfo=UTC)),
        (dt.date(2020, 6, 27), dt.datetime(2020, 6, 27, tzinfo=UTC)),
        (dt.datetime(2020, 6, 27, 9, 5), dt.datetime(2020, 6, 27, 9, 5, tzinfo=UTC)),
    ],
)
def test_reads_iso_times_as_aware_instants(value, expected):
    moment = parse_instant(value)
    assert moment == expected
    assert moment.tzinfo is not None


@pytest.mark.parametrize("value", [None, "", "   ", "yesterday", "2020-13-45", 1593248700, ["2020-06-27"]])
def test_anything_else_is_none(value):
    assert parse_instant(value) is None


def test_round_trips_the_document_format():
    moment = dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)
    assert parse_instant(iso_utc(moment)) == moment
