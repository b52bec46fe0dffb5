"""Kibana saved objects: the shipped data views, saved searches,
visualizations and dashboard, and their import.

``config/kibana/newsbeam.ndjson`` is in Kibana 8.x's saved-objects export
format (one object per line: ``type``, ``id``, ``attributes``,
``references``, ``coreMigrationVersion``, ``typeMigrationVersion``):

- data views ``news-articles``, ``news-failures``, ``news-feeds`` (time
  field ``@timestamp``);
- saved searches "Latest stories (one per story)" (the canonical copy of
  each cluster, and articles not clustered yet) and "Failures";
- aggregation-based visualizations: articles over time by source, top
  entities per type (four tables), biggest stories by copies (over the
  one-per-story search), failures by reason and stage, feed health;
- the dashboard "newsbeam overview" with all of them.

``objects_for_prefix`` renames them for another index prefix (data view
titles ``<prefix>-*``, ids suffixed with the prefix, references followed),
so several prefixes can live in one Kibana.  ``import_objects`` posts them
to ``POST /api/saved_objects/_import?overwrite=true`` (multipart ``file``,
header ``kbn-xsrf: true``) with an API key or basic auth, TLS verification
on; its errors never carry credentials.

Example usage::

    result = import_objects("http://localhost:5601", objects_for_prefix(load_objects(), "news"))
    print(result.success_count)
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "KibanaError",
    "ImportResult",
    "import_objects",
    "load_objects",
    "objects_for_prefix",
    "to_ndjson",
]

ASSETS = "newsbeam.ndjson"
DEFAULT_PREFIX = "news"


class KibanaError(Exception):
    """Kibana could not be reached or refused the import (exit 1)."""


@dataclasses.dataclass(frozen=True)
class ImportResult:
    success_count: int
    objects: tuple[tuple[str, str], ...]  # (type, id) imported


def load_objects() -> list[dict[str, Any]]:
    """The shipped saved objects, in file order."""
    text = resources.files("newsbeam.config").joinpath("kibana", ASSETS).read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def objects_for_prefix(objects: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """The objects for indices named ``<prefix>-*`` (pure; the input is not changed)."""
    if prefix == DEFAULT_PREFIX:
        return copy.deepcopy(objects)
    ids = {obj["id"] for obj in objects}

    def rename(object_id: str) -> str:
        return f"{object_id}-{prefix}" if object_id in ids else object_id

    renamed = []
    for obj in copy.deepcopy(objects):
        obj["id"] = rename(obj["id"])
        for ref in obj.get("references", []):
            ref["id"] = rename(ref["id"])
        attributes = obj.get("attributes", {})
        if obj["type"] == "index-pattern" and attributes.get("title", "").startswith(f"{DEFAULT_PREFIX}-"):
            attributes["title"] = prefix + attributes["title"][len(DEFAULT_PREFIX) :]
            attributes["name"] = f"{attributes.get('name', attributes['title'])} ({prefix})"
        elif "title" in attributes:
            attributes["title"] = f"{attributes['title']} ({prefix})"
        renamed.append(obj)
    return renamed


def to_ndjson(objects: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n" for obj in objects).encode(
        "utf-8"
    )


def _import_url(kibana_url: str, space: str | None) -> str:
    bad = ValueError(f"--kibana-url: expected an http:// or https:// URL, got {_clean(kibana_url)!r}")
    try:
        parts = urlsplit(kibana_url)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number or out of range
    except ValueError:  # "http://[::1", "http://kibana:99999"
        raise bad from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad
    if space is not None and not re.fullmatch(r"[a-z0-9_-]+", space):
        # Kibana's space ids; anything else would change the request's path ("a/../b").
        raise ValueError(f"--space: expected a Kibana space id (a-z, 0-9, _ and -), got {space!r}")
    # The host as written (an IPv6 address keeps its brackets), without user info.
    base = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" + parts.path.rstrip("/")
    if space:
        base += f"/s/{space}"
    return f"{base}/api/saved_objects/_import?overwrite=true"


def _clean(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.rpartition("@")[2] if "@" in url else url
    if "@" not in parts.netloc:
        return url
    return url.replace(parts.netloc, parts.netloc.rpartition("@")[2], 1)


def _describe_errors(errors: list[dict[str, Any]]) -> str:
    shown = []
    for err in errors[:10]:
        error = err.get("error") or {}
        what = error.get("type") or "error"
        if error.get("message"):
            what = f"{what}: {error['message']}"
        if error.get("references"):
            missing = ", ".join(f"{r.get('type')}/{r.get('id')}" for r in error["references"])
            what = f"{what} (missing {missing})"
        shown.append(f"{err.get('type')}/{err.get('id')}: {what}")
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return "; ".join(shown) + more


def import_objects(
    kibana_url: str,
    objects: list[dict[str, Any]],
    *,
    api_key: str | None = None,
    username: str | None = None,
    password: str | None = None,
    ca_certs: str | None = None,
    space: str | None = None,
    timeout: float = 60,
    session=None,
) -> ImportResult:
    """Import ``objects`` with ``overwrite=true``; ``KibanaError`` when Kibana
    cannot be reached, refuses the request or reports an object as failed;
    ``ValueError`` for a malformed URL."""
    import requests

    url = _import_url(kibana_url, space)
    if ca_certs is not None and not os.path.isfile(ca_certs):  # else an unexpected OSError from requests
        raise ValueError(
            f"KIBANA_CA_CERTS: expected the path of a CA certificates file (PEM), got {ca_certs!r}"
        )
    where = _clean(kibana_url)
    parts = urlsplit(kibana_url)
    headers = {"kbn-xsrf": "true"}
    auth = None
    if api_key:
        headers["Authorization"] = f"ApiKey {api_key}"
    elif username:
        auth = (username, password or "")
    elif parts.username:
        from urllib.parse import unquote

        auth = (unquote(parts.username), unquote(parts.password or ""))
    files = {"file": (ASSETS, to_ndjson(objects), "application/ndjson")}
    http = session or requests.Session()
    try:
        response = http.post(
            url, headers=headers, files=files, auth=auth, timeout=timeout, verify=ca_certs or True
        )
    except requests.exceptions.SSLError:
        raise KibanaError(
            f"TLS verification failed for Kibana at {where} (set KIBANA_CA_CERTS to its CA bundle)"
        ) from None
    except requests.exceptions.RequestException as exc:
        raise KibanaError(f"cannot reach Kibana at {where}: {type(exc).__name__}") from None
    finally:
        if session is None:
            http.close()
    if response.status_code in (401, 403):
        raise KibanaError(
            f"Kibana at {where} refused the import (HTTP {response.status_code}): check KIBANA_API_KEY "
            "or KIBANA_USERNAME/KIBANA_PASSWORD and the user's saved-objects privileges"
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        message = body.get("message") if isinstance(body, dict) else None
        raise KibanaError(
            f"Kibana at {where} answered HTTP {response.status_code} to the import"
            + (f": {message}" if message else "")
            + (" (is this a Kibana URL?)" if body is None else "")
        )
    if not body.get("success", False):
        errors = body.get("errors") or []
        raise KibanaError(
            f"Kibana at {where} imported {body.get('successCount', 0)} of {len(objects)} objects; "
            f"failed: {_describe_errors(errors) or 'no details given'}"
        )
    results = tuple((r.get("type"), r.get("id")) for r in body.get("successResults") or [])
    return ImportResult(success_count=int(body.get("successCount", len(results))), objects=results)
