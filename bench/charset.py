"""How often a legacy-encoded page decodes to exactly its text: main's decoding
against transforms/charset.py's ``decode_html``, and the guess policies side by side.

    python bench/charset.py [--data DIR] [--max-pages N]

The corpus is made here, from text in the repository:

* ``bench/data/charset_texts.json``: a title and two or three news paragraphs in
  French, German, Spanish, Portuguese, Polish, Czech, Russian, Greek, Turkish,
  Japanese, Chinese (simplified and traditional) and Korean, each with the legacy
  encodings its pages were written in (cp1252, cp1250, iso-8859-2, cp1251, koi8-r,
  iso-8859-7, shift_jis, euc-jp, gbk, big5, euc-kr, ...), and UTF-8 for all;
* the English pages under tests/fixtures and config/demo_site, in cp1252 (their curly
  quotes and dashes are the only non-ASCII bytes) and UTF-8;
* optionally the ScrapingHub pages (``--data DIR`` holding ``html/<id>.html``, default
  ``$NEWSBEAM_BENCH_DATA/extraction``; skipped with a message when absent), in cp1252
  when they encode in it (characters it lacks are replaced by ``?`` first).

Each text is served at three lengths: ``title`` (a page holding only the title),
``paragraph`` (title and first paragraph) and ``page`` (every paragraph inside some
8 kB of ASCII markup: navigation, a script, a footer; the English pages are
themselves).  Each is declared four ways: ``none`` (no charset anywhere: a saved
file, or a server that names none), ``http-utf8`` (the HTTP header says utf-8, the
bytes are not), ``http`` (the header names the right charset) and ``meta`` (only a
``<meta charset>`` names it); UTF-8 bytes get ``http-latin1`` (a server's
ISO-8859-1 default) instead of ``http-utf8``.  A decoding counts when it equals the
text exactly (the text is the encoded bytes decoded by their own encoding).

``main`` is the decoding before transforms/charset.py: the HTTP charset if the bytes
decode under it, else trafilatura's ``decode_file`` (UTF-8, then charset_normalizer's
guesses).  ``new`` is ``decode_html`` as it ships; ``cn`` is ``decode_html`` whose
guess is charset_normalizer's (the detector main used, without its preemptive meta
search) instead of chardetng's; ``ng`` is chardetng's guess alone, with no
windows-1252 preference; ``weak<N>`` prefers windows-1252 when the two readings differ
in fewer than N characters (``new`` is ``weak8``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.benchdata import data_root  # noqa: E402

TEXTS = REPO / "bench" / "data" / "charset_texts.json"
ENGLISH_PAGES = [
    *sorted((REPO / "tests" / "fixtures").rglob("*.html")),
    *sorted((REPO / "config" / "demo_site").rglob("*.html")),
]
LABELS = {"cp1252": "windows-1252", "cp1250": "windows-1250", "cp1251": "windows-1251",
          "cp1253": "windows-1253", "cp1254": "windows-1254"}  # fmt: skip
_DECLARATION_RE = re.compile(rb"<meta[^>]*charset[^>]*>|<\?xml[^>]*\?>", re.IGNORECASE)

_NAV = "".join(
    f'<li><a href="/section/{n}/index.html" class="nav-link">Section {n}</a></li>' for n in range(60)
)
_SCRIPT = (
    "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
    "gtag('js',new Date());gtag('config','UA-000000-1',{anonymize_ip:true});"
    + "var slots=["
    + ",".join(f"{{id:'ad-{n}',sizes:[[300,250],[728,90]]}}" for n in range(40))
    + "];"
    + "</script>"
)
_FOOTER = "".join(f'<a href="/about/{n}">About link {n}</a> ' for n in range(60))


def _page(title: str, paragraphs: list[str], head: str = "", whole: bool = True) -> str:
    body = "".join(f"<p>{p}</p>\n" for p in paragraphs)
    if not whole:
        return (
            f"<!DOCTYPE html><html><head>{head}<title>{title}</title></head>"
            f"<body><h1>{title}</h1>\n{body}</body></html>"
        )
    return (
        f'<!DOCTYPE html><html><head>{head}<meta name="viewport" content="width=device-width">'
        f'<title>{title}</title><link rel="stylesheet" href="/static/site.css">{_SCRIPT}</head>'
        f"<body><header><nav><ul>{_NAV}</ul></nav></header><main><article><h1>{title}</h1>\n{body}"
        f"</article></main><footer>{_FOOTER}</footer></body></html>"
    )


def _samples(data: Path | None, max_pages: int):
    """Yield (group, encoding, length, html text with a {head} slot filled by the caller)."""
    for lang, spec in json.loads(TEXTS.read_text(encoding="utf-8")).items():
        title, paragraphs = spec["title"], spec["paragraphs"]
        for encoding in [*spec["encodings"], "utf-8"]:
            yield lang, encoding, "title", lambda head, t=title: _page(t, [], head, whole=False)
            yield (
                lang,
                encoding,
                "paragraph",
                lambda head, t=title, p=paragraphs[0]: _page(t, [p], head, False),
            )
            yield lang, encoding, "page", lambda head, t=title, p=paragraphs: _page(t, p, head)
    english = [("en", path.read_bytes()) for path in ENGLISH_PAGES]
    if data is not None:
        english += [
            ("en-sh", path.read_bytes()) for path in sorted((data / "html").glob("*.html"))[:max_pages]
        ]
    for group, raw in english:
        stripped = _DECLARATION_RE.sub(b"", raw).decode("utf-8", errors="replace")
        head_at = stripped.lower().find("<head>")
        cut = head_at + len("<head>") if head_at >= 0 else 0
        for encoding in ("cp1252", "utf-8"):
            yield group, encoding, "page", lambda head, s=stripped, c=cut: s[:c] + head + s[c:]


def _cases(data: Path | None, max_pages: int):
    """Yield (group, encoding, length, declaration, bytes, transport, expected text)."""
    for group, encoding, length, make in _samples(data, max_pages):
        label = LABELS.get(encoding, encoding)
        plain = make("").encode(encoding, errors="replace")
        expected = plain.decode(encoding)
        if plain.isascii():
            continue  # nothing to decode wrongly
        yield group, encoding, length, "none", plain, None, expected
        if encoding == "utf-8":
            yield group, encoding, length, "http-latin1", plain, "ISO-8859-1", expected
        else:
            yield group, encoding, length, "http-utf8", plain, "utf-8", expected
        yield group, encoding, length, "http", plain, label, expected
        meta = make(f'<meta charset="{label}">').encode(encoding, errors="replace")
        yield group, encoding, length, "meta", meta, None, meta.decode(encoding)


def main_decode(content: bytes, transport: str | None) -> str:
    """transforms/extract.py's process() and extraction._decode before charset.py."""
    from trafilatura.utils import decode_file

    if transport:
        try:
            return content.decode(transport)
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_file(content)


def _policy(weak: int | None):
    """decode_html with WEAK_EVIDENCE = ``weak``; None: with charset_normalizer's guess
    (its best match that decodes the bytes) in place of chardetng's."""
    from newsbeam.transforms import charset

    def normalizer_guess(content: bytes, url: str | None):
        from charset_normalizer import from_bytes

        for match in from_bytes(content, preemptive_behaviour=False):
            codec = charset._codec(match.encoding)
            text = charset._strict(content, codec) if codec and codec != "utf-8" else None
            if text is not None:
                return text, codec
        return None

    def decode(content: bytes, transport: str | None) -> str:
        saved = charset.WEAK_EVIDENCE, charset._guess
        charset.WEAK_EVIDENCE = weak or 0
        if weak is None:
            charset._guess = normalizer_guess
        try:
            return charset.decode_html(content, transport).text
        finally:
            charset.WEAK_EVIDENCE, charset._guess = saved

    return decode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="ScrapingHub benchmark folder with html/ (optional)")
    parser.add_argument("--max-pages", type=int, default=60, help="ScrapingHub pages to use (default 60)")
    args = parser.parse_args(argv)
    data = args.data or data_root() / "extraction"
    if not (data / "html").is_dir():
        where = "--data" if args.data else f"$NEWSBEAM_BENCH_DATA/extraction ({data})"
        print(
            f"note: no ScrapingHub pages at {where}; the corpus is the repository's text only",
            file=sys.stderr,
        )
        if args.data:
            return 2
        data = None

    from newsbeam.transforms.charset import WEAK_EVIDENCE

    decoders = {"main": main_decode, "cn": _policy(None), "ng": _policy(0)}
    for weak in (4, 8, 16, 32):
        decoders[f"weak{weak}"] = _policy(weak)
    decoders["new"] = decoders.pop(f"weak{WEAK_EVIDENCE}")

    right: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seconds: dict[str, float] = defaultdict(float)
    wrong_new: list[str] = []
    for group, encoding, length, declaration, content, transport, expected in _cases(data, args.max_pages):
        for name, decode in decoders.items():
            started = time.process_time()
            ok = decode(content, transport) == expected
            seconds[name] += time.process_time() - started
            right[(encoding, declaration)][name] += ok
            right[(encoding, length, declaration, group)][name] += ok
            if name == "new" and not ok:
                wrong_new.append(f"{group}/{encoding}/{length}/{declaration}")
        right[(encoding, declaration)]["n"] += 1
        right[(encoding, length, declaration, group)]["n"] += 1

    names = list(decoders)
    declarations = ["none", "http-utf8", "http-latin1", "http", "meta"]
    encodings = sorted({key[0] for key in right}, key=lambda e: (e == "utf-8", e))
    print("Exactly-correct decodings, main -> new (count/total), by encoding and declaration:\n")
    print("| encoding | " + " | ".join(declarations) + " |")
    print("|---|" + "---|" * len(declarations))
    for encoding in encodings:
        cells = []
        for declaration in declarations:
            row = right.get((encoding, declaration))
            cells.append(f"{row['main']}->{row['new']}/{row['n']}" if row else "")
        print(f"| {encoding} | " + " | ".join(cells) + " |")

    print("\nGuess policies on undeclared and mis-declared bytes (share exactly correct):\n")
    print("| encoding | n | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    totals: dict[str, int] = defaultdict(int)
    for encoding in encodings:
        rows = [right[(encoding, d)] for d in ("none", "http-utf8", "http-latin1") if (encoding, d) in right]
        n = sum(r["n"] for r in rows)
        totals["n"] += n
        cells = []
        for name in names:
            count = sum(r[name] for r in rows)
            totals[name] += count
            cells.append(f"{count / n:.0%}")
        print(f"| {encoding} | {n} | " + " | ".join(cells) + " |")
    print(
        "| all | {} | ".format(totals["n"])
        + " | ".join(f"{totals[n] / totals['n']:.1%}" for n in names)
        + " |"
    )

    print("\nBy length, undeclared (none), main -> new:\n")
    for length in ("title", "paragraph", "page"):
        keys = [k for k in right if len(k) == 4 and k[1] == length and k[2] == "none"]
        n = sum(right[k]["n"] for k in keys)
        print(
            f"  {length:9s} {sum(right[k]['main'] for k in keys)}->{sum(right[k]['new'] for k in keys)}/{n}"
        )
    cases = right_total = sum(v["n"] for k, v in right.items() if len(k) == 2)
    print(
        f"\nCPU per decoding (ms, {cases} cases): "
        + ", ".join(f"{n} {seconds[n] / right_total * 1000:.2f}" for n in names)
    )
    if wrong_new:
        print(f"\nnew decodes {len(wrong_new)} cases wrongly: " + ", ".join(wrong_new[:40]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
