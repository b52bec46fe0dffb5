"""A guarded HTTP GET shared by the feed reader and the page fetcher.

``HttpFetcher.get(url)`` returns an ``HttpResponse`` (final URL, status,
lower-cased headers, decoded body) or raises ``FetchError`` with a short
stable ``reason``, which the stages turn into failure documents:

- ``bad_url``: not a URL, no host, or a scheme other than http/https (on the
  first request and on every redirect, so ``Location: file:///etc/passwd``
  is refused);
- ``blocked_host``: the host resolves to a private, loopback, unspecified or
  otherwise non-global address and ``allow_private_hosts`` is off, or to a
  link-local address (169.254.0.0/16, fe80::/10, also IPv4-mapped), which is
  refused even with ``allow_private_hosts`` (cloud metadata services live
  there);
- ``dns_error``, ``connection_error``, ``ssl_error`` (TLS certificates are
  always verified), ``timeout``;
- ``too_many_redirects`` after ``max_redirects`` hops (redirects are followed
  here, one checked hop at a time, never by ``requests``);
- ``off_site_redirect`` (an ``OffSiteRedirect``, only with ``stay_on_site``):
  a redirect to another origin (scheme, host and port: ``http://a`` to
  ``https://a`` too) is not followed but handed back with its target,
  already checked like a hop, so that the caller reads that origin's
  robots.txt (RFC 9309 rules are per origin) and, on another host, spaces
  its requests first (the page fetcher; redirects within the origin are
  followed as usual);
- ``too_large`` when the declared or the *decoded* body exceeds ``max_bytes``:
  the body is read in small chunks and the connection is closed as soon as
  the cap is passed, so a 50 MB page or a 1 GB gzip bomb costs at most about
  ``max_bytes`` of memory and a few socket buffers of traffic.  With
  ``prefix=n`` a longer body is no error: its first ``n`` bytes come back,
  ``HttpResponse.truncated`` set (robots.txt, which RFC 9309 has parsed up
  to a limit rather than ignored);
- ``not_html`` (only with ``content_types``): a 2xx answer whose declared
  ``Content-Type`` is none of them, refused before its body is read (a link
  to a 40 MB mp3 or a PDF costs its headers, not ``max_bytes`` of download);
  a type that says nothing (``SNIFFED_TYPES``: ``application/octet-stream``...)
  is judged by its first kilobyte instead (``looks_like_markup``);
- ``bad_response`` for an answer so malformed that requests or urllib3
  raise something else than their own errors (never retried; the message
  names the exception, ``-v`` logs its traceback);
- ``incomplete_body`` when the connection ends before the declared
  ``Content-Length``, or a gzip body ends inside its compressed data (the
  transfer whole, the stream cut: urllib3 would hand back its first part)
  (retried like a connection error); ``decode_error`` for a corrupt
  gzip/deflate/br body (a body labelled gzip that does not start as gzip is
  read as it is: ``_gzip_label_lies``);
- ``http_<status>`` for any final status outside 2xx (304 is returned as is
  to a conditional request, one with ``If-None-Match`` or ``If-Modified-Since``).

Time bounds: ``timeout`` applies to connecting and to every socket read; in
addition each hop (request, headers and body) must finish within
``total_timeout`` (default ``3 * timeout``): a watchdog shuts the socket down
when that deadline passes, so a server dripping its headers or body one byte
a second is cut off (``timeout``) instead of holding a worker for hours.
Above both, one ``get`` (every redirect hop, every retry and the pauses
between them, every body read) ends within ``url_deadline`` seconds (default
``total_timeout``), or earlier at the ``deadline`` the caller passes (a
``time.monotonic()`` value: the fetcher's per-host budget, the run's end).
Without it one URL could cost (retries+1) x (redirects+1) x total_timeout,
about 18 minutes at the shipped defaults (3 x 6 x 60 s).  Each hop's watchdog and socket
timeout are shortened to what is left; a retry whose pause would pass the
deadline is not made (the last error stands); a deadline passed mid-hop is
``timeout``.  Name resolution itself is bounded only by the system resolver.

Retries: ``timeout``, ``connection_error``, ``incomplete_body``, 429 and 5xx
(500, 502, 503, 504) are retried ``retries`` times with exponential backoff
and jitter; a ``Retry-After`` header (seconds or HTTP date, capped at 60 s)
lengthens the pause (a value that is neither, such as a Latin-1 ``²``, is
ignored).  A ``Content-Length`` that is no ASCII number is no declared size.
Everything else is final at once (a 404 costs one request).  The pause goes
through the injected ``sleep`` so tests need not wait.

DNS rebinding: the host is resolved and checked before each hop, and the
connection is then *pinned*: the session's connection classes resolve the
host again through the same resolver, check every address against the same
policy and connect to the checked address, while the URL's host name stays
in the ``Host`` header and in TLS SNI and certificate checks.  A name that
answers with a public address at check time and with 127.0.0.1 or
169.254.169.254 when connecting is therefore refused (``blocked_host``).
Proxies from the environment (``HTTP_PROXY``/``HTTPS_PROXY``) are ignored
(``trust_env`` off): a proxy resolves names itself, which would defeat the
pinning and the host policy.

Example usage::

    fetcher = HttpFetcher.from_settings(settings.fetch)   # in DoFn.setup
    try:
        response = fetcher.get(url)
    except FetchError as exc:
        ...  # exc.reason, exc.status
    fetcher.close()                                        # in DoFn.teardown
"""

from __future__ import annotations

import dataclasses
import email.utils
import ipaddress
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from urllib.parse import urljoin, urlsplit

__all__ = [
    "FetchError", "HttpFetcher", "HttpResponse", "OffSiteRedirect", "check_url", "origin_of",
    "redirect_target", "site_of",
]  # fmt: skip

_LOG = logging.getLogger(__name__)
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_RETRY_REASONS = frozenset({"timeout", "connection_error", "incomplete_body"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_PERMANENT_REDIRECTS = frozenset({301, 308})  # RFC 9110 15.4: references ought to be updated
_LINK_LOCAL_V4 = ipaddress.ip_network("169.254.0.0/16")
_LINK_LOCAL_V6 = ipaddress.ip_network("fe80::/10")
_CHUNK = 65536
_MAX_RETRY_AFTER = 60.0  # the longest pause before a retry
MAX_RETRY_AFTER_SECONDS = 365 * 86400.0  # the largest Retry-After read (a feed's poll hint)


class FetchError(Exception):
    """A failed GET: ``reason`` is a stable code, ``status`` the HTTP status."""

    def __init__(
        self,
        reason: str,
        message: str,
        status: int | None = None,
        url: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.url = url
        self.retry_after = retry_after  # seconds, from the answer's Retry-After


class OffSiteRedirect(FetchError):
    """A redirect to another site, not followed (``HttpFetcher.get(stay_on_site=True)``):
    ``url`` is its target (already checked against the host policy), ``redirects`` the
    hops it took from the URL asked for, this one included."""

    def __init__(self, message: str, url: str, status: int, redirects: int):
        super().__init__("off_site_redirect", message, status=status, url=url)
        self.redirects = redirects


_DEFAULT_PORTS = {"http": 80, "https": 443}


def site_of(url: str) -> str:
    """``host[:port]`` of ``url``: the unit of politeness (one request in flight, ``host_delay``,
    a ``Retry-After`` hold, the host budget).  The host is lower-cased and IDNA-encoded
    (``BÜcher.de`` -> ``xn--bcher-kva.de``), the scheme is left out and so is the scheme's default
    port: ``http://host/``, ``https://host/`` and ``https://host:443/`` are one site, one server
    asked twice as often when scheduled as two.  A port that is not its scheme's default stays in
    the key (``host:8080``): it is a server of its own as often as not (another service, a
    staging copy, each of the test suite's loopback servers), and an explicit port in a feed's
    links is rare enough that keeping it apart costs little politeness.  robots.txt is not read
    per site but per origin (``origin_of``, RFC 9309)."""
    return _origin(url)[1]


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, normalised like ``site_of`` (no user info, no default
    port): the unit of robots.txt (RFC 9309 section 2.3: scheme, host and port)."""
    scheme, site = _origin(url)
    return f"{scheme}://{site}"


def _origin(url: str) -> tuple[str, str]:
    """(scheme, ``site_of``) of ``url``; never raises: a URL too broken to split keeps its
    lower-cased network location as it is (it fails as ``bad_url`` when requested)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        scheme, _, rest = url.partition("://")
        return scheme.lower(), rest.split("/", 1)[0].rpartition("@")[2].lower()
    scheme = parts.scheme.lower()
    host = _idna(parts.hostname or "")
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return scheme, host


def _idna(host: str) -> str:
    """``host`` (lower-cased by urlsplit) in its ASCII form, as it is looked up and connected to;
    as it is when it has none (an invalid label)."""
    if host.isascii():
        return host
    try:
        import idna

        return idna.encode(host, uts46=True).decode("ascii")
    except (ImportError, UnicodeError, ValueError):  # idna.IDNAError is a UnicodeError
        try:
            return host.encode("idna").decode("ascii")
        except UnicodeError:
            return host


@dataclasses.dataclass(frozen=True)
class HttpResponse:
    url: str  # final URL, after redirects
    status: int
    headers: Mapping[str, str]
    content: bytes
    attempts: int = 1
    truncated: bool = False  # the body went on past the ``prefix`` asked for
    # Where the URL asked for has moved for good: the target of the 301/308 redirects that
    # began the chain (a temporary one after them ends it), else None
    moved_to: str | None = None

    @property
    def media_type(self) -> tuple[str | None, str | None]:
        """(type, charset) of the ``Content-Type`` header, read once: ``content_type, charset``."""
        return _mime_type(self.headers.get("content-type") or "")

    @property
    def content_type(self) -> str | None:
        return self.media_type[0]

    @property
    def charset(self) -> str | None:
        return self.media_type[1]


def _mime_type(value: str) -> tuple[str | None, str | None]:
    """(type, charset) of a ``Content-Type`` value, as the Fetch standard extracts them: a header
    sent twice arrives joined by a comma ("text/html, text/html; charset=utf-8", from a proxy and
    the application each setting it), and the last type wins, keeping a charset an earlier value
    of the same type gave; a value that is no type/subtype is skipped.  (The first value's
    "text/html, text/html" was no HTML type, so the page was recorded as not_html.)"""
    mime = charset = None
    for part in value.split(","):
        kind, *params = part.split(";")
        kind = kind.strip().lower()
        major, slash, minor = kind.partition("/")
        if not (slash and major.strip() and minor.strip()):
            continue
        given = None
        for param in params:
            key, _, val = param.partition("=")
            if key.strip().lower() == "charset" and val.strip().strip("\"'"):
                given = val.strip().strip("\"'")
        if kind != mime:
            mime, charset = kind, given
        elif given:
            charset = given
    return mime, charset


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _effective_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address a connection to ``address`` reaches: the IPv4 address an IPv6 one carries
    (IPv4-mapped, 6to4, Teredo's client, NAT64 ``64:ff9b::a.b.c.d``), which a gateway on the
    path would forward to (a NAT64 form of 169.254.169.254 reaches the metadata service)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.version == 4:
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _is_link_local(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip in (_LINK_LOCAL_V4 if ip.version == 4 else _LINK_LOCAL_V6)


def _checked_addresses(
    host: str, port: int, allow_private: bool, resolver: Callable, url: str | None = None
) -> list[tuple]:
    """Resolve ``host`` and return its address infos, or raise
    ``FetchError('blocked_host' | 'dns_error')`` if any address is refused."""
    try:
        infos = resolver(host, port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise FetchError("dns_error", f"cannot resolve {host}: {exc}", url=url) from None
    if not infos:
        raise FetchError("dns_error", f"cannot resolve {host}: no address", url=url)
    for info in infos:
        ip = _effective_ip(info[4][0])
        if _is_link_local(ip):
            raise FetchError("blocked_host", f"{host} resolves to link-local {ip}", url=url)
        if (not ip.is_global or ip.is_multicast) and not allow_private:
            raise FetchError(
                "blocked_host",
                f"{host} resolves to non-public {ip} (use --allow-private-hosts to allow it)",
                url=url,
            )
    return list(infos)


def check_url(url: str, allow_private: bool, resolver: Callable = socket.getaddrinfo) -> None:
    """Raise ``FetchError('bad_url' | 'blocked_host' | 'dns_error')`` unless ``url`` may be fetched."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError("bad_url", f"not a valid URL: {url}", url=url) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError("bad_url", f"scheme {parts.scheme!r} is not allowed: {url}", url=url)
    host = parts.hostname
    if not host:
        raise FetchError("bad_url", f"no host in URL: {url}", url=url)
    default_port = 443 if parts.scheme.lower() == "https" else 80
    _checked_addresses(host, port or default_port, allow_private, resolver, url)


class _Watchdog:
    """Shuts down the socket of the current hop when its deadline passes."""

    def __init__(self, seconds: float):
        self.fired = False
        self._sock = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sock = self._sock
        if sock is not None:
            _shutdown(sock)

    def attach(self, sock) -> None:
        with self._lock:
            self._sock = sock
            fired = self.fired
        if fired:
            _shutdown(sock)

    def cancel(self) -> None:
        self._timer.cancel()


def _shutdown(sock) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Policy:
    """What the pinned connections need: the host policy and the current hop's watchdog."""

    def __init__(self, allow_private: bool, resolver: Callable):
        self.allow_private = allow_private
        self.resolver = resolver
        self.local = threading.local()

    def watchdog(self) -> _Watchdog | None:
        return getattr(self.local, "watchdog", None)


def _pinned_adapter(policy: _Policy):
    """A ``requests`` adapter whose connections connect only to checked addresses."""
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
    from urllib3.util.connection import create_connection

    class _PinnedMixin:
        def _new_conn(self):
            infos = _checked_addresses(self._dns_host, self.port, policy.allow_private, policy.resolver)
            error: OSError | None = None
            for info in infos:
                address = info[4][0]
                try:
                    return create_connection(
                        (address, self.port),
                        self.timeout,
                        source_address=self.source_address,
                        socket_options=self.socket_options,
                    )
                except TimeoutError as exc:
                    raise ConnectTimeoutError(
                        self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                    ) from exc
                except OSError as exc:
                    error = exc
            raise NewConnectionError(self, f"Failed to establish a new connection: {error}")

        def getresponse(self):
            watchdog = policy.watchdog()
            if watchdog is not None and self.sock is not None:
                watchdog.attach(self.sock)
            try:
                return super().getresponse()
            except OSError:
                if watchdog is not None and watchdog.fired:
                    raise TimeoutError("total deadline passed while reading headers") from None
                raise

    class _HTTPConnection(_PinnedMixin, HTTPConnection):
        pass

    class _HTTPSConnection(_PinnedMixin, HTTPSConnection):
        pass

    class _HTTPPool(HTTPConnectionPool):
        ConnectionCls = _HTTPConnection

    class _HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = _HTTPSConnection

    class _PinnedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    return _PinnedAdapter()


def _session():
    """A ``requests`` session that never reads a ``Location`` itself.

    Redirects are followed here, one checked hop at a time, but ``requests``
    still parses the ``Location`` of an answer it does not follow (to offer
    ``Response.next``), and raises what no ``RequestException`` covers: a
    ``UnicodeDecodeError`` for a Latin-1 byte (``/caf\\xe9``), a ``ValueError``
    for ``http://[]/``.  ``redirect_target`` reads it instead."""
    import requests

    class _Session(requests.Session):
        def get_redirect_target(self, resp):
            return None

    return _Session()


def redirect_target(location: str) -> str:
    """The URL a ``Location`` header names, as a browser reads it: its bytes as UTF-8 when they
    are, else each byte above 0x7F percent-encoded (``/caf\\xe9`` -> ``/caf%E9``).

    ``location`` is the header as http.client decoded it (Latin-1, byte for byte)."""
    raw = location.strip().encode("latin-1", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(chr(byte) if byte < 0x80 else f"%{byte:02X}" for byte in raw)


class HttpFetcher:
    """One pooled ``requests`` session; create in ``DoFn.setup``, close in teardown."""

    def __init__(
        self,
        *,
        user_agent: str,
        timeout: float,
        max_bytes: int,
        max_redirects: int,
        retries: int,
        backoff: float,
        allow_private_hosts: bool,
        total_timeout: float | None = None,
        url_deadline: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        resolver: Callable = socket.getaddrinfo,
        clock: Callable[[], float] = time.monotonic,
        limit_name: str = "fetch.max_bytes",
    ):

        if timeout <= 0:
            raise ValueError("HttpFetcher: timeout must be positive")
        if max_bytes <= 0:
            raise ValueError("HttpFetcher: max_bytes must be positive")
        self._policy = _Policy(allow_private_hosts, resolver)
        self._session = _session()
        # Proxies from HTTP(S)_PROXY would bypass the connection pinning and
        # the host checks below; newsbeam connects directly, always.
        self._session.trust_env = False
        adapter = _pinned_adapter(self._policy)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update(
            {
                "User-Agent": user_agent,
                "Accept-Encoding": "gzip, deflate" + (", br" if _has_brotli() else ""),
            }
        )
        self._timeout = timeout
        self._total_timeout = total_timeout if total_timeout else 3 * timeout
        self._url_deadline = url_deadline if url_deadline else self._total_timeout
        self._clock = clock
        self._max_bytes = max_bytes
        self._limit_name = limit_name  # the setting a too_large failure names
        self._max_redirects = max_redirects
        self._retries = retries
        self._backoff = backoff
        self._allow_private = allow_private_hosts
        self._sleep = sleep
        self._resolver = resolver

    @classmethod
    def from_settings(cls, fetch_settings, **kwargs) -> HttpFetcher:
        """``kwargs`` add to the settings or override them (``max_bytes`` and ``limit_name``: a
        feed's own limit, ``fetch.feed_max_bytes``)."""
        return cls(
            user_agent=fetch_settings.user_agent,
            timeout=fetch_settings.timeout,
            max_bytes=kwargs.pop("max_bytes", fetch_settings.max_bytes),
            max_redirects=fetch_settings.max_redirects,
            retries=fetch_settings.retries,
            backoff=fetch_settings.backoff,
            allow_private_hosts=fetch_settings.allow_private_hosts,
            url_deadline=fetch_settings.url_deadline,
            **kwargs,
        )

    def close(self) -> None:
        self._session.close()

    def get(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        deadline: float | None = None,
        *,
        max_redirects: int | None = None,
        stay_on_site: bool = False,
        prefix: int | None = None,
        content_types: frozenset[str] | None = None,
    ) -> HttpResponse:
        """GET ``url`` within ``url_deadline`` seconds in all, or by ``deadline``
        (a ``clock()`` value) if that comes first.  ``max_redirects`` lowers the
        fetcher's own limit (what a chain begun elsewhere has left); with
        ``stay_on_site`` a redirect to another origin raises ``OffSiteRedirect``;
        with ``prefix`` at most that many bytes of the body are read, the rest
        left unread (``truncated``) instead of ``too_large`` (``max_bytes`` does not apply);
        with ``content_types`` a 2xx answer of another declared type raises ``not_html`` unread."""
        if prefix is not None and prefix <= 0:
            raise ValueError("HttpFetcher.get: prefix must be positive")
        limit = self._max_redirects if max_redirects is None else max(0, max_redirects)
        end = self._clock() + self._url_deadline
        if deadline is not None:
            end = min(end, deadline)
        attempt = 0
        while True:
            attempt += 1
            if self._clock() >= end:
                raise FetchError("timeout", f"no time left to fetch {url} (deadline passed)", url=url)
            try:
                response = self._get_guarded(url, headers, end, limit, stay_on_site, prefix, content_types)
            except FetchError as exc:
                if (
                    exc.reason in _RETRY_REASONS
                    and attempt <= self._retries
                    and self._pause(attempt, None, end)
                ):
                    continue
                raise
            if (
                response.status in _RETRY_STATUSES
                and attempt <= self._retries
                and self._pause(attempt, response.headers.get("retry-after"), end)
            ):
                continue
            if not (200 <= response.status < 300 or (response.status == 304 and _conditional(headers))):
                raise FetchError(
                    f"http_{response.status}",
                    f"HTTP {response.status} from {response.url}",
                    status=response.status,
                    url=response.url,
                    retry_after=parse_retry_after(response.headers.get("retry-after")),
                )
            return dataclasses.replace(response, attempts=attempt)

    def _get_guarded(
        self,
        url: str,
        headers: Mapping[str, str] | None,
        end: float,
        limit: int,
        stay_on_site: bool,
        prefix: int | None,
        content_types: frozenset[str] | None = None,
    ) -> HttpResponse:
        """``_get_once``, with any other exception a ``bad_response`` of this URL: an answer that
        breaks requests or urllib3 in a way no ``RequestException`` covers (a Latin-1 byte in a
        Location, an empty IP literal, superscript digits in a header each did) ended the whole
        run with a traceback."""
        try:
            return self._get_once(url, headers, end, limit, stay_on_site, prefix, content_types)
        except FetchError:
            raise
        except Exception as exc:
            _LOG.debug("unexpected error fetching %s", url, exc_info=True)
            raise FetchError(
                "bad_response", f"malformed answer from {url}: {type(exc).__name__}: {_short(exc)}", url=url
            ) from None

    def _pause(self, attempt: int, retry_after: str | None, end: float) -> bool:
        """Sleep before retry ``attempt``; False (no sleep) when the pause would
        end past ``end``: the retry could not finish in time anyway."""
        delay = self._backoff * (2 ** (attempt - 1)) + random.uniform(0, self._backoff)
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            delay = max(delay, min(hinted, _MAX_RETRY_AFTER))
        if self._clock() + delay >= end:
            return False
        self._sleep(delay)
        return True

    def _get_once(
        self,
        url: str,
        headers: Mapping[str, str] | None,
        end: float,
        limit: int,
        stay_on_site: bool,
        prefix: int | None,
        content_types: frozenset[str] | None = None,
    ) -> HttpResponse:
        current, moved, permanent = url, None, True
        for hop in range(limit + 1):
            check_url(current, self._allow_private, self._resolver)
            left = end - self._clock()
            if left <= 0:
                raise FetchError("timeout", f"deadline passed while following redirects from {url}", url=url)
            watchdog = _Watchdog(min(self._total_timeout, left))
            self._policy.local.watchdog = watchdog
            try:
                response, location, status = self._hop(
                    current, headers, watchdog, min(self._timeout, left), prefix, content_types
                )
            finally:
                watchdog.cancel()
                self._policy.local.watchdog = None
            if response is not None:
                return dataclasses.replace(response, moved_to=moved) if moved else response
            permanent = permanent and status in _PERMANENT_REDIRECTS
            if permanent:
                moved = location
            if stay_on_site and hop < limit and origin_of(location) != origin_of(current):
                check_url(location, self._allow_private, self._resolver)
                raise OffSiteRedirect(
                    f"{current} redirects to another origin: {location}", url=location, status=status,
                    redirects=hop + 1,
                )  # fmt: skip
            current = location
        raise FetchError(
            "too_many_redirects",
            f"more than {limit} redirects from {url}",
            url=url,
        )

    def _hop(
        self,
        url: str,
        headers,
        watchdog: _Watchdog,
        timeout: float,
        prefix: int | None = None,
        content_types: frozenset[str] | None = None,
    ) -> tuple[HttpResponse | None, str | None, int]:
        """One request: (response, None, status), or (None, next URL, status) for a redirect."""
        import requests

        try:
            resp = self._session.get(
                url,
                headers=dict(headers or {}),
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.SSLError as exc:
            raise FetchError("ssl_error", f"TLS error for {url}: {_short(exc)}", url=url) from None
        except requests.exceptions.Timeout:
            raise FetchError("timeout", f"timed out after {timeout:g}s: {url}", url=url) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema) as exc:
            raise FetchError("bad_url", f"invalid URL {url}: {_short(exc)}", url=url) from None
        except requests.exceptions.RequestException as exc:
            if watchdog.fired:
                raise FetchError("timeout", f"no response within the deadline: {url}", url=url) from None
            from urllib3.exceptions import ProtocolError

            if isinstance(
                exc.args[0] if exc.args else None, ProtocolError
            ):  # connected, then no valid answer
                what = "no valid answer from"  # reset, closed, a bad status line, too many headers
            else:
                what = "cannot connect to"
            raise FetchError("connection_error", f"{what} {url}: {_short(exc)}", url=url) from None
        except FetchError as exc:  # refused by the pinned connection
            exc.url = exc.url or url
            raise
        with resp:
            if resp.status_code in _REDIRECT_STATUSES and resp.headers.get("location"):
                try:
                    return None, urljoin(url, redirect_target(resp.headers["location"])), resp.status_code
                except ValueError:
                    raise FetchError(
                        "bad_url", f"invalid redirect from {url}", status=resp.status_code, url=url
                    ) from None
            mime = _mime_type(resp.headers.get("content-type") or "")[0]
            checked = content_types is not None and 200 <= resp.status_code < 300 and bool(mime)
            sniff = checked and mime in SNIFFED_TYPES  # a type that says nothing: the body tells
            if checked and not sniff and mime not in content_types:
                raise FetchError("not_html", f"{url} is {mime}, not HTML", status=resp.status_code, url=url)
            body, truncated = self._read_body(resp, url, watchdog, prefix, sniff=mime if sniff else None)
            return (
                HttpResponse(
                    url=url,
                    status=resp.status_code,
                    headers={k.lower(): v for k, v in resp.headers.items()},
                    content=body,
                    truncated=truncated,
                ),
                None,
                resp.status_code,
            )

    @staticmethod
    def _sniffed(head: bytes, mime: str, resp, url: str) -> None:
        if not looks_like_markup(head):
            raise FetchError(
                "not_html", f"{url} is {mime} and does not start as an HTML page",
                status=resp.status_code, url=url,
            )  # fmt: skip

    def _read_body(
        self, resp, url: str, watchdog: _Watchdog, prefix: int | None = None, sniff: str | None = None
    ) -> tuple[bytes, bool]:
        """Read the decoded body in chunks, stopping at the size cap and the deadline;
        with ``prefix``, stopping after that many bytes instead: (body, whether there was more).
        ``sniff`` (the declared type, one of ``SNIFFED_TYPES``): once its first ``SNIFF_BYTES``
        have arrived, a body that does not start as an HTML document (``looks_like_markup``) is
        ``not_html``, the rest left unread.

        ``read1`` returns whatever one socket read brings (decoded and capped at
        ``_CHUNK``); ``iter_content`` would block until a whole chunk arrived.
        """
        from urllib3.exceptions import DecodeError, HTTPError, ProtocolError, ReadTimeoutError

        declared = (resp.headers.get("content-length") or "").strip()
        if prefix is None and _ascii_digits(declared) and int(declared) > self._max_bytes:
            raise FetchError(
                "too_large",
                f"{url} declares {declared} bytes (limit {self._max_bytes}, {self._limit_name})",
                status=resp.status_code, url=url,
            )  # fmt: skip
        raw = resp.raw
        chunks, size = [], 0
        try:
            decode = not _gzip_label_lies(resp)
            while True:
                chunk = raw.read1(_CHUNK, decode_content=decode)
                if watchdog.fired:
                    break
                if not chunk:
                    break
                size += len(chunk)
                if prefix is not None and size > prefix:
                    chunks.append(chunk[: len(chunk) - (size - prefix)])
                    return b"".join(chunks), True  # the rest is left unread: the connection is closed
                chunks.append(chunk)
                if sniff and size >= SNIFF_BYTES:
                    self._sniffed(b"".join(chunks), sniff, resp, url)
                    sniff = None
                if prefix is None and size > self._max_bytes:
                    raise FetchError(
                        "too_large",
                        f"{url} is larger than {self._max_bytes} bytes ({self._limit_name})",
                        status=resp.status_code, url=url,
                    )  # fmt: skip
        except DecodeError as exc:
            raise FetchError(
                "decode_error",
                f"cannot decode body of {url}: {_short(exc)}",
                status=resp.status_code,
                url=url,
            ) from None
        except (HTTPError, OSError) as exc:
            if watchdog.fired or isinstance(exc, (ReadTimeoutError, TimeoutError)):
                raise FetchError("timeout", f"timed out reading {url}", url=url) from None
            if isinstance(exc, ProtocolError) and "incomplete" in str(exc).lower():
                end = "declared Content-Length" if declared else "last chunk"  # chunked: no length
                raise FetchError(
                    "incomplete_body", f"{url}: connection closed before the {end}",
                    status=resp.status_code, url=url,
                ) from None  # fmt: skip
            raise FetchError("connection_error", f"reading {url}: {_short(exc)}", url=url) from None
        if watchdog.fired:
            raise FetchError("timeout", f"body of {url} not received within the deadline", url=url)
        if sniff:  # the whole body was shorter than SNIFF_BYTES
            self._sniffed(b"".join(chunks), sniff, resp, url)
        if size and _gzip_cut_short(raw):
            raise FetchError(
                "incomplete_body", f"{url}: its gzip body ends before the end of its compressed data",
                status=resp.status_code, url=url,
            )  # fmt: skip
        return b"".join(chunks), False


# Declared types that say nothing of the body: a web server or bucket with no type for the file
# (S3 and others answer binary/octet-stream for an object uploaded without one).  An HTML page
# served so is read far enough to tell (``looks_like_markup``); before, it was refused unread as
# not_html, and given up at once.
SNIFFED_TYPES = frozenset(
    {"application/octet-stream", "binary/octet-stream", "application/unknown", "unknown/unknown"}
)
SNIFF_BYTES = 1024
# The WHATWG MIME sniffing standard's HTML patterns (section 7.1): a tag name that opens an HTML
# document, after optional white space, followed by a space or ">".
_MARKUP_OPENINGS = tuple(
    f"<{tag}".encode()
    for tag in ("!doctype html", "html", "head", "script", "iframe", "h1", "div", "font", "table",
                "a", "style", "title", "b", "body", "br", "p", "!--", "meta", "article")
)  # fmt: skip


def looks_like_markup(head: bytes) -> bool:
    """Whether a body starts as an HTML document (pure; a UTF-8 byte order mark and leading white
    space aside): the WHATWG sniffing patterns, ``<meta`` and ``<article`` added."""
    text = head[:SNIFF_BYTES].lstrip(b"\xef\xbb\xbf").lstrip(b" \t\r\n\x0c").lower()
    for opening in _MARKUP_OPENINGS:
        if text.startswith(opening):
            rest = text[len(opening) : len(opening) + 1]
            if opening == b"<!--" or rest in (b" ", b">", b"\t", b"\n", b"\r", b"\x0c", b"/"):
                return True
    return False


def _gzip_label_lies(resp) -> bool:
    """Whether a body labelled ``Content-Encoding: gzip`` plainly is not gzip: its first bytes
    (peeked, not consumed) are not the gzip magic number.  Such a server (a static file server
    or CDN adding the header to a file it did not compress) had the feed or page fail with
    ``decode_error`` on every poll, where feed readers and feedparser's own fetching read the
    body as it is; it is read as it is here too.  A body that starts as gzip and is damaged
    later stays a ``decode_error``."""
    if (resp.headers.get("content-encoding") or "").strip().lower() not in ("gzip", "x-gzip"):
        return False
    if (resp.headers.get("content-length") or "").strip() == "0" or resp.status_code in (204, 304):
        return False  # no body to peek at (peeking would wait for bytes that never come)
    peek = getattr(getattr(resp.raw, "_fp", None), "peek", None)
    if peek is None:
        return False
    head = peek(2)[:2]
    return bool(head) and not b"\x1f\x8b".startswith(head)


def _gzip_cut_short(raw) -> bool:
    """Whether the body just read was ``Content-Encoding: gzip`` and ended inside its first gzip
    member: a server (or a proxy) that cut the compressed stream while its ``Content-Length``
    or last chunk said the transfer was whole.  urllib3 returns what it could decompress
    without a word, so a truncated feed came back as its first items, parsed as a healthy feed
    whose new validators then hid the missing items from every later poll.  Reads urllib3's
    decoder state (``GzipDecoder``: its zlib object reached no end); a urllib3 without it
    answers False."""
    from urllib3 import response

    gzip_decoder = getattr(response, "GzipDecoder", None)
    first_member = getattr(getattr(response, "GzipDecoderState", None), "FIRST_MEMBER", 0)
    decoder = getattr(raw, "_decoder", None)
    for part in getattr(decoder, "_decoders", None) or [decoder]:  # MultiDecoder: gzip, br
        if gzip_decoder is None or not isinstance(part, gzip_decoder):
            continue
        stream = getattr(part, "_obj", None)
        if getattr(part, "_state", None) == first_member and getattr(stream, "eof", True) is False:
            return True
    return False


def _conditional(headers: Mapping[str, str] | None) -> bool:
    """Whether the request carried a validator, so that a 304 answers it (a 304 to a request
    without one is a broken server: a feed answering it looked healthy and 'not modified'
    forever, a page came back as 0 characters of text)."""
    return any(name.lower() in ("if-none-match", "if-modified-since") for name in headers or {})


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _ascii_digits(value: str) -> bool:
    """True for a non-empty run of ASCII digits: ``str.isdigit`` also takes the superscripts
    ``²``, ``³`` and ``¹``, which a header decoded as Latin-1 can hold and ``int()`` refuses."""
    return value.isascii() and value.isdigit()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date, at most
    ``MAX_RETRY_AFTER_SECONDS`` (a 400-digit value is not infinity); None when unreadable."""
    if not value:
        return None
    value = value.strip()
    if _ascii_digits(value):
        seconds = float(value)  # float('9' * 400) is inf
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when is None or when.tzinfo is None:
            return None
        seconds = max(0.0, when.timestamp() - time.time())
    return min(seconds, MAX_RETRY_AFTER_SECONDS)


def _has_brotli() -> bool:
    try:
        import brotli  # noqa: F401
    except ImportError:
        return False
    return True
