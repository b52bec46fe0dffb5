"""Feeds files as the README shows them (issue 15 minors)."""

from newsbeam.config.settings import load_settings


def test_a_bare_list_is_a_feeds_file(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text("- url: https://a.example/rss\n  name: A\n- url: https://b.example/atom\n")
    settings = load_settings(feeds_path=path)
    assert [(f.url, f.name) for f in settings.feeds] == [
        ("https://a.example/rss", "A"),
        ("https://b.example/atom", None),
    ]


def test_a_feed_listed_twice_is_polled_once(tmp_path, caplog):
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "feeds:\n  - url: https://a.example/rss\n    name: first\n  - url: https://b.example/rss\n"
        "  - url: ' https://a.example/rss'\n    name: again\n"
    )
    settings = load_settings(feeds_path=path)
    assert [(f.url, f.name) for f in settings.feeds] == [
        ("https://a.example/rss", "first"),
        ("https://b.example/rss", None),
    ]
    assert "feeds: https://a.example/rss is listed 2 times; it is polled once, as 'first'" in caplog.text
