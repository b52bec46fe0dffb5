"""Kibana assets: the NDJSON's structure (types, ids, references, fields
that exist in the shipped mappings) and ``newsbeam kibana import`` against
a local HTTP server that records the request.  (Kibana itself cannot run
in CI; see the README's "Kibana" section for what was verified how.)"""

from __future__ import annotations

import email.parser
import email.policy
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from newsbeam.connectors.embedded import free_port
from newsbeam.connectors.es import load_template
from newsbeam.connectors.kibana import load_objects, objects_for_prefix, to_ndjson
from newsbeam.pipeline.cli import main

TYPES = {"index-pattern", "search", "visualization", "dashboard"}


def _fields(mappings: dict, base: str = "") -> set[str]:
    found = set()
    for name, spec in mappings.get("properties", {}).items():
        path = f"{base}{name}"
        if "properties" in spec:
            found |= _fields(spec, f"{path}.")
        else:
            found.add(path)
        for sub in spec.get("fields", {}):
            found.add(f"{path}.{sub}")
    return found


def _mapped_fields(index_title: str) -> set[str]:
    kind = index_title.split("-", 1)[1]
    return _fields(load_template(f"component-{kind}")["template"]["mappings"])


def test_ndjson_is_one_saved_object_per_line_with_unique_ids():
    objects = load_objects()
    assert {obj["type"] for obj in objects} == TYPES
    keys = [(obj["type"], obj["id"]) for obj in objects]
    assert len(keys) == len(set(keys))
    for obj in objects:
        assert set(obj) >= {"type", "id", "attributes", "references", "coreMigrationVersion"}
        assert obj["attributes"]["title"]
    titles = {obj["attributes"]["title"] for obj in objects}
    assert {"news-articles", "news-failures", "news-feeds"} <= titles
    assert {"Latest stories (one per story)", "Failures", "newsbeam overview"} <= titles


def test_every_reference_resolves_and_every_field_is_mapped():
    objects = load_objects()
    by_key = {(obj["type"], obj["id"]): obj for obj in objects}
    data_views = {obj["id"]: obj["attributes"]["title"] for obj in objects if obj["type"] == "index-pattern"}
    for obj in objects:
        names = [ref["name"] for ref in obj["references"]]
        assert len(names) == len(set(names)), obj["id"]
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in by_key, (obj["id"], ref)
        attributes = obj["attributes"]
        source = attributes.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
        if source:
            parsed = json.loads(source)
            if "indexRefName" in parsed:
                assert parsed["indexRefName"] in names
        index_ref = next(
            (
                r["id"]
                for r in obj["references"]
                if r["name"] == "kibanaSavedObjectMeta.searchSourceJSON.index"
            ),
            None,
        )
        if obj["type"] == "search":
            fields = _mapped_fields(data_views[index_ref])
            assert set(attributes["columns"]) <= fields, obj["id"]
            assert all(sort[0] in fields for sort in attributes["sort"])
        if obj["type"] == "visualization":
            if attributes.get("savedSearchRefName"):
                search_id = next(
                    r["id"] for r in obj["references"] if r["name"] == attributes["savedSearchRefName"]
                )
                search = by_key[("search", search_id)]
                index_ref = search["references"][0]["id"]
            fields = _mapped_fields(data_views[index_ref])
            state = json.loads(attributes["visState"])
            assert state["title"] == attributes["title"]
            used = {agg["params"]["field"] for agg in state["aggs"] if "field" in agg["params"]}
            assert used and used <= fields, (obj["id"], used - fields)
        if obj["type"] == "dashboard":
            panels = json.loads(attributes["panelsJSON"])
            assert len(panels) == len(obj["references"])
            for panel in panels:
                ref_name = f"{panel['panelIndex']}:{panel['panelRefName']}"
                ref = next(r for r in obj["references"] if r["name"] == ref_name)
                assert ref["type"] == panel["type"]


def test_dashboard_shows_the_required_panels():
    objects = load_objects()
    titles = {obj["id"]: obj["attributes"]["title"] for obj in objects}
    dashboard = next(obj for obj in objects if obj["type"] == "dashboard")
    shown = {titles[ref["id"]] for ref in dashboard["references"]}
    assert shown == {
        "Articles over time by source",
        "Top people",
        "Top organisations",
        "Top places",
        "Top other entities",
        "Biggest stories by copies",
        "Failures by reason",
        "Feed health",
        "Latest stories (one per story)",
    }


def test_objects_for_another_prefix_rename_ids_titles_and_references():
    original = load_objects()
    renamed = objects_for_prefix(original, "prod")
    assert original == load_objects()  # not changed in place
    ids = {obj["id"] for obj in renamed}
    assert all(obj_id.endswith("-prod") for obj_id in ids)
    for obj in renamed:
        assert all(ref["id"] in ids for ref in obj["references"])
    views = sorted(obj["attributes"]["title"] for obj in renamed if obj["type"] == "index-pattern")
    assert views == ["prod-articles", "prod-failures", "prod-feeds"]
    assert objects_for_prefix(original, "news") == original


class _Recorder:
    """A local HTTP server that records requests and answers a scripted reply."""

    def __init__(self, status=200, reply=None, host="127.0.0.1"):
        self.requests: list[dict] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                recorder.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                payload = json.dumps(recorder.reply).encode()
                self.send_response(recorder.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.status = status
        self.reply = reply
        server_class = ThreadingHTTPServer
        if ":" in host:

            class server_class(ThreadingHTTPServer):
                address_family = socket.AF_INET6

        self.host = host
        self.server = server_class((host, 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def kibana_env(monkeypatch):
    for var in ("KIBANA_URL", "KIBANA_API_KEY", "KIBANA_USERNAME", "KIBANA_PASSWORD", "KIBANA_CA_CERTS"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _success(objects):
    return {
        "success": True,
        "successCount": len(objects),
        "successResults": [{"type": o["type"], "id": o["id"]} for o in objects],
    }


def test_import_posts_multipart_file_with_xsrf_overwrite_and_api_key(kibana_env, capsys):
    objects = load_objects()
    kibana_env.setenv("KIBANA_API_KEY", "a2liYW5hLWtleQ==")
    server = _Recorder(reply=_success(objects))
    try:
        assert main(["kibana", "import", "--kibana-url", server.url + "/"]) == 0
    finally:
        server.close()
    [request] = server.requests
    parts = urlsplit(request["path"])
    assert parts.path == "/api/saved_objects/_import"
    assert parse_qs(parts.query) == {"overwrite": ["true"]}
    assert request["headers"]["kbn-xsrf"] == "true"
    assert request["headers"]["Authorization"] == "ApiKey a2liYW5hLWtleQ=="
    content_type = request["headers"]["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request["body"]
    )
    [part] = list(message.iter_parts())
    assert part.get_param("name", header="content-disposition") == "file"
    assert part.get_filename() == "newsbeam.ndjson"
    assert part.get_content_type() == "application/ndjson"
    assert part.get_payload(decode=True) == to_ndjson(objects)
    assert f"imported {len(objects)} saved objects" in capsys.readouterr().out


def test_import_uses_basic_auth_space_and_prefix(kibana_env):
    import base64

    kibana_env.setenv("KIBANA_USERNAME", "elastic")
    kibana_env.setenv("KIBANA_PASSWORD", "changeme-pw")
    objects = objects_for_prefix(load_objects(), "prod")
    server = _Recorder(reply=_success(objects))
    try:
        argv = ["kibana", "import", "--kibana-url", server.url, "--space", "news", "--index-prefix", "prod"]
        assert main(argv) == 0
    finally:
        server.close()
    [request] = server.requests
    assert request["path"] == "/s/news/api/saved_objects/_import?overwrite=true"
    assert request["headers"]["Authorization"] == "Basic " + base64.b64encode(b"elastic:changeme-pw").decode()
    assert b'"title": "prod-articles"' in request["body"]


def test_import_reports_objects_kibana_rejected(kibana_env, capsys):
    reply = {
        "success": False,
        "successCount": 12,
        "errors": [
            {
                "type": "visualization",
                "id": "newsbeam-vis-feed-health",
                "error": {"type": "missing_references", "references": [{"type": "index-pattern", "id": "x"}]},
            }
        ],
    }
    server = _Recorder(reply=reply)
    try:
        assert main(["kibana", "import", "--kibana-url", server.url]) == 1
    finally:
        server.close()
    err = capsys.readouterr().err
    assert "imported 12 of 14 objects" in err
    assert "visualization/newsbeam-vis-feed-health: missing_references (missing index-pattern/x)" in err


@pytest.mark.parametrize(("status", "needle"), [(401, "HTTP 401"), (403, "HTTP 403"), (500, "HTTP 500")])
def test_import_http_errors_exit_1(status, needle, kibana_env, capsys):
    server = _Recorder(status=status, reply={"message": "nope"})
    try:
        assert main(["kibana", "import", "--kibana-url", server.url]) == 1
    finally:
        server.close()
    assert needle in capsys.readouterr().err


def test_import_unreachable_names_url_without_credentials(kibana_env, capsys):
    port = free_port()
    assert main(["kibana", "import", "--kibana-url", f"http://kb:s3cret-kb@127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach Kibana at http://127.0.0.1:{port}" in err
    assert "s3cret-kb" not in err


def test_a_missing_kibana_ca_bundle_is_a_usage_error(kibana_env, capsys):
    """It was an 'unexpected error: OSError: Could not find a suitable TLS CA certificate bundle'."""
    kibana_env.setenv("KIBANA_CA_CERTS", "/nonexistent/ca.pem")
    assert main(["kibana", "import", "--kibana-url", "https://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "KIBANA_CA_CERTS: expected the path of a CA certificates file" in err and "unexpected" not in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["kibana", "import"], "--kibana-url"),
        (["kibana", "import", "--kibana-url", "ftp://kibana"], "--kibana-url"),
        (["kibana", "import", "--kibana-url", "http://k", "--index-prefix", "Bad Prefix"], "--index-prefix"),
        (["kibana", "import", "--kibana-url", "http://[::1:5601"], "--kibana-url"),
        (["kibana", "import", "--kibana-url", "http://kibana:99999"], "--kibana-url"),
        (["kibana", "import", "--kibana-url", "http://k", "--space", "team/../other"], "--space"),
        (["kibana", "import", "--kibana-url", "http://k", "--space", "Team Space"], "--space"),
    ],
)
def test_import_usage_errors_exit_2(argv, needle, kibana_env, capsys):
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_import_reaches_kibana_at_an_ipv6_address(kibana_env, capsys):
    """``http://[::1]:5601`` was rebuilt without its brackets (``http://::1:5601/...``), which no
    HTTP client can reach."""
    objects = load_objects()
    server = _Recorder(reply=_success(objects), host="::1")
    try:
        assert main(["kibana", "import", "--kibana-url", server.url, "--space", "news-1"]) == 0, (
            capsys.readouterr().err
        )
    finally:
        server.close()
    [request] = server.requests
    assert request["path"] == "/s/news-1/api/saved_objects/_import?overwrite=true"


def test_feed_health_and_failures_views_use_the_fields_of_status():
    from newsbeam.pipeline.status import FAILURE_FIELDS, FEED_HEALTH_FIELDS

    by_id = {obj["id"]: obj for obj in load_objects()}

    def fields(vis_id):
        state = json.loads(by_id[vis_id]["attributes"]["visState"])
        return [agg["params"]["field"] for agg in state["aggs"] if "field" in agg["params"]]

    assert set(fields("newsbeam-vis-feed-health")) == set(FEED_HEALTH_FIELDS)
    # stage, then reason: the order of the failures table of newsbeam status
    assert fields("newsbeam-vis-failures-by-reason") == list(FAILURE_FIELDS)
    assert set(FEED_HEALTH_FIELDS) <= _mapped_fields("news-feeds")
