"""The stream soak (bench/stream_soak.py) in its CI size: 24 s of a
feed gaining an item every 1.5 s (copies included) against a real
server; every item indexed once, the stream stopping cleanly, latency within
poll interval + 60 s.  Memory flatness needs the full soak (``make bench``)."""

from __future__ import annotations

import pytest

from bench.stream_soak import soak

pytestmark = [pytest.mark.es, pytest.mark.slow]


def test_short_soak_indexes_every_item_once_within_the_latency_target(es_url):
    result = soak(es_url, minutes=0.4, warmup=0.2, poll_interval=5, add_every=1.5, log=lambda _line: None)
    assert result["items"] >= 15
    assert (result["missing"], result["duplicates"], result["stream_exit"]) == (0, 0, 0)
    assert result["latency_p95_s"] <= 5 + 60
