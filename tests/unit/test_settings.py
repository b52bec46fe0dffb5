import pytest

from newsbeam.config.settings import ConfigError, load_settings


def _write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_load_and_are_typed():
    settings = load_settings()
    assert settings.fetch.timeout == 20.0
    assert settings.fetch.allow_private_hosts is False
    assert settings.elasticsearch.articles_alias == "news-articles"
    assert settings.feeds == ()


def test_user_file_merges_over_defaults(tmp_path):
    path = _write(tmp_path, "fetch:\n  timeout: 5\nelasticsearch:\n  index_prefix: wire\n")
    settings = load_settings(path)
    assert settings.fetch.timeout == 5.0
    assert settings.fetch.max_redirects == 5  # untouched default
    assert settings.elasticsearch.failures_alias == "wire-failures"


def test_feeds_file_replaces_the_list(tmp_path):
    config = _write(tmp_path, "feeds:\n  - url: https://a.example/rss\n")
    feeds = _write(tmp_path, "feeds:\n  - url: https://b.example/rss\n    name: B\n", "feeds.yaml")
    settings = load_settings(config, feeds)
    assert [(f.url, f.name) for f in settings.feeds] == [("https://b.example/rss", "B")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fetch:\n  timeout: -1\n", "fetch.timeout: Input should be greater than 0 (got -1)"),
        ("fetch:\n  timout: 3\n", "fetch.timout: unknown key"),
        ("feeds:\n  - url: ftp://x\n", "feeds.0.url: Value error, must be an http:// or https:// URL"),
        ("feeds:\n  - name: no url\n", "feeds.0.url: Field required"),
        ("elasticsearch:\n  index_prefix: Bad Prefix\n", "elasticsearch.index_prefix"),
        ("fetch: [1, 2\n", "at line 2, column 1"),
        ("- just a list\n", "expected a mapping"),
    ],
)
def test_bad_values_name_their_key(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="no-such.yaml: no such file"):
        load_settings(tmp_path / "no-such.yaml")


def test_example_feeds_file_is_valid():
    from importlib import resources

    path = resources.files("newsbeam.config").joinpath("feeds.example.yaml")
    settings = load_settings(feeds_path=str(path))
    assert len(settings.feeds) >= 4
    assert all(feed.url.startswith("https://") for feed in settings.feeds)


def test_canonical_aliases_and_run_budgets_are_validated(tmp_path):
    good = _write(
        tmp_path, "extract:\n  canonical_aliases: [[Example.com, m.example.com]]\nrun:\n  max_run_time: 30\n"
    )
    settings = load_settings(good)
    assert settings.extract.canonical_aliases == (("example.com", "m.example.com"),)
    assert settings.run.max_run_time == 30.0
    bad = _write(tmp_path, "extract:\n  canonical_aliases: [[example.com]]\n", "bad.yaml")
    with pytest.raises(ConfigError, match="extract.canonical_aliases"):
        load_settings(bad)
    bad = _write(tmp_path, "run:\n  max_run_time: 0\n", "bad2.yaml")
    with pytest.raises(ConfigError, match="run.max_run_time"):
        load_settings(bad)


def test_a_key_given_twice_is_named_not_silently_dropped(tmp_path):
    """PyYAML keeps the last of two equal keys: a second ``fetch:`` section at the end of a config
    silently dropped every setting of the first, and a feed entry's second ``url:`` replaced its
    first. YAML merge keys (``<<: *defaults`` then an override) stay allowed."""
    config = _write(tmp_path, "fetch:\n  timeout: 5\nner:\n  enabled: false\nfetch:\n  max_bytes: 2000\n")
    with pytest.raises(ConfigError, match=r"'fetch' appears twice \(first at line 1\) at line 5"):
        load_settings(config)
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - url: https://a.example/rss\n    url: https://b.example/rss\n")
    with pytest.raises(ConfigError, match=r"feeds file .*'url' appears twice"):
        load_settings(feeds_path=feeds)
    merged = _write(tmp_path, "fetch:\n  <<: {timeout: 5, retries: 1}\n  timeout: 7\n")
    assert load_settings(merged).fetch.timeout == 7


def test_the_shipped_yaml_and_the_models_defaults_agree():
    """config/defaults.yaml is what a run uses; the models' own defaults are what code that builds
    a section directly gets (``FetchSettings()`` in a benchmark, a test): the two must not differ
    (the user agent did: without the project URL in the models)."""
    from newsbeam.config.settings import Settings, defaults

    models = Settings()
    differ = []
    for section, values in defaults().items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            real = getattr(getattr(models, section), key)
            if (tuple(value) if isinstance(value, list) else value) != real:
                differ.append(f"{section}.{key}: {value!r} in defaults.yaml, {real!r} in the model")
    assert differ == []


@pytest.mark.parametrize(
    "text, message",
    [
        ("elasticsearch: 5\n", "elasticsearch: expected a mapping of settings (got 5)"),
        ("fetch: [1, 2]\n", "fetch: expected a mapping of settings (got [1, 2])"),
        (
            "elasticsearch: http://es:9200\n",
            "elasticsearch: expected a mapping of settings (got 'http://es:9200')",
        ),
    ],
)
def test_a_section_that_is_not_a_mapping_is_named_even_when_a_flag_sets_that_section(tmp_path, text, message):
    """``--es-url`` (or ``ES_URL``) merged its section over the config's ``elasticsearch: 5``, so
    the mistake vanished without a word; a flag never hides a bad section."""
    path = _write(tmp_path, text)
    overrides = {"elasticsearch": {"url": "http://127.0.0.1:9200"}, "fetch": {"allow_private_hosts": True}}
    with pytest.raises(ConfigError) as info:
        load_settings(path, overrides=overrides)
    assert f"config file {path}: {message}" in str(info.value)


def test_an_empty_section_keeps_the_defaults(tmp_path):
    """``fetch:`` with every setting commented out is an empty section, not an error."""
    path = _write(tmp_path, "fetch:\n#  timeout: 5\nelasticsearch:\n  index_prefix: wire\n")
    settings = load_settings(path)
    assert settings.fetch.timeout == load_settings().fetch.timeout
    assert settings.elasticsearch.index_prefix == "wire"


def test_a_feed_has_its_own_size_limit_validated_like_the_others(tmp_path):
    """fetch.feed_max_bytes: a feed's body limit, apart from the article page's fetch.max_bytes;
    unset, the larger of max_bytes and 40 MB (a config that raised max_bytes for a big feed keeps
    it); below 1000 it is refused naming the key, as max_bytes is."""
    from newsbeam.config.settings import FEED_MAX_BYTES, FetchSettings

    assert FEED_MAX_BYTES == 40_000_000
    assert load_settings(None).fetch.feed_limit == FEED_MAX_BYTES
    assert FetchSettings(max_bytes=60_000_000).feed_limit == 60_000_000
    assert (
        load_settings(_write(tmp_path, "fetch:\n  feed_max_bytes: 2000000\n")).fetch.feed_limit == 2_000_000
    )
    with pytest.raises(ConfigError, match="fetch.feed_max_bytes"):
        load_settings(_write(tmp_path, "fetch:\n  feed_max_bytes: 10\n"))
