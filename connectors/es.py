"""Elasticsearch connection and index setup.

``connect`` builds the official client from ``ElasticsearchSettings``: API
key or basic auth, a private CA (``ca_certs``), ``cloud_id``; TLS
verification always on.  ``describe`` names a cluster for messages without
credentials.  ``setup_indices`` installs the index templates shipped in
``config/templates/`` (each carries ``_meta.version``) and creates the first
index behind each alias; it is idempotent and runs before a pipeline is
built, never from inside a transform.

Example usage::

    client = connect(settings.elasticsearch)
    setup_indices(client, settings.elasticsearch.index_prefix)
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from newsbeam.config.settings import ElasticsearchSettings

__all__ = [
    "TEMPLATE_KINDS",
    "EsUnavailable",
    "connect",
    "describe",
    "ping",
    "setup_indices",
]

_LOG = logging.getLogger(__name__)
TEMPLATE_KINDS = ("articles", "failures", "feeds")


class EsUnavailable(Exception):
    """Elasticsearch could not be reached or refused the request."""


def describe(settings: ElasticsearchSettings) -> str:
    """The cluster's address for messages: URL without user info, or the cloud id's name."""
    if settings.cloud_id:
        return f"cloud id {settings.cloud_id.split(':', 1)[0]}"
    url = settings.url or ""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")) or url


def connect(settings: ElasticsearchSettings, **extra: Any):
    """A client for the configured cluster (no request is made here)."""
    from elasticsearch import Elasticsearch

    kwargs: dict[str, Any] = {
        "request_timeout": settings.request_timeout,
        "retry_on_timeout": True,
        "max_retries": 2,
    }
    if settings.cloud_id:
        kwargs["cloud_id"] = settings.cloud_id
    else:
        kwargs["hosts"] = [settings.url]
    if settings.api_key:
        kwargs["api_key"] = settings.api_key
    elif settings.username:
        kwargs["basic_auth"] = (settings.username, settings.password or "")
    if settings.ca_certs:
        kwargs["ca_certs"] = settings.ca_certs
    kwargs.update(extra)
    return Elasticsearch(**kwargs)


def ping(client, settings: ElasticsearchSettings) -> dict[str, Any]:
    """The cluster's info, or ``EsUnavailable`` naming the URL (never credentials)."""
    from elasticsearch import ApiError, TransportError

    try:
        return dict(client.info())
    except ApiError as exc:
        raise EsUnavailable(
            f"Elasticsearch at {describe(settings)} answered HTTP {exc.meta.status}: {exc.message}"
        ) from None
    except TransportError as exc:
        raise EsUnavailable(
            f"cannot reach Elasticsearch at {describe(settings)}: {type(exc).__name__}"
        ) from None


def load_template(kind: str) -> dict[str, Any]:
    text = resources.files("newsbeam.config").joinpath("templates", f"{kind}.json").read_text("utf-8")
    return json.loads(text)


def setup_indices(client, prefix: str) -> list[str]:
    """Install templates and create ``<prefix>-<kind>-000001`` behind each
    alias when the alias does not exist yet.  Returns what was changed."""
    from elasticsearch import BadRequestError

    changes = []
    for kind in TEMPLATE_KINDS:
        alias = f"{prefix}-{kind}"
        body = load_template(kind)
        name = f"{alias}-template"
        current = None
        if client.indices.exists_index_template(name=name):
            found = client.indices.get_index_template(name=name)["index_templates"]
            current = found[0]["index_template"].get("_meta", {}).get("version") if found else None
        if current != body["_meta"]["version"]:
            client.indices.put_index_template(
                name=name,
                index_patterns=[f"{alias}-*"],
                template=body["template"],
                priority=body.get("priority", 200),
                meta=body["_meta"],
            )
            changes.append(f"template {name} v{body['_meta']['version']}")
        if not client.indices.exists_alias(name=alias):
            if client.indices.exists(index=alias):
                raise EsUnavailable(
                    f"index {alias} exists as a concrete index; newsbeam needs {alias} to be an "
                    "alias (delete it or choose another --index-prefix)"
                )
            index = f"{alias}-000001"
            try:
                client.indices.create(index=index, aliases={alias: {"is_write_index": True}})
            except BadRequestError as exc:
                if "already_exists" not in str(exc):
                    raise
            changes.append(f"index {index} with alias {alias}")
    if changes:
        _LOG.info("elasticsearch setup: %s", "; ".join(changes))
    return changes
