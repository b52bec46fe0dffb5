r"""Article extraction: HTML in, body text and metadata out.

Pure functions plus one small process sandbox.

Body text
---------
``extract_article`` starts from plain trafilatura's output and corrects it mostly at its
edges, where a second extractor's text or the page itself says so (general signals only: line
lengths, word 4-gram containment between candidates, the page's declared summary and its link
texts, never a site rule):

* **base**: plain trafilatura (``include_comments=False``, its whole cascade: its own
  algorithm, then its readability and justext comparison) with tables kept: a standings or
  price table inside the article is its content.  The body is never much shorter than
  plain trafilatura's output: only short edge lines (rule 4) and inline promotions (rule 8)
  are cut, each within a fifth of the text, or a repeated copy of the article (rule 2);
* **reader**: trafilatura's bundled readability port, rendered one block per line, kept
  from the cascade's own comparison stage (not computed twice);
* **witness**: resiliparse's main-content ``html2text`` (high recall, cheap), computed only
  for an empty base;
* **own**: trafilatura's own algorithm alone (its ``fast`` mode, without the readability and
  justext comparison), computed only for a base that repeats itself.

Lengths ("tokens" below) are counted in words: a ``\w+`` token, except in scripts written
without spaces (Chinese, Japanese, Thai...), where a token is a whole clause and two characters
count as a word (``_size``), so a Chinese paragraph is a long line as an English one is.

Rules, numbered as they were added and applied in the order 1, 2, 3, 4, 8, 6, 5, 7 (each one
checked on the halves A of both benchmark sets, the
ScrapingHub pages with their 4-gram metric and trafilatura's annotated pages with its
snippet metric; the halves B are the estimate, see ``bench/extraction.py``):

1. *empty base*: when trafilatura returns nothing, the witness's text is the body (it
   supplies the text, it does not only vote; trafilatura's cascade has already tried the
   reader then).
2. *repeated text*: when at least ``REPEAT_SHARE`` of the base's 4-gram occurrences are
   repeats (the article twice or more: readability took the container of hidden copies, such
   as ``display:none`` schema.org blocks with their ``articleBody``, and the cascade adopted
   it for being more than twice as long), trafilatura's own text is the body, provided it
   repeats less than half as much and the base holds it (>= ``LEDE_CONTAINMENT`` of its
   4-grams).  A page whose own text repeats too (a recipe's repeated steps) keeps the base.
3. *lede*: when the reader holds the base (>= ``LEDE_CONTAINMENT`` of its 4-grams), its
   long lines (>= ``SHORT_LINE_TOKENS`` tokens) before the base's first line that the base
   lacks (a standfirst in the article header) are prepended; its short ones (title,
   byline, caption) are not.
4. *trim*: leading and trailing short lines (< ``SHORT_LINE_TOKENS`` tokens: captions,
   bylines, "read more", related links, newsletter boxes) that the reader lacks are cut,
   only when the reader lies inside the text (>= ``TRIM_COVERAGE`` of its 4-grams) and the
   cut stays within ``TRIM_MAX_SHARE`` of the tokens.  A long line (a standfirst, a
   paragraph) is never cut, and neither is a larger share: a reader that picked a side
   section would cut half an article.
5. *title*: the page's title (JSON-LD headline, ``og:title``, ``<title>``...) repeated in
   the first ``TITLE_LINES`` lines is metadata, not body, and is dropped.
6. *dangling heading*: short last lines (< ``SHORT_LINE_TOKENS`` tokens) ending with a
   colon ("Read also:", "More on this topic:") announce a box that is not in the body; they
   are dropped (before rule 5; no reader needed).  Checked on both halves A: one page better
   on each set, none worse.
7. *declared standfirst*: the page's declared summary (``og:description``, ``description``,
   ``twitter:description``, JSON-LD ``description``; the first of >= ``STANDFIRST_MIN_TOKENS``
   tokens) that the body lacks is prepended when the page also shows it: an element of the
   page's ``<body>`` holds the same text (>= ``STANDFIRST_MATCH`` of the 4-grams, both ways),
   inside the same container as the body's first line (not only ``<body>``) and before it.
   The publisher's own summary, shown atop the article, is the standfirst trafilatura drops
   (a ``teaser`` class) and rule 3 cannot supply when it is short or the reader lacks it.  A
   summary that repeats the title, or is shown as the ``<h1>``, is the headline, not a
   standfirst; one of more than ``STANDFIRST_MAX_TOKENS`` tokens is not looked for.
   Checked on both halves A: annotated pages +0.004 (1 page won, none lost); ScrapingHub
   -0.001 (its references leave standfirsts out, as for rule 3).  Runs within the page's
   budget only.
8. *inline promotions*: body lines (anywhere, before rule 6) that are the text of one of the
   page's links to other pages and either written in capitals ("CLICK HERE TO GET THE APP", a
   related headline in capitals) or behind a short label and a colon or bar, full-width too ("READ MORE:
   <headline>", "Related | <headline>") are dropped, within ``TRIM_MAX_SHARE`` of the tokens.
   A line of that form that is not such a link stays: a caption ("Photo: ..."), a subheading in
   capitals, a numbered section heading ("Step 1: ..."), a heading a table of contents links to
   ("#..." links).  Checked on both halves A: ScrapingHub +0.002 (7 pages won, 2 lost);
   annotated pages unchanged.  Runs within the page's budget only.

Edge rules measured and NOT kept (each lost pages on a half A, or cost too much; see BENCHMARKS.md): a
trailing list of link lines, short link lines anywhere, a tail found in the page's
nav/aside/footer, leading link lines, the two edges trimmed separately, trailing short lines
without the reader's witness, contact lines, lines repeated on the page, and trafilatura's
``favor_precision`` pass as a second tail witness (too costly: a second trafilatura run,
0.8-1.0x plain's CPU, for +0.001); and, in a later round, a line-level majority vote among
trafilatura, the reader, resiliparse and justext (dropping lines most lack, or adding lines
most hold), long edge lines both the reader and resiliparse lack, figure captions found in
the page, repeated lines, and pruning hidden elements before extraction; and, in a fourth round,
one learned paragraph scorer over the body's lines (DOM, position and witness features; its
cross-validated gain on the halves A was not positive on both sets: ``bench/paragraph_scorer.py``).

Per-page budget: when the page has already used ``OPTIONAL_BUDGET_S`` of CPU time in
trafilatura, or its base is longer than ``OPTIONAL_MAX_CHARS`` (a book, not an article: the
rules' 4-gram counts grow with it), neither the reader nor the own text is used, no standfirst or promotion is
searched (only the empty-base, title and dangling-heading rules apply) and no date
is searched in the page's text (htmldate); date detection never runs htmldate's extensive
search.  A page nested past the HTML parser's 256 levels gets no resiliparse witness (its
time grows with the cube of the depth).  ``provenance`` records the extractor
versions, the method chosen and the signals.

Paywall: a page whose JSON-LD article is ``isAccessibleForFree`` false gets the signal
``paywalled`` (``extraction.signals.paywalled`` in the index): its body may be an opening and
a subscription offer.

Declared text: when the chosen body is empty (a client-rendered page: its HTML a shell a script
fills), the text the page's JSON-LD article declares is the body (method ``jsonld``): its
``articleBody``, or a live blog's ``liveBlogUpdate`` bodies, one paragraph a line.

Not an article
--------------
After the body is chosen (``_choose_body`` is not changed by it), ``not_article`` says why
the page is no article, on structure alone, never on the words it says, and only for a page
that declares none (``article_evidence``: an article ``og:type``, a schema.org type other
than ``WebPage``, a publication date in its metadata, an author):

* it asks search engines not to index it (``robots`` ``noindex``) and has fewer than
  ``NOINDEX_MAX_PARAGRAPHS`` long lines: an error page, an interstitial (a syndicated copy
  that asks the same keeps its article);
* its text is a login form's (a password field in the element around its first line);
* at least ``TEASER_SHARE`` of its body is teaser cards, each line beside or after a headline
  link to another page, in an element holding little more: a section front, a tag page (within
  the page's budget only).

None of the 284 benchmark pages is rejected (``bench/extraction.py`` counts them).

Metadata
--------
Title: the first declared title (JSON-LD ``headline`` > ``og:title`` > ``twitter:title``) that
the page's ``<title>`` shares a word with, else an ``<h1>`` the ``<title>`` confirms, else the
``<title>`` without its site-name parts; never a URL slug or the site's name alone (see
``_title``).  Character references left in JSON-LD text are decoded.

Published: JSON-LD ``datePublished`` > meta tags (``article:published_time`` ...) >
``<time datetime>`` > a date in the URL (``/2019/11/18/``, ``/2019/nov/18/``; the page's
``og:url`` or canonical link when no URL is given) > htmldate on the page text; converted to
UTC with ``published_has_time`` telling whether the page gave a time of day and
``published_source`` in ``jsonld``, ``meta``, ``time``, ``url``, ``text``.
``published_raw`` keeps the value as the page wrote it (local day).  Language: py3langid
on the body (ISO 639-1), else the ``<html lang>`` attribute.

Time limit and isolation
------------------------
``ExtractionSandbox`` runs ``extract_article`` in ONE persistent child process; a call that
exceeds its time limit kills and restarts the child and raises ``ExtractionTimeout``; a
child that dies raises ``ExtractionCrashed``.  Create it once per worker (a DoFn's
``setup()``), close it in ``teardown()``::

    sandbox = ExtractionSandbox()                 # setup()
    try:
        result = sandbox.extract_with_limit(html, url, timeout_s=10.0)
    except ExtractionTimeout:
        ...                                       # dead letter, reason "timeout"
    except ExtractionCrashed:
        ...                                       # dead letter, reason "extract_crash"
    sandbox.close()                               # teardown()

The child starts lazily on the first call, as ``python -m newsbeam.transforms.sandbox_child``
(fork and exec: safe in a threaded parent; it imports the extractor, never Beam, and needs no
``multiprocessing`` resource tracker; ``spawn`` where that cannot start); an idle sandbox
costs nothing.

``run_extract_dir(input_dir, output_path)`` writes one JSON line per ``*.html`` file.
"""

from __future__ import annotations

import concurrent.futures
import copy
import dataclasses
import datetime as dt
import json
import math
import multiprocessing
import os
import re
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from newsbeam.transforms.sandbox_child import CallFailed

__all__ = [
    "ExtractionCrashed",
    "ExtractionResult",
    "ExtractionSandbox",
    "ExtractionTimeout",
    "extract_article",
    "find_canonical_href",
    "parse_iso_datetime",
    "result_to_row",
    "run_extract_dir",
]

LEDE_CONTAINMENT = 0.9
TRIM_COVERAGE = 0.7
TRIM_LINE_PRESENCE = 0.5
TRIM_MAX_SHARE = 0.2
SHORT_LINE_TOKENS = 20
TITLE_LINES = 2
TITLE_H1_LIMIT = 3
STANDFIRST_MIN_TOKENS = 10
STANDFIRST_MATCH = 0.9
STANDFIRST_MAX_TOKENS = 120
HOLDER_LEVELS = 4
PROMO_LABEL_TOKENS = 4
CAPITALS_SHARE = 0.9
PROMO_MAX_CHARS = 250
PROMO_MAX_WORDS = 40
PROMO_MIN_LETTERS = 8
PROMO_LINK_SHARE = 0.7
OPTIONAL_BUDGET_S = 0.5
OPTIONAL_MAX_CHARS = 200_000
REPEAT_SHARE = 0.5
METHOD_BASE = "trafilatura"

_TRAFILATURA_PARAMS = {
    "fast": False,
    "include_comments": False,
    "include_tables": True,
    "deduplicate": False,
}


@dataclasses.dataclass(frozen=True)
class ExtractionResult:
    body: str
    title: str | None = None
    authors: tuple[str, ...] = ()
    published: str | None = None  # ISO 8601; UTC when the page gives a time of day
    published_has_time: bool = False
    published_source: str | None = None  # jsonld, meta, time, url, text
    language: str | None = None
    sitename: str | None = None
    canonical_href: str | None = None  # rel=canonical as written in the page
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)
    published_raw: str | None = None  # the date as the page wrote it
    og_url: str | None = None  # og:url as written in the page
    not_article: str | None = None  # why the page is no article (see _not_article); None: it may be one
    article_evidence: str | None = None  # what declares the page an article (see _declares_article)


class ExtractionTimeout(Exception):
    """The extraction of one page exceeded its time limit (the child was restarted)."""


class ExtractionCrashed(Exception):
    """The child process died while extracting one page (it is restarted on the next call)."""


# --------------------------------------------------------------------------- text signals

_TOKEN_RE = re.compile(r"\w+")


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text or "")


# Scripts written without spaces between words (Thai, Lao, Myanmar, Khmer, kana, Han): there a
# ``\w+`` token is a clause or a whole sentence, so a line's length in words counts their
# characters, ``UNSPACED_CHARS_PER_WORD`` to a word.  Without it every Chinese or Japanese
# paragraph would be a "short line" of a few tokens, which rule 4 may cut and rule 3 never adds.
_UNSPACED_RE = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
)
UNSPACED_CHARS_PER_WORD = 2


def _size(toks: list[str]) -> int:
    """The length in words of a text split into ``_tokens`` (see ``_UNSPACED_RE``)."""
    joined = " ".join(toks)
    if not _UNSPACED_RE.search(joined):
        return len(toks)
    unspaced = [t for t in toks if _UNSPACED_RE.search(t)]  # with any Latin letters they hold
    return len(toks) - len(unspaced) + math.ceil(sum(map(len, unspaced)) / UNSPACED_CHARS_PER_WORD)


def _shingles(text: str) -> Counter:
    """Word 4-grams of ``text`` with counts (a text of 1-3 words is one shingle)."""
    return _gram_counts(_tokens(text))


def _gram_counts(toks: list[str]) -> Counter:
    """``_shingles`` of text already split into tokens."""
    if len(toks) < 4:
        return Counter([tuple(toks)]) if toks else Counter()
    return Counter(zip(toks, toks[1:], toks[2:], toks[3:]))


def _containment(part: Counter, whole: Counter) -> float:
    """Share of ``part``'s shingles (with multiplicity) found in ``whole``."""
    total = sum(part.values())
    if not total:
        return 0.0
    get = whole.get
    return sum(min(count, get(key, 0)) for key, count in part.items()) / total


def _repeated_share(grams: Counter) -> float:
    """Share of the 4-gram occurrences of a text whose 4-gram occurs more than once in it."""
    total = sum(grams.values())
    return sum(n for n in grams.values() if n > 1) / total if total else 0.0


def _present(toks: list[str], reference: Counter, words: set[str]) -> bool:
    """Whether ``reference`` contains a line of tokens ``toks``: half its 4-grams, or every
    word of a line of fewer than four words."""
    if len(toks) < 4:
        return all(t in words for t in toks)
    grams = list(zip(toks, toks[1:], toks[2:], toks[3:]))
    return sum(g in reference for g in grams) / len(grams) >= TRIM_LINE_PRESENCE


def _edge_cut(count: int, keep: Callable[[int], bool]) -> tuple[int, int]:
    """(start, end) of ``count`` lines once the leading and trailing lines not kept are cut
    (``keep`` is asked about the edge lines only)."""
    start, end = 0, count
    while start < end and not keep(start):
        start += 1
    while end > start and not keep(end - 1):
        end -= 1
    return start, end


class _Reader:
    """The reader's text, computed on first use, with its 4-grams and words."""

    def __init__(self, name: str, compute: Callable[[], str]) -> None:
        self.name, self._compute = name, compute
        self._text: str | None = None
        self._shingles: Counter = Counter()
        self._words: set[str] | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self._compute() or ""
            self._shingles = _shingles(self._text)
        return self._text

    @property
    def shingles(self) -> Counter:
        self.text  # noqa: B018 - computes the text on first use
        return self._shingles

    def has(self, toks: list[str]) -> bool:
        if self._words is None and len(toks) < 4:
            self._words = _words_of(self.shingles)
        return _present(toks, self.shingles, self._words or set())


def _trim(body: str, reader: _Reader, signals: dict[str, Any]) -> str:
    """Rule 4: cut the leading and trailing short lines the reader lacks (see the module doc)."""
    lines = [line for line in body.split("\n") if line.strip()]
    toks = [_tokens(line) for line in lines]
    sizes = [_size(t) for t in toks]
    total = sum(sizes)
    whole = _gram_counts([t for line in toks for t in line])
    if not total or _containment(reader.shingles, whole) < TRIM_COVERAGE:
        return body
    start, end = _edge_cut(len(lines), lambda i: sizes[i] >= SHORT_LINE_TOKENS or reader.has(toks[i]))
    lost = total - sum(sizes[start:end])
    if 0 < lost <= TRIM_MAX_SHARE * total:
        signals["trimmed_lines"] = len(lines) - (end - start)
        return "\n".join(lines[start:end])
    return body


_BLOCK_TAGS = frozenset(
    [
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "blockquote",
        "pre",
        "td",
        "th",
        "dd",
        "dt",
        "figcaption",
        "br",
        "div",
        "section",
        "article",
        "tr",
        "ul",
        "ol",
        "table",
        "header",
        "footer",
        "aside",
    ]
)


def _html_to_lines(element) -> str:
    """Text of an lxml element, one block element per line, whitespace collapsed."""
    parts: list[str] = []

    def walk(el) -> None:
        tag = el.tag if isinstance(el.tag, str) else None
        if tag is None:  # comments, processing instructions
            return
        block = tag.lower() in _BLOCK_TAGS
        if block:
            parts.append("\n")
        if el.text:
            parts.append(el.text)
        for child in el:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if block:
            parts.append("\n")

    walk(element)
    lines = (" ".join(line.split()) for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


# --------------------------------------------------------------------------- candidates


def _reader_text(tree) -> str:
    """trafilatura's bundled readability port on ``tree`` (which it consumes), one block
    per line."""
    from trafilatura.external import try_readability

    try:
        return _html_to_lines(try_readability(tree))
    except (ValueError, TypeError):
        return ""


_BASE_LOCK = threading.Lock()


def _trafilatura_with_reader(tree, url: str | None) -> tuple[str, str | None]:
    """(base, reader text) from ONE trafilatura run: its cascade runs the readability port
    itself (to compare with its own algorithm), so the reader's text is kept as it goes by
    instead of computing it a second time.  None when the cascade did not run it."""
    import trafilatura
    import trafilatura.external as external

    seen: list[str] = []
    run_readability = external.try_readability

    def keep(raw_tree):
        result = run_readability(raw_tree)
        if not seen:  # the comparison stage; a recall retry may run it again
            seen.append(_html_to_lines(result))
        return result

    with _BASE_LOCK:  # the hook is module-wide: one extraction at a time per process
        external.try_readability = keep
        try:
            base = trafilatura.extract(tree, url=url, **_TRAFILATURA_PARAMS) or ""
        finally:
            external.try_readability = run_readability
    return base, (seen[0] if seen else None)


def _own_text(tree, url: str | None) -> str:
    """trafilatura's own algorithm alone (its ``fast`` mode: no readability or justext
    comparison) on ``tree`` (trafilatura works on a copy of it)."""
    import trafilatura

    return trafilatura.extract(tree, url=url, **{**_TRAFILATURA_PARAMS, "fast": True}) or ""


#: libxml2 keeps at most 256 levels of elements; a page nested deeper loses its deeper text in
#: the parsed tree (so trafilatura finds none), and resiliparse, which parses the page itself,
#: takes time growing with the cube of the depth (0.5 s at 5,000 levels, 20 s at 20,000)
PARSER_DEPTH_LIMIT = 255


def _too_deep(tree) -> bool:
    """Whether the parsed tree reaches the HTML parser's depth limit (one pass, stops there)."""
    from lxml import etree

    depth = 0
    for event, _ in etree.iterwalk(tree, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth >= PARSER_DEPTH_LIMIT:
            return True
    return False


def _resiliparse_text(text: str) -> str:
    """resiliparse's main-content text of the page (the witness for an empty base)."""
    from resiliparse.extract.html2text import extract_plain_text

    try:
        return extract_plain_text(text, main_content=True) or ""
    except (ValueError, TypeError):
        return ""


def _drop_title_lines(body: str, titles: Iterable[str | None]) -> tuple[str, int]:
    """Rule 5: drop the page's title repeated in the first lines of the body (the title is
    metadata): up to ``TITLE_LINES`` leading lines whose words equal a title, or lie inside
    one (3 words or more), or hold one covering most of the line (a title with a site
    suffix)."""
    wanted = [w for w in (" ".join(_tokens(t.lower())) for t in titles if t) if w]
    lines = body.split("\n")
    dropped = 0
    while dropped < min(TITLE_LINES, len(lines) - 1):
        line = " ".join(_tokens(lines[dropped].lower()))
        n = len(line.split())
        if not any(
            line == t or (n >= 3 and line in t) or (t in line and len(t.split()) >= 0.8 * n) for t in wanted
        ):
            break
        dropped += 1
    return ("\n".join(lines[dropped:]), dropped) if dropped else (body, 0)


_LABEL_RE = re.compile(r"^\s*([^\W\d_][\w'\u2019 ]{0,30})[:|\uff1a\uff5c]\s*(\S.*)$")  # and full-width : |


def _promotion_texts(line: str) -> list[list[str]]:
    """The word runs of a body line that a link's text must cover for the line to be an inline
    promotion: the whole line when it is written in capitals (>= 4 words, >=
    ``PROMO_MIN_LETTERS`` letters, ``CAPITALS_SHARE`` of them capitals), and what follows a short
    label without digits and a colon or a bar ("READ MORE: ...", "Related | ..."; "Step 1: ..."
    is a section heading, not a label)."""
    if len(line) > PROMO_MAX_CHARS:  # a paragraph, not a promotion (and no per-letter work)
        return []
    toks = _tokens(line)
    if _size(toks) > PROMO_MAX_WORDS:
        return []
    runs = []
    letters = [c for c in line if c.isalpha()] if line.lower() != line else []  # no capitals: no loop
    if (
        len(toks) >= 4
        and len(letters) >= PROMO_MIN_LETTERS
        and sum(c.isupper() for c in letters) >= CAPITALS_SHARE * len(letters)
    ):
        runs.append(toks)
    match = _LABEL_RE.match(line)
    if (
        match
        and len(_tokens(match.group(1))) <= PROMO_LABEL_TOKENS
        and not any(c.isdigit() for c in match.group(1))
    ):
        rest = _tokens(match.group(2))
        if _size(rest) >= 3:
            runs.append(rest)
    return runs


def _holds_link(words: list[str], anchors: set[str]) -> bool:
    """Whether a run of at least ``PROMO_LINK_SHARE`` of ``words`` is a link's text (the spans are
    looked up, so the cost does not grow with the page's number of links)."""
    n = len(words)
    for size in range(n, max(1, math.ceil(PROMO_LINK_SHARE * n)) - 1, -1):
        if any(" ".join(words[start : start + size]) in anchors for start in range(n - size + 1)):
            return True
    return False


def _drop_promotions(body: str, links: Callable[[], set[str]]) -> tuple[str, int]:
    """Rule 8: drop inline promotions, body lines that are a link of the page written in capitals
    ("CLICK HERE TO GET THE APP", a related headline in capitals) or behind a short label ("SEE
    MORE: <headline>"), within ``TRIM_MAX_SHARE`` of the body's tokens.  ``links`` gives the
    page's link texts (words joined by spaces), computed only when a line has such a form."""
    lines = body.split("\n")
    wanted = {i: runs for i, line in enumerate(lines) if (runs := _promotion_texts(line))}
    if not wanted:
        return body, 0
    anchors = links()
    drop = {i for i, runs in wanted.items() if any(_holds_link(words, anchors) for words in runs)}
    lost = sum(_size(_tokens(lines[i])) for i in drop)
    if not drop or lost > TRIM_MAX_SHARE * _size(_tokens(body)):
        return body, 0
    return "\n".join(line for i, line in enumerate(lines) if i not in drop), len(drop)


def _drop_dangling_headings(body: str) -> tuple[str, int]:
    """Rule 6: drop short last lines (< ``SHORT_LINE_TOKENS`` tokens) that end with a colon:
    a heading that introduces what follows ("Read also:", "More on this topic:") with nothing
    after it (the related box it announced was already left out).  A long line, a line with
    other text after it, and the only line are kept."""
    lines = body.split("\n")
    end = len(lines)
    while end > 1 and (
        not lines[end - 1].strip()
        or (lines[end - 1].rstrip().endswith(_COLONS) and _size(_tokens(lines[end - 1])) < SHORT_LINE_TOKENS)
    ):
        end -= 1
    dropped = sum(1 for line in lines[end:] if line.strip())
    return ("\n".join(lines[:end]), dropped) if dropped else (body, 0)


_COLONS = (":", "\uff1a")  # ASCII and full-width


def _lines_before_base(sb: Counter, words: set[str], reader: _Reader) -> list[str]:
    """The reader's lines before the first line the base holds (none if it holds none)."""
    lines = [line for line in reader.text.split("\n") if line.strip()]
    for i, line in enumerate(lines):
        toks = _tokens(line)
        if _size(toks) >= 4 and _present(toks, sb, words):
            return lines[:i]
    return []


def _words_of(grams: Counter) -> set[str]:
    return {t for key in grams for t in key}


def _is_new_paragraph(line: str, sb: Counter, words: set[str]) -> bool:
    toks = _tokens(line)
    return _size(toks) >= SHORT_LINE_TOKENS and not _present(toks, sb, words)


def _choose_body(
    base: str,
    witness: str | Callable[[], str],
    reader: Callable[[], str] | None,
    titles: Iterable[str | None] = (),
    own: Callable[[], str] | None = None,
    links: Callable[[], set[str]] | None = None,
) -> tuple[str, str, dict[str, Any]]:
    """Choose the body; return (body, method, signals).

    ``witness`` is the witness's text or a function computing it (only called for an empty
    base); ``reader`` computes the readability text on demand, and is None when the page's
    budget for optional extractors is spent (only rules 1, 5 and 6 apply); ``own`` computes
    trafilatura's own text, only for a base that repeats itself (rule 2), and is None when the
    budget is spent; ``links`` gives the page's link texts for rule 8 (None when the budget is
    spent: rule 8 is off)."""
    base_tokens = _tokens(base)
    nb = len(base_tokens)
    signals: dict[str, Any] = {"base_tokens": nb}
    body, method = base, METHOD_BASE
    sb = None  # the base's 4-grams, once rule 2 has counted them
    if nb == 0:
        wit = witness() if callable(witness) else witness
        signals["witness_tokens"] = len(_tokens(wit))
        if wit.strip():
            body, method = wit.strip(), "resiliparse.empty_base"
    if nb and own is not None:  # rule 2: a base that repeats the article
        sb = _gram_counts(base_tokens)
        repeated = _repeated_share(sb)
        if repeated >= REPEAT_SHARE:
            alone = own().strip()
            so = _shingles(alone)
            signals["repeated_share"] = round(repeated, 3)
            if alone and _repeated_share(so) < repeated / 2 and _containment(so, sb) >= LEDE_CONTAINMENT:
                body, method = alone, METHOD_BASE + ".own"
    read = _Reader("trafilatura.readability", reader) if reader is not None else None
    if body and read is not None and read.text:
        signals["reader"] = read.name
        sb = sb if body is base and sb is not None else _shingles(body)
        if _containment(sb, read.shingles) >= LEDE_CONTAINMENT:
            words = _words_of(sb)
            lede = [
                line for line in _lines_before_base(sb, words, read) if _is_new_paragraph(line, sb, words)
            ]
            if lede:
                body, method = "\n".join([*lede, body]), method + "+lede"
                signals["lede_lines"] = len(lede)
        trimmed = _trim(body, read, signals)
        if trimmed is not body:
            body, method = trimmed, method + "+trimmed"
    if links is not None:
        body, promotions = _drop_promotions(body, links)
        if promotions:
            method, signals["promotion_lines"] = method + "+promotions", promotions
    body, dangling = _drop_dangling_headings(body)
    if dangling:
        method, signals["dangling_lines"] = method + "+dangling", dangling
    body, signals["title_lines"] = _drop_title_lines(body, titles)
    signals["body_tokens"] = nb if body is base else len(_tokens(body))
    return body, method, signals


_TEXTLESS = frozenset(["script", "style", "noscript", "template", "textarea", "select", "option"])


def _holder(root, toks: list[str], size: int):
    """The first element under ``root`` whose own text holds ``toks``'s first four tokens in a
    row, widened to its ancestors until it holds >= 0.7 x ``size`` tokens (None if none)."""
    head = toks[:4]
    n = len(head)
    for element in root.iter():
        text = element.text
        if not text or head[0] not in text or not isinstance(element.tag, str) or element.tag in _TEXTLESS:
            continue
        own = _tokens(text)
        if any(own[i : i + n] == head for i in range(len(own) - n + 1)):
            for _ in range(HOLDER_LEVELS):  # a paragraph and its inline elements, not a page
                if element is None or len(_tokens(element.text_content())) >= 0.7 * size:
                    return element
                element = element.getparent()
            return None
    return None


def _link_texts(tree) -> set[str]:
    """The texts of the page's links to other pages (a link to a part of the same page, "#...",
    is a table of contents entry) of three words or more, words joined by spaces."""
    texts = (_tokens(a.text_content()) for a in tree.iter("a") if not (a.get("href") or "").startswith("#"))
    return {" ".join(toks) for toks in texts if _size(toks) >= 3}


def _declared_standfirst(tree, metas: dict, ld: dict, body: str, title: str | None = None) -> str | None:
    """Rule 7: the page's declared summary, as the page shows it, when the page shows it in the
    article above the body's first line and the body lacks it (see the module doc)."""
    root = tree.find(".//body")
    first = next((toks for toks in map(_tokens, body.split("\n")) if toks), None)
    if root is None or not first:
        return None
    declared = (
        _meta(metas, "og:description"),
        _meta(metas, "description"),
        _meta(metas, "twitter:description"),
        _clean(ld.get("description")),
    )
    toks = next(
        (t for t in (_tokens(_unescape(v)) for v in declared if v) if _size(t) >= STANDFIRST_MIN_TOKENS), None
    )
    if toks is None or _size(toks) > STANDFIRST_MAX_TOKENS:
        return None
    grams = _gram_counts(toks)
    if _containment(grams, _shingles(body)) >= 0.5 or _containment(grams, _shingles(title or "")) >= 0.5:
        return None  # the body holds it, or it is the headline (a summary that repeats the title)
    shown = _holder(root, toks, len(toks))
    if shown is None:
        return None
    text = _clean(shown.text_content()) or ""
    shown_grams = _shingles(text)
    if (
        sum(shown_grams.values()) > 1.3 * len(grams) + 3
        or _containment(grams, shown_grams) < STANDFIRST_MATCH
        or _containment(shown_grams, grams) < STANDFIRST_MATCH
    ):
        return None
    start = _holder(root, first, min(len(first), 8))
    if start is None or start is shown or shown.tag == "h1":
        return None
    above = set(shown.iterancestors())  # holds the proxies, so a node's proxy stays the same
    common = next((a for a in start.iterancestors() if a in above), None)
    if common is None or common.tag in ("html", "body") or start in above:
        return None
    first_seen = next(e for e in root.iter() if e is shown or e is start)
    return text if first_seen is shown else None


# --------------------------------------------------------------------------- metadata

# A tag ends at the next "<" or ">", so each "<link" is scanned once ("<link " * n was quadratic).
_CANONICAL_RE = re.compile(rb"<link\b[^<>]*?\brel\s*=\s*[\"']?canonical[\"']?[^<>]*>", re.IGNORECASE)
_HREF_RE = re.compile(rb"\bhref\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))", re.IGNORECASE)


def find_canonical_href(html: bytes) -> str | None:
    """The href of the first ``<link rel=canonical>`` in the page, if any."""
    match = _CANONICAL_RE.search(html[:500_000])
    if not match:
        return None
    href = _HREF_RE.search(match.group(0))
    if not href:
        return None
    value = next(g for g in href.groups() if g is not None).strip()
    return value.decode("utf-8", "replace") or None


def parse_iso_datetime(value: str | None) -> tuple[dt.datetime | None, bool]:
    """Parse an ISO 8601 string; return (aware UTC datetime, has_time_of_day).

    A value without a time (``2020-06-27``) or a midnight without offset counts as a
    date without time of day.  A time without offset is taken as UTC.
    """
    if not value:
        return None, False
    text = value.strip()
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)  # +0100 -> +01:00
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None, False
    date_only = len(text) <= 10 or (parsed.tzinfo is None and parsed.time() == dt.time(0, 0))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc), not date_only


_ARTICLE_TYPES = {
    "Article",
    "NewsArticle",
    "ReportageNewsArticle",
    "AnalysisNewsArticle",
    "OpinionNewsArticle",
    "BlogPosting",
    "Report",
    "LiveBlogPosting",
    "TechArticle",
    "ScholarlyArticle",
    "WebPage",
}


def _iter_jsonld(data: Any) -> Iterable[dict]:
    r"""The objects of a JSON-LD value, with those of its ``@graph``, its ``mainEntity`` and an
    ``itemListElement`` of one item (a list wrapping the page's own object).  A list of several
    items is a listing of other pages (a section front's carousel of ``NewsArticle``\ s): none of
    them is this page, and taking the first one made a section front an article with that
    article's headline and date."""
    if isinstance(data, list):
        for item in data:
            yield from _iter_jsonld(item)
    elif isinstance(data, dict):
        yield data
        for key in ("@graph", "mainEntity", "itemListElement"):
            value = data.get(key)
            if key == "itemListElement" and isinstance(value, list) and len(value) > 1:
                continue
            if value is not None:
                yield from _iter_jsonld(value)


# Real pages' JSON-LD is a few levels deep; the walkers here (_iter_jsonld, _names) recurse.
_MAX_JSONLD_DEPTH = 32


def _within_depth(data: Any, limit: int) -> bool:
    """Whether no list or object in ``data`` is nested deeper than ``limit`` (no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


# A "\ud800" escape alone (no pair) is valid JSON but no text: json.loads gives a lone
# surrogate, which no UTF-8 writer takes.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(data: Any) -> Any:
    """Parsed JSON with every lone surrogate in its strings replaced by U+FFFD (a pair of
    escapes is one character already).  A headline or author holding one was written to
    the output as is: the whole ``newsbeam extract`` stopped (UnicodeEncodeError, exit 1, the
    rows of every other page lost), and ``newsbeam run`` stopped at the bulk write."""
    if isinstance(data, str):
        return _SURROGATE.sub("\ufffd", data)
    if isinstance(data, list):
        return [_without_surrogates(item) for item in data]
    if isinstance(data, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in data.items()}
    return data


def _jsonld_article(tree) -> dict:
    """The most article-like JSON-LD object of the page (a WebPage only as a last resort).

    A script nested deeper than ``_MAX_JSONLD_DEPTH`` is ignored: 100,000 ``[`` made
    ``json.loads`` raise RecursionError, and an ``author`` 700 lists deep made ``_names`` do,
    which killed the extraction child, so the page's article was lost (``extract_crash``) and a
    traceback was printed."""
    best: dict = {}
    best_rank = -1
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        raw = script.text_content() or ""
        try:
            data = json.loads(raw, strict=False)
        except (ValueError, RecursionError):
            try:
                data = json.loads(re.sub(r",\s*([}\]])", r"\1", raw), strict=False)
            except (ValueError, RecursionError):
                continue
        if not _within_depth(data, _MAX_JSONLD_DEPTH):
            continue
        if _SURROGATE_ESCAPE.search(raw):
            data = _without_surrogates(data)
        for obj in _iter_jsonld(data):
            types = obj.get("@type")
            types = {t for t in (types if isinstance(types, list) else [types]) if isinstance(t, str)}
            if not types & _ARTICLE_TYPES:
                continue
            rank = (0 if types == {"WebPage"} else 2) + bool(obj.get("headline"))
            if rank > best_rank:
                best, best_rank = obj, rank
    return best


_META_ATTRS = ("property", "name", "itemprop")


def _meta_index(tree) -> dict[tuple[str, str], list[str]]:
    """The page's ``<meta>`` contents by (attribute, key), in document order (one pass)."""
    index: dict[tuple[str, str], list[str]] = {}
    for elem in tree.iter("meta"):
        content = elem.get("content")
        if content is None:
            continue
        for attr in _META_ATTRS:
            key = elem.get(attr)
            if key is not None:
                index.setdefault((attr, key), []).append(content)
    return index


def _meta(metas: dict[tuple[str, str], list[str]], *keys: str) -> str | None:
    """The first non-blank content of a ``<meta>`` whose property, name or itemprop is one
    of ``keys`` (in the order of ``keys``, then of the attributes)."""
    for key in keys:
        for attr in _META_ATTRS:
            for value in metas.get((attr, key), ()):
                value = " ".join(value.split())
                if value:
                    return value
    return None


def _clean(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return _names(value.get("name"))
    if isinstance(value, list):
        return [n for v in value for n in _names(v)]
    return []


_PUBLISHED_META = (
    "article:published_time",
    "og:article:published_time",
    "datePublished",
    "pubdate",
    "publishdate",
    "publish-date",
    "parsely-pub-date",
    "sailthru.date",
    "DC.date.issued",
    "dc.date",
    "date",
    "article.published",
    "published_time",
)
_DATE_RE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})")
_URL_DATE_RE = re.compile(r"/((?:19|20)\d{2})[/-]?(0[1-9]|1[0-2])[/-]?(0[1-9]|[12]\d|3[01])(?:/|[-_]|$)")
# "/2019/nov/18/" (The Guardian, PolitiFact...): an English month name or its first three letters
_URL_MONTH_DATE_RE = re.compile(
    r"/((?:19|20)\d{2})/(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)/(0?[1-9]|[12]\d|3[01])(?:/|$)",
    re.IGNORECASE,
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


def _plausible(value: str | None) -> bool:
    m = _DATE_RE.match(value or "")
    return bool(m) and 1995 <= int(m.group(1)) <= dt.date.today().year + 1


def _url_part(url: str | None, part: str) -> str:
    """One part (``path``, ``hostname``) of ``url``; "" for no URL or a malformed one (the
    page's own og:url or canonical link can be anything)."""
    from urllib.parse import urlparse  # (urlparse: ";params" stay out of the path)

    try:
        return (getattr(urlparse(url), part) or "") if url else ""
    except ValueError:
        return ""


def _real_day(year: str, month: str, day: str) -> bool:
    """Whether the URL's date exists (not /2019/02/31/): else the next source is tried."""
    try:
        dt.date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def _published(
    tree, metas: dict, ld: dict, url: str | None, search_text: bool = True
) -> tuple[str | None, str | None]:
    """(raw ISO value, source) of the publication date; htmldate searches the page's text
    only when ``search_text`` (the page's CPU budget is not spent)."""
    value = _clean(ld.get("datePublished"))
    if _plausible(value):
        return value, "jsonld"
    value = _meta(metas, *_PUBLISHED_META)
    if _plausible(value):
        return value, "meta"
    for value in tree.xpath("//time/@datetime"):
        if _plausible(value):
            return value.strip(), "time"
    if url:
        path = _url_part(url, "path")
        m = _URL_DATE_RE.search(path)
        if m and _real_day(*m.groups()):
            return "-".join(m.groups()), "url"
        m = _URL_MONTH_DATE_RE.search(path)
        if m:
            year, month, day = m.group(1), f"{_MONTHS[m.group(2)[:3].lower()]:02d}", f"{int(m.group(3)):02d}"
            if _real_day(year, month, day):
                return f"{year}-{month}-{day}", "url"
    if not search_text:
        return None, None
    try:
        from htmldate import find_date

        value = find_date(copy.deepcopy(tree), extensive_search=False, original_date=True, url=url)
    except (ValueError, TypeError):
        value = None
    return (value, "text") if _plausible(value) else (None, None)


_TITLE_SEPARATOR_RE = re.compile(r" (?:[|\-\u2013\u2014\u00bb\u203a\u00b7:]|::) ")  # on cleaned text
_SLUG_RE = re.compile(r"[^\W_]+(?:[-_][^\W_]+){2,}")
TITLE_OVERLAP = 0.5
TITLE_CORE_SHARE = 0.8
TITLE_SHARED = 0.2
TITLE_SHORT_WORDS = 4


def _site_words(url: str | None, sitename: str | None) -> set[str]:
    """Words naming the site: its host's labels and its declared name."""
    return _words(_url_part(url, "hostname")) | _words(sitename or "")


def _words(text: str) -> set[str]:
    return set(_tokens(text.lower()))


def _content_words(words: set[str]) -> set[str]:
    """Words of four letters or more ("the", "for" and "news" aside ... "news" stays)."""
    return {w for w in words if len(w) > 3}


def _names_site(words: set[str], site: set[str]) -> bool:
    """Whether ``words`` name the site alone: its longer words (all of them if it has none)
    are the site's."""
    return (_content_words(words) or words) <= site


def _title(tree, metas: dict, ld: dict, url: str | None = None, sitename: str | None = None) -> str | None:
    """The article's title, from the page's declared titles (JSON-LD ``headline``, ``og:title``,
    ``twitter:title``, in that order), its first ``<h1>`` elements and its ``<title>``'s headline
    part (the ``<title>`` without the parts, between separators, that name the site):

    * the first declared title that shares words of four letters or more, other than the site's
      name, with the ``<title>`` (at least one, and ``TITLE_SHARED`` of its own);
    * else the first ``<h1>`` with ``TITLE_OVERLAP`` of its words in the ``<title>``; when the page
      declares a title, the ``<h1>`` must also hold ``TITLE_CORE_SHARE`` of the headline part's
      words (a JSON-LD ``headline`` holding a description gives way to the page's headline; a
      declared title the ``<title>`` does not confirm is kept over an ``<h1>`` it confirms only
      in part);
    * else the first declared title; else the first ``<h1>`` when the headline part has fewer
      than ``TITLE_SHORT_WORDS`` words ("News", a site's name the page does not declare); else
      the headline part.

    A URL slug ("my-article-title") and the site's name alone (its host's labels or declared
    name: a logo in an ``<h1>``) never count; a ``<title>`` that names only the site, or holds
    no word, confirms nothing.  Character references left in JSON-LD text ("&#8216;") are
    decoded (the HTML parser has already decoded the page's elements and attributes)."""
    site = _site_words(url, sitename)
    declared = [
        _unescape(_clean(ld.get("headline"))),
        _meta(metas, "og:title"),
        _meta(metas, "twitter:title"),
    ]
    declared = [v for v in declared if v and not _SLUG_RE.fullmatch(v) and not _names_site(_words(v), site)]
    headings = [_clean(h1.text_content()) for h1 in tree.xpath("//h1")[:TITLE_H1_LIMIT]]
    headings = [v for v in headings if v and _tokens(v) and not _names_site(_words(v), site)]
    page_title = _clean(tree.findtext(".//title")) or ""
    pieces = _TITLE_SEPARATOR_RE.split(page_title)
    parts = [p for p in pieces if _tokens(p) and not _names_site(_words(p), site)]
    if not parts:  # no <title>, or one that names only the site
        return (declared or headings or [None])[0]
    core = page_title if len(parts) == len(pieces) else " - ".join(parts)
    title_words, core_words = _words(page_title), _words(core)
    for value in declared:
        words = _content_words(_words(value))
        shared = len((words & title_words) - site)
        if shared and shared >= TITLE_SHARED * len(words):
            return value
    for value in headings:
        words = _words(value)
        if len(words & title_words) < TITLE_OVERLAP * len(words):
            continue
        if not declared or len(words & core_words) >= TITLE_CORE_SHARE * len(core_words):
            return value
    if declared:
        return declared[0]
    if headings and len(core_words) < TITLE_SHORT_WORDS:
        return headings[0]
    return core


def _unescape(value: str | None) -> str | None:
    """``value`` with character references decoded: for JSON-LD text only, which no HTML parser
    has decoded."""
    if value and "&" in value:
        import html

        return _clean(html.unescape(value))
    return value


# "By", "Analysis by", "Written by:" before a byline's names.
_BYLINE_PREFIX_RE = re.compile(r"^(?:[^\W\d_]+\s+){0,2}?by\s*:?\s+(?=\S)", re.IGNORECASE)
# Separators only: the blanks around them go with strip (a leading \s* was tried at every
# position of a run of blanks, quadratic: 127 s for a byline of 50,000).
_BYLINE_SPLIT_RE = re.compile(r"[;|,]|\s&\s|\band\b", re.IGNORECASE)
_SURNAME_FIRST_RE = re.compile(r"[^\W\d_][\w'’-]+,\s*[^\W\d_][\w'’-]*(?:\s+[^\W\d_]\.?)?")
_NAME_SUFFIX_RE = re.compile(r"(?:jr|sr|ii|iii|iv)\.?", re.IGNORECASE)
# Words of a byline part that gives the writer's job or desk, not a name ("AP Auto Writer",
# "CNN Editor-at-large", "NJ Advance Media for NJ.com").
_ROLE_RE = re.compile(
    r"\b(?:writers?|editors?|correspondents?|reporters?|columnists?|contributors?|contributing"
    r"|producers?|staff|bureau|desk|photographers?|journalists?|for)\b",
    re.IGNORECASE,
)
_GENERIC_HOST_WORDS = frozenset({"www", "com", "net", "org", "news", "the", "and", "online"})
# Content-management accounts that publish under their own name: no person, no agency.
_ACCOUNT_NAMES = frozenset(
    {"admin", "administrator", "webmaster", "web team", "webteam", "root", "user", "guest",
     "anonymous", "unknown", "superuser", "sysadmin", "site admin", "site administrator"}
)  # fmt: skip


def _without_handles(text: str) -> str:
    """``text`` without its words holding an ``@`` (e-mail addresses, social-media handles:
    "Jane Doe <jane@x.org>" → "Jane Doe")."""
    if "@" not in text:
        return text
    return " ".join(word for word in text.split() if "@" not in word)


def _author_name(part: str) -> str | None:
    """One byline part as an author name, or None when it names no person nor agency (pure).

    E-mail addresses and handles (``@``) are taken out of it.  What is left is a content-
    management account, not a name, when it is one word written only in small letters
    (``admin``, ``webteam``, ``jdoe``), one word holding a digit or an underscore
    (``editor1``, ``web_team``), or an account's usual name (``_ACCOUNT_NAMES``: "Admin",
    "Web Team").  Letters without case (Chinese, Arabic, ...) are never small letters, and
    a name of two words or more in small letters ("bell hooks") stays.  A wire agency gets
    the spelling of ``agency`` (``dateline.canonical_agency``'s table): "The Associated
    Press", "Associated Press" → "AP"; one word only when written in capitals or already so
    spelt ("REUTERS" → "Reuters"; "Ani", a first name, stays)."""
    from newsbeam.transforms.dateline import agency_spelling

    part = (_clean(_without_handles(part)) or "").strip(" -–—:,").lstrip(".")
    if part[:1] in "(<[" and part[-1:] in ")>]":  # "jane@x.org (Jane Doe)"
        part = part[1:-1].strip()
    if not part:
        return None
    if " " not in part and (part.islower() or re.search(r"[\d_]", part)):
        return None
    if " ".join(part.lower().split()) in _ACCOUNT_NAMES:
        return None
    agency = agency_spelling(part)
    if agency and (" " in part or part.isupper() or part == agency):
        return agency
    return _capitalized_name(part)


def _byline_names(byline: str, site: set[str]) -> list[str]:
    """The people one byline string names (pure): ``By TOM KRISHER, AP Auto Writer`` →
    ``Tom Krisher``; ``By MEG KINNARD and ERRIN HAINES, Associated Press`` → the two writers
    and the agency; ``Jill Disis, CNN Business`` → ``Jill Disis``; ``Ilana Muhlstein, MS, RDN``
    → ``Ilana Muhlstein``.

    A leading "By" (or "Analysis by", ...) goes; the names are split at commas, semicolons,
    bars, "and" and "&"; a "Jr." after a comma stays with its name.  The first name is always
    kept; a later part is left out when it is one word (an outlet or a degree: "Futurism",
    "MS"), gives a job or desk ("AP Auto Writer", "Staff"), or names the site (a word or the
    joined words of its host or name: "CNN Business" on cnn.com, "Business Insider" on
    businessinsider.de), unless it is a wire agency (kept: ``agency`` is read from it).  A
    name written only in capitals is title-cased word by word.  Two words around one comma
    ("Smith, John") are one name written surname first, unless one is an agency or in
    capitals ("AFP, Reuters")."""
    from newsbeam.transforms.dateline import canonical_agency

    text = _BYLINE_PREFIX_RE.sub("", byline, count=1)
    if _SURNAME_FIRST_RE.fullmatch(text) and not any(  # "Smith, John": one name, surname first
        canonical_agency(part) or part.strip().isupper() for part in text.split(",")
    ):  # (not "AFP, Reuters", "CNN, AP")
        return [text]
    text = _without_handles(text)  # an e-mail address may hold a split character
    parts: list[str] = []
    for part in _BYLINE_SPLIT_RE.split(text):
        part = part.strip().strip(" -–—:").lstrip(".")
        if not part:
            continue
        if parts and _NAME_SUFFIX_RE.fullmatch(part):
            parts[-1] = f"{parts[-1]} {part}"
            continue
        parts.append(part)
    site_words = {w for w in site if len(w) >= 3 and w not in _GENERIC_HOST_WORDS}
    names: list[str] = []
    for i, part in enumerate(parts):
        if i > 0 and not canonical_agency(part):
            words = _words(part)
            joined = "".join(_tokens(part.lower()))
            if len(part.split()) < 2 or _ROLE_RE.search(part) or words & site_words or joined in site_words:
                continue
        name = _author_name(part)
        if name:
            names.append(name)
    return names


def _capitalized_name(name: str) -> str:
    """A name of two words or more written only in capitals, title-cased (``JANIE HAR`` →
    ``Janie Har``); other names as they are."""
    words = name.split()
    if len(words) < 2 or any(ch.islower() for ch in name) or not any(ch.isupper() for ch in name):
        return name
    from newsbeam.transforms.dateline import title_word

    return " ".join(w if len(w.rstrip(".")) <= 1 else title_word(w) for w in words)


def _authors(metas: dict, ld: dict, site: set[str] = frozenset()) -> tuple[str, ...]:
    """The article's writers: JSON-LD ``author`` names, else the ``<meta>`` author's, each
    byline cleaned by ``_byline_names``; ``site`` holds the words naming the site."""
    bylines = [n for n in (_unescape(_clean(x)) for x in _names(ld.get("author"))) if n]
    if not bylines:
        meta = _meta(metas, "author", "article:author", "parsely-author", "sailthru.author")
        if meta and not meta.lower().startswith("http"):
            bylines = [meta]
    return _unique_names(name for byline in bylines for name in _byline_names(byline, site))


def clean_authors(
    bylines: Iterable[str], url: str | None = None, sitename: str | None = None
) -> tuple[str, ...]:
    """The writers named by ``bylines`` from elsewhere (a feed entry's authors), cleaned as a
    page's are (``_byline_names``) for the site of ``url`` / ``sitename``; an e-mail address or
    a URL is no name (pure)."""
    site = _site_words(url, sitename)
    names = []
    for byline in bylines:
        byline = _clean(byline)
        if byline and "@" not in byline and "://" not in byline:
            names += _byline_names(byline, site)
    return _unique_names(names)


def _unique_names(names: Iterable[str]) -> tuple[str, ...]:
    unique: dict[str, str] = {}
    for name in names:
        unique.setdefault(name.casefold(), name)
    return tuple(unique.values())


def _sitename(metas: dict, ld: dict) -> str | None:
    publisher = ld.get("publisher")
    return _meta(metas, "og:site_name", "application-name") or (
        _unescape(_clean(publisher.get("name"))) if isinstance(publisher, dict) else None
    )


def _language(body: str, page_lang: str) -> str | None:
    """ISO 639-1 code by py3langid on the body (scripts written without spaces
    have few \\w+ tokens, hence the length test), else the page's ``lang``."""
    if len(_tokens(body)) >= 5 or len(body.strip()) >= 40:
        import py3langid

        code = py3langid.classify(body[:1000])[0]
    else:
        code = page_lang.split("-")[0].strip().lower()
    # ISO 639-1 only: not a page's "zxx" (no linguistic content), "x-klingon" or "english"
    return code if re.fullmatch(r"[a-z]{2}", code or "") else None


# --------------------------------------------------------------------------- page kind

#: A listing page: at least this many body lines are teasers, and they hold this share of it.
TEASER_MIN_LINES = 3
TEASER_SHARE = 0.5
#: A teaser card holds its summary line, a headline link and little more (tokens).
TEASER_CARD_SLACK = 12
#: A page asking not to be indexed is an error page or interstitial when its body has fewer long
#: lines (>= SHORT_LINE_TOKENS tokens) than this: an undeclared syndicated copy keeps its article.
NOINDEX_MAX_PARAGRAPHS = 3
TEASER_MAX_LINES = 80  # lines looked at (a longer body is an article or a book, not a front)


def _declared_paywalled(ld: dict) -> bool:
    """Whether the page's JSON-LD article says it is not free to read (schema.org
    ``isAccessibleForFree`` false: the page shows subscribers the text, others an opening)."""
    value = ld.get("isAccessibleForFree")
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def _jsonld_text(ld: dict) -> str:
    """The text the page's JSON-LD article declares: its ``articleBody``, or a live blog's
    updates (``liveBlogUpdate``, in the order given, each update's ``articleBody``), one
    paragraph a line.  The body of a page whose HTML holds none (a client-rendered shell)."""
    parts: list[str] = []
    updates = ld.get("liveBlogUpdate")
    for value in [ld.get("articleBody")] + [
        u.get("articleBody")
        for u in (updates if isinstance(updates, list) else [updates])
        if isinstance(u, dict)
    ]:
        if isinstance(value, str):
            parts.extend(line for line in (_unescape(_clean(p)) for p in value.splitlines()) if line)
    return "\n".join(parts)


def _declares_article(
    metas: dict, ld: dict, authors: tuple[str, ...], published_source: str | None
) -> str | None:
    """The first evidence, if any, that the page presents itself as one article: an article
    ``og:type``, a schema.org article type (``WebPage`` is not one), a publication date or an
    author in its metadata.  A page with any of these is never rejected as not an article."""
    og = _meta(metas, "og:type")
    if og and og.strip().lower().split(":")[0] == "article":  # "article", "article:..."
        return "og:type"
    types = ld.get("@type")
    types = {t for t in (types if isinstance(types, list) else [types]) if isinstance(t, str)}
    if types - {"WebPage"}:
        return "schema.org"
    if published_source in ("jsonld", "meta", "time"):
        return "date"
    if authors:
        return "author"
    return None


def _robots_noindex(metas: dict) -> bool:
    """Whether the page asks every search engine not to index it (``<meta name="robots">``)."""
    values = [
        v for (attr, key), vs in metas.items() if attr == "name" and key.lower() == "robots" for v in vs
    ]
    return any("noindex" in v.lower() or "none" in {p.strip() for p in v.lower().split(",")} for v in values)


def _login_wall(tree, body: str) -> bool:
    """Whether the body's first line sits in an element (up to ``HOLDER_LEVELS`` above it, never
    the whole ``<body>``) that holds a password field: the text is a login form's, not an
    article's beside a sign-in box in the page's header."""
    root = tree.find(".//body")
    first = next((toks for toks in map(_tokens, body.split("\n")) if toks), None)
    if root is None or not first:
        return False
    element = _holder(root, first, len(first))
    for _ in range(HOLDER_LEVELS):
        if element is None or element is root or element.tag in ("html", "body"):
            return False
        if element.xpath(".//input[translate(@type, 'PASWORD', 'pasword') = 'password']"):
            return True
        element = element.getparent()
    return False


def _leading_link(element, toks: list[str]):
    """The link to another page, of three words or more, whose text begins the line ``toks``
    held by ``element`` (the link is inside it or around it), if any."""
    for a in (*element.iterancestors("a"), *element.iter("a")):
        if (a.get("href") or "#").startswith("#"):
            continue
        words = _tokens(a.text_content())
        if _size(words) >= 3 and words == toks[: len(words)]:
            return a
    return None


def _teaser_lines(tree, body: str) -> tuple[int, int, int]:
    """(teaser lines, their tokens, lines looked at): body lines shown as a teaser card, an element
    that holds the line, a link of three words or more to another page outside the line (its
    headline), and nothing much else.  A section front, a tag page or a "most read" list is made
    of them; an article's paragraph sits in the article, a card far larger than itself."""
    root = tree.find(".//body")
    if root is None:
        return 0, 0, 0
    count = tokens = looked = 0
    for line in body.split("\n")[:TEASER_MAX_LINES]:
        toks = _tokens(line)
        if _size(toks) < 4:
            continue
        looked += 1
        element = _holder(root, toks, len(toks))
        if element is None:
            continue
        lead = _leading_link(element, toks)
        if lead is not None:  # the line starts with a headline link: a card of the headline and its summary
            card = element if lead is element or element in lead.iterancestors() else lead.getparent()
            if card is not None and len(_tokens(card.text_content())) <= len(toks) + TEASER_CARD_SLACK:
                count, tokens = count + 1, tokens + len(toks)
            continue
        card = element
        for _ in range(3):
            card = card.getparent()
            if card is None or card is root:
                break
            card_size = len(_tokens(card.text_content()))
            headline = next(
                (
                    a
                    for a in card.iter("a")
                    if not (a.get("href") or "#").startswith("#")
                    and element not in a.iterancestors()
                    and a not in element.iterdescendants()
                    and _size(_tokens(a.text_content())) >= 3
                ),
                None,
            )
            if headline is not None:
                if card_size <= len(toks) + len(_tokens(headline.text_content())) + TEASER_CARD_SLACK:
                    count, tokens = count + 1, tokens + len(toks)
                break
    return count, tokens, looked


def _not_article(
    tree, metas: dict, ld: dict, body: str, authors, published_source, within_budget: bool = True
) -> tuple[str | None, dict]:
    """Why the page is not an article (None if it may be one), and the signals looked at.

    Only a page that declares no article (``_declares_article``) is judged, on its structure:
    it asks search engines not to index it and has few paragraphs (an error page, an
    interstitial), its text is a login form's (a login wall), or its body is mostly teaser cards
    (a section front, a tag page; looked for only ``within_budget``: it searches the page once per
    body line).  Never on the words it says."""
    signals: dict[str, Any] = {}
    evidence = _declares_article(metas, ld, authors, published_source)
    if evidence:
        signals["article_evidence"] = evidence
        return None, signals
    if not body.strip():
        return None, signals
    paragraphs = sum(_size(_tokens(line)) >= SHORT_LINE_TOKENS for line in body.split("\n"))
    if _robots_noindex(metas) and paragraphs < NOINDEX_MAX_PARAGRAPHS:
        return (
            "the page declares no article and asks search engines not to index it (robots noindex)",
            signals,
        )
    if _login_wall(tree, body):
        return "the page declares no article and its text is a login form's", signals
    if not within_budget:
        return None, signals
    count, tokens, looked = _teaser_lines(tree, body)
    signals["teaser_lines"] = count
    total = len(_tokens(body))
    if count >= TEASER_MIN_LINES and total and tokens >= TEASER_SHARE * total:
        return (
            f"the page declares no article and {count} of its {looked} body lines are teasers beside "
            "links to other pages (a section front or tag page)",
            signals,
        )
    return None, signals


# --------------------------------------------------------------------------- entry point


def _decode(html: bytes | str, url: str | None = None) -> str:
    """A page's text: bytes (a saved file, no HTTP header) go through the encoding
    sniffing of transforms/charset.py."""
    if isinstance(html, str):
        return html
    from newsbeam.transforms.charset import decode_html

    return decode_html(html, url=url).text


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from newsbeam import __version__

    out = {"newsbeam": __version__}
    for name in ("trafilatura", "resiliparse"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out


_VERSIONS: dict[str, str] = {}


def extract_article(html: bytes | str, url: str | None = None) -> ExtractionResult:
    """Extract the main text and metadata of one article page.

    Never raises for bad HTML: an unusable page comes back with an empty ``body`` and the
    caller records an ``empty_text`` failure.
    """
    from trafilatura.utils import load_html

    if not _VERSIONS:
        _VERSIONS.update(_versions())
    text = _decode(html, url)
    raw = text.encode("utf-8")
    tree = load_html(text) if text.strip() else None
    # extraction.version (DESIGN.md: "extractor, version, method, quality signals"): the version of
    # the extractor named, newsbeam's; the libraries it runs are in ``versions``.
    provenance: dict[str, Any] = {"extractor": "newsbeam", "version": _VERSIONS["newsbeam"]}
    provenance["versions"] = {k: v for k, v in _VERSIONS.items() if k != "newsbeam"}
    if tree is None:
        provenance["method"] = "empty_page"
        return ExtractionResult(body="", provenance=provenance)
    started = time.process_time()
    base, read = _trafilatura_with_reader(tree, url)  # trafilatura works on copies of the tree
    # a body of book length gets no optional rule either: their 4-gram counts grow with it
    within_budget = time.process_time() - started < OPTIONAL_BUDGET_S and len(base) <= OPTIONAL_MAX_CHARS
    ld = _jsonld_article(tree)
    ld_body = ld.get("articleBody")
    metas = _meta_index(tree)
    sitename, canonical = _sitename(metas, ld), find_canonical_href(raw)
    page_url = url or _meta(metas, "og:url") or canonical  # a saved page names its own URL
    published_raw, source = _published(tree, metas, ld, page_url, within_budget)
    published, has_time = parse_iso_datetime(published_raw)
    if published is None:
        published_raw = source = None
    meta = {
        "title": _title(tree, metas, ld, page_url, sitename),
        "authors": _authors(metas, ld, _site_words(page_url, sitename)),
        "sitename": sitename,
        "og_url": _meta(metas, "og:url"),
    }
    page_lang = tree.xpath("string(/html/@lang)") or ""
    titles = (
        meta["title"],
        _clean(ld.get("headline")),
        _meta(metas, "og:title"),
        _clean(tree.findtext(".//title")),
    )
    body, method, signals = _choose_body(
        base.strip(),
        # a page nested past the parser's limit gets no witness: no reader would see its text
        lambda: "" if _too_deep(tree) else _resiliparse_text(text),
        (lambda: read if read is not None else _reader_text(copy.deepcopy(tree))) if within_budget else None,
        titles,
        (lambda: _own_text(tree, url)) if within_budget else None,
        (lambda: _link_texts(tree)) if within_budget else None,
    )
    lead = _declared_standfirst(tree, metas, ld, body, meta["title"]) if within_budget and body else None
    if lead:  # rule 7
        body, method = f"{lead}\n{body}", method + "+standfirst"
        signals["standfirst_tokens"] = len(_tokens(lead))
        signals["body_tokens"] += signals["standfirst_tokens"]
    signals["jsonld_body_tokens"] = len(_tokens(ld_body)) if isinstance(ld_body, str) else 0
    if not body:  # a client-rendered page: its text only in its JSON-LD (after _choose_body, not in it)
        declared = _jsonld_text(ld)
        if declared:
            body, method = declared, "jsonld"
            signals["body_tokens"] = len(_tokens(body))
    if _declared_paywalled(ld):  # the body may be an opening only: an analyst filters on it
        signals["paywalled"] = True
    not_article, page_signals = _not_article(tree, metas, ld, body, meta["authors"], source, within_budget)
    signals.update(page_signals)
    provenance.update(method=method, signals=signals)
    return ExtractionResult(
        body=body,
        published=published.isoformat().replace("+00:00", "Z") if published else None,
        published_has_time=has_time,
        published_source=source,
        language=_language(body, page_lang),
        canonical_href=canonical,
        provenance=provenance,
        published_raw=published_raw,
        not_article=not_article,
        article_evidence=page_signals.get("article_evidence"),
        **meta,
    )


# --------------------------------------------------------------------------- sandbox


_IDLE: dict[Any, list] = {}  # extract_fn → idle (process, pipe) kept by keep_children
_IDLE_LOCK = threading.Lock()
_KEEP = False


def keep_children(enabled: bool = True) -> None:
    """For long-running processes (``newsbeam stream``): a closed sandbox keeps
    its child process for the next sandbox of the same function, instead of
    killing it.  Each stream cycle is a new pipeline whose DoFns set up new
    sandboxes; without this every cycle starts fresh children (the extractor
    imported again: about 170 MB and a second of CPU per cycle)."""
    global _KEEP
    _KEEP = enabled
    if not enabled:
        with _IDLE_LOCK:
            idle = [pair for pairs in _IDLE.values() for pair in pairs]
            _IDLE.clear()
        for proc, conn in idle:
            proc.kill()
            proc.join(timeout=5)
            conn.close()


class _LeanChild:
    """A sandbox child started as ``python -m newsbeam.transforms.sandbox_child``
    (see that module: no resource tracker, no Beam), with the part of
    ``multiprocessing.Process`` the sandbox uses."""

    def __init__(self, fn: Callable[..., Any]):
        import socket
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        parent, child = socket.socketpair()
        try:
            self._popen = subprocess.Popen(
                [sys.executable, "-m", "newsbeam.transforms.sandbox_child", str(child.fileno())],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        self.pid = self._popen.pid
        self.conn = Connection(parent.detach())
        self.conn.send(list(sys.path))  # so that it finds the modules this process finds
        self.conn.send(fn)

    def is_alive(self) -> bool:
        return self._popen.poll() is None

    def kill(self) -> None:
        if self._popen.poll() is None:
            self._popen.kill()

    def join(self, timeout: float | None = None) -> None:
        import subprocess

        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass


class ExtractionSandbox:
    """Runs ``extract_fn`` (default ``extract_article``) in one persistent child process.

    ``extract_with_limit`` returns the result, or raises ``ExtractionTimeout`` after
    ``timeout_s`` (the child is killed and a fresh one starts on the next call), or
    ``ExtractionCrashed`` if the child died or ``extract_fn`` raised (the message names the
    exception; the child lives on for the next page, and ``extract_article`` is not meant to
    raise for bad HTML).  ``extract_fn`` must be picklable (a module-level function).
    Not thread-safe: one sandbox per worker thread.
    """

    def __init__(
        self,
        extract_fn: Callable[..., ExtractionResult] = extract_article,
        start_method: str | None = None,
    ) -> None:
        self._extract_fn = extract_fn
        # None: the lean child (transforms/sandbox_child.py) where it can start (POSIX), else spawn.
        if start_method is None and os.name != "posix":
            start_method = "spawn"
        self._ctx = multiprocessing.get_context(start_method) if start_method else None
        self._proc = None
        self._conn = None

    def _start(self) -> None:
        with _IDLE_LOCK:
            idle = _IDLE.get(self._extract_fn) or []
            while idle:
                proc, conn = idle.pop()
                if proc.is_alive():
                    self._proc, self._conn = proc, conn
                    return
                conn.close()
        if self._ctx is None:
            self._proc = _LeanChild(self._extract_fn)
            self._conn = self._proc.conn
            return
        parent, child = self._ctx.Pipe()
        from newsbeam.transforms.sandbox_child import serve  # the lean child's loop, here in a spawn child

        self._proc = self._ctx.Process(target=serve, args=(child, self._extract_fn), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(timeout=5)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    def extract_with_limit(
        self, html: bytes | str, url: str | None = None, timeout_s: float = 10.0
    ) -> ExtractionResult:
        if self._proc is None or not self._proc.is_alive():
            self._kill()
            self._start()
        self._conn.send((html, url))
        if not self._conn.poll(timeout_s):
            self._kill()
            raise ExtractionTimeout(f"extraction exceeded {timeout_s:g} s")
        try:
            result = self._conn.recv()
        except EOFError as err:
            self._kill()
            raise ExtractionCrashed("extraction child process died") from err
        if isinstance(result, CallFailed):
            raise ExtractionCrashed(f"extraction failed ({result.error})")
        return result

    def close(self) -> None:
        if _KEEP and self._proc is not None and self._proc.is_alive():
            with _IDLE_LOCK:
                _IDLE.setdefault(self._extract_fn, []).append((self._proc, self._conn))
            self._proc = self._conn = None
            return
        self._kill()

    def __enter__(self) -> ExtractionSandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------- directory mode


def result_to_row(doc_id: str, result: ExtractionResult) -> dict[str, Any]:
    """The ``newsbeam extract`` output row of one page."""
    return {
        "id": doc_id,
        "url": result.canonical_href or result.og_url,
        "title": result.title,
        "articleBody": result.body,
        "published": result.published,
        "published_has_time": result.published_has_time,
        "published_source": result.published_source,
        "authors": list(result.authors),
        "language": result.language,
        "sitename": result.sitename,
        "extraction": result.provenance,
    }


MAX_FILE_BYTES = 50_000_000
NO_TEXT = "no text found"  # summary count of rows without a body and without an error


def _read_input(path: Path) -> tuple[bytes | None, str | None, str | None]:
    """(content, error, detail) of one input file of ``run_extract_dir``: a broken link or a
    file that cannot be read is ``unreadable`` (the system's message as detail), a device or
    pipe is ``not_a_file`` (never read: ``/dev/zero`` would not end), a file over
    ``MAX_FILE_BYTES`` is ``too_large``."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return None, "not_a_file", None
        if info.st_size > MAX_FILE_BYTES:
            return None, "too_large", f"{info.st_size} bytes"
        return path.read_bytes(), None, None
    except OSError as exc:
        return None, "unreadable", exc.strerror or str(exc)


def saved_page_names_front_page(result: ExtractionResult) -> str | None:
    """Why a saved page is no article, if it declares none (``result.article_evidence``) and its
    ``rel=canonical`` names a site's front page (an absolute URL or ``/``, without a query): it is
    that front page, or a page pointing search engines home (a soft 404).  ``newsbeam run``
    rejects such a page the same way, knowing its URL (``transforms.extract.names_front_page``);
    a saved file has none, so the page itself being the front page is no exception here."""
    href = (result.canonical_href or "").split("#", 1)[0].strip()
    if result.article_evidence or not href:
        return None
    parts = urlsplit(href)
    if parts.path not in ("", "/") or parts.query or not (parts.netloc or href.startswith("/")):
        return None
    return f"the page declares no article and names the front page {href} as its canonical URL"


def html_files(input_dir: str | Path) -> list[Path]:
    """The ``*.html`` entries of ``input_dir`` that ``run_extract_dir`` gives a row each, sorted
    by name (a directory named ``*.html`` is none)."""
    return sorted(p for p in Path(input_dir).glob("*.html") if not p.is_dir())


def run_extract_dir(
    input_dir: str | Path,
    output_path: str | Path,
    extract_fn: Callable[[bytes, str | None], ExtractionResult] = extract_article,
    timeout_s: float = 30.0,
    errors: Counter | None = None,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Extract every ``*.html`` file of ``input_dir`` (sorted by name) into JSON lines at
    ``output_path``; return the number of rows written.

    Every file gets exactly one row (a directory named ``*.html`` is not a file and gets
    none).  Extraction runs in an ``ExtractionSandbox``: a page that takes longer than
    ``timeout_s`` or crashes the extractor gets a row with an empty ``articleBody`` and an
    ``error`` (``timeout``, ``extract_crash``) instead of stopping the whole directory, and so
    does a file that cannot be read (``unreadable``, ``not_a_file``, ``too_large``; with the
    reason in ``detail``).  A page that is no article (``ExtractionResult.not_article``: a
    section front, a login wall, an error page asking not to be indexed; or
    ``saved_page_names_front_page``: a page naming a front page as its canonical URL) gets an empty
    ``articleBody``, ``error`` ``not_article`` and the reason in ``detail``, as ``newsbeam run``
    records it.  ``errors``, when given, counts the rows by error.

    ``workers``: pages extracted at once, each thread with its own sandbox (child process); rows
    are written in file order whatever the order they finish in.  ``progress(n)``: called with
    the number of rows written so far, from this thread."""
    files = html_files(input_dir)
    workers = max(1, min(workers, len(files)))
    local = threading.local()
    sandboxes: list[ExtractionSandbox] = []

    def row_of(path: Path) -> dict:
        sandbox = getattr(local, "sandbox", None)
        if sandbox is None:
            sandbox = local.sandbox = ExtractionSandbox(extract_fn)
            sandboxes.append(sandbox)
        return _extract_file(sandbox, path, timeout_s)

    pool = concurrent.futures.ThreadPoolExecutor(workers) if workers > 1 else None
    try:
        with open(output_path, "w", encoding="utf-8") as out:
            rows = pool.map(row_of, files) if pool else map(row_of, files)
            for written, row in enumerate(rows, 1):
                if errors is not None:
                    if row.get("error"):
                        errors[row["error"]] += 1
                    elif not row["articleBody"]:
                        errors[NO_TEXT] += 1  # read and extracted, no article text in it
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                if progress:
                    progress(written)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
        for sandbox in sandboxes:
            sandbox.close()
    return len(files)


def _extract_file(sandbox: ExtractionSandbox, path: Path, timeout_s: float) -> dict:
    """The output row of one file (``run_extract_dir``)."""
    # a name that is not UTF-8 keeps its bytes as \xNN escapes (the id stays unique)
    name = os.fsencode(path.name).decode("utf-8", "backslashreplace")
    doc_id = name[: -len(".html")]
    content, error, detail = _read_input(path)
    if content is not None:
        try:
            result = sandbox.extract_with_limit(content, None, timeout_s)
        except ExtractionTimeout:
            error = "timeout"
        except ExtractionCrashed:
            error = "extract_crash"
        else:
            row = result_to_row(doc_id, result)
            why = result.not_article or saved_page_names_front_page(result)
            if why:  # what `newsbeam run` records as a not_article failure
                row.update(articleBody="", error="not_article", detail=why)
            return row
    row = {**result_to_row(doc_id, ExtractionResult(body="")), "error": error}
    if detail:
        row["detail"] = detail
    return row
