import dataclasses

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.config.settings import ExtractSettings
from newsbeam.connectors.site_server import demo_site_dir
from newsbeam.transforms.extract import ExtractArticles
from newsbeam.transforms.model import FeedEntry, FetchedPage, doc_id_for_url

BASE = "https://demo.example"
PAGE = "/frontier/2020/06/28/swat-flash-floods-bridge.html"


def page(path, link=None, feed="https://demo.example/frontier/feed.xml", content=None):
    content = content if content is not None else (demo_site_dir() / path.lstrip("/")).read_bytes()
    content = content.replace(b"{{BASE_URL}}", BASE.encode())
    link = link or BASE + path
    entry = FeedEntry(
        feed_url=feed, feed_name="Frontier Herald", link=link, url=link, published="2020-06-28T16:30:00Z"
    )
    return FetchedPage(
        entry=entry, final_url=BASE + path, status=200, content=content,
        content_type="text/html", encoding="utf-8", fetched_at="2020-06-28T17:00:00Z",
    )  # fmt: skip


def test_articles_and_empty_text_failures():
    pages = [page(PAGE), page("/empty.html", content=b"<html><body><nav>Home</nav></body></html>")]
    with TestPipeline() as p:
        out = p | beam.Create(pages) | ExtractArticles(ExtractSettings(min_chars=200))
        assert_that(
            out.articles | beam.Map(lambda a: (a.id, a.canonical_url, a.source_name, a.language)),
            equal_to([(doc_id_for_url(BASE + PAGE), BASE + PAGE, "Frontier Herald", "en")]),
            label="articles",
        )
        assert_that(
            out.failed | beam.Map(lambda f: (f.url, f.stage, f.reason, f.attempts)),
            equal_to([(BASE + "/empty.html", "extract", "empty_text", 1)]),
            label="failures",
        )


def test_two_links_to_one_canonical_give_one_article_with_both_urls():
    tracked = BASE + PAGE + "?utm_source=rss"
    first = page(PAGE)
    globe = "https://demo.example/globe/feed.xml"
    second = dataclasses.replace(
        page(PAGE, feed=globe),
        entry=dataclasses.replace(first.entry, feed_url=globe, url=BASE + PAGE + "?ref=x", link=tracked),
    )
    order = {"https://demo.example/frontier/feed.xml": 0, "https://demo.example/globe/feed.xml": 1}
    with TestPipeline() as p:
        out = p | beam.Create([second, first]) | ExtractArticles(ExtractSettings(), order)
        assert_that(
            out.articles | beam.Map(lambda a: (a.feed_url, a.urls)),
            equal_to([("https://demo.example/frontier/feed.xml", (BASE + PAGE, BASE + PAGE + "?ref=x"))]),
        )


def test_enriching_before_the_merge_gives_the_article_enriching_after_it_gives():
    """Entity tagging runs inside ExtractArticles (before GroupById, fused with
    fetching): the merged article is the same as when it is tagged afterwards."""
    from newsbeam.transforms.entities import TagEntities

    first = page(PAGE)
    globe = "https://demo.example/globe/feed.xml"
    second = dataclasses.replace(
        page(PAGE, feed=globe),
        entry=dataclasses.replace(first.entry, feed_url=globe, url=BASE + PAGE + "?ref=x", link=BASE + PAGE),
    )
    order = {"https://demo.example/frontier/feed.xml": 0, globe: 1}

    def compare(grouped):
        (_id, versions), *more = grouped
        versions = dict(versions)
        assert not more and set(versions) == {"before", "after"}
        assert versions["before"] == versions["after"]
        assert versions["before"].entities["location"]  # it was tagged

    with TestPipeline() as p:
        pages = p | beam.Create([second, first])
        before = pages | "Before" >> ExtractArticles(ExtractSettings(), order, TagEntities(batch_size=1))
        plain = pages | "Plain" >> ExtractArticles(ExtractSettings(), order)
        tagged_after = plain.articles | "TagAfter" >> TagEntities(batch_size=1)
        both = (
            before.articles | "B" >> beam.Map(lambda a: (a.id, ("before", a))),
            tagged_after | "A" >> beam.Map(lambda a: (a.id, ("after", a))),
        ) | beam.Flatten()
        assert_that(both | beam.GroupByKey(), compare)


def _page_with_body(path, paragraphs, lang):
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    html = f'<html lang="{lang}"><head><meta charset="utf-8"><title>{paragraphs[0][:20]}</title></head>'
    html += f"<body><article><h1>{paragraphs[0][:20]}</h1>{body}</article></body></html>"
    return page(path, content=html.encode("utf-8"))


def test_min_chars_counts_a_chinese_or_japanese_character_three_times():
    """A complete four-sentence Japanese news item is ~190 characters (the
    English one ~600): measured in plain characters it was an empty_text
    failure, and its copies could never be grouped.  A short English stub
    still is one."""
    japanese = [
        "日本銀行は31日、金融政策決定会合で長期金利の上限を事実上撤廃し、大規模金融緩和策の修正に踏み切った。",
        "植田和男総裁は記者会見で、物価目標の実現にはなお時間がかかるとの見方を示した。",
        "市場では円安が一段と進み、外国為替市場で一時1ドル151円台を付けた。",
    ]
    english = ["The bank raised rates on Tuesday.", "Markets fell after the announcement."]
    assert sum(map(len, japanese)) < 200
    pages = [_page_with_body("/ja.html", japanese, "ja"), _page_with_body("/en.html", english, "en")]
    with TestPipeline() as p:
        out = p | beam.Create(pages) | ExtractArticles(ExtractSettings(min_chars=200))
        assert_that(
            out.articles | beam.Map(lambda a: (a.canonical_url, a.body.count("。"))),
            equal_to([(BASE + "/ja.html", 3)]),
            label="articles",
        )
        assert_that(
            out.failed | beam.Map(lambda f: (f.url, f.reason)),
            equal_to([(BASE + "/en.html", "empty_text")]),
            label="failed",
        )


def test_an_outlet_name_of_40000_characters_is_cut_to_max_name_chars():
    """``source.name`` is a keyword indexed whole: over 32,766 UTF-8 bytes Elasticsearch rejects
    the article ("immense term"); a page's og:site_name can be that long."""
    fetched = page(PAGE)
    huge = ("Herald " * 6000).encode()
    fetched = dataclasses.replace(
        fetched,
        entry=dataclasses.replace(fetched.entry, feed_name=None),
        content=fetched.content.replace(
            b"<head>", b'<head><meta property="og:site_name" content="' + huge + b'">', 1
        ),
    )
    assert huge in fetched.content
    with TestPipeline() as p:
        out = p | beam.Create([fetched]) | ExtractArticles(ExtractSettings(min_chars=200))
        assert_that(
            out.articles
            | beam.Map(lambda a: (len(a.source_name), a.source_name.startswith("Herald Herald"))),
            equal_to([(512, True)]),  # MAX_NAME_CHARS
        )


def _deep_page() -> FetchedPage:
    """A page whose one element has 100,000 attributes: minutes of CPU in the HTML parser
    (libxml2 checks each attribute against the ones before it)."""
    paragraph = (
        "<p>" + "The council met and heard residents describe the changes to their street. " * 10 + "</p>"
    )
    flood = " ".join(f'a{i}="{i}"' for i in range(100_000))
    html = f"<html><body><article {flood}>{paragraph}</article></body></html>"
    return page(PAGE, content=html.encode())


def test_pages_the_runs_deadline_leaves_unextracted_are_deferred_not_failed():
    """--max-run-time: six pages that each took extract.timeout (30 s) held a 10 s run for 190 s,
    and each was recorded as a timeout failure though only the run's time was up."""
    import time

    from newsbeam.transforms.extract import DEADLINE_GRACE, DEFERRED_TAG, _ExtractFn

    fn = _ExtractFn(ExtractSettings(timeout=60), deadline=None)
    fn.setup()
    try:
        fn._warming.join()
        fn._deadline = time.time() - DEADLINE_GRACE + 1.0  # one second left for extraction
        started = time.monotonic()
        cut = list(fn.process(_deep_page()))
        elapsed = time.monotonic() - started
        late = list(fn.process(page(PAGE)))  # past the deadline's grace: not even started
    finally:
        fn.teardown()
    assert elapsed < 10, elapsed  # not extract.timeout's 60 s
    assert [(o.tag, o.value.url) for o in cut] == [(DEFERRED_TAG, BASE + PAGE)]
    assert [(o.tag, o.value.url) for o in late] == [(DEFERRED_TAG, BASE + PAGE)]


def test_extract_articles_gives_the_deferred_entries():
    import time

    with TestPipeline() as p:
        out = p | beam.Create([page(PAGE)]) | ExtractArticles(ExtractSettings(), deadline=time.time() - 3600)
        assert_that(out.articles, equal_to([]), label="articles")
        assert_that(out.failed, equal_to([]), label="failed")
        assert_that(out.deferred | beam.Map(lambda e: e.url), equal_to([BASE + PAGE]), label="deferred")


def test_a_page_without_byline_takes_the_feed_entrys_authors():
    """The feed's dc:creator or atom:author was read by feedparser and then dropped: an
    article whose page names no writer had no ``authors`` although its feed named them."""
    from newsbeam.transforms.extract import build_article
    from newsbeam.transforms.extraction import extract_article

    content = (demo_site_dir() / PAGE.lstrip("/")).read_bytes()
    bylineless = content.replace(b'"author": [', b'"contributor": [')
    assert bylineless != content
    fetched = page(PAGE, content=bylineless)
    fetched = dataclasses.replace(
        fetched,
        entry=dataclasses.replace(
            fetched.entry, authors=("By JANE DOE, Frontier Herald Staff", "x@y.example")
        ),
    )
    article = build_article(fetched, extract_article(fetched.content, fetched.final_url), 200)
    assert article.authors == ("Jane Doe",)
    with_byline = page(PAGE)
    with_byline = dataclasses.replace(
        with_byline, entry=dataclasses.replace(with_byline.entry, authors=("Jane Doe",))
    )
    assert build_article(
        with_byline, extract_article(with_byline.content, with_byline.final_url), 200
    ).authors == ("APP",)  # the page's own byline wins
