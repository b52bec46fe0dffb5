"""Pages of one run that lead to the same article (same canonical URL) become one document: the
page that is the canonical URL wins over a page that only names it."""

from __future__ import annotations

import itertools

from newsbeam.transforms.extract import merge_same_article
from newsbeam.transforms.model import Article

CANONICAL = "http://127.0.0.1:18931/a/otherstory.html"


def _article(url: str, feed: str, title: str) -> Article:
    return Article(
        id="x",
        url=url,
        canonical_url=CANONICAL,
        urls=tuple(sorted({url, CANONICAL})),
        title=title,
        body=title,
        feed_url=feed,
    )


def test_the_page_that_is_the_canonical_url_wins_whatever_the_order():
    real = _article(CANONICAL, "http://127.0.0.1:18931/b.xml", "The real other story")
    claimer = _article(
        "http://127.0.0.1:18931/a/canonother.html", "http://127.0.0.1:18931/a.xml", "Canon other"
    )
    order = {"http://127.0.0.1:18931/a.xml": 0, "http://127.0.0.1:18931/b.xml": 1}  # the claimer's feed first
    for copies in itertools.permutations([claimer, real]):
        merged = merge_same_article(copies, order)
        assert merged.title == "The real other story"
        assert set(merged.urls) == {CANONICAL, claimer.url}
    # among pages that all claim it: the feed first in configuration order
    amp = _article("http://127.0.0.1:18931/amp/otherstory.html", "http://127.0.0.1:18931/b.xml", "AMP")
    assert merge_same_article([amp, claimer], order).title == "Canon other"
