"""A loopback HTTP server answering a fixed table of routes, for transform tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# path -> (status, headers, body); unknown paths answer 404.
Routes = Mapping[str, tuple[int, Mapping[str, str], bytes]]


@contextmanager
def serve_routes(routes: Routes, requests: list[str] | None = None) -> Iterator[str]:
    """Serve ``routes`` on 127.0.0.1 at a free port; yields the base URL.  ``requests``, when
    given, gets the path of every request."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

        def do_GET(self):
            if requests is not None:
                requests.append(self.path)
            status, headers, body = routes.get(self.path, (404, {"Content-Type": "text/plain"}, b"not found"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
