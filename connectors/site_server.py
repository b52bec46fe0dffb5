"""A local HTTP server for a static news site (the demo site, test fixtures).

Serves the files of a directory on ``127.0.0.1`` at a free port, in a
background thread.  In ``.xml``, ``.html`` and ``.yaml`` files the text
``{{BASE_URL}}`` becomes the server's own base URL, so fixtures can carry
absolute links.  ``_redirects.json`` (``{"/old": "/new"}``) answers 301s.
With ``etags=True`` every response carries an ``ETag`` and a request whose
``If-None-Match`` matches it gets ``304 Not Modified``.
Feeds are served as ``application/rss+xml`` or ``application/atom+xml``
according to their root element, like a real site.

Example usage::

    with SiteServer(demo_site_dir()) as site:
        print(site.base_url)   # http://127.0.0.1:PORT
"""

from __future__ import annotations

import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["SiteServer", "demo_site_dir"]

PLACEHOLDER = "{{BASE_URL}}"
_TEXT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".yaml": "text/yaml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}


def demo_site_dir() -> Path:
    """The demo news site shipped with newsbeam."""
    return Path(str(resources.files("newsbeam.config").joinpath("demo_site")))


def _xml_type(body: bytes) -> str:
    head = body[:2048].lower()
    if b"<feed" in head:
        return "application/atom+xml; charset=utf-8"
    if b"<rss" in head or b"<rdf:rdf" in head:
        return "application/rss+xml; charset=utf-8"
    return "application/xml; charset=utf-8"


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args, site: SiteServer, **kwargs):
        self.site = site
        super().__init__(*args, directory=str(site.root), **kwargs)

    def log_message(self, format, *args):
        pass  # quiet; do_GET records every request once

    def do_GET(self):
        path = unquote(urlsplit(self.path).path)
        target = self.site.redirects.get(path)
        if target:
            self.site.requests.append(self.path)
            self.send_response(301)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        file = (self.site.root / path.lstrip("/")).resolve()
        if path.endswith("/"):
            file = file / "index.html"
        if not file.is_file() or self.site.root not in file.parents or file.name.startswith("_"):
            self.site.requests.append(self.path)
            self.send_error(404, "Not Found")
            return
        body = file.read_bytes()
        suffix = file.suffix.lower()
        if suffix in (".xml", ".html", ".yaml"):
            body = body.replace(PLACEHOLDER.encode(), self.site.base_url.encode())
        etag = None
        if self.site.etags:
            import hashlib

            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.site.requests.append(self.path)
                self.site.not_modified.append(self.path)
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
        ctype = _xml_type(body) if suffix == ".xml" else _TEXT_TYPES.get(suffix, "application/octet-stream")
        self.site.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)


class SiteServer:
    def __init__(self, root: str | Path, port: int = 0, etags: bool = False):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"site directory {self.root} does not exist")
        redirects = self.root / "_redirects.json"
        self.redirects: dict[str, str] = json.loads(redirects.read_text()) if redirects.exists() else {}
        self.requests: list[str] = []
        self.etags = etags  # send ETags and answer If-None-Match with 304, like a polite server
        self.not_modified: list[str] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), partial(_Handler, site=self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def substitute(self, text: str) -> str:
        return text.replace(PLACEHOLDER, self.base_url)

    def start(self) -> SiteServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="site-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
