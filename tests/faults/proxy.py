"""A fault-injecting HTTP proxy in front of a real Elasticsearch-API server.

``FaultProxy(upstream_url)`` listens on a free loopback port and forwards
every request to the upstream server, except when a scripted fault matches:

- ``WholeRequest(status, times, retry_after=None)``: answer the matching
  request itself with ``status`` (nothing reaches the server);
- ``ItemStatus(status, ids, times)``: forward the bulk request *without*
  the actions whose ``_id`` is in ``ids`` and splice ``status`` items for
  them into the server's answer at their positions, as Elasticsearch does
  when it rejects single items (the server never sees those documents);
- ``ResetAfterForward(times)``: forward the request (the server applies
  it) and then reset the client's connection without an answer: a
  connection lost in the middle of a bulk request;
- ``Hook(callback, times, body=b"")``: call ``callback()`` before
  forwarding (e.g. stop the server), for requests whose body contains
  ``body``;
- ``Outage(status, seconds, path="")``: answer every matching request
  (default: every request) with ``status`` for ``seconds`` from when it is
  added, however many there are: a cluster down for a while;
- ``Stall(seconds, path="")``: hold every matching request (default: every request) without
  an answer for ``seconds`` from when it is added, then reset its connection: a cluster that
  hangs (stopped with SIGSTOP, a network that drops packets), where the client waits out its
  timeouts;
- ``ContentLimit(max_bytes)``: answer every matching request whose body is
  longer than ``max_bytes`` with 413 and no body, as Elasticsearch does over
  its ``http.max_content_length`` (100 MB by default; the embedded server
  has no such limit);

Faults apply to requests whose path contains ``path`` (default ``_bulk``)
and are used up in the order they were added.  When the upstream cannot be
reached the client's connection is reset, as a stopped server would do.
Every request is recorded in ``requests`` as ``(method, path, headers)``.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

__all__ = [
    "ContentLimit",
    "FaultProxy",
    "Hook",
    "ItemStatus",
    "Outage",
    "ResetAfterForward",
    "Stall",
    "WholeRequest",
]

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclasses.dataclass
class WholeRequest:
    status: int
    times: int = 1
    retry_after: str | None = None
    path: str = "_bulk"


@dataclasses.dataclass
class ItemStatus:
    status: int
    ids: frozenset[str]
    times: int = 1
    path: str = "_bulk"


@dataclasses.dataclass
class ResetAfterForward:
    times: int = 1
    path: str = "_bulk"


@dataclasses.dataclass
class Hook:
    callback: Callable[[], None]
    times: int = 1
    path: str = "_bulk"
    body: bytes = b""  # only requests whose body contains this


@dataclasses.dataclass
class Outage:
    status: int = 503
    seconds: float = 60.0
    path: str = ""
    until: float = 0.0  # set when added (monotonic clock)
    answered: int = 0  # requests answered with ``status``

    @property
    def active(self) -> bool:
        return time.monotonic() < self.until


@dataclasses.dataclass
class Stall:
    seconds: float = 60.0
    path: str = ""
    until: float = 0.0  # set when added (monotonic clock)

    @property
    def active(self) -> bool:
        return time.monotonic() < self.until


@dataclasses.dataclass
class ContentLimit:
    max_bytes: int
    path: str = "_bulk"
    answered: int = 0  # requests answered 413


def _split_bulk(body: bytes) -> list[tuple[dict, list[bytes]]]:
    """Bulk NDJSON → [(header, [raw lines of the action])]."""
    lines = [line for line in body.split(b"\n") if line.strip()]
    actions, i = [], 0
    while i < len(lines):
        header = json.loads(lines[i])
        op = next(iter(header))
        n = 1 if op == "delete" else 2
        actions.append((header, lines[i : i + n]))
        i += n
    return actions


class FaultProxy:
    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.faults: list = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items()}
                with proxy.lock:
                    proxy.requests.append((self.command, self.path, headers))
                    fault = proxy._take(self.path, body)
                if isinstance(fault, Hook):
                    fault.callback()
                    fault = None
                if isinstance(fault, Stall):
                    time.sleep(max(0.0, fault.until - time.monotonic()))
                    return self._reset()
                if isinstance(fault, ContentLimit):
                    return self._answer(413, b"", {"Content-Type": "text/plain"})
                if isinstance(fault, WholeRequest):
                    payload = json.dumps(
                        {"error": {"type": "fault_injected", "reason": "injected"}, "status": fault.status}
                    ).encode()
                    extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                    return self._answer(fault.status, payload, extra)
                rejected: list[tuple[int, dict]] = []
                if isinstance(fault, ItemStatus):
                    kept = []
                    for pos, (header, raw) in enumerate(_split_bulk(body)):
                        meta = next(iter(header.values()))
                        if meta.get("_id") in fault.ids:
                            rejected.append((pos, header))
                        else:
                            kept.extend(raw)
                    body = b"\n".join(kept) + b"\n" if kept else b""
                    if not kept:
                        empty = json.dumps({"took": 0, "errors": False, "items": []}).encode()
                        return self._answer(200, self._splice(empty, rejected, fault.status), {})
                try:
                    status, reply_headers, payload = proxy._forward(self.command, self.path, headers, body)
                except OSError:
                    return self._reset()
                if isinstance(fault, ResetAfterForward):
                    return self._reset()
                if rejected:
                    payload = self._splice(payload, rejected, fault.status)
                return self._answer(status, payload, {"Content-Type": reply_headers.get("Content-Type", "")})

            def _splice(self, payload: bytes, rejected, status: int) -> bytes:
                answer = json.loads(payload) if payload else {"took": 0, "errors": False, "items": []}
                items = list(answer.get("items", []))
                for pos, header in rejected:
                    op, meta = next(iter(header.items()))
                    item = {
                        op: {
                            "_index": meta.get("_index"),
                            "_id": meta.get("_id"),
                            "status": status,
                            "error": {"type": "es_rejected_execution_exception", "reason": "injected"},
                        }
                    }
                    items.insert(pos, item)
                answer["items"] = items
                answer["errors"] = True
                return json.dumps(answer).encode()

            def _answer(self, status: int, payload: bytes, extra: dict[str, str]):
                self.send_response(status)
                self.send_header("Content-Type", extra.pop("Content-Type", "") or "application/json")
                self.send_header("X-Elastic-Product", "Elasticsearch")
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _reset(self):
                # SO_LINGER 0: close with RST, the client sees "connection reset".
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, fault) -> FaultProxy:
        with self.lock:
            if isinstance(fault, (Outage, Stall)):
                fault.until = time.monotonic() + fault.seconds
            self.faults.append(fault)
        return self

    def _take(self, path: str, body: bytes):
        for fault in self.faults:
            if isinstance(fault, Outage):
                if fault.path in path and fault.active:
                    fault.answered += 1
                    return WholeRequest(fault.status)
                continue
            if isinstance(fault, Stall):
                if fault.path in path and fault.active:
                    return fault
                continue
            if isinstance(fault, ContentLimit):
                if fault.path in path and len(body) > fault.max_bytes:
                    fault.answered += 1
                    return fault
                continue
            if fault.path in path and fault.times > 0 and getattr(fault, "body", b"") in body:
                fault.times -= 1
                return fault
        return None

    def bulk_requests(self) -> int:
        return sum(1 for _m, path, _h in self.requests if "_bulk" in path)

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes):
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=30)
        try:
            send = {k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS}
            if body or method in ("POST", "PUT"):
                send["Content-Length"] = str(len(body))
            conn.request(method, path, body=body or None, headers=send)
            response = conn.getresponse()
            payload = response.read()
            return response.status, dict(response.getheaders()), payload
        finally:
            conn.close()

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
