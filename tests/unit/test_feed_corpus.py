"""newsbeam's feed path over feedparser's corpus of tricky feeds.

Every file of tests/fixtures/feeds (see its README.md and manifest.json;
LICENSE-feedparser.txt covers the copies) is served by one loopback HTTP
server for the module, at ``/tests/<path>`` like upstream, with the
manifest's ``http_headers`` (Content-Type defaults to text/xml).  Each file
goes through newsbeam's own path, ``HttpFetcher.get`` then ``parse_feed``,
in a worker thread with a time bound, and must give: no exception, the
manifest's entry count minus the entries without a link (counted with
feedparser directly on the same bytes and headers), only absolute http(s)
links that survive ``normalize_url`` (or are dropped by it), never a
``javascript:`` link, and relative links resolved against the served URL.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import feedparser
import pytest
from feedparser.datetimes import _parse_date

from newsbeam.config.settings import FeedSpec
from newsbeam.connectors.feeds import feed_base_url, parse_feed
from newsbeam.connectors.http import HttpFetcher
from newsbeam.transforms.urls import normalize_url

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))["files"]
BY_FILE = {item["file"]: item for item in MANIFEST}
UPSTREAM_BASE = "http://127.0.0.1:8097"
TIME_BOUND = 10.0  # seconds per file; the slowest takes ~0.2 s


def _headers(item: dict) -> dict[str, str]:
    headers = dict(item["http_headers"] or {})
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "text/xml"
    return headers


class _CorpusHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        path = unquote(urlsplit(self.path).path).removeprefix("/tests/")
        item = BY_FILE.get(path)
        if item is None:
            self.send_error(404)
            return
        body = (CORPUS / item["file"]).read_bytes()
        self.send_response(200)
        for name, value in _headers(item).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def corpus_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _CorpusHandler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def fetcher():
    fetcher = HttpFetcher(
        user_agent="newsbeam-test",
        timeout=5,
        max_bytes=5_000_000,
        max_redirects=3,
        retries=0,
        backoff=0,
        allow_private_hosts=True,
    )
    yield fetcher
    fetcher.close()


def _bounded(fn, seconds: float):
    """Run ``fn`` in a thread; fail if it hangs, re-raise what it raised."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds}s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"], time.monotonic() - started


def _is_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def test_corpus_is_complete_and_licensed():
    assert len(MANIFEST) == 149
    assert (CORPUS / "LICENSE-feedparser.txt").is_file()
    assert (CORPUS / "README.md").is_file()
    missing = [item["file"] for item in MANIFEST if not (CORPUS / item["file"]).is_file()]
    assert missing == []


@pytest.mark.parametrize("name", sorted(BY_FILE))
def test_feed_through_newsbeam_path(name, corpus_server, fetcher):
    item = BY_FILE[name]
    url = f"{corpus_server}/tests/{name}"
    spec = FeedSpec(url=url, name="corpus")

    def run():
        response = fetcher.get(url)
        return response, parse_feed(response.content, spec, response.url, response.headers)

    (response, parsed), elapsed = _bounded(run, TIME_BOUND)
    assert elapsed < TIME_BOUND
    assert response.content == (CORPUS / name).read_bytes()

    if name.endswith(".json"):  # a JSON Feed, which feedparser does not read: newsbeam reads it itself
        items = json.loads(response.content)["items"]
        linked = [i for i in items if i.get("url") or i.get("external_url")]
        assert (parsed.error, parsed.without_link) == (None, len(items) - len(linked))
        assert len(parsed.entries) + parsed.unsafe_link == len(linked) > 0
        _check_links(parsed, url, corpus_server)
        return
    # The same bytes and headers, straight into feedparser.
    headers = {k.lower(): v for k, v in _headers(item).items()}
    direct = feedparser.parse(
        response.content, response_headers={**headers, "content-location": feed_base_url(url, headers)}
    )
    expected_total = item["feedparser_6_0_14"]["entries"]
    if feedparser.__version__ == "6.0.14":
        assert len(direct.entries) == expected_total
    without_link = sum(1 for entry in direct.entries if not (entry.get("link") or "").strip())
    assert parsed.without_link == without_link
    assert len(parsed.entries) + parsed.unsafe_link == len(direct.entries) - without_link
    assert len(parsed.entries) == expected_total - without_link - parsed.unsafe_link
    if parsed.error == "no_links":  # items, none of which has a link
        assert (parsed.entries, parsed.without_link > 0) == ([], True)
    elif parsed.error:
        assert (parsed.error, parsed.entries) == ("malformed_feed", [])
    else:
        assert parsed.entries or not without_link
    _check_links(parsed, url, corpus_server)


def _check_links(parsed, url: str, corpus_server: str) -> None:
    for entry in parsed.entries:
        assert entry.feed_url == url
        assert entry.link == entry.url
        assert _is_http(entry.link), entry.link
        assert "javascript:" not in entry.link.lower()
        normalized = normalize_url(entry.link)
        assert normalized is None or _is_http(normalized)
        if urlsplit(entry.link).hostname == "127.0.0.1":  # relative in the feed: resolved against us
            assert entry.link.startswith(corpus_server + "/")


def _expect_ok_key() -> str:
    try:
        import chardet  # noqa: F401
    except ImportError:
        return "expect_ok_without_chardet"
    return "expect_ok_with_chardet_5_2_0"


HTTP_CASES = sorted(item["file"] for item in MANIFEST if item["served_over_http"] and item["expect"])


@pytest.mark.parametrize("name", HTTP_CASES)
def test_upstream_expectation_for_http_served_feeds(name, corpus_server, fetcher):
    """Upstream's ``Expect`` for the [http] files, on feedparser's result for the
    bytes, headers and base URL newsbeam hands it (port rewritten to ours)."""
    item = BY_FILE[name]
    url = f"{corpus_server}/tests/{name}"
    response = fetcher.get(url)
    headers = dict(response.headers)
    headers["content-location"] = feed_base_url(response.url, response.headers)
    result = feedparser.parse(response.content, response_headers=headers)
    # Validators that feedparser's own HTTP client would have set: from our response.
    scope = dict(result)
    if response.headers.get("etag"):
        scope["etag"] = response.headers["etag"]
    if (response.headers.get("last-modified") or "").strip():  # a blank one is not stored
        scope["modified"] = response.headers["last-modified"]
        scope["modified_parsed"] = _parse_date(scope["modified"])
    expect = item["expect"].replace(UPSTREAM_BASE, corpus_server)
    ok = bool(eval(expect, {"feedparser": feedparser}, scope))  # the manifest's own expression
    assert ok == item["feedparser_6_0_14"][_expect_ok_key()]


# Link safety beyond the corpus: hostile bases and schemes, inline.

_ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"{base}><title>T</title>{entries}</feed>"""


def _atom(*hrefs: str, base: str = "", entry_base: str = "") -> bytes:
    entry_attr = f' xml:base="{entry_base}"' if entry_base else ""
    entries = "".join(
        f'<entry{entry_attr}><title>e{i}</title><id>urn:e{i}</id><link href="{href}"/></entry>'
        for i, href in enumerate(hrefs)
    )
    return _ATOM.format(base=f' xml:base="{base}"' if base else "", entries=entries).encode()


FEED_URL = "https://news.example/feeds/world.xml"


def _links(content: bytes, headers: dict[str, str] | None = None):
    parsed = parse_feed(
        content, FeedSpec(url=FEED_URL), FEED_URL, {"content-type": "application/atom+xml", **(headers or {})}
    )
    return [e.link for e in parsed.entries], parsed.without_link, parsed.unsafe_link


@pytest.mark.parametrize(
    ("headers", "expected_base"),
    [
        ({}, FEED_URL),
        ({"Content-Location": "/feeds/moved.xml"}, "https://news.example/feeds/moved.xml"),
        ({"content-location": "javascript:alert(1)"}, FEED_URL),
        ({"content-location": "file:///etc/passwd"}, FEED_URL),
        ({"content-location": "https://other.example/x/"}, "https://other.example/x/"),
        ({"content-location": "http://bad:port/"}, FEED_URL),
    ],
)
def test_feed_base_url(headers, expected_base):
    assert feed_base_url(FEED_URL, headers) == expected_base


def test_relative_links_resolve_against_the_fetched_url():
    assert _links(_atom("../articles/1.html", "/a/2", "3.html")) == (
        [
            "https://news.example/articles/1.html",
            "https://news.example/a/2",
            "https://news.example/feeds/3.html",
        ],
        0,
        0,
    )


def test_relative_content_location_is_resolved_before_it_becomes_the_base():
    links, _, _ = _links(_atom("item.html"), {"content-location": "/v2/feed.xml"})
    assert links == ["https://news.example/v2/item.html"]


def test_unsafe_content_location_is_ignored():
    links, _, _ = _links(_atom("item.html"), {"content-location": "javascript:alert('x');"})
    assert links == ["https://news.example/feeds/item.html"]


def test_unsafe_xml_base_does_not_become_the_base():
    links, _, unsafe = _links(_atom("item.html", entry_base="javascript:alert(1)//"))
    assert all(_is_http(link) and "javascript" not in link for link in links)
    assert len(links) + unsafe == 1


def test_links_with_other_schemes_are_skipped_and_counted():
    links, without, unsafe = _links(
        _atom(
            "javascript:alert(document.cookie)",
            "file:///etc/passwd",
            "mailto:desk@news.example",
            "ftp://news.example/a.txt",
            "https://news.example/ok",
        )
    )
    assert (links, without, unsafe) == (["https://news.example/ok"], 0, 4)


def test_link_feedparser_cannot_resolve_counts_as_without_link():
    assert _links(_atom("http://[::1/broken", "/fine")) == (["https://news.example/fine"], 1, 0)


def test_a_feed_title_of_40000_characters_is_cut_to_max_name_chars():
    """The feed's <title> names its outlet (``feed.name`` in news-feeds, ``source.name`` of every
    article): keywords indexed whole, which Elasticsearch refuses over 32,766 UTF-8 bytes."""
    content = _atom("/a").replace(
        b"<title>T</title>", b"<title>" + "\u00e9".encode() * 40_000 + b"</title>", 1
    )
    parsed = parse_feed(content, FeedSpec(url=FEED_URL), FEED_URL, {"content-type": "application/atom+xml"})
    assert parsed.title == "\u00e9" * 512
    assert [e.feed_name for e in parsed.entries] == ["\u00e9" * 512]


@pytest.mark.parametrize(
    ("ref", "title"),
    [
        (
            "&#55357;&#56832;",
            "Party \U0001f600 time",
        ),  # an emoji as a UTF-16 surrogate pair, as CMSs write it
        ("&#xD83D;&#xDE00;", "Party \U0001f600 time"),
        ("&#55357;", "Party \ufffd time"),  # a lone surrogate
        ("&#56832;&#55357;", "Party \ufffd\ufffd time"),  # the halves the wrong way round
        ("&#x110000;", "Party \ufffd time"),  # past Unicode
        ("&#" + "9" * 5000 + ";", "Party \ufffd time"),
    ],
)
def test_invalid_numeric_character_references_lose_no_feed(ref, title):
    """feedparser's fallback parser raised on a surrogate (chr(55357).encode('utf-8')): one emoji in
    one title made the whole feed malformed_feed, every entry lost."""
    from newsbeam.connectors.feed_parse import FeedRef, parse_job

    rss = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        f"<item><title>Party {ref} time</title><link>https://news.example/a</link></item>"
        "<item><title>Other</title><link>https://news.example/b</link></item></channel></rss>"
    ).encode()
    parsed = parse_job(rss, (FeedRef(FEED_URL), FEED_URL, {"content-type": "application/rss+xml"}))
    assert parsed.error is None
    assert [(e.title, e.link) for e in parsed.entries] == [
        (title, "https://news.example/a"),
        ("Other", "https://news.example/b"),
    ]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("<author>jane@news.example (Jane Doe)</author>", ("Jane Doe",)),  # feedparser: 'ple (Jane Doe'
        ("<author>noreply@blogger.com</author>", ()),
        ("<dc:creator>Jane Doe</dc:creator><dc:creator>John Roe</dc:creator>", ("Jane Doe", "John Roe")),
        (
            "<dc:creator>By JANE DOE, Staff Writer</dc:creator>",
            ("By JANE DOE, Staff Writer",),
        ),  # cleaned later
        ("", ()),
    ],
    ids=["rss-email-name", "rss-email-only", "dc-creators", "raw-byline", "none"],
)
def test_entry_authors_are_read_from_the_feed(item, expected):
    content = (
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>t</title>'
        f"<item><title>a</title><link>https://news.example/a</link>{item}</item></channel></rss>"
    ).encode()
    parsed = parse_feed(content, FeedSpec(url=FEED_URL), FEED_URL, {"content-type": "application/rss+xml"})
    assert [e.authors for e in parsed.entries] == [expected]
