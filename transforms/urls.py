"""URL identity: normalization of entry links and canonical URLs.  Pure.

``normalize_url`` gives the form stored in ``urls`` and used for the
"already indexed?" lookup: scheme and host lower-cased (IDNA), default port and user info,
fragment and tracking parameters dropped, dot segments resolved, remaining
query parameters sorted and percent-encoded consistently (``w3lib``'s
canonicalization, the one Scrapy uses for request fingerprints).

``resolve_canonical`` accepts a page's ``rel=canonical`` only on the page's
own host (``www.`` aside) or a host configured as its alias
(``extract.canonical_aliases``): a registrable domain is not an owner on
shared hosting (``a.substack.com`` and ``b.substack.com`` are different
sites, and ``substack.com`` is not even in the Public Suffix List), so a
same-domain rule let one tenant's page claim another tenant's article id.
``same_site`` (registrable domain, with the Public Suffix List's private
section: ``a.github.io`` and ``b.github.io`` differ) stays for callers that
want a site, never an owner.

``CanonicalizeUrls`` is the pipeline stage that applies it to feed entries
and drops repeats of one URL within a run, keeping the entry of the first
feed in configuration order, so the result does not depend on arrival order.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import apache_beam as beam

from newsbeam.transforms.model import MAX_URL_CHARS, FeedEntry, parse_instant

__all__ = [
    "CanonicalizeUrls",
    "claims_canonical",
    "normalize_url",
    "is_front_page",
    "resolve_canonical",
    "same_host",
    "same_site",
]

# Parameters that identify a campaign or a click, never the document.
_TRACKING_EXACT = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "igshid", "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "ocid", "cmpid",
        "ncid", "ref_src", "ref_url", "smid", "sr_share", "icid", "ito", "xtor",
        "__twitter_impression", "at_medium", "at_campaign",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "at_", "hsa_", "vero_", "oly_", "__s")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_EXACT or lowered.startswith(_TRACKING_PREFIXES)


def normalize_url(url: str, base: str | None = None) -> str | None:
    """The normalized form of ``url`` (resolved against ``base``), or None
    when it is not an http(s) URL or longer than ``MAX_URL_CHARS``."""
    from w3lib.url import canonicalize_url

    if not url or not url.strip():
        return None
    candidate = url.strip()
    if base:
        try:
            candidate = urljoin(base, candidate)
        except ValueError:
            return None
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    candidate = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))
    try:
        canonical = canonicalize_url(candidate, keep_fragments=False)
    except (ValueError, UnicodeError):
        return None
    parts = urlsplit(canonical)
    netloc = parts.netloc.rpartition("@")[2]  # no user info: an article's identity holds no credentials
    if parts.port is not None and str(parts.port) == _DEFAULT_PORTS.get(parts.scheme):
        netloc = netloc.rsplit(":", 1)[0]
    normalized = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    return normalized if len(normalized) <= MAX_URL_CHARS else None  # too long for ``urls``


_WWW = re.compile(r"^www\d*\.")


def _site(host: str) -> str:
    from tld import get_fld

    host = host.lower().rstrip(".")
    registrable = get_fld(f"http://{host}", fail_silently=True, search_private=True)
    return registrable or _WWW.sub("", host)


def same_site(url_a: str, url_b: str) -> bool:
    """True when both URLs belong to one registrable domain (www.x.co.uk and
    x.co.uk do; x.co.uk and y.co.uk do not).  IP hosts must match exactly,
    port included."""
    a, b = urlsplit(url_a), urlsplit(url_b)
    if not a.hostname or not b.hostname:
        return False
    if _is_ip(a.hostname) or _is_ip(b.hostname):
        return a.netloc.lower() == b.netloc.lower()
    return _site(a.hostname) == _site(b.hostname)


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _host_key(parts) -> str:
    host = (parts.hostname or "").lower().rstrip(".")
    if _is_ip(host):
        return parts.netloc.lower()  # an IP host is its own site only with its port
    return _WWW.sub("", host)


def same_host(url_a: str, url_b: str, aliases: tuple[tuple[str, ...], ...] = ()) -> bool:
    """True when both URLs are on one host, ``www.`` aside (``www.x.com`` and
    ``x.com``; not ``a.substack.com`` and ``b.substack.com``), or on two hosts
    of one group in ``aliases`` (host names, compared without ``www.``).  IP
    hosts must match exactly, port included."""
    try:
        a, b = _host_key(urlsplit(url_a)), _host_key(urlsplit(url_b))
    except ValueError:
        return False
    if not a or not b:
        return False
    if a == b:
        return True
    for group in aliases:
        hosts = {_WWW.sub("", h.lower().rstrip(".")) for h in group}
        if a in hosts and b in hosts:
            return True
    return False


def resolve_canonical(
    final_url: str, canonical_href: str | None, aliases: tuple[tuple[str, ...], ...] = ()
) -> str:
    """The canonical URL of a fetched page: its ``rel=canonical`` when present,
    valid and on the page's own host (or an alias of it, see ``same_host``),
    else the normalized final URL.  A canonical that is its site's front page
    (``is_front_page``) names no article of a page that is not one: an error page
    or a misconfigured site that names it on every page made all of them one
    document, each overwriting the last."""
    normalized_final = normalize_url(final_url) or final_url
    if canonical_href:
        candidate = normalize_url(canonical_href, base=final_url)
        if (
            candidate
            and same_host(candidate, normalized_final, aliases)
            and (not is_front_page(candidate) or is_front_page(normalized_final))
        ):
            return candidate
    return normalized_final


def is_front_page(url: str) -> bool:
    """Whether ``url`` is a site's front page: the root path without a query (``/?p=123`` is
    an article of a site that addresses its pages by query)."""
    parts = urlsplit(url)
    return parts.path in ("", "/") and not parts.query


def claims_canonical(url: str, canonical_url: str) -> bool:
    """Whether the page at ``url`` names another URL, ``canonical_url``, as its article's (a
    comments, print or AMP page): such a page never replaces the article's own text."""
    return normalize_url(url) != canonical_url


class CanonicalizeUrls(beam.PTransform):
    """FeedEntry → FeedEntry with ``url`` normalized, one entry per URL.

    Entries whose link is not an http(s) URL are dropped and counted
    (``news.urls/invalid_link``); repeats of one URL across feeds keep the
    entry of the feed that comes first in configuration order (``order``),
    then the smallest feed URL, then the smallest link, then the latest
    ``updated`` time, so any arrival order gives the same result.
    """

    def __init__(self, feed_order: dict[str, int] | None = None):
        super().__init__()
        self._order = dict(feed_order or {})

    def expand(self, entries):
        order = self._order

        def rank(entry: FeedEntry):
            # Of one link listed twice in a feed (a live blog's item per update), the latest
            # revision, so that SkipKnown sees it whatever the arrival order.
            return (order.get(entry.feed_url, len(order)), entry.feed_url, entry.link, -_revised_at(entry))

        return (
            entries
            | "Normalize" >> beam.FlatMap(_normalize_entry)
            | "KeyByUrl" >> beam.Map(lambda e: (e.url, e))
            | "GroupByUrl" >> beam.GroupByKey()
            | "FirstFeed" >> beam.MapTuple(lambda _url, group: min(group, key=rank))
        )


_invalid = beam.metrics.Metrics.counter("news.urls", "invalid_link")


def _revised_at(entry: FeedEntry) -> float:
    """The entry's own ``updated`` time as a POSIX timestamp; -inf without one (or unreadable)."""
    when = parse_instant(entry.updated)
    return float("-inf") if when is None else when.timestamp()


def _normalize_entry(entry: FeedEntry):
    url = normalize_url(entry.link)
    if url is None:
        _invalid.inc()
        return
    yield dataclasses.replace(entry, url=url)
