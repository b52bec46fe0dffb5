"""HttpFetcher against a hostile loopback server.

One ``ThreadingHTTPServer`` on 127.0.0.1 for the module generates the cases
the stored corpus cannot express (see tests/fixtures/feeds/README.md, "What
the corpus does not contain"): huge bodies, a gzip bomb, slow drips,
lying ``Content-Length``, redirect loops and hostile redirect targets,
429/503 flows.  ``sleep`` is injected, so retries never really wait, and
the resolver is injected for the DNS-rebinding cases.
"""

from __future__ import annotations

import collections
import gzip
import socket
import struct
import threading
import time
import tracemalloc
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from newsbeam.connectors.http import (
    FetchError,
    HttpFetcher,
    HttpResponse,
    OffSiteRedirect,
    check_url,
    looks_like_markup,
    origin_of,
    parse_retry_after,
    redirect_target,
    site_of,
)

MB = 1 << 20


def _gzip_bomb(total: int = 1 << 30, chunk: int = MB) -> bytes:
    """``total`` zero bytes as one gzip member of about total/1000 bytes.

    After a full flush the deflate output for the same input is identical, so
    the block for one chunk is computed once and repeated: building the 1 GB
    bomb takes milliseconds instead of seconds of compression.
    """
    zero = bytes(chunk)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    first = compressor.compress(zero) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zero) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush()
    crc = 0
    for _ in range(total // chunk):
        crc = zlib.crc32(zero, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    body = first + block * (total // chunk - 1) + tail
    return header + body + struct.pack("<II", crc, total & 0xFFFFFFFF)


class _Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HostileServer

    def log_message(self, format, *args):
        pass

    def _send(self, status: int, body: bytes = b"", content_type: str = "text/html", **headers):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, total: int, chunk: bytes, interval: float = 0.0) -> None:
        """Write up to ``total`` bytes, counting what the client accepted."""
        sent = 0
        try:
            while sent < total:
                piece = chunk[: total - sent]
                self.wfile.write(piece)
                self.wfile.flush()
                sent += len(piece)
                if interval:
                    time.sleep(interval)
        except OSError:
            pass
        finally:
            self.server.sent[self.path] = sent
            self.server.done[self.path].set()

    def do_GET(self):
        self.server.hits[self.path] += 1
        self.server.host_headers[self.path] = self.headers.get("Host")
        hits = self.server.hits[self.path]
        route = urlsplit(self.path).path
        if route == "/ok":
            self._send(200, "caf\xe9".encode("latin-1"), 'text/html; Charset="ISO-8859-1"')
        elif route == "/gzip-label-lies":  # a plain body the server labels gzip
            self._send(200, b"<rss><channel><item>x</item></channel></rss>", "application/rss+xml",
                       Content_Encoding="gzip")  # fmt: skip
        elif route == "/gzip-damaged":  # gzip from its first bytes, garbage after
            body = gzip.compress(b"<rss>" + b"<item>x</item>" * 200)
            self._send(200, body[:12] + b"\x00garbage" * 20, "application/rss+xml", Content_Encoding="gzip")
        elif route == "/gzip-empty":
            self._send(200, b"", "application/rss+xml", Content_Encoding="gzip")
        elif route in ("/gzip-cut", "/gzip-whole", "/gzip-two-members"):
            whole = gzip.compress(b"<rss><channel>" + b"<item>x</item>" * 500 + b"</channel></rss>")
            body = {"/gzip-cut": whole[: len(whole) // 2], "/gzip-whole": whole}.get(route, whole + whole)
            self._send(200, body, "application/rss+xml", Content_Encoding="gzip")
        elif route == "/pdf":
            self._send(200, b"%PDF-1.4", "application/pdf")
        elif route == "/big-declared":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(50 * MB))
            self.end_headers()
            self._stream(50 * MB, bytes(64 * 1024))
        elif route == "/big-undeclared":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Connection", "close")
            self.end_headers()
            self._stream(50 * MB, bytes(64 * 1024))
            self.close_connection = True
        elif route == "/big-audio":  # a podcast episode behind a feed entry's link
            self.send_response(200)
            self.send_header("Content-Type", "audio/mpeg")
            self.send_header("Connection", "close")
            self.end_headers()
            self._stream(50 * MB, bytes(64 * 1024))
            self.close_connection = True
        elif route == "/octet-html":  # a page on a server or bucket with no type for it
            self._send(
                200, b"\n  <!DOCTYPE html><html><body><p>hello</p></body></html>", "binary/octet-stream"
            )
        elif route == "/octet-short":
            self._send(200, b"ID3\x03\x00 not a page", "application/octet-stream")
        elif route == "/octet-audio":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self._stream(50 * MB, b"ID3" + bytes(64 * 1024 - 3))
            self.close_connection = True
        elif route == "/bomb":
            bomb = self.server.bomb()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(bomb)))
            self.end_headers()
            self._stream(len(bomb), bomb)
        elif route == "/drip-body":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self._stream(100, b"x", interval=1.0)
            self.close_connection = True
        elif route == "/drip-headers":
            try:
                for byte in b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Padding: " + b"y" * 100:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
            self.close_connection = True
        elif route == "/short":  # declares more than it sends, then closes
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"only ten b")
            self.close_connection = True
        elif route == "/short-chunked":  # one chunk, then closes without the last chunk
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"5\r\nhello\r\n")
            self.close_connection = True
        elif route == "/always-304":
            self._send(304)
        elif route == "/not-http":  # connected, then an answer that is no HTTP
            self.wfile.write(b"<html>hello</html>")
            self.close_connection = True
        elif route == "/long":  # sends more than it declares
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "5")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"hello, and some bytes nobody asked for")
            self.close_connection = True
        elif route == "/slow-hop":  # each hop answers after 0.4 s with another redirect
            time.sleep(0.4)
            n = int(urlsplit(self.path).query.partition("=")[2] or 0)
            self._send(302, Location=f"/slow-hop?n={n + 1}")
        elif route == "/loop":
            self._send(302, Location=self.path)
        elif route == "/hop":  # /hop?n=3 -> /hop?n=2 -> ... -> /ok
            n = int(urlsplit(self.path).query.partition("=")[2] or 0)
            self._send(301, Location=f"/hop?n={n - 1}" if n > 1 else "/ok")
        elif route == "/moved-then-temporary":  # 308 -> 302 -> /ok
            self._send(308, Location="/temporary")
        elif route == "/temporary":
            self._send(302, Location="/ok")
        elif route == "/to-latin1":  # the raw byte 0xe9 in the Location, as many servers send it
            self._send(302, Location="/ok?q=caf\xe9")
        elif route == "/to-utf8":  # the UTF-8 bytes of "é"
            self._send(302, Location="/ok?q=caf\xc3\xa9")
        elif route == "/to-empty-brackets":
            self._send(302, Location="http://[]/")
        elif route == "/to-file":
            self._send(302, Location="file:///etc/passwd")
        elif route == "/to-other-site":  # /to-other-site?n=2 -> /to-other-site?n=1 -> localhost:PORT/ok
            n = int(urlsplit(self.path).query.partition("=")[2] or 0)
            port = self.server.server_address[1]
            self._send(
                301, Location=f"/to-other-site?n={n - 1}" if n > 0 else f"http://localhost:{port}/ok?moved"
            )
        elif route == "/to-metadata":
            self._send(302, Location="http://169.254.169.254/latest/meta-data/")
        elif route == "/to-metadata-v6":
            self._send(307, Location="http://[fe80::1]/")
        elif route == "/retry-after":
            if hits == 1:
                self._send(429, b"slow down", Retry_After="7")
            else:
                self._send(200, b"<p>finally</p>")
        elif route == "/retry-after-odd":  # /retry-after-odd?v=<value>: 429 with that Retry-After once
            value = urlsplit(self.path).query.partition("=")[2].replace("%B2", "\xb2").replace("%20", " ")
            if hits == 1:
                self._send(429, b"slow down", Retry_After=value)
            else:
                self._send(200, b"<p>finally</p>")
        elif route == "/length-superscript":  # Latin-1 "2" superscript: str.isdigit, not int()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "\xb2")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"<p>a body of some length</p>")
            self.close_connection = True
        elif route == "/always-503":
            self._send(503, b"unavailable")
        elif route == "/missing":
            self._send(404, b"not here")
        elif route == "/gone":
            self._send(410, b"gone")
        else:
            self._send(500, b"no such case")


class _HostileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Hostile)
        self.hits: collections.Counter[str] = collections.Counter()
        self.sent: dict[str, int] = {}
        self.done: collections.defaultdict[str, threading.Event] = collections.defaultdict(threading.Event)
        self.host_headers: dict[str, str | None] = {}
        self._bomb: bytes | None = None
        self._lock = threading.Lock()

    def bomb(self) -> bytes:
        with self._lock:
            if self._bomb is None:
                self._bomb = _gzip_bomb()
            return self._bomb

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def server():
    httpd = _HostileServer()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


class _Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _fetcher(sleeps=None, **overrides) -> HttpFetcher:
    options = dict(
        user_agent="newsbeam-test",
        timeout=2.0,
        max_bytes=1_000_000,
        max_redirects=3,
        retries=0,
        backoff=0.0,
        allow_private_hosts=True,
        sleep=sleeps if sleeps is not None else _Sleeps(),
    )
    options.update(overrides)
    return HttpFetcher(**options)


def _fail(fetcher: HttpFetcher, url: str) -> FetchError:
    try:
        with pytest.raises(FetchError) as info:
            fetcher.get(url)
    finally:
        fetcher.close()
    return info.value


def test_ok_response_and_charset_from_header(server):
    fetcher = _fetcher()
    response = fetcher.get(server.url("/ok"))
    fetcher.close()
    assert response.status == 200
    assert response.url == server.url("/ok")
    assert response.content == "caf\xe9".encode("latin-1")
    assert response.content_type == "text/html"
    assert response.charset == "ISO-8859-1"
    assert response.attempts == 1


@pytest.mark.parametrize(
    ("content_type", "mime", "charset"),
    [
        ("text/html; charset=utf-8", "text/html", "utf-8"),
        ("Text/HTML;CHARSET='windows-1252'", "text/html", "windows-1252"),
        ("text/xml;", "text/xml", None),
        ("text/html; charset=", "text/html", None),
        ("text/html; boundary=x; charset=koi8-r", "text/html", "koi8-r"),
        ("", None, None),
        # sent twice (a proxy and the application each set it): joined by a comma, the last wins
        ("text/html, text/html; charset=utf-8", "text/html", "utf-8"),
        ("text/html; charset=utf-8, text/html; charset=utf-8", "text/html", "utf-8"),
        ("text/html; charset=koi8-r, text/html", "text/html", "koi8-r"),
        ("text/plain; charset=latin1, text/html", "text/html", None),
        ("text/html, nonsense", "text/html", None),
        ("html", None, None),
    ],
)
def test_content_type_and_charset_parsing(content_type, mime, charset):
    response = HttpResponse(url="http://x/", status=200, headers={"content-type": content_type}, content=b"")
    assert (response.content_type, response.charset) == (mime, charset)


def test_declared_50_mb_body_is_refused_before_reading(server):
    path = "/big-declared?t=1"
    error = _fail(_fetcher(), server.url(path))
    assert error.reason == "too_large"
    assert error.status == 200
    assert server.done[path].wait(10)
    assert server.sent[path] < 16 * MB  # socket buffers only, not 50 MB


def test_undeclared_50_mb_body_stops_reading_at_the_cap(server):
    path = "/big-undeclared?t=1"
    started = time.monotonic()
    error = _fail(_fetcher(), server.url(path))
    assert error.reason == "too_large"
    assert "larger than 1000000 bytes (fetch.max_bytes)" in str(error)  # names the setting to raise
    assert time.monotonic() - started < 5
    assert server.done[path].wait(10)
    assert server.sent[path] < 16 * MB


def test_a_prefix_reads_the_first_bytes_of_a_body_larger_than_max_bytes(server):
    """robots.txt is read this way (RFC 9309 2.5: parse up to a limit, not ignore): a declared
    50 MB body is no ``too_large`` but its first bytes, the rest left unsent on the server."""
    path = "/big-declared?t=prefix"
    fetcher = _fetcher(max_bytes=1000)
    try:
        response = fetcher.get(server.url(path), prefix=100_000)
        whole = fetcher.get(server.url("/ok"), prefix=100_000)
    finally:
        fetcher.close()
    assert (response.status, response.content, response.truncated) == (200, bytes(100_000), True)
    assert server.done[path].wait(10)
    assert server.sent[path] < 16 * MB
    assert (whole.content, whole.truncated) == ("caf\xe9".encode("latin-1"), False)  # shorter: all of it


@pytest.mark.parametrize(
    ("url", "site", "origin"),
    [
        ("http://News.Example/a", "news.example", "http://news.example"),
        ("https://news.example/a", "news.example", "https://news.example"),
        ("https://news.example:443/a", "news.example", "https://news.example"),
        ("http://user:pw@NEWS.example:80/a", "news.example", "http://news.example"),
        ("https://news.example:8443/a", "news.example:8443", "https://news.example:8443"),
        ("http://news.example:443/a", "news.example:443", "http://news.example:443"),
        ("https://B\xdcCHER.de/a", "xn--bcher-kva.de", "https://xn--bcher-kva.de"),
        ("http://xn--bcher-kva.de/b", "xn--bcher-kva.de", "http://xn--bcher-kva.de"),
        ("http://[::1]:8080/a", "[::1]:8080", "http://[::1]:8080"),
        ("http://h:99999/a", "h:99999", "http://h:99999"),  # a bad port: kept as written, never raises
    ],
)
def test_a_site_is_a_host_for_politeness_and_an_origin_for_robots_txt(url, site, origin):
    """http and https (and a spelled-out default port) of one host are one server to be polite
    to; robots.txt stays per origin (RFC 9309); a port of its own stays a site of its own."""
    assert (site_of(url), origin_of(url)) == (site, origin)


def test_an_answer_of_an_unwanted_type_is_refused_before_its_body_is_read(server):
    """A page request (``content_types``) for a link to a 50 MB mp3 costs its headers; it
    downloaded ``max_bytes`` and failed ``too_large``, on every retry."""
    path = "/big-audio?t=1"
    fetcher = _fetcher()
    with pytest.raises(FetchError) as caught:
        fetcher.get(server.url(path), content_types=frozenset({"text/html"}))
    fetcher.close()
    assert (caught.value.reason, caught.value.status) == ("not_html", 200)
    assert "audio/mpeg" in str(caught.value)
    assert server.done[path].wait(10)
    assert server.sent[path] < 16 * MB  # socket buffers only
    ok = _fetcher()
    assert ok.get(server.url("/ok"), content_types=frozenset({"text/html"})).status == 200
    ok.close()


def test_a_body_of_no_declared_type_is_read_as_far_as_it_takes_to_tell(server):
    """``application/octet-stream`` says nothing: an HTML page served so is fetched (it was
    refused as not_html, and given up at once); an mp3 served so costs its first chunks."""
    html = frozenset({"text/html"})
    fetcher = _fetcher()
    try:
        page = fetcher.get(server.url("/octet-html"), content_types=html)
        assert page.content.endswith(b"</html>")
        for path in ("/octet-short", "/octet-audio?t=1"):
            with pytest.raises(FetchError) as caught:
                fetcher.get(server.url(path), content_types=html)
            assert (caught.value.reason, caught.value.status) == ("not_html", 200)
            assert "does not start as an HTML page" in str(caught.value)
    finally:
        fetcher.close()
    assert server.done["/octet-audio?t=1"].wait(10)
    assert server.sent["/octet-audio?t=1"] < 16 * MB  # socket buffers only


@pytest.mark.parametrize(
    ("head", "markup"),
    [
        (b"<!DOCTYPE html><html>", True),
        (b"\xef\xbb\xbf\n <html lang=en>", True),
        (b"<!-- generated --><div>", True),
        (b"<p>text", True),
        (b"<pre>x", False),  # <p followed by a letter is another tag
        (b"<?xml version='1.0'?><rss>", False),
        (b"%PDF-1.4", False),
        (b"ID3\x03", False),
        (b"", False),
    ],
)
def test_looks_like_markup(head, markup):
    assert looks_like_markup(head) is markup


def test_gzip_bomb_is_cut_off_without_inflating_it(server):
    server.bomb()  # build it outside the measurement
    tracemalloc.start()
    try:
        error = _fail(_fetcher(), server.url("/bomb"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.reason == "too_large"
    assert len(server.bomb()) < 2 * MB  # ~1 MB on the wire for 1 GB of zeros
    assert peak < 16 * MB  # the 1 GB never lands in memory


def test_gzip_bomb_builder_is_valid_gzip():
    bomb = _gzip_bomb(total=8 * MB)
    assert zlib.decompress(bomb, 31) == bytes(8 * MB)


def test_body_dripping_one_byte_per_second_times_out_at_the_total_deadline(server):
    # Every read returns within the 1.5 s read timeout, so only the total deadline can stop it.
    started = time.monotonic()
    error = _fail(_fetcher(timeout=1.5, total_timeout=2.5), server.url("/drip-body"))
    elapsed = time.monotonic() - started
    assert error.reason == "timeout"
    assert 2.0 < elapsed < 5.0


def test_headers_dripping_slowly_time_out_at_the_total_deadline(server):
    started = time.monotonic()
    error = _fail(_fetcher(timeout=1.0, total_timeout=1.0), server.url("/drip-headers"))
    elapsed = time.monotonic() - started
    assert error.reason == "timeout"
    assert elapsed < 3.0


def test_body_shorter_than_content_length_is_incomplete(server):
    error = _fail(_fetcher(), server.url("/short"))
    assert error.reason == "incomplete_body"
    assert error.status == 200


def test_a_chunked_body_cut_short_is_incomplete_and_says_so(server):
    error = _fail(_fetcher(), server.url("/short-chunked"))
    assert error.reason == "incomplete_body"
    assert str(error).endswith("connection closed before the last chunk")  # it declared no length


def test_a_gzip_body_cut_inside_its_compressed_data_is_incomplete(server):
    # Content-Length matches what was sent, but the gzip stream inside it stops half-way:
    # urllib3 hands back the first half decompressed without a word
    error = _fail(_fetcher(), server.url("/gzip-cut"))
    assert error.reason == "incomplete_body"
    assert "gzip body ends before" in str(error)
    fetcher = _fetcher()
    try:
        assert fetcher.get(server.url("/gzip-whole")).content.endswith(b"</channel></rss>")
        assert fetcher.get(server.url("/gzip-two-members")).content.count(b"</rss>") == 2
    finally:
        fetcher.close()


def test_a_plain_body_labelled_gzip_is_read_as_it_is(server):
    fetcher = _fetcher(timeout=5.0)
    try:
        assert fetcher.get(server.url("/gzip-label-lies")).content == (
            b"<rss><channel><item>x</item></channel></rss>"
        )
        assert fetcher.get(server.url("/gzip-empty")).content == b""  # nothing to peek at: no wait
        assert fetcher.get(server.url("/gzip-whole")).content.endswith(b"</rss>")  # the same session
    finally:
        fetcher.close()
    assert _fail(_fetcher(), server.url("/gzip-damaged")).reason == "decode_error"


def test_body_shorter_than_content_length_is_retried(server):
    sleeps = _Sleeps()
    error = _fail(_fetcher(sleeps, retries=2), server.url("/short?retried"))
    assert error.reason == "incomplete_body"
    assert server.hits["/short?retried"] == 3
    assert len(sleeps) == 2


def test_body_longer_than_content_length_is_truncated_to_it(server):
    fetcher = _fetcher()
    assert fetcher.get(server.url("/long")).content == b"hello"
    assert fetcher.get(server.url("/ok")).status == 200  # the session is still usable
    fetcher.close()


def test_redirect_loop_gives_too_many_redirects(server):
    error = _fail(_fetcher(max_redirects=3), server.url("/loop"))
    assert error.reason == "too_many_redirects"
    assert server.hits["/loop"] == 4  # the first request and three redirects


def test_redirect_chain_within_the_limit_is_followed(server):
    fetcher = _fetcher(max_redirects=3)
    response = fetcher.get(server.url("/hop?n=3"))
    fetcher.close()
    assert (response.status, response.url) == (200, server.url("/ok"))


@pytest.mark.parametrize(
    ("path", "moved_to"),
    [("/hop?n=2", "/ok"), ("/moved-then-temporary", "/temporary"), ("/to-utf8", None), ("/ok", None)],
)
def test_a_permanent_redirect_is_reported_as_moved_to(server, path, moved_to):
    """Where the URL asked for moved for good: the target of the 301/308 hops that begin the chain
    (a feed that moved is then shown to the operator, whose feeds file still has the old URL)."""
    fetcher = _fetcher(max_redirects=3)
    response = fetcher.get(server.url(path))
    fetcher.close()
    assert response.status == 200
    assert response.moved_to == (server.url(moved_to) if moved_to else None)


@pytest.mark.parametrize(("path", "final"), [("/to-latin1", "/ok?q=caf%E9"), ("/to-utf8", "/ok?q=caf\xe9")])
def test_a_location_with_bytes_above_ascii_is_followed(server, path, final):
    """``requests`` decoded the Location as UTF-8 even when not following it: a Latin-1 byte
    raised UnicodeDecodeError, which no caller expects, and the whole run failed."""
    fetcher = _fetcher()
    response = fetcher.get(server.url(path))
    fetcher.close()
    assert (response.status, response.url) == (200, server.url(final))


def test_a_location_with_an_empty_ip_literal_is_a_bad_url(server):
    error = _fail(_fetcher(), server.url("/to-empty-brackets"))
    assert error.reason == "bad_url"


@pytest.mark.parametrize(
    ("header", "url"),
    [
        ("/a b?q=1", "/a b?q=1"),
        ("  /ok  ", "/ok"),
        ("/caf\xe9", "/caf%E9"),
        ("/caf\xc3\xa9", "/caf\xe9"),
        ("http://\xe9\xe9.example/", "http://%E9%E9.example/"),
    ],
)
def test_redirect_target_reads_the_header_bytes_as_utf8_or_percent_encodes_them(header, url):
    assert redirect_target(header) == url


def test_a_redirect_to_another_site_is_handed_back_not_followed_with_stay_on_site(server):
    """The page fetcher must read the other site's robots.txt and keep its pace before
    requesting it: the target comes back checked, with the hops it took; redirects within
    the site are followed as before."""
    fetcher = _fetcher(max_redirects=5)
    try:
        with pytest.raises(OffSiteRedirect) as caught:
            fetcher.get(server.url("/to-other-site?n=2"), stay_on_site=True)
        port = server.server_address[1]
        assert (caught.value.reason, caught.value.url) == (
            "off_site_redirect",
            f"http://localhost:{port}/ok?moved",
        )
        assert (caught.value.redirects, caught.value.status) == (3, 301)
        assert server.hits["/ok?moved"] == 0
        # what a chain begun elsewhere has left bounds it: 2 redirects left, the third is one too many
        with pytest.raises(FetchError) as limited:
            fetcher.get(server.url("/to-other-site?n=2"), stay_on_site=True, max_redirects=2)
        assert limited.value.reason == "too_many_redirects"
        # without stay_on_site (feeds, robots.txt) the other site is fetched as before
        assert fetcher.get(server.url("/to-other-site?n=0")).url == f"http://localhost:{port}/ok?moved"
    finally:
        fetcher.close()


def test_an_off_site_redirect_target_is_checked_before_it_is_handed_back(server):
    error = _fail(_fetcher(allow_private_hosts=True), server.url("/to-metadata"))
    fetcher = _fetcher(allow_private_hosts=True)
    with pytest.raises(FetchError) as caught:
        fetcher.get(server.url("/to-metadata"), stay_on_site=True)
    fetcher.close()
    assert caught.value.reason == error.reason == "blocked_host"


def test_redirect_to_file_url_is_a_bad_url(server):
    error = _fail(_fetcher(), server.url("/to-file"))
    assert error.reason == "bad_url"
    assert error.url == "file:///etc/passwd"


@pytest.mark.parametrize("path", ["/to-metadata", "/to-metadata-v6"])
def test_redirect_to_link_local_is_blocked_even_with_private_hosts_allowed(server, path):
    error = _fail(_fetcher(allow_private_hosts=True), server.url(path))
    assert error.reason == "blocked_host"
    assert "link-local" in str(error)


def test_loopback_is_refused_without_allow_private_hosts(server):
    error = _fail(_fetcher(allow_private_hosts=False), server.url("/ok?private"))
    assert error.reason == "blocked_host"
    assert server.hits["/ok?private"] == 0


def test_429_with_retry_after_is_retried_after_the_hinted_delay(server):
    sleeps = _Sleeps()
    fetcher = _fetcher(sleeps, retries=2, backoff=0.01, url_deadline=30)
    response = fetcher.get(server.url("/retry-after"))
    fetcher.close()
    assert (response.status, response.content, response.attempts) == (200, b"<p>finally</p>", 2)
    assert sleeps == [7.0]
    assert server.hits["/retry-after"] == 2


@pytest.mark.parametrize(
    ("value", "pause"),
    [
        ("%B2", None),  # sent as the Latin-1 byte 0xb2: "²".isdigit() but float("²") raises
        ("9" * 400, 60.0),  # float("9" * 400) is inf
        ("-5", None),
        ("Fri,%2031%20Dec%209999%2023:59:59%20GMT", 60.0),
    ],
)
def test_odd_retry_after_values_are_ignored_or_capped(server, value, pause):
    sleeps = _Sleeps()
    fetcher = _fetcher(sleeps, retries=1, backoff=0.01, url_deadline=300)
    path = f"/retry-after-odd?v={value}"
    response = fetcher.get(server.url(path))
    fetcher.close()
    assert (response.status, response.attempts) == (200, 2)
    if pause is None:  # the backoff alone: 0.01 + uniform(0, 0.01)
        assert len(sleeps) == 1 and sleeps[0] <= 0.02
    else:
        assert sleeps == [pause]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("\xb2", None),
        ("\xb3\xb9", None),
        ("-5", None),
        ("1e9", None),
        ("9" * 400, 365 * 86400.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 365 * 86400.0),
        ("Mon, 01 Jan 2001 00:00:00 GMT", 0.0),
    ],
)
def test_parse_retry_after_is_finite_and_at_most_a_year(value, seconds):
    assert parse_retry_after(value) == seconds


def test_a_content_length_of_superscript_digits_is_no_length(server):
    fetcher = _fetcher()
    response = fetcher.get(server.url("/length-superscript"))
    fetcher.close()
    assert (response.status, response.content) == (200, b"<p>a body of some length</p>")


def test_an_unexpected_exception_from_the_http_stack_is_a_bad_response_of_that_url(server, monkeypatch):
    """Whatever a malformed answer makes requests or urllib3 raise besides their own errors is a
    failure of that URL, not an exception that ends the run (three such answers did)."""
    import requests

    monkeypatch.setattr(requests.Session, "send", _raising_send(requests.Session.send))
    sleeps = _Sleeps()
    error = _fail(_fetcher(sleeps, retries=2), server.url("/ok?unexpected"))
    assert error.reason == "bad_response"
    assert "UnicodeDecodeError" in str(error) and server.url("/ok?unexpected") in str(error)
    assert sleeps == []  # not retried


def _raising_send(send):
    """``Session.send`` that raises as requests did on a Latin-1 byte in a Location."""

    def raising(self, request, **kwargs):
        send(self, request, **kwargs)
        raise UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid continuation byte")

    return raising


def test_503_is_retried_then_given_up(server):
    sleeps = _Sleeps()
    error = _fail(_fetcher(sleeps, retries=3, backoff=0.5, url_deadline=30), server.url("/always-503"))
    assert (error.reason, error.status) == ("http_503", 503)
    assert server.hits["/always-503"] == 4
    assert len(sleeps) == 3
    # exponential backoff with jitter: 0.5 * 2**k + uniform(0, 0.5)
    for k, pause in enumerate(sleeps):
        assert 0.5 * 2**k <= pause <= 0.5 * 2**k + 0.5


@pytest.mark.parametrize(("path", "reason"), [("/missing", "http_404"), ("/gone", "http_410")])
def test_client_errors_are_not_retried(server, path, reason):
    sleeps = _Sleeps()
    error = _fail(_fetcher(sleeps, retries=3), server.url(path))
    assert error.reason == reason
    assert server.hits[path] == 1
    assert sleeps == []


def test_connection_refused_is_a_retried_connection_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = _Sleeps()
    error = _fail(_fetcher(sleeps, retries=1), f"http://127.0.0.1:{port}/")
    assert error.reason == "connection_error"
    assert str(error).startswith(f"cannot connect to http://127.0.0.1:{port}/")
    assert len(sleeps) == 1


def test_a_304_answers_only_a_conditional_request(server):
    """A server answering 304 to a request without validators looked, for a feed, healthy and
    'not modified' forever (its entries never came), and gave a page of 0 characters."""
    fetcher = _fetcher()
    try:
        assert fetcher.get(server.url("/always-304"), headers={"If-None-Match": '"v1"'}).status == 304
        assert fetcher.get(server.url("/always-304"), headers={"if-modified-since": "x"}).status == 304
        with pytest.raises(FetchError) as info:
            fetcher.get(server.url("/always-304"), headers={"Accept": "text/html"})
    finally:
        fetcher.close()
    assert (info.value.reason, info.value.status) == ("http_304", 304)


def test_an_answer_that_is_no_http_is_a_connection_error_that_does_not_say_cannot_connect(server):
    error = _fail(_fetcher(), server.url("/not-http"))
    assert error.reason == "connection_error"
    assert str(error).startswith(f"no valid answer from {server.url('/not-http')}: ")  # it did connect


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.org/x", "bad_url"),
        ("javascript:alert(1)", "bad_url"),
        ("http:///no-host", "bad_url"),
        ("http://example.org:99999/", "bad_url"),
    ],
)
def test_bad_urls_are_refused_before_any_request(url, reason):
    with pytest.raises(FetchError) as info:
        check_url(url, allow_private=True, resolver=_resolver({}))
    assert info.value.reason == reason


def _resolver(answers: dict[str, list[str]], calls: list[str] | None = None):
    """A getaddrinfo stand-in: host -> successive answers (the last one repeats)."""
    seen = collections.Counter()

    def resolve(host, port, family=0, type=0, proto=0, flags=0):
        if calls is not None:
            calls.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = answers[host][min(seen[host], len(answers[host]) - 1)]
        seen[host] += 1
        family = socket.AF_INET6 if ":" in answer else socket.AF_INET
        sockaddr = (answer, port, 0, 0) if family == socket.AF_INET6 else (answer, port)
        return [(family, socket.SOCK_STREAM, 6, "", sockaddr)]

    return resolve


@pytest.mark.parametrize(
    ("address", "allow_private", "reason"),
    [
        ("93.184.216.34", False, None),
        ("127.0.0.2", False, "blocked_host"),
        ("10.1.2.3", False, "blocked_host"),
        ("0.0.0.0", False, "blocked_host"),
        ("::1", False, "blocked_host"),
        ("10.1.2.3", True, None),
        ("169.254.169.254", True, "blocked_host"),
        ("fe80::1", True, "blocked_host"),
        ("::ffff:169.254.169.254", True, "blocked_host"),
        ("::ffff:127.0.0.1", False, "blocked_host"),
        # IPv6 forms that carry an IPv4 address a gateway forwards to: NAT64, 6to4, Teredo
        ("64:ff9b::a9fe:a9fe", True, "blocked_host"),  # 169.254.169.254, even with private allowed
        ("64:ff9b::a00:1", False, "blocked_host"),  # 10.0.0.1
        ("64:ff9b::5db8:d822", False, None),  # 93.184.216.34
        ("2002:a9fe:a9fe::", True, "blocked_host"),
        ("2002:7f00:1::", False, "blocked_host"),  # 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False, "blocked_host"),  # client 192.0.2.45
        ("224.0.0.1", False, "blocked_host"),  # multicast
        ("ff0e::1", False, "blocked_host"),
        ("2606:4700:4700::1111", False, None),
    ],
)
def test_host_policy(address, allow_private, reason):
    resolver = _resolver({"news.test": [address]})
    if reason is None:
        check_url("https://news.test/a", allow_private, resolver)
        return
    with pytest.raises(FetchError) as info:
        check_url("https://news.test/a", allow_private, resolver)
    assert info.value.reason == reason


def test_unresolvable_host_is_a_dns_error():
    error = _fail(_fetcher(resolver=_resolver({})), "http://nowhere.test/")
    assert error.reason == "dns_error"


def test_connection_is_pinned_to_the_checked_address_with_the_host_header_kept(server):
    # news.test exists only in the injected resolver: the request can only reach the
    # loopback server if the connection uses the address the policy checked.
    calls: list[str] = []
    fetcher = _fetcher(resolver=_resolver({"news.test": ["127.0.0.1"]}, calls))
    response = fetcher.get(f"http://news.test:{server.port}/ok?pinned")
    fetcher.close()
    assert response.status == 200
    assert server.host_headers["/ok?pinned"] == f"news.test:{server.port}"
    assert calls == ["news.test", "news.test"]  # the check, then the connection


def test_dns_rebinding_to_loopback_after_the_check_is_refused(server):
    # Public at check time, loopback when connecting.
    resolver = _resolver({"rebind.test": ["93.184.216.34", "127.0.0.1"]})
    error = _fail(
        _fetcher(allow_private_hosts=False, resolver=resolver), f"http://rebind.test:{server.port}/ok?rebind"
    )
    assert error.reason == "blocked_host"
    assert server.hits["/ok?rebind"] == 0


def test_dns_rebinding_to_metadata_is_refused_even_with_private_hosts(server):
    resolver = _resolver({"rebind.test": ["127.0.0.1", "169.254.169.254"]})
    error = _fail(_fetcher(resolver=resolver), f"http://rebind.test:{server.port}/ok?rebind2")
    assert error.reason == "blocked_host"
    assert "link-local" in str(error)


def test_environment_proxies_are_ignored(monkeypatch):
    """HTTP(S)_PROXY would route around the host policy and the pinning."""
    from newsbeam.connectors.http import HttpFetcher

    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    fetcher = HttpFetcher(
        user_agent="t", timeout=2, max_bytes=1000, max_redirects=0, retries=0, backoff=0,
        allow_private_hosts=False,
    )  # fmt: skip
    try:
        assert fetcher._session.trust_env is False
        assert (
            fetcher._session.merge_environment_settings("http://example.org/", {}, None, None, None)[
                "proxies"
            ]
            == {}
        )
    finally:
        fetcher.close()


def test_slow_redirect_chain_ends_at_the_url_deadline(server):
    # 20 hops of 0.4 s would take 8 s; the per-URL deadline cuts the whole chain at 1 s.
    started = time.monotonic()
    error = _fail(_fetcher(max_redirects=20, url_deadline=1.0), server.url("/slow-hop?n=0"))
    elapsed = time.monotonic() - started
    assert error.reason == "timeout"
    assert elapsed < 2.5
    assert sum(hits for path, hits in server.hits.items() if path.startswith("/slow-hop")) <= 4


def test_dribbling_body_with_retries_ends_at_the_url_deadline(server):
    # Without a per-URL deadline: 3 attempts x 2.5 s hop deadline = 7.5 s.
    started = time.monotonic()
    error = _fail(
        _fetcher(timeout=1.5, total_timeout=2.5, retries=2, url_deadline=1.0, sleep=time.sleep),
        server.url("/drip-body?deadline"),
    )
    elapsed = time.monotonic() - started
    assert error.reason == "timeout"
    assert elapsed < 2.5
    assert server.hits["/drip-body?deadline"] == 1


def test_retry_pauses_that_would_pass_the_url_deadline_are_not_taken(server):
    sleeps = _Sleeps()
    # Pauses would be 0.5-1.0, 1.0-1.5, ... s; with 1 s for the whole URL only the first fits.
    error = _fail(_fetcher(sleeps, retries=5, backoff=0.5, url_deadline=1.0), server.url("/always-503?dl"))
    assert (error.reason, error.status) == ("http_503", 503)
    assert len(sleeps) <= 1
    assert server.hits["/always-503?dl"] == len(sleeps) + 1


def test_a_callers_deadline_in_the_past_makes_no_request(server):
    fetcher = _fetcher()
    with pytest.raises(FetchError) as info:
        fetcher.get(server.url("/ok?late"), deadline=time.monotonic() - 1)
    fetcher.close()
    assert info.value.reason == "timeout"
    assert server.hits["/ok?late"] == 0
