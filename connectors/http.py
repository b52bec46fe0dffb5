"""A guarded HTTP GET shared by the feed reader and the page fetcher.

``HttpFetcher.get`` follows redirects itself so that every hop is checked:
only http and https; no private, loopback or link-local address unless
``allow_private_hosts`` (link-local, where cloud metadata services live, is
refused even then); at most ``max_redirects`` hops; at most ``max_bytes`` of
body, read in chunks so a huge or endless response is cut off.  Timeouts,
connection errors, 429 and 5xx are retried ``retries`` times with exponential
backoff and jitter, honouring ``Retry-After``; everything else is final.

Failures raise ``FetchError`` with a short stable ``reason`` (``http_404``,
``timeout``, ``too_large``, ``blocked_host``, ``too_many_redirects``,
``connection_error``, ``ssl_error``, ``bad_url``), which the stages turn into
failure documents.  TLS certificates are always verified.
"""

from __future__ import annotations

import dataclasses
import email.utils
import ipaddress
import random
import socket
import time
from collections.abc import Callable, Mapping
from urllib.parse import urljoin, urlsplit

__all__ = ["FetchError", "HttpFetcher", "HttpResponse", "check_url"]

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_LINK_LOCAL_V4 = ipaddress.ip_network("169.254.0.0/16")
_LINK_LOCAL_V6 = ipaddress.ip_network("fe80::/10")


class FetchError(Exception):
    """A failed GET: ``reason`` is a stable code, ``status`` the HTTP status."""

    def __init__(
        self,
        reason: str,
        message: str,
        status: int | None = None,
        url: str | None = None,
    ):
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.url = url


@dataclasses.dataclass(frozen=True)
class HttpResponse:
    url: str  # final URL, after redirects
    status: int
    headers: Mapping[str, str]
    content: bytes
    attempts: int = 1

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("content-type")
        return value.split(";")[0].strip().lower() if value else None

    @property
    def charset(self) -> str | None:
        value = self.headers.get("content-type") or ""
        for part in value.split(";")[1:]:
            key, _, val = part.partition("=")
            if key.strip().lower() == "charset" and val.strip():
                return val.strip().strip("\"'")
        return None


def _is_link_local(ip: ipaddress._BaseAddress) -> bool:
    return ip in (_LINK_LOCAL_V4 if ip.version == 4 else _LINK_LOCAL_V6)


def check_url(url: str, allow_private: bool, resolver: Callable = socket.getaddrinfo) -> None:
    """Raise ``FetchError('blocked_host' | 'bad_url')`` unless ``url`` may be fetched."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError("bad_url", f"not a valid URL: {url}", url=url) from None
    if parts.scheme not in ("http", "https"):
        raise FetchError("bad_url", f"scheme {parts.scheme!r} is not allowed: {url}", url=url)
    host = parts.hostname
    if not host:
        raise FetchError("bad_url", f"no host in URL: {url}", url=url)
    try:
        infos = resolver(
            host,
            port or (443 if parts.scheme == "https" else 80),
            0,
            socket.SOCK_STREAM,
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError("dns_error", f"cannot resolve {host}: {exc}", url=url) from None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        if _is_link_local(ip):
            raise FetchError("blocked_host", f"{host} resolves to link-local {ip}", url=url)
        if not ip.is_global and not allow_private:
            raise FetchError(
                "blocked_host",
                f"{host} resolves to non-public {ip} (use --allow-private-hosts to allow it)",
                url=url,
            )


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
        sleep: Callable[[float], None] = time.sleep,
        resolver: Callable = socket.getaddrinfo,
    ):
        import requests

        self._session = requests.Session()
        self._session.headers.update(
            {
                "User-Agent": user_agent,
                "Accept-Encoding": "gzip, deflate" + (", br" if _has_brotli() else ""),
            }
        )
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._retries = retries
        self._backoff = backoff
        self._allow_private = allow_private_hosts
        self._sleep = sleep
        self._resolver = resolver

    @classmethod
    def from_settings(cls, fetch_settings, **kwargs) -> HttpFetcher:
        return cls(
            user_agent=fetch_settings.user_agent,
            timeout=fetch_settings.timeout,
            max_bytes=fetch_settings.max_bytes,
            max_redirects=fetch_settings.max_redirects,
            retries=fetch_settings.retries,
            backoff=fetch_settings.backoff,
            allow_private_hosts=fetch_settings.allow_private_hosts,
            **kwargs,
        )

    def close(self) -> None:
        self._session.close()

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._get_once(url, headers)
            except FetchError as exc:
                if exc.reason in ("timeout", "connection_error") and attempt <= self._retries:
                    self._pause(attempt, None)
                    continue
                raise
            if response.status in _RETRY_STATUSES and attempt <= self._retries:
                self._pause(attempt, response.headers.get("retry-after"))
                continue
            if response.status >= 400:
                raise FetchError(
                    f"http_{response.status}",
                    f"HTTP {response.status} from {response.url}",
                    status=response.status,
                    url=response.url,
                )
            return dataclasses.replace(response, attempts=attempt)

    def _pause(self, attempt: int, retry_after: str | None) -> None:
        delay = self._backoff * (2 ** (attempt - 1)) + random.uniform(0, self._backoff)
        hinted = _parse_retry_after(retry_after)
        if hinted is not None:
            delay = max(delay, min(hinted, 60.0))
        self._sleep(delay)

    def _get_once(self, url: str, headers: Mapping[str, str] | None) -> HttpResponse:
        import requests

        current = url
        for _hop in range(self._max_redirects + 1):
            check_url(current, self._allow_private, self._resolver)
            try:
                resp = self._session.get(
                    current,
                    headers=dict(headers or {}),
                    timeout=self._timeout,
                    allow_redirects=False,
                    stream=True,
                )
            except requests.exceptions.SSLError as exc:
                raise FetchError(
                    "ssl_error", f"TLS error for {current}: {_short(exc)}", url=current
                ) from None
            except requests.exceptions.Timeout:
                raise FetchError(
                    "timeout",
                    f"timed out after {self._timeout}s: {current}",
                    url=current,
                ) from None
            except requests.exceptions.InvalidURL as exc:
                raise FetchError("bad_url", f"invalid URL {current}: {_short(exc)}", url=current) from None
            except requests.exceptions.RequestException as exc:
                raise FetchError(
                    "connection_error",
                    f"cannot connect to {current}: {_short(exc)}",
                    url=current,
                ) from None
            with resp:
                if resp.status_code in _REDIRECT_STATUSES and resp.headers.get("location"):
                    current = urljoin(current, resp.headers["location"])
                    continue
                body = self._read_body(resp, current)
                return HttpResponse(
                    url=current,
                    status=resp.status_code,
                    headers={k.lower(): v for k, v in resp.headers.items()},
                    content=body,
                )
        raise FetchError(
            "too_many_redirects",
            f"more than {self._max_redirects} redirects from {url}",
            url=url,
        )

    def _read_body(self, resp, url: str) -> bytes:
        import requests

        declared = resp.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self._max_bytes:
            raise FetchError(
                "too_large", f"{url} declares {declared} bytes (limit {self._max_bytes})",
                status=resp.status_code, url=url,
            )  # fmt: skip
        chunks, size = [], 0
        deadline = time.monotonic() + self._timeout * 3
        try:
            for chunk in resp.iter_content(65536):
                size += len(chunk)
                if size > self._max_bytes:
                    raise FetchError(
                        "too_large", f"{url} is larger than {self._max_bytes} bytes",
                        status=resp.status_code, url=url,
                    )  # fmt: skip
                if time.monotonic() > deadline:
                    raise FetchError("timeout", f"body of {url} took too long", url=url)
                chunks.append(chunk)
        except requests.exceptions.RequestException as exc:
            if isinstance(exc, (requests.exceptions.Timeout, requests.exceptions.ConnectionError)) and (
                "timed out" in str(exc).lower()
            ):
                raise FetchError("timeout", f"timed out reading {url}", url=url) from None
            raise FetchError("connection_error", f"reading {url}: {_short(exc)}", url=url) from None
        return b"".join(chunks)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _has_brotli() -> bool:
    try:
        import brotli  # noqa: F401
    except ImportError:
        return False
    return True
