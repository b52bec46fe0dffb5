"""The article title chosen among the page's declared titles, its <h1> and its <title>."""

from __future__ import annotations

import json

import pytest
from lxml import html as lxml_html

from newsbeam.transforms.extraction import _jsonld_article, _meta_index, _title, extract_article


def _page(head: str = "", body: str = "", ld: dict | None = None) -> str:
    script = f'<script type="application/ld+json">{json.dumps(ld)}</script>' if ld else ""
    return f"<html><head>{head}{script}</head><body>{body}</body></html>"


def _choose(page: str, url: str | None = None, sitename: str | None = None) -> str | None:
    tree = lxml_html.fromstring(page)
    return _title(tree, _meta_index(tree), _jsonld_article(tree), url, sitename)


def test_a_declared_title_the_title_element_shares_words_with_wins_over_the_h1():
    # a social-media variant of the headline is still the publisher's declared title
    page = _page(
        "<title>Taylor Swift is allowed to play her music after all | Daily</title>"
        '<meta property="og:title" content="Taylor Swift\'s award show row seems to be over">',
        "<h1>Taylor Swift is allowed to play her music after all</h1>",
    )
    assert _choose(page) == "Taylor Swift's award show row seems to be over"


def test_a_jsonld_description_gives_way_to_the_h1_the_title_element_names():
    page = _page(
        "<title>t-distributed stochastic neighbor embedding - Wikipedia</title>",
        "<h1>t-distributed stochastic neighbor embedding</h1>",
        {"@type": "Article", "headline": "technique for dimensionality reduction"},
    )
    assert (
        _choose(page, "https://en.wikipedia.org/wiki/T-SNE") == "t-distributed stochastic neighbor embedding"
    )


def test_a_declared_title_no_h1_confirms_is_kept():
    # the <title> is an SEO rewording that shares no word with the declared title; the <h1>
    # shares two of its three words with the <title>, but not most of the <title>: it does not
    # contradict the declaration
    page = _page(
        "<title>John Ford's books are being republished, but how did he fall into obscurity?</title>"
        '<meta property="og:title" content="The Resurrection of a Forgotten Writer">',
        "<h1>John Ford disappearance</h1>",
    )
    assert _choose(page) == "The Resurrection of a Forgotten Writer"


def test_a_declared_title_sharing_only_the_sites_name_with_the_title_element_gives_way():
    page = _page(
        "<title>Council approves riverside plan | The Courier</title>"
        '<meta property="og:title" content="The Courier: news for the valley">',
        "<h1>Council approves riverside plan</h1>",
    )
    assert _choose(page, "https://courier.example/news/1") == "Council approves riverside plan"


@pytest.mark.parametrize("title", ["| - |", "- | Courier", "News | The Courier", "The Courier", "&nbsp;"])
def test_a_title_element_without_a_headline_gives_way_to_the_h1(title):
    page = _page(f"<title>{title}</title>", "<h1>Council approves riverside plan</h1><p>Text.</p>")
    assert _choose(page, "https://www.courier.example/news/1") == "Council approves riverside plan"


def test_the_title_elements_text_is_not_decoded_twice():
    page = _page("<title>How to write &amp;nbsp; in HTML | Dev Notes</title>", "<p>Text.</p>")
    assert _choose(page, None, "Dev Notes") == "How to write &nbsp; in HTML"


@pytest.mark.parametrize(
    "link",
    ['<link rel="canonical" href="https://[x]/a">', '<meta property="og:url" content="http://[bad/x">'],
)
def test_a_malformed_host_in_the_pages_own_url_tags_is_no_error(link):
    page = _page(
        f"<title>Council approves riverside plan | The Courier</title>{link}",
        "<h1>Council approves riverside plan</h1>",
    )
    assert extract_article(page.encode()).title == "Council approves riverside plan"


def test_a_url_slug_is_never_the_title():
    page = _page(
        "<title>Child seat test 2018 | ADAC</title>"
        '<meta property="og:title" content="adac-kindersitztest-herbst-2018">',
        "<h1>18 child seats tested: four fail</h1>",
    )
    assert _choose(page, "https://www.adac.de/tests/", "ADAC") == "Child seat test 2018"


@pytest.mark.parametrize(
    ("title", "logo", "url", "expected"),
    [
        (
            "OUTDOOR LOVERS | iloveponysmag.com",
            "iloveponysmag.com",
            "https://iloveponysmag.com/x",
            "OUTDOOR LOVERS",
        ),
        (
            "Internet-Law » Pseudonyms at Google+",
            "Internet-Law",
            "https://www.internet-law.de/2011/08/x.html",
            "Pseudonyms at Google+",
        ),
    ],
)
def test_an_h1_holding_the_site_name_alone_is_a_logo_not_the_title(title, logo, url, expected):
    page = _page(f"<title>{title}</title>", f"<h1>{logo}</h1><p>Text.</p>")
    assert _choose(page, url) == expected


def test_an_h1_the_title_element_does_not_confirm_gives_way_to_the_title_element():
    page = _page("<title>The ministry informs about club culture | Party Luebeck</title>", "<h1>News</h1>")
    assert _choose(page) == "The ministry informs about club culture | Party Luebeck"


def test_a_title_element_holding_only_a_short_site_name_gives_way_to_the_h1():
    page = _page("<title>The Courier</title>", "<h1>Council approves riverside plan</h1><p>Text.</p>")
    assert _choose(page, "https://courier.example/news/1") == "Council approves riverside plan"
    assert _choose(_page("<title>T</title>", "<h1>Head</h1>")) == "Head"


def test_character_references_left_in_jsonld_text_are_decoded():
    page = _page(
        "<title>Ransomware spreads via links | Threatpost</title>",
        "<h1>Ransomware spreads via links</h1>",
        {"@type": "NewsArticle", "headline": "Ransomware Spreads Via &#8216;Game&#8217; Links &amp; SMS"},
    )
    assert _choose(page) == "Ransomware Spreads Via \u2018Game\u2019 Links & SMS"


def test_without_a_title_element_the_first_candidate_is_taken():
    assert (
        _choose(_page(body="<h1>Council approves riverside plan</h1>")) == "Council approves riverside plan"
    )
    assert _choose(_page(body="<p>No heading.</p>")) is None


def test_extract_article_uses_the_pages_own_url_for_the_site_name():
    page = _page(
        '<title>OUTDOOR LOVERS | iloveponysmag.com</title><link rel="canonical" href="https://iloveponysmag.com/outdoor">',
        "<h1>iloveponysmag.com</h1><p>" + "Barbour jackets are back for the autumn season. " * 8 + "</p>",
    )
    assert extract_article(page.encode()).title == "OUTDOOR LOVERS"
