import pytest

from newsbeam.transforms.urls import normalize_url, resolve_canonical, same_host, same_site


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("HTTP://Example.COM:80/a/../b/?utm_source=rss&id=3#frag", None, "http://example.com/b/?id=3"),
        ("https://x.com/path?b=2&a=1&utm_medium=feed", None, "https://x.com/path?a=1&b=2"),
        ("https://x.com:443/p?fbclid=abc&gclid=1&mc_cid=2", None, "https://x.com/p"),
        ("https://x.com/p?cid=7", None, "https://x.com/p?cid=7"),  # ambiguous ids are kept
        (
            "local/story.html",
            "http://127.0.0.1:8000/frontier/feed.xml",
            "http://127.0.0.1:8000/frontier/local/story.html",
        ),
        ("/a b/é", "https://site.org/feed", "https://site.org/a%20b/%C3%A9"),
        ("https://münchen.de/x", None, "https://xn--mnchen-3ya.de/x"),
        ("https://x.com", None, "https://x.com/"),
        ("javascript:alert(1)", None, None),
        ("mailto:a@b.c", None, None),
        ("ftp://x.com/file", None, None),
        ("", None, None),
        ("http://", None, None),
    ],
)
def test_normalize_url(url, base, expected):
    assert normalize_url(url, base=base) == expected


def test_normalize_is_idempotent():
    once = normalize_url("https://Ex.com/a/./b?z=1&y=%41&utm_campaign=x#top")
    assert normalize_url(once) == once


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://www.bbc.co.uk/a", "https://bbc.co.uk/b", True),
        ("https://news.bbc.co.uk/a", "https://www.bbc.co.uk/b", True),
        ("https://bbc.co.uk/a", "https://itv.co.uk/b", False),
        ("http://127.0.0.1:8000/a", "http://127.0.0.1:8000/b", True),
        ("http://127.0.0.1:8000/a", "http://127.0.0.1:9000/b", False),
    ],
)
def test_same_site(a, b, same):
    assert same_site(a, b) is same


def test_canonical_same_site_wins_and_foreign_is_ignored():
    assert resolve_canonical("https://www.x.com/a?utm_source=t", "/a") == "https://www.x.com/a"
    assert resolve_canonical("https://x.com/a?page=2", "https://x.com/a") == "https://x.com/a"
    assert resolve_canonical("https://x.com/a", "https://aggregator.net/a") == "https://x.com/a"
    assert resolve_canonical("https://x.com/a", "javascript:void(0)") == "https://x.com/a"
    assert resolve_canonical("https://x.com/a", None) == "https://x.com/a"


def test_canonical_on_another_tenant_of_a_shared_host_is_ignored():
    page = "https://evil.substack.com/p/x"
    assert resolve_canonical(page, "https://victim.substack.com/p/story") == page
    page = "https://evil.github.io/post"
    assert resolve_canonical(page, "https://victim.github.io/post") == page
    assert (
        resolve_canonical("https://a.wordpress.com/p", "https://wordpress.com/p")
        == "https://a.wordpress.com/p"
    )
    # The page's own host, www. aside, is accepted.
    assert resolve_canonical("https://www.x.com/a?p=2", "https://x.com/a") == "https://x.com/a"
    assert resolve_canonical("https://x.com/a", "https://www.x.com/a") == "https://www.x.com/a"


def test_canonical_on_a_configured_alias_host_is_accepted():
    aliases = (("example.com", "m.example.com"),)
    assert (
        resolve_canonical("https://m.example.com/a", "https://example.com/a", aliases)
        == "https://example.com/a"
    )
    assert resolve_canonical("https://m.example.com/a", "https://example.com/a") == "https://m.example.com/a"
    assert resolve_canonical("https://other.com/a", "https://example.com/a", aliases) == "https://other.com/a"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://www.x.com/a", "http://x.com/b", True),
        ("https://a.substack.com/", "https://b.substack.com/", False),
        ("https://news.x.com/", "https://x.com/", False),
        ("http://127.0.0.1:80/a", "http://127.0.0.1:81/a", False),
        ("http://127.0.0.1:80/a", "http://127.0.0.1:80/b", True),
    ],
)
def test_same_host(a, b, same):
    assert same_host(a, b) is same


def test_same_site_uses_the_private_section_of_the_public_suffix_list():
    assert not same_site("https://a.github.io/", "https://b.github.io/")
    assert not same_site("https://a.blogspot.com/", "https://b.blogspot.com/")


def test_user_info_is_not_part_of_an_articles_identity():
    from newsbeam.transforms.model import without_userinfo

    assert normalize_url("http://reader:s3cret@Example.org:80/a.html") == "http://example.org/a.html"
    assert (
        normalize_url("/b.html", "https://reader:s3cret@example.org/feed.xml") == "https://example.org/b.html"
    )
    assert without_userinfo("https://reader:s3cret@example.org/a?to=x@y") == "https://example.org/a?to=x@y"


def test_a_canonical_front_page_names_no_article_of_another_page():
    assert resolve_canonical("https://x.com/news/a", "https://x.com/") == "https://x.com/news/a"
    assert resolve_canonical("https://x.com/news/a", "/") == "https://x.com/news/a"
    assert resolve_canonical("https://x.com/?p=1", "https://x.com/") == "https://x.com/?p=1"
    assert resolve_canonical("https://x.com/news/a", "https://x.com/?p=12") == "https://x.com/?p=12"
    assert resolve_canonical("https://x.com/?utm_source=feed", "https://x.com/") == "https://x.com/"
