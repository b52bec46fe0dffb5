"""Pages a feed links to that are no article: rejected as ``not_article``, on structure only.

Fixtures (tests/fixtures/not_articles): an error page asking not to be indexed, an error page
whose body is a "top stories" list, a section front, a tag page, a login wall and a consent wall;
and three articles that must be kept: one that declares itself, a syndicated copy that declares
itself and asks not to be indexed, and one on a plain site that declares nothing, asks not to be
indexed and has a sign-in box in its header and a "most read" list beside it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from newsbeam.transforms.extract import build_article, unrelated_page
from newsbeam.transforms.extraction import extract_article, run_extract_dir
from newsbeam.transforms.model import Article, Failure, FeedEntry, FetchedPage

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "not_articles"
FEED_TITLE = "Council approves plan to turn bus depots into homes"


def _extract(name: str):
    return extract_article((FIXTURES / name).read_bytes(), f"https://dailyledger.example/news/{name}")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("error_page_noindex.html", "robots noindex"),
        ("error_page_teasers.html", "teasers"),
        ("section_front.html", "teasers"),
        ("section_front_itemlist.html", "teasers"),  # its JSON-LD lists NewsArticles: other pages
        ("tag_page.html", "teasers"),
        ("login_wall.html", "login form"),
    ],
)
def test_a_page_that_declares_no_article_and_is_built_as_none_is_rejected(name, why):
    result = _extract(name)
    assert result.body  # it has text: before, it was indexed as an article
    assert result.not_article is not None and why in result.not_article
    assert result.article_evidence is None


@pytest.mark.parametrize(
    ("name", "evidence"),
    [
        ("article.html", "og:type"),
        ("article_noindex_declared.html", "og:type"),
        ("article_undeclared.html", None),
    ],
)
def test_articles_stay_articles(name, evidence):
    result = _extract(name)
    assert result.not_article is None
    assert result.article_evidence == evidence
    assert result.body.startswith("The city council approved a plan on Tuesday")
    assert "Storm Ciara" not in result.body  # the "most read" list is not the body


def test_a_declared_article_is_never_judged_by_structure():
    # the section front, declared an article by its og:type, is not rejected: a declaration wins
    html = (FIXTURES / "section_front.html").read_text(encoding="utf-8")
    html = html.replace('content="website"', 'content="article"').replace('"CollectionPage"', '"WebPage"')
    result = extract_article(html)
    assert result.article_evidence == "og:type"
    assert result.not_article is None


def _page(name: str, title: str | None = FEED_TITLE) -> FetchedPage:
    link = f"https://dailyledger.example/news/{name}"
    entry = FeedEntry(
        feed_url="https://dailyledger.example/feed.xml",
        feed_name="Daily Ledger",
        link=link,
        url=link,
        title=title,
        published="2026-11-28T09:00:00Z",
    )
    content = (FIXTURES / name).read_bytes()
    return FetchedPage(
        entry=entry,
        final_url=entry.url,
        status=200,
        content=content,
        content_type="text/html",
        encoding="utf-8",
        fetched_at="2026-11-28T10:00:00Z",
    )


def test_build_article_records_a_not_article_failure():
    page = _page("section_front.html")
    outcome = build_article(page, extract_article(page.content, page.final_url), 200)
    assert isinstance(outcome, Failure)
    assert (outcome.stage, outcome.reason, outcome.http_status) == ("extract", "not_article", 200)
    assert "teasers" in outcome.error and page.final_url in outcome.error


def test_a_page_that_is_not_the_announced_one_is_a_not_article_failure():
    # a consent wall served with 200 instead of the article: long enough, declares nothing,
    # and neither its title nor its text has the words of the entry's title
    page = _page("consent_wall.html")
    result = extract_article(page.content, page.final_url)
    assert result.not_article is None and len(result.body) > 200  # the page alone cannot tell
    outcome = build_article(page, result, 200)
    assert isinstance(outcome, Failure) and outcome.reason == "not_article"
    assert "We value your privacy" in outcome.error and FEED_TITLE in outcome.error


def test_the_announced_article_is_kept_whatever_its_title():
    page = _page("article_undeclared.html", title="Depot homes plan approved after two-year dispute")
    outcome = build_article(page, extract_article(page.content, page.final_url), 200)
    assert isinstance(outcome, Article)


@pytest.mark.parametrize(
    "entry_title",
    [
        None,
        "Breaking news",  # too few words to compare
        "待機児童、前年比3割減　東京都が発表",  # written without spaces: clause-long tokens
    ],
)
def test_titles_that_cannot_be_compared_judge_nothing(entry_title):
    result = _extract("consent_wall.html")
    assert unrelated_page(entry_title, result) is None


def test_a_declared_article_is_never_unrelated():
    result = _extract("article.html")
    assert unrelated_page("Storm leaves thousands without power in the north", result) is None


def test_extract_cli_rows_of_pages_that_are_no_articles(tmp_path):
    out = tmp_path / "rows.jsonl"
    from collections import Counter

    errors: Counter = Counter()
    assert run_extract_dir(FIXTURES, out, errors=errors) == 10
    rows = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    rejected = {k for k, r in rows.items() if r.get("error") == "not_article"}
    assert rejected == {
        "error_page_noindex",
        "error_page_teasers",
        "section_front",
        "section_front_itemlist",
        "tag_page",
        "login_wall",
    }
    for key in rejected:
        assert rows[key]["articleBody"] == "" and rows[key]["detail"]
        assert rows[key]["title"]  # the metadata stays, so one sees what the page was
    assert errors == Counter({"not_article": 6})
    assert rows["article_undeclared"]["articleBody"] and "error" not in rows["article_undeclared"]


@pytest.mark.parametrize(
    ("final_url", "rejected"),
    [
        ("https://dailyledger.example/", True),
        ("https://dailyledger.example", True),
        ("https://www.dailyledger.example/", True),  # another host of the site, or another site
        ("https://dailyledger.example/?p=123", False),  # an article addressed by its query
        ("https://dailyledger.example/news/2026/11/28/depot-homes", False),
    ],
)
def test_a_link_redirected_to_the_front_page_is_not_the_article(final_url, rejected):
    # a removed article answered with the home page and 200: rejected whatever the page declares
    page = dataclasses.replace(_page("article.html"), final_url=final_url)
    outcome = build_article(page, extract_article(page.content, page.final_url), 200)
    assert isinstance(outcome, Failure) is rejected
    if rejected:
        assert outcome.reason == "not_article" and "front page" in outcome.error


def test_an_entry_linking_to_the_front_page_itself_is_judged_as_any_page():
    page = _page("article.html")
    page = dataclasses.replace(
        page,
        entry=dataclasses.replace(page.entry, url="https://dailyledger.example/"),
        final_url="https://dailyledger.example/",
    )
    assert isinstance(build_article(page, extract_article(page.content, page.final_url), 200), Article)


def test_a_list_of_articles_in_json_ld_is_not_the_pages_article():
    # a section front's carousel markup: an ItemList of NewsArticles, each another page; the first
    # one gave the front its headline and date and made it a declared article
    result = _extract("section_front_itemlist.html")
    assert result.title == "Business"
    assert result.published_source != "jsonld"


def test_a_json_ld_list_of_one_article_wraps_the_pages_own():
    html = (FIXTURES / "section_front_itemlist.html").read_text(encoding="utf-8")
    start = html.index('{"@type": "NewsArticle", "position": 2')
    end = html.index("}", start) + 1
    one = html[: start - 2] + html[end:]  # the list without its second item
    assert one.count('"@type": "NewsArticle"') == 1
    result = extract_article(one)
    assert result.title == "Central bank holds rates steady as inflation cools for a third month"
    assert (result.published, result.article_evidence) == ("2026-11-28T08:00:00Z", "schema.org")


def _with_canonical(name: str, href: str) -> bytes:
    html = (FIXTURES / name).read_text(encoding="utf-8")
    html = re.sub(r'<link rel="canonical"[^>]*>', "", html)
    return html.replace("</head>", f'<link rel="canonical" href="{href}"></head>', 1).encode()


def test_an_undeclared_page_naming_the_front_page_as_canonical_is_not_an_article():
    # an error page that points search engines home: before, it was indexed under the front
    # page's id, and every such page of the site overwrote the same document
    page = dataclasses.replace(
        _page("article_undeclared.html"),
        content=_with_canonical("error_page_teasers.html", "https://dailyledger.example/"),
    )
    result = extract_article(page.content, page.final_url)
    result = dataclasses.replace(result, not_article=None)  # whatever else the page shows
    outcome = build_article(page, result, 200)
    assert isinstance(outcome, Failure) and outcome.reason == "not_article"
    assert "names the front page https://dailyledger.example/ as its canonical URL" in outcome.error


def test_an_article_naming_the_front_page_as_canonical_keeps_its_own_url():
    # a misconfigured site names its home page on every article: each article stays one document
    ids = set()
    for name in ("a.html", "b.html"):
        page = dataclasses.replace(
            _page("article.html"), content=_with_canonical("article.html", "https://dailyledger.example/")
        )
        page = dataclasses.replace(page, final_url=f"https://dailyledger.example/news/{name}")
        outcome = build_article(page, extract_article(page.content, page.final_url), 200)
        assert isinstance(outcome, Article)
        assert outcome.canonical_url == f"https://dailyledger.example/news/{name}"
        ids.add(outcome.id)
    assert len(ids) == 2


def test_a_page_declared_not_free_to_read_is_flagged_paywalled():
    # the paywall fixture: an opening paragraph and a subscription offer, declared a NewsArticle
    # that is not accessible for free; it stays an article, flagged for the analyst
    html = _PAYWALL
    result = extract_article(html)
    assert result.not_article is None
    assert result.provenance["signals"]["paywalled"] is True
    free = extract_article(html.replace('"isAccessibleForFree": false', '"isAccessibleForFree": true'))
    assert "paywalled" not in free.provenance["signals"]
    assert "paywalled" not in _extract("article.html").provenance["signals"]


_PAYWALL = (
    '<html lang="en"><head><title>Council approves depot housing plan | The Daily Ledger</title>'
    '<script type="application/ld+json">{"@context": "https://schema.org", "@type": "NewsArticle", '
    '"headline": "Council approves plan to turn bus depots into homes", "isAccessibleForFree": false}'
    "</script></head><body><article><h1>Council approves plan to turn bus depots into homes</h1>"
    "<p>The city council approved a plan on Tuesday to convert three disused bus depots into "
    "affordable housing, ending a two-year dispute between residents and the transport authority.</p>"
    '<div class="offer"><h2>Subscribe to continue reading</h2><p>Get unlimited access to our journalism, '
    "including exclusive investigations and analysis, for one pound a week. Cancel anytime.</p>"
    "</div></article></body></html>"
)


_SOFT_404 = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Page not found | The Daily Ledger</title>{canonical}</head><body>
<header><nav><a href="/">Home</a> <a href="/world/">World</a> <a href="/business/">Business</a></nav></header>
<main><h1>Sorry, we could not find that page</h1>
<p>The page you were looking for may have been moved or deleted, or it never existed. Please check the
address for typos, or use the search box above to find what you are looking for on our site.</p>
<p>You might also be interested in the latest headlines from our newsroom, updated throughout the day
with news from home and around the world, and in our most popular stories of the week.</p>
<p>If you followed a link from another website, please let them know it is broken; if you think the
error is ours, contact our support team and include the address you tried to reach.</p>
</main></body></html>"""


@pytest.mark.parametrize(
    ("canonical", "rejected"),
    [
        ('<link rel="canonical" href="https://dailyledger.example/">', True),
        ('<link rel="canonical" href="/">', True),
        ('<link rel="canonical" href="https://dailyledger.example/?p=123">', False),  # an article by query
        ('<link rel="canonical" href="https://dailyledger.example/news/depots">', False),
        ("", False),
    ],
    ids=["absolute-front", "root-path", "query", "article-path", "none"],
)
def test_extract_cli_rejects_a_saved_page_naming_a_front_page_as_canonical(tmp_path, canonical, rejected):
    """`newsbeam run` rejects an undeclared page naming a front page as its canonical URL (a
    soft 404 pointing search engines home), knowing the page's URL; `newsbeam extract` knows no
    URL and returned the error page's text as an article's."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "gone.html").write_text(_SOFT_404.format(canonical=canonical), encoding="utf-8")
    declared = (FIXTURES / "article.html").read_text(encoding="utf-8")
    if canonical:  # an article that declares itself keeps its text whatever it names
        declared = declared.replace("<head>", "<head>" + canonical, 1)
    (tmp_path / "in" / "kept.html").write_text(declared, encoding="utf-8")
    out = tmp_path / "rows.jsonl"
    assert run_extract_dir(tmp_path / "in", out) == 2
    rows = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert rows["kept"]["articleBody"] and "error" not in rows["kept"]
    if rejected:
        assert rows["gone"]["error"] == "not_article" and rows["gone"]["articleBody"] == ""
        assert "names the front page" in rows["gone"]["detail"]
    else:
        assert rows["gone"]["articleBody"] and "error" not in rows["gone"]


HOME = "https://dailyledger.example/"


@pytest.mark.parametrize(
    ("name", "link", "final_url", "final"),
    [
        ("section_front.html", HOME, HOME, True),  # the feed links its front page
        ("section_front.html", HOME, None, False),  # a link to it that ended elsewhere
        ("article.html", None, HOME, False),  # an article link redirected home: maybe not yet live
        ("section_front.html", None, None, False),  # a section front, or a "not found" listing stories
        ("tag_page.html", None, None, False),
        ("error_page_noindex.html", None, None, False),
        ("login_wall.html", None, None, False),
    ],
)
def test_only_a_link_to_the_front_page_itself_is_given_up_at_once(name, link, final_url, final):
    """A feed entry linking the site's front page was fetched five times over about 31 h for
    the same not_article verdict: it is recorded ``final`` (given up by the next run, as a 410).
    Every other not_article page keeps its retries, as a 404: an article link redirected home,
    a teaser list (a section front looks like a "not found" page listing top stories), an error
    page or a wall may give way to the article, published after its feed entry."""
    import datetime as dt

    from newsbeam.config.settings import FetchSettings
    from newsbeam.connectors.known import retry_due, will_retry

    page = _page(name)
    if link:
        page = dataclasses.replace(page, entry=dataclasses.replace(page.entry, url=link, link=link))
    if final_url:
        page = dataclasses.replace(page, final_url=final_url)
    outcome = build_article(page, extract_article(page.content, page.final_url), 200)
    assert isinstance(outcome, Failure) and outcome.reason == "not_article", outcome
    assert outcome.final is final
    assert outcome.to_document().get("final", False) is final
    settings = FetchSettings()
    assert will_retry(outcome, settings) is not final
    soon = dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc)  # well past failure_retry_after
    verdict = retry_due(1, "2026-11-28T10:00:00Z", soon, settings, "not_article", outcome.final)
    assert verdict == ("give_up" if final else "retry")
