"""Bytes to text for an HTML page, in the order of the WHATWG encoding sniffing
algorithm (https://html.spec.whatwg.org/multipage/parsing.html#encoding-sniffing-algorithm):

1. a byte order mark;
2. the transport's charset (the HTTP ``Content-Type``), if the bytes decode under it;
3. the page's own declaration, ``<meta charset>`` or ``<meta http-equiv=Content-Type>``
   (w3lib's prescan, the one Scrapy uses), if the bytes decode under it;
4. UTF-8, if the bytes are valid UTF-8;
5. a guess: Firefox's detector, chardetng (``_guess``), with windows-1252 preferred
   when the evidence for another single-byte code page is weak.

Two departures from the standard, both because a declaration here is often wrong
(a server's default, a template's ``<meta>``): a declaration the bytes do not decode
under strictly is passed over instead of decoding with replacement characters, and
bytes that are valid UTF-8 with non-ASCII in them are UTF-8 even when a single-byte
code page is declared (a server's ISO-8859-1 default over a UTF-8 page), since
Western text in a single-byte code page is almost never valid UTF-8 by chance.
Labels map as the Encoding Standard maps them (``latin1`` and ``ascii`` are
windows-1252, ``gbk`` is gb18030, ...), by w3lib's ``resolve_encoding``.
bench/charset.py measures the order and the guess against main's decoding.
"""

from __future__ import annotations

import codecs
import importlib
from functools import cache
from typing import NamedTuple
from urllib.parse import urlsplit

from w3lib.encoding import html_body_declared_encoding, read_bom, resolve_encoding

# Where the encoding came from: a value of Decoded.source.
SOURCES = ("bom", "transport", "meta", "utf-8", "guess", "fallback")

# The guess reads at most this many bytes (chardetng reads some 100 MB/s).
GUESS_LIMIT = 1 << 20
# A single-byte code page whose reading differs from windows-1252's in fewer
# characters than this is weak evidence against windows-1252 (a pound sign or a
# name in an English page).
WEAK_EVIDENCE = 8

_COMPRESSED = (b"\x1f\x8b\x08", b"\x28\xb5\x2f\xfd")


class Decoded(NamedTuple):
    text: str
    encoding: str  # a Python codec name
    source: str  # one of SOURCES


def _codec(label: str | None) -> str | None:
    """The Python codec for an encoding label, as the Encoding Standard maps it; None
    for an unknown label."""
    if not label:
        return None
    try:
        name = resolve_encoding(label.strip().strip("\"'"))
    except (TypeError, ValueError):
        return None
    # The Encoding Standard's "UTF-16" label means little-endian without a BOM.
    return {"utf-16": "utf-16-le", "utf-32": "utf-32-le"}.get(name or "", name)


def _strict(content: bytes, codec: str) -> str | None:
    try:
        return content.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


@cache
def _is_single_byte(codec: str) -> bool:
    """Whether ``codec`` is a single-byte code page (a charmap codec: cp1252, koi8-r, ...)."""
    try:
        name = codecs.lookup(codec).name
        module = importlib.import_module("encodings." + name.replace("-", "_"))
    except (LookupError, ImportError):
        return False
    return hasattr(module, "decoding_table")


def _utf8_over(content: bytes, codec: str) -> str | None:
    """The UTF-8 text when the bytes are valid UTF-8 with non-ASCII in them and
    ``codec`` is a single-byte code page; else None."""
    if content.isascii() or not _is_single_byte(codec):
        return None
    return _strict(content, "utf-8")


def _tld(url: str | None) -> bytes | None:
    """The last label of ``url``'s host, the hint chardetng weighs as Firefox does."""
    if not url:
        return None
    host = (urlsplit(url).hostname or "").rstrip(".")
    label = host.rsplit(".", 1)[-1]
    if "." not in host or not label.isascii() or not label.isalpha():
        return None  # an IP address, localhost, or no host at all
    return label.lower().encode("ascii")


def _differing(text: str, other: str) -> int:
    """How many characters two single-byte readings of the same bytes differ in."""
    return sum(a != b for a, b in zip(text, other))


def _guess(content: bytes, url: str | None) -> tuple[str, str] | None:
    """Firefox's detector (chardetng) over the bytes, hinted by the URL's top-level
    domain; windows-1252, the Encoding Standard's default for Western locales, when
    chardetng names another single-byte code page and the two readings differ in
    fewer than WEAK_EVIDENCE characters (the pound sign of an English page reads as a
    Polish Ł in windows-1250)."""
    import chardetng_py

    tld = _tld(url)
    codec = _codec(chardetng_py.detect(content[:GUESS_LIMIT], allow_utf8=False, tld=tld))
    if codec is None:
        return None
    text = _strict(content, codec)
    # A country's domain is a hint chardetng weighs itself (.tr: windows-1254).
    hinted = tld is not None and len(tld) == 2
    if codec != "cp1252" and _is_single_byte(codec) and not hinted:
        western = _strict(content, "cp1252")
        if western is not None and (text is None or _differing(western, text) < WEAK_EVIDENCE):
            return western, "cp1252"
    return (text, codec) if text is not None else None


def _meta_codec(content: bytes) -> str | None:
    """The codec the page declares in a ``<meta>``; the prescan reads an ASCII-compatible
    page, so a declared UTF-16 or UTF-32 is UTF-8."""
    codec = _codec(html_body_declared_encoding(content))
    return "utf-8" if codec is not None and codec.startswith(("utf-16", "utf-32")) else codec


def decode_html(content: bytes, transport: str | None = None, url: str | None = None) -> Decoded:
    """Decode an HTML page's bytes; ``transport`` is the charset its HTTP response
    declared (None for a saved file), ``url`` where it came from, if known.  Never
    raises: bytes nothing decodes strictly come back decoded with replacement
    characters, under the first declaration if there is one, else under UTF-8."""
    if content.startswith(_COMPRESSED):  # a gzip or zstd body a server sent without Content-Encoding
        from trafilatura.utils import handle_compressed_file

        content = handle_compressed_file(content)
    bom, mark = read_bom(content)
    if bom is not None and mark is not None:
        return Decoded(content[len(mark) :].decode(bom, errors="replace"), bom, "bom")

    declared = []
    for source in ("transport", "meta"):  # the page's own declaration only when the header fails
        codec = _codec(transport) if source == "transport" else _meta_codec(content)
        if codec is None:
            continue
        declared.append(codec)
        text = _utf8_over(content, codec)
        if text is not None:
            return Decoded(text, "utf-8", "utf-8")
        text = _strict(content, codec)
        if text is not None:
            return Decoded(text, codec, source)

    text = _strict(content, "utf-8")
    if text is not None:
        return Decoded(text, "utf-8", "utf-8")

    guessed = _guess(content, url)
    if guessed is not None:
        return Decoded(guessed[0], guessed[1], "guess")

    codec = declared[0] if declared else "utf-8"
    return Decoded(content.decode(codec, errors="replace"), codec, "fallback")
