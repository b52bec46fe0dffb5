"""Typed, validated settings: shipped defaults merged with the user's YAML.

``load_settings`` is called once, by the CLI.  Transforms receive the frozen
``Settings`` (or one of its sections), never a path or a global.  A bad value
raises ``ConfigError`` whose message names the key and what was expected, so
the CLI can print it and exit 2 without a traceback.

Example::

    settings = load_settings(config_path="my.yaml", feeds_path="feeds.yaml")
    settings.fetch.timeout           # 20.0
    settings.feeds[0].url            # "https://example.org/rss.xml"
"""

from __future__ import annotations

import logging
import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from newsbeam.transforms.model import mask_userinfo

__all__ = [
    "ConfigError",
    "ElasticsearchSettings",
    "FeedSpec",
    "Settings",
    "load_feeds_file",
    "load_settings",
]

_LOG = logging.getLogger("newsbeam.config")


class ConfigError(Exception):
    """A user mistake in the configuration: the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedSpec(_Section):
    url: str
    name: str | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class ElasticsearchSettings(_Section):
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _es_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from urllib.parse import urlsplit

        value = value.strip()
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise ValueError("must be an http:// or https:// URL such as http://localhost:9200") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL such as http://localhost:9200")
        return value

    api_key: str | None = Field(default=None, repr=False)
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    ca_certs: str | None = None
    cloud_id: str | None = None

    @field_validator("ca_certs")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        # A missing bundle was only a 'TlsError' when connecting, naming no file.
        if value is None:
            return None
        path = os.path.expanduser(value)
        if not os.path.isfile(path):
            what = "a directory" if os.path.isdir(path) else "no such file"
            raise ValueError(f"expected the path of a CA certificates file (PEM): {what}")
        return path

    @field_validator("cloud_id")
    @classmethod
    def _cloud_id(cls, value: str | None) -> str | None:
        # A malformed id was an unexpected ValueError from the client (exit 1).
        if value is not None:
            from elastic_transport.client_utils import parse_cloud_id

            try:
                parse_cloud_id(value)
            except ValueError:
                raise ValueError("expected an Elastic Cloud id such as name:base64...") from None
        return value

    index_prefix: str = Field(default="news", pattern=r"^[a-z0-9][a-z0-9_.+-]*$")
    request_timeout: float = Field(default=30, gt=0)
    bulk_max_docs: int = Field(default=250, ge=1)
    bulk_max_bytes: int = Field(default=5_000_000, ge=1000)
    max_retries: int = Field(default=5, ge=0)
    lookup_batch_size: int = Field(default=200, ge=1, le=10_000)
    dead_letter_dir: str | None = None

    @property
    def articles_alias(self) -> str:
        return f"{self.index_prefix}-articles"

    @property
    def failures_alias(self) -> str:
        return f"{self.index_prefix}-failures"

    @property
    def feeds_alias(self) -> str:
        return f"{self.index_prefix}-feeds"

    @property
    def runs_alias(self) -> str:
        """Run summaries, read by ``newsbeam status``."""
        return f"{self.index_prefix}-runs"


class EmbeddedSettings(_Section):
    port: int = Field(default=9200, ge=1, le=65535)
    data_dir: str | None = None
    start_timeout: float = Field(default=60, gt=0)


class DemoSettings(_Section):
    site_port: int = Field(default=8765, ge=0, le=65535)


# A feed's default body limit: a podcast feed with years of episodes and their show notes, or a
# full-text feed, runs to tens of MB, over the 5 MB that suit an article page (fetch.max_bytes).
# A 30 MB RSS of 3,000 items parsed in 6.9 s, 204 MB peak, in feedparser (under
# fetch.feed_parse_timeout, 20 s); only fetch.max_entries_per_feed of its entries are fetched.
FEED_MAX_BYTES = 40_000_000


class FetchSettings(_Section):
    user_agent: str = "newsbeam/0.1 (+https://github.com/newsbeam/newsbeam)"
    timeout: float = Field(default=20, gt=0)
    max_bytes: int = Field(default=5_000_000, ge=1000)
    max_redirects: int = Field(default=5, ge=0, le=30)
    retries: int = Field(default=2, ge=0, le=10)
    backoff: float = Field(default=0.5, ge=0)
    allow_private_hosts: bool = False
    failure_retry_after: float = Field(default=3600, ge=0)
    respect_robots: bool = True
    host_delay: float = Field(default=1.0, ge=0, le=300)
    max_crawl_delay: float = Field(default=30.0, ge=0, le=3600)
    max_connections: int = Field(default=16, ge=1, le=256)
    max_attempts: int = Field(default=5, ge=1)
    url_deadline: float = Field(default=60, gt=0)
    host_budget: float = Field(default=300, gt=0)
    max_entries_per_feed: int = Field(default=200, ge=1)
    feed_parse_timeout: float = Field(default=20, gt=0)
    # A feed's own body limit (``feed_limit``); None: the larger of ``max_bytes`` and
    # ``FEED_MAX_BYTES``, so a config that raised max_bytes for a big feed keeps working.
    feed_max_bytes: int | None = Field(default=None, ge=1000)

    @property
    def feed_limit(self) -> int:
        """The largest feed body read (larger is a ``too_large`` failure of the feed)."""
        if self.feed_max_bytes is not None:
            return self.feed_max_bytes
        return max(self.max_bytes, FEED_MAX_BYTES)


class ExtractSettings(_Section):
    min_chars: int = Field(default=200, ge=0)
    timeout: float = Field(default=30, gt=0)
    canonical_aliases: tuple[tuple[str, ...], ...] = ()

    @field_validator("canonical_aliases")
    @classmethod
    def _alias_groups(cls, value: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
        groups = []
        for group in value:
            hosts = tuple(h.strip().lower().rstrip(".") for h in group)
            if len(hosts) < 2 or any(not h or "/" in h or ":" in h or " " in h for h in hosts):
                raise ValueError(
                    "each entry must be a list of two or more host names, e.g. [example.com, example.co.uk]"
                )
            groups.append(hosts)
        return tuple(groups)


class ArchiveSettings(_Section):
    enabled: bool = False
    dir: str | None = None


class DedupSettings(_Section):
    enabled: bool = True
    max_bucket: int = Field(default=200, ge=2, le=100_000)


class NerSettings(_Section):
    enabled: bool = True
    model: str | None = None
    max_per_type: int = Field(default=50, ge=1, le=1000)
    batch_size: int = Field(default=8, ge=1, le=10_000)
    chunk_chars: int = Field(default=20_000, ge=1000)


class RunSettings(_Section):
    max_run_time: float | None = Field(default=None, gt=0)
    wave_size: int = Field(default=500, ge=1)


class StreamSettings(_Section):
    """``newsbeam stream``: per-feed scheduling (pipeline/stream.py)."""

    poll_interval: float = Field(default=300, ge=1, le=86_400)
    max_hint: float = Field(default=3600, ge=1, le=7 * 86_400)
    max_backoff: float = Field(default=3600, ge=1, le=7 * 86_400)
    disable_after: int = Field(default=10, ge=1, le=10_000)
    reprobe_interval: float = Field(default=6 * 3600, ge=1, le=30 * 86_400)
    stop_timeout: float = Field(default=300, gt=0, le=86_400)
    lease_ttl: float = Field(default=60, ge=3, le=3600)


class Settings(_Section):
    feeds: tuple[FeedSpec, ...] = ()

    @field_validator("feeds")
    @classmethod
    def _once_each(cls, feeds: tuple[FeedSpec, ...]) -> tuple[FeedSpec, ...]:
        """A feed listed twice is polled once (the first entry's name is kept), with a warning."""
        seen: dict[str, FeedSpec] = {}
        repeats: dict[str, int] = {}
        for feed in feeds:
            if feed.url in seen:
                repeats[feed.url] = repeats.get(feed.url, 1) + 1
            seen.setdefault(feed.url, feed)
        for url, times in repeats.items():
            _LOG.warning(
                "feeds: %s is listed %d times; it is polled once, as %r",
                mask_userinfo(url), times, seen[url].name or url,
            )  # fmt: skip
        return tuple(seen.values())

    elasticsearch: ElasticsearchSettings = ElasticsearchSettings()
    embedded: EmbeddedSettings = EmbeddedSettings()
    demo: DemoSettings = DemoSettings()
    fetch: FetchSettings = FetchSettings()
    extract: ExtractSettings = ExtractSettings()
    archive: ArchiveSettings = ArchiveSettings()
    dedup: DedupSettings = DedupSettings()
    ner: NerSettings = NerSettings()
    run: RunSettings = RunSettings()
    stream: StreamSettings = StreamSettings()


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys: a second ``fetch:`` section silently dropped every
    setting of the first."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # "<<: *defaults" may be overridden
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if first is not key_node.start_mark:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} appears twice (first at line {first.line + 1})", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path, what: str, allow_list: bool = False) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no Python objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{what} {path}: {problem}{where}") from None
    if data is None:
        return {}
    if allow_list and isinstance(data, list):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path}: expected a mapping of keys, got {type(data).__name__}")
    return data


def _check_sections(
    data: dict[str, Any], shipped: dict[str, Any], source: str, prefix: str = ""
) -> dict[str, Any]:
    """``data`` (a config file) with its sections checked against the shipped defaults': a
    section given a value that is not a mapping (``elasticsearch: 5``) is a ``ConfigError``
    naming the key, and an empty one (``fetch:`` with every line commented out) counts as empty.
    Merged as they were, a flag's or the environment's value for that section (``--es-url``)
    replaced the bad value and the run went on without a word about the mistake."""
    checked = {}
    for key, value in data.items():
        default = shipped.get(key) if isinstance(shipped, dict) else None
        if isinstance(default, dict):
            if value is None:
                value = {}
            elif not isinstance(value, dict):
                shown = repr(value)
                shown = shown if len(shown) <= 80 else shown[:77] + "..."
                raise ConfigError(f"{source}: {prefix}{key}: expected a mapping of settings (got {shown})")
            value = _check_sections(value, default, source, f"{prefix}{key}.")
        checked[key] = value
    return checked


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# Keys that can also be set on the command line or in the environment.
_KEY_SOURCES = {
    "elasticsearch.url": "--es-url / ES_URL",
    "elasticsearch.index_prefix": "--index-prefix",
    "elasticsearch.api_key": "ES_API_KEY",
    "elasticsearch.ca_certs": "ES_CA_CERTS",
    "elasticsearch.cloud_id": "ES_CLOUD_ID",
}


def _dotted(data: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in data.items():
        keys.add(f"{prefix}{key}")
        if isinstance(value, dict):
            keys |= _dotted(value, f"{prefix}{key}.")
    return keys


def _format_errors(exc: ValidationError, source: str, overridden: set[str] = frozenset()) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or "(top level)"
        # A value from a flag or the environment is not the file's (nor the defaults') mistake.
        where = "command line / environment" if key in overridden else source
        if key in _KEY_SOURCES:
            key = f"{key} ({_KEY_SOURCES[key]})"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "string_pattern_mismatch" and key.startswith("elasticsearch.index_prefix"):
            msg = "expected lower-case letters, digits and _.+- (starting with a letter or digit)"
        elif "input" in err and err["type"] != "missing":
            # Never echo a credential: secret keys show no value, others are masked.
            from newsbeam.pipeline.text import mask_secrets

            secret = any(part in key for part in ("password", "api_key"))
            msg = f"{msg} (got {'***' if secret else mask_secrets(repr(err['input']))})"
        lines.append(f"{where}: {key}: {msg}")
    return "\n".join(lines)


def defaults() -> dict[str, Any]:
    text = resources.files("newsbeam.config").joinpath("defaults.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def load_feeds_file(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The ``feeds:`` list of a feeds file (the contract of DESIGN.md)."""
    data = _read_yaml(Path(path), "feeds file", allow_list=True)
    # A bare list of {url, name} entries is accepted as well as a feeds: key.
    feeds = data if isinstance(data, list) else data.get("feeds")
    if not isinstance(feeds, list):
        raise ConfigError(f"feeds file {path}: feeds: expected a list of {{url, name}} entries")
    return feeds


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    feeds_path: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Defaults, then the config file, then --feeds, then explicit overrides."""
    data = defaults()
    source = "defaults"
    if config_path is not None:
        source = f"config file {config_path}"
        data = _merge(data, _check_sections(_read_yaml(Path(config_path), "config file"), data, source))
    if feeds_path is not None:
        data["feeds"] = load_feeds_file(feeds_path)
        source = f"{source} / feeds file {feeds_path}"
    if overrides:
        data = _merge(data, overrides)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source, _dotted(overrides or {}))) from None
