"""Rule 7: the page's declared summary, shown atop the article, is the body's standfirst."""

from __future__ import annotations

from lxml import html as lxml_html

from newsbeam.transforms.extraction import _declared_standfirst, _jsonld_article, _meta_index

SUMMARY = "The council will decide in March whether the old swimming baths reopen as a library and cafe."
FIRST = "Councillors voted on Tuesday to delay the decision on the future of the Victoria Baths."
BODY = FIRST + "\nThe building has stood empty since 2019, when a survey found cracks in the roof."


def _lead(
    description: str,
    where: str,
    body: str = BODY,
    shows: str = SUMMARY,
    headline: str = "Baths decision delayed",
) -> str | None:
    def shown(place: str) -> str:
        return f"<p class=teaser>{shows}</p>" if where == place else ""

    page = (
        f'<html><head><meta property="og:description" content="{description}"></head><body>'
        f"<header><a href='/'>The Courier</a>{shown('masthead')}</header>"
        f"<main><article><h1>{headline}</h1>"
        f"{shown('above')}"
        f"<div class=body><p>{FIRST}</p><p>The building has stood empty since 2019, when a survey "
        "found cracks in the roof.</p></div>"
        f"{shown('below')}"
        "</article></main></body></html>"
    )
    tree = lxml_html.fromstring(page)
    return _declared_standfirst(tree, _meta_index(tree), _jsonld_article(tree), body, headline)


def test_a_declared_summary_shown_above_the_body_in_the_article_is_its_standfirst():
    assert _lead(SUMMARY, "above") == SUMMARY


def test_a_summary_the_page_does_not_show_is_not_added():
    assert _lead(SUMMARY, "nowhere") is None


def test_a_summary_shown_outside_the_article_is_a_site_tagline_not_a_standfirst():
    assert _lead(SUMMARY, "masthead") is None


def test_a_summary_shown_after_the_body_starts_is_not_a_standfirst():
    assert _lead(SUMMARY, "below") is None


def test_a_body_that_holds_the_summary_gets_nothing():
    # the body holds it further down (not as its first line, which would stop the rule anyway)
    assert _lead(SUMMARY, "above", BODY + "\n" + SUMMARY) is None


def test_a_short_description_is_not_a_standfirst():
    short = "Baths decision delayed until the council meets in March"  # nine words, shown as such
    assert _lead(short, "above", shows=short) is None
    longer = short.replace("the council", "the town council")  # ten words: long enough
    assert _lead(longer, "above", shows=longer) == longer


def test_a_summary_that_repeats_the_headline_is_not_a_standfirst():
    headline = "The council will decide in March whether the old swimming baths reopen as a library"
    assert _lead(SUMMARY, "above", headline=headline) is None


def test_a_summary_shown_as_the_h1_is_the_headline_not_a_standfirst():
    # the page's <h1> shows the description word for word (and the title was chosen elsewhere)
    page = (
        f'<html><head><meta property="og:description" content="{SUMMARY}"></head><body><main><article>'
        f"<h1>{SUMMARY}</h1><div><p>{FIRST}</p></div></article></main></body></html>"
    )
    tree = lxml_html.fromstring(page)
    assert _declared_standfirst(tree, _meta_index(tree), _jsonld_article(tree), BODY, "Baths") is None


def test_a_description_too_long_to_be_a_standfirst_is_not_looked_for():
    long = " ".join([SUMMARY] * 8)  # 136 words
    assert _lead(long, "above", shows=long) is None


def test_the_summary_is_taken_as_the_page_shows_it():
    # the declared text differs from the page's in punctuation and in one word's case: the page's is used
    declared = SUMMARY.replace("March whether", "March, whether").replace("cafe.", "CAFE")
    assert _lead(declared, "above") == SUMMARY
