"""Elasticsearch connection and index setup.

``connect`` builds the official client (8.x or 9.x) from
``ElasticsearchSettings``: API key or basic auth (also as ``user:pass@`` in
the URL, which is moved out of the URL before the client sees it), a private
CA (``ca_certs``), ``cloud_id``; TLS verification is always on.
``describe`` names a cluster for messages, and ``redact`` removes user
info, passwords and API keys from any text, so no message, log line or
exception text built here carries a secret.

``setup_indices`` installs the templates shipped in ``config/templates/``:
component templates (``<prefix>@settings``: one shard and the english
analyzer; ``<prefix>-<kind>@mappings``: the fields of the document
contract) and one composable index template per kind
(``<prefix>-<kind>-template`` for ``<prefix>-<kind>-*``), each with
``_meta.version``.  A template is (re)installed when it is missing or the
shipped version is newer; a newer installed version is left alone.  Every
index made from a mappings template carries its version in the mappings'
``_meta`` (``{"managed_by": "newsbeam", "version": N}``); an index behind an
existing alias whose stamp is older (or missing) gets the new fields in place
(``PUT _mapping``, which also moves the stamp), decided per index at every
setup, not only by the setup that upgraded the template.  A change the write
index cannot take raises ``EsSetupError`` telling to roll the alias over (at
every setup until it is done); an older index that cannot take it keeps its
mappings, with a warning.
Then ``<prefix>-<kind>-000001`` is created with the alias (write index)
when the alias does not exist.  Idempotent; it runs before a pipeline is
built, never from inside a transform.

Example usage::

    client = connect(settings.elasticsearch)
    setup_indices(client, settings.elasticsearch.index_prefix)
"""

from __future__ import annotations

import json
import logging
import re
from importlib import resources
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from newsbeam.config.settings import ElasticsearchSettings

__all__ = [
    "TEMPLATE_KINDS",
    "EsSetupError",
    "ES_ERRORS",
    "EsUnavailable",
    "refused",
    "connect",
    "count_es_error",
    "describe",
    "load_template",
    "ping",
    "redact",
    "setup_indices",
    "what_failed",
]

_LOG = logging.getLogger(__name__)
TEMPLATE_KINDS = ("articles", "failures", "feeds", "runs")
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


class EsUnavailable(Exception):
    """Elasticsearch could not be reached or refused the request."""


#: Counter namespace of the requests a transform could not get answered
#: (``<operation>:http_<status>`` or ``<operation>:<transport error>``),
#: read by pipeline/run.py to say why a run failed.
ES_ERRORS = "news.es_errors"


def count_es_error(operation: str, exc: Exception) -> str:
    """Count a failed request (``ApiError`` or ``TransportError``) of
    ``operation`` (``bulk``, ``lookup``, ...) in ``news.es_errors``; returns
    what failed, for a log line (``HTTP 503`` or the transport error's name)."""
    import apache_beam as beam

    status = getattr(getattr(exc, "meta", None), "status", None)
    kind = f"http_{status}" if isinstance(status, int) and status else type(exc).__name__
    beam.metrics.Metrics.counter(ES_ERRORS, f"{operation}:{kind}").inc()
    return what_failed(exc)


def what_failed(exc: BaseException) -> str:
    """What a failed request met, for a log line or a record: ``HTTP 503`` (an ``ApiError``) or
    the error's name (``ConnectionError``), not its text, a page of nested connection errors."""
    status = getattr(getattr(exc, "meta", None), "status", None)
    return f"HTTP {status}" if isinstance(status, int) and status else type(exc).__name__


class EsSetupError(EsUnavailable):
    """Templates or indices could not be installed as shipped."""


def redact(text: str, settings: ElasticsearchSettings | None = None) -> str:
    """``text`` without URL user info and without the settings' secrets."""
    text = _USERINFO.sub(r"\g<scheme>", str(text))
    if settings is not None:
        secrets = [settings.api_key, settings.password]
        parts = urlsplit(settings.url or "")
        if parts.password:
            secrets += [parts.password, unquote(parts.password)]
        for secret in sorted(filter(None, secrets), key=len, reverse=True):
            if len(secret) >= 3:
                text = text.replace(secret, "***")
    return text


def describe(settings: ElasticsearchSettings) -> str:
    """The cluster's address for messages: URL without user info, or the cloud id's name."""
    if settings.cloud_id:
        return f"cloud id {settings.cloud_id.split(':', 1)[0]}"
    url = settings.url or ""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 literal keeps its brackets (http://::1:9200 names no server)
        netloc = f"[{netloc}]"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")) or redact(url)


def _split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, (unquote(parts.username), unquote(parts.password or ""))


def connect(settings: ElasticsearchSettings, **extra: Any):
    """A client for the configured cluster (no request is made here).

    Works with the 8.x and 9.x clients; the client's major version must be
    one the server accepts (a 9.x client asks for ``compatible-with=9``,
    which Elasticsearch 8 refuses and Elasticsearch 9 and the embedded
    server accept).
    """
    from elasticsearch import Elasticsearch

    kwargs: dict[str, Any] = {
        "request_timeout": settings.request_timeout,
        "retry_on_timeout": True,
        "max_retries": 2,
        "verify_certs": True,
    }
    url_auth = None
    if settings.cloud_id:
        kwargs["cloud_id"] = settings.cloud_id
    else:
        url, url_auth = _split_userinfo(settings.url or "")
        kwargs["hosts"] = [url]
    if settings.api_key:
        kwargs["api_key"] = settings.api_key
    elif settings.username:
        kwargs["basic_auth"] = (settings.username, settings.password or "")
    elif url_auth:
        kwargs["basic_auth"] = url_auth
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
        if _not_elasticsearch(exc):
            raise EsUnavailable(_not_elasticsearch(exc, settings)) from None
        raise EsUnavailable(
            f"Elasticsearch at {describe(settings)} answered HTTP {exc.meta.status}: "
            f"{redact(exc.message, settings)}"
        ) from None
    except TransportError as exc:
        raise EsUnavailable(
            f"cannot reach Elasticsearch at {describe(settings)}: {type(exc).__name__}"
        ) from None


def _not_elasticsearch(exc: Exception, settings: ElasticsearchSettings | None = None) -> str:
    """'' unless the client refused the answer because the server is not Elasticsearch (no
    ``X-Elastic-Product`` header: another service on that port, a proxy's page); then the message,
    instead of 'answered HTTP 200: The client noticed that the server is not Elasticsearch and we
    do not support this unknown product'."""
    from elasticsearch import UnsupportedProductError

    if not isinstance(exc, UnsupportedProductError):
        return ""
    where = describe(settings) if settings is not None else "that address"
    return (
        f"the server at {where} answers, but it is not Elasticsearch (its answer lacks the "
        "X-Elastic-Product header that Elasticsearch and the embedded server send): check the URL "
        "and port (--es-url, ES_URL, elasticsearch.url)"
    )


def refused(exc: Exception, settings: ElasticsearchSettings, what: str) -> EsUnavailable:
    """``EsUnavailable`` naming the cluster, the request and Elasticsearch's own reason, for an
    error of the client (``ApiError``, ``TransportError``) outside a pipeline: an API key without
    the privilege to install templates was an 'unexpected error: AuthorizationException(403,
    'security_exception')' naming neither."""
    if _not_elasticsearch(exc):
        return EsUnavailable(_not_elasticsearch(exc, settings))
    where = f"Elasticsearch at {describe(settings)}"
    status = getattr(getattr(exc, "meta", None), "status", None)
    if not isinstance(status, int):  # a transport error: nothing answered
        return EsUnavailable(f"cannot reach {where} ({type(exc).__name__} on {what})")
    body = getattr(exc, "body", None)
    error = body.get("error") if isinstance(body, dict) else None
    reason = error.get("reason") or error.get("type") if isinstance(error, dict) else None
    reason = reason or getattr(exc, "message", None) or type(exc).__name__
    hint = " (the API key or user lacks a privilege for it)" if status in (401, 403) else ""
    return EsUnavailable(f"{where} refused {what}{hint}: HTTP {status}, {redact(str(reason), settings)}")


def load_template(name: str) -> dict[str, Any]:
    """A shipped template: ``articles`` (index template) or ``component-articles``."""
    text = resources.files("newsbeam.config").joinpath("templates", f"{name}.json").read_text("utf-8")
    return json.loads(text)


def _component_name(prefix: str, part: str) -> str:
    return f"{prefix}@settings" if part == "settings" else f"{prefix}-{part}@mappings"


def _installed_version(found: list[dict[str, Any]], key: str) -> int | None:
    if not found:
        return None
    version = found[0][key].get("_meta", {}).get("version")
    return int(version) if isinstance(version, int) else None


def _needs_install(name: str, installed: int | None, shipped: int) -> bool:
    if installed is None or installed < shipped:
        return True
    if installed > shipped:
        _LOG.warning("%s has version %d, newer than this newsbeam's %d: left as is", name, installed, shipped)
    return False


def setup_indices(client, prefix: str) -> list[str]:
    """Install templates and create ``<prefix>-<kind>-000001`` behind each
    alias when the alias does not exist yet; bring the mappings of the
    indices behind an existing alias up to this newsbeam's (see
    ``_upgrade_indices``).  Returns what was changed."""
    from elasticsearch import BadRequestError, NotFoundError

    changes: list[str] = []
    owned: dict[str, int] = {}  # kind -> shipped mappings version, when this newsbeam's templates rule
    for part in ["settings", *TEMPLATE_KINDS]:
        body = load_template(f"component-{part}")
        name = _component_name(prefix, part)
        try:
            found = client.cluster.get_component_template(name=name)["component_templates"]
        except NotFoundError:
            found = []
        installed = _installed_version(found, "component_template")
        shipped = body["_meta"]["version"]
        if _needs_install(name, installed, shipped):
            template = dict(body["template"])
            if part != "settings":
                template["mappings"] = _stamped(template["mappings"], shipped)
            client.cluster.put_component_template(name=name, template=template, meta=body["_meta"])
            changes.append(f"component template {name} v{shipped}")
        if part != "settings" and (installed is None or installed <= shipped):
            owned[part] = shipped
    for kind in TEMPLATE_KINDS:
        alias = f"{prefix}-{kind}"
        body = load_template(kind)
        name = f"{alias}-template"
        try:
            found = client.indices.get_index_template(name=name)["index_templates"]
        except NotFoundError:
            found = []
        installed = _installed_version(found, "index_template")
        if _needs_install(name, installed, body["_meta"]["version"]):
            client.indices.put_index_template(
                name=name,
                index_patterns=[f"{alias}-*"],
                composed_of=[_component_name(prefix, part) for part in body["composed_of"]],
                template=body.get("template") or {},
                priority=body.get("priority", 200),
                meta=body["_meta"],
            )
            changes.append(f"index template {name} v{body['_meta']['version']}")
        if client.indices.exists_alias(name=alias):
            if kind in owned:
                changes += _upgrade_indices(client, alias, kind, owned[kind])
                _warn_old_analysis(client, alias, kind)
            continue
        if client.indices.exists(index=alias):
            raise EsSetupError(
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


def _stamped(mappings: dict[str, Any], version: int) -> dict[str, Any]:
    """``mappings`` with the ``_meta`` that records, in every index made from
    them, which version of this newsbeam's mappings the index has."""
    return {**mappings, "_meta": {"managed_by": "newsbeam", "version": version}}


def _index_versions(client, alias: str) -> dict[str, int | None]:
    """The mappings version (``_meta.version``) of each index behind ``alias``;
    ``None`` for an index made before indices were stamped, or by hand."""
    found = client.indices.get_mapping(index=alias)
    versions = {}
    for index, body in dict(found).items():
        meta = (body.get("mappings") or {}).get("_meta") or {}
        version = meta.get("version") if meta.get("managed_by") == "newsbeam" else None
        versions[index] = version if isinstance(version, int) else None
    return versions


def _upgrade_indices(client, alias: str, kind: str, shipped: int) -> list[str]:
    """Add this newsbeam's fields of ``kind`` to the indices behind ``alias``
    whose stamped mappings version is older (or missing).

    Decided per index from its own stamp, not from whether this call upgraded
    the template: a template installed by an earlier setup whose
    ``PUT _mapping`` was refused (a field whose type changed) must not let
    the next setup pass in silence over an index that never got the new
    mappings.  An index stamped with a newer version is left alone."""
    stale = sorted(index for index, version in _index_versions(client, alias).items()
                   if version is None or version < shipped)  # fmt: skip
    if not stale:
        return []
    mappings = _stamped(load_template(f"component-{kind}")["template"]["mappings"], shipped)
    return _apply_mappings(client, alias, mappings, stale)


def _normalized(value: Any) -> Any:
    """Settings as Elasticsearch returns them: every scalar a string."""
    if isinstance(value, dict):
        return {key: _normalized(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalized(item) for item in value]
    return str(value).lower() if isinstance(value, bool) else str(value)


def _uses_analyzers(mappings: Any) -> bool:
    if isinstance(mappings, dict):
        return "analyzer" in mappings or any(_uses_analyzers(value) for value in mappings.values())
    return isinstance(mappings, list) and any(_uses_analyzers(value) for value in mappings)


def _warn_old_analysis(client, alias: str, kind: str) -> None:
    """Warn when the write index behind ``alias`` analyses text otherwise than this newsbeam's
    settings (``<prefix>@settings``: the analyzers of ``title`` and ``body``).  Analysis settings
    cannot change on an existing index, so an upgrade that changes them reaches only indices
    created after it: the template was upgraded and nothing said that new articles still went
    into the old analysis.  Older indices behind the alias are left in peace (reindexing them is
    the operator's choice); only the write index is checked, at every setup until it is rolled
    over."""
    if not _uses_analyzers(load_template(f"component-{kind}")["template"]["mappings"]):
        return
    shipped = load_template("component-settings")["template"]["settings"].get("analysis") or {}
    write = _write_index(client, alias)
    if write is None:
        return
    found = dict(client.indices.get_settings(index=write)).get(write) or {}
    current = ((found.get("settings") or {}).get("index") or {}).get("analysis") or {}
    if _normalized(current) == _normalized(shipped):
        return
    _LOG.warning(
        "%s (the write index of %s) was created with other text analysis than this newsbeam's "
        "(the analyzers of title and body in %s@settings); an existing index cannot change it, "
        "so new articles are analysed the old way until the alias is rolled over: POST /%s/_rollover "
        "(the next index gets the new analysis; the articles already in %s keep the old one unless "
        "reindexed into the alias)",
        write,
        alias,
        alias[: -len(f"-{kind}")],
        alias,
        write,
    )


def _write_index(client, alias: str) -> str | None:
    found = dict(client.indices.get_alias(name=alias))
    if len(found) == 1:
        return next(iter(found))
    for index, info in found.items():
        if (info.get("aliases") or {}).get(alias, {}).get("is_write_index"):
            return index
    return None


def _apply_mappings(client, alias: str, mappings: dict[str, Any], indices: list[str]) -> list[str]:
    """Add upgraded fields to ``indices`` (behind ``alias``); the stamp
    (``_meta``) goes with them, so a refused change leaves the old stamp.

    The write index refusing raises ``EsSetupError`` (every setup, until the
    alias is rolled over); an older index refusing is left with its mappings
    and a warning: it still serves its documents, and after a rollover it is
    where the refusal is expected to stay (reindexing it is the way out)."""
    from elasticsearch import BadRequestError

    changes = []
    write = _write_index(client, alias)
    for index in indices:
        try:
            client.indices.put_mapping(
                index=index,
                properties=mappings.get("properties", {}),
                dynamic=mappings.get("dynamic"),
                dynamic_templates=mappings.get("dynamic_templates"),
                meta=mappings["_meta"],
            )
        except BadRequestError as exc:
            error = exc.body.get("error") if isinstance(exc.body, dict) else None
            reason = error.get("reason") if isinstance(error, dict) else None
            if index != write:
                _LOG.warning(
                    "%s (behind %s, not its write index) keeps its older mappings: %s; its documents "
                    "are still searched, reindex them into the alias to give them the new mappings",
                    index,
                    alias,
                    reason or exc.message,
                )
                continue
            raise EsSetupError(
                f"the new mappings of {alias} cannot be applied to {index} in place "
                f"({reason or exc.message}); roll the alias over (POST /{alias}/_rollover) so a new index "
                "gets them, then run newsbeam es setup again"
            ) from None
        changes.append(f"mappings of {index} upgraded")
    return changes
