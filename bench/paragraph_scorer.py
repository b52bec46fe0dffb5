"""Cross-validate a learned paragraph scorer that would drop boilerplate lines from the extractor's body.

    python bench/paragraph_scorer.py [--data DIR] [--snippets DIR] [--folds 5] [--trees N]
                                     [--without FEATURES] [--snippet-weight W] [--show THR] [--dump FILE]

An experiment, not part of the extractor (``transforms/extraction.py`` does not use it: the
cross-validated gain was not positive on both sets, see BENCHMARKS.md, "Fourth round").  It
answers: would one learned scorer over the paragraphs (lines) of newsbeam's body, from general
evidence (text, position, the readability witness, the source element's tag, link density, the
box it sits in and its class/id vocabulary), drop boilerplate the hand rules keep, on pages it
was not trained on?

Data: the HALVES A only (pages sorted by id / file name, even positions) of the two public sets
of ``bench/extraction.py``: ``--data``, the ScrapingHub benchmark (default
``$NEWSBEAM_BENCH_DATA/extraction``), and ``--snippets``, trafilatura's annotated pages (default
``$NEWSBEAM_BENCH_DATA/trafilatura-eval``, built by ``bench/get_trafilatura_eval.py``).  The
halves B are never read: they stay the held-out estimate of ``bench/extraction.py``.  Exits 2
naming the set when one is absent.

Per half-A page: newsbeam's body (``extract_article``, shipped defaults), one feature vector per
line (``PARAGRAPH_FEATURES``) and a label:

* ScrapingHub: a line whose word 4-grams are mostly (>= 0.8) in the page's reference is content,
  one with few (< 0.2) is boilerplate (a line of fewer than four words: whether its words occur
  in the reference in that order); others are unlabelled;
* snippet set: a line holding a ``without`` snippet is boilerplate, one holding a ``with``
  snippet content; others are unlabelled.

Model: L2-regularised logistic regression (numpy, Newton steps, standardised features), or with
``--trees N`` N boosted depth-2 regression trees.  Cross-validation: the pages of both halves A
are split into ``--folds`` folds (per set, seeded); each fold's lines are scored by a model
trained on the other folds of both sets; the fold's bodies are rebuilt without the lines scored
boilerplate (``MODES``: the trailing run only, both edge runs, or anywhere; never more than
``MAX_SHARE`` of the tokens; then the extractor's dangling-heading rule) and scored with each
set's own metric against the unchanged bodies.  Printed per mode and threshold: the pooled
out-of-fold F1 / precision / recall change on each set, pages won / lost, and the per-fold F1
changes; then the ceiling (every line labelled boilerplate dropped) and the weights of the
logistic regression trained on all halves A.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import math
import random
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from transforms import extraction as X  # noqa: E402

MODES = ("tail", "edges", "anywhere")
THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
MIN_LINES = 3  # a body of fewer lines is left as it is
MAX_SHARE = 0.2  # never drop more than this share of the body's tokens (as the trim rule)

# --------------------------------------------------------------------------- features

# Class/id vocabulary: groups of substrings of the class and id attributes of the line's
# element and of its ancestors up to its box (see paragraph_features).
CLASS_GROUPS = (
    ("related", ("related", "recommend", "teaser", "popular", "trending", "more-", "readmore", "also")),
    ("newsletter", ("newsletter", "subscri", "signup", "sign-up", "promo", "optin", "cta", "paywall")),
    ("share", ("share", "social", "follow")),
    ("about", ("about", "bio", "author", "byline", "contact")),
    ("sidebar", ("footer", "sidebar", "aside", "widget", "rail")),
    ("caption", ("caption", "credit", "figure", "photo", "image", "media")),
    ("comment", ("comment", "disqus")),
    ("tag", ("tag", "categor", "keyword", "topic", "meta")),
    ("body", ("articlebody", "article-body", "article__body", "story-body", "entry-content", "post-content")),
)
ANCESTOR_TAGS = (("nav", ("nav", "aside", "footer")), ("header", ("header",)), ("form", ("form",)))
_LEAF_TAGS = frozenset(
    ["p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "td", "th", "dd", "dt", "pre", "figcaption"]
)
_WRAPPER_TAGS = frozenset(
    ["div", "section", "span", "article", "aside", "footer", "header", "font", "center"]
)
_HEADINGS = frozenset(["h1", "h2", "h3", "h4", "h5", "h6"])
_CELLS = frozenset(["td", "th", "dd", "dt"])
_PREFIX_TOKENS = 8
_CONTACT_RE = re.compile(
    r"[\w.+-]+@[\w-]+\.[\w.]+|(?<!\w)@\w{2,}|https?://|www\.|\+?\d[\d ()./-]{7,}\d", re.IGNORECASE
)
_SENTENCE_END = tuple('.!?"\u201d\u00bb)\u3002\uff01\uff1f')

PARAGRAPH_FEATURES = (
    "tokens_log",
    "short",
    "sentence_end",
    "colon_end",
    "digit_share",
    "upper_share",
    "contact",
    "list_line",
    "position",
    "after_share",
    "before_share",
    "last",
    "first",
    "reader_holds",
    "matched",
    "heading",
    "list_item",
    "blockquote",
    "cell",
    "link_density",
    "parent_link_density",
    "box_link_density",
    "box_share",
    "outside_main",
    "neighbour_link_density",
    "tail_link_density",
    *(f"class_{name}" for name, _ in CLASS_GROUPS),
    *(f"in_{name}" for name, _ in ANCESTOR_TAGS),
)
MAIN_SHARE = 0.6


class DomIndex:
    """The page's block elements by their text (all tokens, and the first ``_PREFIX_TOKENS``),
    to find the element a line of the body came from; built in one pass over the tree."""

    def __init__(self, tree) -> None:
        self.full: dict[str, Any] = {}
        self.prefix: dict[str, Any] = {}
        self._density: dict[Any, float] = {}
        self._own: dict[Any, tuple[bool, ...]] = {}
        self.blocks: list[tuple[Any, str]] = []  # (element, its text), in document order
        blocks = _LEAF_TAGS | _WRAPPER_TAGS
        for el in tree.iter(*blocks):
            if el.tag in _WRAPPER_TAGS and any(child.tag in blocks for child in el):
                continue
            toks = X._tokens(el.text_content())
            if not toks:
                continue
            self.full.setdefault(" ".join(toks), el)
            self.blocks.append((el, " ".join(el.text_content().split())))
            if len(toks) >= _PREFIX_TOKENS:
                self.prefix.setdefault(" ".join(toks[:_PREFIX_TOKENS]), el)

    def find(self, toks: list[str]):
        if not toks:
            return None
        el = self.full.get(" ".join(toks))
        if el is None and len(toks) >= _PREFIX_TOKENS:
            el = self.prefix.get(" ".join(toks[:_PREFIX_TOKENS]))
        return el

    def link_density(self, el) -> float:
        """Share of the element's text characters inside links (0 for no element)."""
        if el is None:
            return 0.0
        value = self._density.get(el)
        if value is None:
            size = len("".join(el.text_content().split()))
            links = sum(len("".join(a.text_content().split())) for a in el.iter("a"))
            value = self._density[el] = min(1.0, links / size) if size else 0.0
        return value

    def own_groups(self, el) -> tuple[bool, ...]:
        """For each class/id group then each tag group: whether the element itself has it."""
        cached = self._own.get(el)
        if cached is None:
            names = f"{el.get('class') or ''} {el.get('id') or ''}".lower()
            cached = self._own[el] = tuple(
                any(w in names for w in words) for _, words in CLASS_GROUPS
            ) + tuple(el.tag in tags for _, tags in ANCESTOR_TAGS)
        return cached


def main_container(els: list, sizes: list[int]):
    """(main element, the set of it and its ancestors): the deepest element holding at least
    ``MAIN_SHARE`` of the tokens of the lines found in the page (None when no line was)."""
    mass: dict[Any, int] = {}
    for el, size in zip(els, sizes):
        while el is not None:
            mass[el] = mass.get(el, 0) + size
            el = el.getparent()
    found = sum(size for el, size in zip(els, sizes) if el is not None)
    # the elements above the share form one chain (two disjoint ones cannot both hold > half)
    chain = [el for el, m in mass.items() if found and m >= MAIN_SHARE * found]
    if not chain:
        return None, set(), mass
    main = max(chain, key=lambda el: sum(1 for _ in el.iterancestors()))
    return main, {main, *main.iterancestors()}, mass


def paragraph_features(lines: list[str], dom: DomIndex, reader: X._Reader | None) -> list[list[float]]:
    """One feature vector (``PARAGRAPH_FEATURES``) per line of the body.  DOM features come
    from the element the line was found in; the *main* container holds most of the body's
    tokens, and a line's *box* is its highest ancestor below the main container's chain (the
    newsletter box, the related list, the article's paragraph itself)."""
    toks = [X._tokens(line) for line in lines]
    sizes = [len(t) for t in toks]
    total = sum(sizes) or 1
    count = len(lines)
    els = [dom.find(t) for t in toks]
    main, chain, mass = main_container(els, sizes)
    found = sum(size for el, size in zip(els, sizes) if el is not None) or 1
    density = [dom.link_density(el) for el in els]
    tail = [0.0] * (count + 1)  # token-weighted link density of lines i.. to the end
    weight = 0
    for i in range(count - 1, -1, -1):
        weight += sizes[i]
        tail[i] = (tail[i + 1] * (weight - sizes[i]) + density[i] * sizes[i]) / weight if weight else 0.0
    rows: list[list[float]] = []
    before = 0
    for i, line in enumerate(lines):
        sequence = (
            i / (count - 1) if count > 1 else 0.0,
            (total - before - sizes[i]) / total,
            before / total,
            float(i == count - 1),
            float(i == 0),
        )
        around = (density[i - 1] if i else 0.0) / 2 + (density[i + 1] if i + 1 < count else 0.0) / 2
        rows.append(
            _row(line, toks[i], els[i], dom, reader, (main, chain, mass, found), sequence, (around, tail[i]))
        )
        before += sizes[i]
    return rows


def page_block_features(lines: list[str], dom: DomIndex, reader) -> tuple[list[str], list[list[float]]]:
    """(texts, feature rows) of the page's block elements that no line of the body came from,
    with the body's main container; the features that describe the body's sequence (position,
    shares before and after, first, last, neighbours, tail) are 0: train without them."""
    toks = [X._tokens(line) for line in lines]
    sizes = [len(t) for t in toks]
    els = [dom.find(t) for t in toks]
    main, chain, mass = main_container(els, sizes)
    found = sum(size for el, size in zip(els, sizes) if el is not None) or 1
    used = set(els)
    texts, rows = [], []
    for el, text in dom.blocks:
        if el not in used:
            texts.append(text)
            rows.append(
                _row(
                    text, X._tokens(text), el, dom, reader, (main, chain, mass, found), (0.0,) * 5, (0.0, 0.0)
                )
            )
    return texts, rows


SEQUENCE_FEATURES = (
    "position",
    "after_share",
    "before_share",
    "last",
    "first",
    "neighbour_link_density",
    "tail_link_density",
)


def _row(line, toks, el, dom, reader, container, sequence, links) -> list[float]:
    main, chain, mass, found = container
    stripped = line.strip()
    chars = [c for c in stripped if not c.isspace()]
    letters = [c for c in chars if c.isalpha()]
    tag = el.tag if el is not None else ""
    box, groups, outside = None, (0.0,) * (len(CLASS_GROUPS) + len(ANCESTOR_TAGS)), 0.0
    if el is not None:
        box, seen = el, [dom.own_groups(el)]
        while box not in chain and box.getparent() is not None and box.getparent() not in chain:
            box = box.getparent()
            seen.append(dom.own_groups(box))
        groups = tuple(float(any(g)) for g in zip(*seen))
        outside = float(main is not None and box not in chain and box.getparent() is not main)
    size = len(toks)
    return [
        math.log1p(size) / 5,
        float(size < X.SHORT_LINE_TOKENS),
        float(stripped.endswith(_SENTENCE_END)),
        float(stripped.endswith(X._COLONS)),
        sum(c.isdigit() for c in chars) / len(chars) if chars else 0.0,
        sum(c.isupper() for c in letters) / len(letters) if letters else 0.0,
        float(bool(_CONTACT_RE.search(stripped))),
        float(stripped.startswith(("- ", "|"))),
        *sequence,
        float(reader.has(toks)) if reader is not None else 0.5,
        float(el is not None),
        float(tag in _HEADINGS),
        float(tag == "li"),
        float(tag == "blockquote"),
        float(tag in _CELLS),
        dom.link_density(el),
        dom.link_density(el.getparent() if el is not None else None),
        dom.link_density(box),
        mass.get(box, 0) / found if box is not None else 0.0,
        outside,
        *links,
        *groups,
    ]


def boilerplate_lines(
    sizes: list[int], probs: list[float], threshold: float, mode: str, max_share: float
) -> set[int]:
    """Indices of the lines to drop: those scored boilerplate with probability >= ``threshold``
    (``mode``: ``tail``, the trailing run only; ``edges``, the leading and trailing runs;
    ``anywhere``), or none when they would hold more than ``max_share`` of the tokens (the
    article's bulk is never dropped)."""
    if mode == "anywhere":
        drop = {i for i, p in enumerate(probs) if p >= threshold}
    else:
        start, end = X._edge_cut(len(sizes), lambda i: probs[i] < threshold)
        drop = set(range(end, len(sizes))) | (set(range(start)) if mode == "edges" else set())
    total = sum(sizes)
    if len(drop) == len(sizes) or sum(sizes[i] for i in drop) > max_share * total:
        return set()
    return drop


# --------------------------------------------------------------------------- data and labels


def _bench():
    spec = importlib.util.spec_from_file_location("bench_extraction", ROOT / "bench" / "extraction.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def page_lines(page: str | bytes, blocks: list | None = None) -> tuple[list[str], list[list[float]] | None]:
    """(lines of newsbeam's body, their feature rows or None for a body of < MIN_LINES lines).
    The readability witness is the one the extractor uses (trafilatura's port, as its cascade
    runs it).  ``blocks``, when given, receives (text, feature row) of the page's other block
    elements (``page_block_features``)."""
    from trafilatura.utils import load_html

    body = X.extract_article(page, None).body
    lines = [line for line in body.split("\n") if line.strip()]
    if len(lines) < MIN_LINES:
        return lines, None
    tree = load_html(X._decode(page))
    _, read = X._trafilatura_with_reader(copy.deepcopy(tree), None)
    reader = X._Reader("reader", lambda: read if read is not None else X._reader_text(copy.deepcopy(tree)))
    dom, reader = DomIndex(tree), reader if reader.text else None
    if blocks is not None:
        blocks.extend(zip(*page_block_features(lines, dom, reader)))
    return lines, paragraph_features(lines, dom, reader)


def _ref_label(line: str, ref_grams, ref_text: str) -> int | None:
    toks = X._tokens(line)
    if not toks:
        return None
    if len(toks) < 4:
        return 0 if f" {' '.join(toks)} " in ref_text else 1
    share = X._containment(X._gram_counts(toks), ref_grams)
    return 0 if share >= 0.8 else 1 if share < 0.2 else None


def _snippet_label(line: str, row: dict) -> int | None:
    bad = any(s in line for s in row["without"])
    good = any(s in line for s in row["with"])
    return None if bad == good else int(bad)


# --------------------------------------------------------------------------- models


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Weighted L2 logistic regression by Newton steps on standardised features; returns
    (weights, bias) on the raw features."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    beta = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -30, 30)))
        grad = z.T @ (w * (p - y)) + reg * beta
        hess = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(reg) + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    weights = beta[:-1] / std
    return weights, float(beta[-1] - (weights * mean).sum())


def fit_trees(x, y, w, rounds=100, depth=2, rate=0.1, lam=1.0):
    """Gradient-boosted regression trees on the log-loss (Newton leaves); returns (trees, bias),
    each tree a leaf value or (feature, threshold, subtree if x[feature] <= threshold, else)."""
    cuts = [np.unique(np.quantile(x[:, j], np.linspace(0.05, 0.95, 15))) for j in range(x.shape[1])]
    bias = float(np.log((w * y).sum() / (w * (1 - y)).sum()))
    f = np.full(len(y), bias)

    def build(idx, g, h, level):
        gs, hs = g[idx].sum(), h[idx].sum()
        if level == depth or len(idx) < 2:
            return float(gs / (hs + lam))
        best, parent = None, gs * gs / (hs + lam)
        for j in range(x.shape[1]):
            for thr in cuts[j]:
                left = x[idx, j] <= thr
                hl, hr = h[idx][left].sum(), h[idx][~left].sum()
                if hl < 0.02 or hr < 0.02:
                    continue
                gl = g[idx][left].sum()
                gain = gl * gl / (hl + lam) + (gs - gl) ** 2 / (hr + lam) - parent
                if best is None or gain > best[0]:
                    best = (gain, j, float(thr), left)
        if best is None or best[0] <= 1e-6:
            return float(gs / (hs + lam))
        _, j, thr, left = best
        return (j, thr, build(idx[left], g, h, level + 1), build(idx[~left], g, h, level + 1))

    trees = []
    for _ in range(rounds):
        p = 1 / (1 + np.exp(-f))
        tree = _scale(build(np.arange(len(y)), w * (y - p), w * p * (1 - p), 0), rate)
        trees.append(tree)
        f += np.array([tree_value(tree, row) for row in x])
    return trees, bias


def _scale(tree, rate):
    if isinstance(tree, float):
        return tree * rate
    return (tree[0], tree[1], _scale(tree[2], rate), _scale(tree[3], rate))


def tree_value(tree, row) -> float:
    while not isinstance(tree, float):
        tree = tree[2] if row[tree[0]] <= tree[1] else tree[3]
    return tree


def rebuild(lines: list[str], probs: list[float], threshold: float, mode: str) -> str:
    """The body without the lines scored boilerplate (then the extractor's dangling-heading rule)."""
    sizes = [len(X._tokens(line)) for line in lines]
    drop = boilerplate_lines(sizes, probs, threshold, mode, MAX_SHARE)
    body = "\n".join(line for i, line in enumerate(lines) if i not in drop)
    return X._drop_dangling_headings(body)[0] if drop else body


def _page_f1(c) -> float:
    tp, fp, fn = c
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    bench = _bench()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data",
        type=Path,
        default=bench._env_data("extraction"),
        help="ScrapingHub benchmark folder (default: $NEWSBEAM_BENCH_DATA/extraction)",
    )
    ap.add_argument(
        "--snippets",
        type=Path,
        default=bench._env_data("trafilatura-eval"),
        help="trafilatura evaluation set folder (default: $NEWSBEAM_BENCH_DATA/trafilatura-eval; "
        "bench/get_trafilatura_eval.py builds it)",
    )
    ap.add_argument("--folds", type=int, default=5, help="cross-validation folds (by page)")
    ap.add_argument("--l2", type=float, default=1.0, help="L2 penalty on the standardised weights")
    ap.add_argument("--trees", type=int, default=0, help="N boosted depth-2 trees instead of the regression")
    ap.add_argument("--snippet-weight", type=float, default=3.0, help="training weight of a snippet-set line")
    ap.add_argument("--boiler-weight", type=float, default=5.0, help="training weight of a boilerplate line")
    ap.add_argument(
        "--page-blocks",
        type=float,
        default=0.0,
        help="also train on the page's other block elements, each with this weight (0: body lines only); "
        "leaves out the body-sequence features",
    )
    ap.add_argument("--without", default="", help="comma-separated features left out")
    ap.add_argument("--show", type=float, help="list the lines dropped at this threshold (every mode)")
    ap.add_argument("--dump", type=Path, help="write every line's features, label and out-of-fold score")
    args = ap.parse_args(argv)
    if args.folds < 2:
        print(f"error: --folds must be at least 2, got {args.folds}", file=sys.stderr)
        return 2
    for folder, need, what in (
        (args.data, "ground_truth.jsonl", bench.DATASET),
        (args.snippets, "evaldata.jsonl", bench.SNIPPET_DATASET),
    ):
        if folder is None or not (folder / need).is_file():
            where = f"at {folder}" if folder else "(no folder given and $NEWSBEAM_BENCH_DATA is not set)"
            print(f"error: data set not found {where}. It is {what}.", file=sys.stderr)
            return 2
    without = set(filter(None, args.without.split(",")))
    if args.page_blocks:  # undefined for a block outside the body (and every block is found)
        without |= {*SEQUENCE_FEATURES, "matched"}
    if without - set(PARAGRAPH_FEATURES):
        print(
            f"error: --without names unknown features {sorted(without - set(PARAGRAPH_FEATURES))}",
            file=sys.stderr,
        )
        return 2
    mask = np.array([name not in without for name in PARAGRAPH_FEATURES], float)

    score = bench._load_score(args.data)
    gt = score.load_ground_truth(args.data / "ground_truth.jsonl")
    pages = {
        ("sh", k): (args.data / "html" / f"{k}.html").read_text(encoding="utf-8") for k in sorted(gt)[0::2]
    }
    sn_pages, items = bench.load_snippet_set(args.snippets)
    pages.update({("sn", k): sn_pages[k] for k in sorted(sn_pages)[0::2]})
    snippet_counts = bench._sibling("get_trafilatura_eval").snippet_counts
    extra: dict = {key: [] for key in pages}
    cap = {key: page_lines(page, extra[key] if args.page_blocks else None) for key, page in pages.items()}
    keys = sorted(cap)

    samples = []  # (page key, line index, features, label, training weight)
    for key in keys:
        (kind, k), (lines, rows) = key, cap[key]
        if rows is None:
            continue
        if kind == "sh":
            ref = gt[k].get("articleBody", "")
            grams, text = X._shingles(ref), f" {' '.join(X._tokens(ref))} "
        for i, (line, row) in enumerate(zip(lines, rows)):
            label = _ref_label(line, grams, text) if kind == "sh" else _snippet_label(line, items[k])
            if label is not None:
                weight = (1.0 if kind == "sh" else args.snippet_weight) * (
                    args.boiler_weight if label else 1.0
                )
                samples.append((key, i, row, label, weight))
        for j, (block, row) in enumerate(extra[key]):
            label = _ref_label(block, grams, text) if kind == "sh" else _snippet_label(block, items[k])
            if label is not None:
                weight = args.page_blocks * (args.boiler_weight if label else 1.0)
                weight *= 1.0 if kind == "sh" else args.snippet_weight
                samples.append((key, -1 - j, row, label, weight))  # negative index: a page block
    for kind, name in (("sh", "ScrapingHub"), ("sn", "snippets")):
        ys = [s[3] for s in samples if s[0][0] == kind and s[1] >= 0]
        n = sum(1 for k in keys if k[0] == kind)
        print(f"{name} half A: {n} pages, {len(ys)} labelled lines, {sum(ys)} boilerplate")
        if args.page_blocks:
            ys = [s[3] for s in samples if s[0][0] == kind and s[1] < 0]
            print(f"  and {len(ys)} labelled page blocks outside the body, {sum(ys)} boilerplate")

    rng = random.Random(0)
    fold_of = {}
    for kind in ("sh", "sn"):
        own = [k for k in keys if k[0] == kind]
        rng.shuffle(own)
        fold_of.update({k: i % args.folds for i, k in enumerate(own)})

    def count(key, body):
        kind, k = key
        if kind == "sh":
            return score.string_shingle_matching(true=gt[k].get("articleBody", ""), pred=body)
        tp, fn, fp, _ = snippet_counts(body, items[k])
        return tp, fp, fn

    base = {key: count(key, "\n".join(cap[key][0])) for key in keys}
    probs: dict = {}
    for fold in range(args.folds):
        train = [s for s in samples if fold_of[s[0]] != fold]
        x = np.array([s[2] for s in train], dtype=float) * mask
        y, sw = np.array([s[3] for s in train], float), np.array([s[4] for s in train])
        if args.trees:
            trees, b = fit_trees(x, y, sw, rounds=args.trees)

            def margins(rows, trees=trees, b=b):
                return [b + sum(tree_value(t, r * mask) for t in trees) for r in np.array(rows)]
        else:
            w, b = fit_logistic(x, y, sw, args.l2)

            def margins(rows, w=w, b=b):
                return list(np.array(rows) @ (w * mask) + b)

        for key in keys:
            if fold_of[key] == fold and cap[key][1] is not None:
                probs[key] = [1 / (1 + math.exp(-max(-30.0, min(30.0, z)))) for z in margins(cap[key][1])]

    labels = {(s[0], s[1]): s[3] for s in samples if s[1] >= 0}
    oof = [(probs[s[0]][s[1]], s[3]) for s in samples if s[1] >= 0]
    pos = [p for p, y in oof if y]
    neg = [p for p, y in oof if not y]
    auc = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg) / max(1, len(pos) * len(neg))
    print(f"out-of-fold AUC on the labelled lines: {auc:.3f}")
    if args.dump:
        with args.dump.open("w", encoding="utf-8") as f:
            for key in keys:
                lines, rows = cap[key]
                for i, line in enumerate(lines if rows else []):
                    row = {"set": key[0], "page": key[1], "i": i, "n": len(lines), "line": line}
                    row.update(
                        label=labels.get((key, i)), p=probs[key][i], x=dict(zip(PARAGRAPH_FEATURES, rows[i]))
                    )
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
    if args.show is not None:
        for key in keys:
            lines, rows = cap[key]
            if rows is None:
                continue
            sizes = [len(X._tokens(line)) for line in lines]
            for mode in MODES:
                for i in sorted(boilerplate_lines(sizes, probs[key], args.show, mode, MAX_SHARE)):
                    print(
                        f"  {mode:<8} {key[0]} {key[1][:12]} {i}/{len(lines)} label={labels.get((key, i))} "
                        f"p={probs[key][i]:.2f} {lines[i][:90]}"
                    )

    prf = {"sh": bench._prf, "sn": bench._prf_summed}

    def report(label: str, new: dict) -> None:
        for kind in ("sh", "sn"):
            ks = [k for k in keys if k[0] == kind]
            f0, p0, r0 = prf[kind]([base[k] for k in ks])
            f1, p1, r1 = prf[kind]([new[k] for k in ks])
            won = sum(_page_f1(new[k]) > _page_f1(base[k]) + 1e-9 for k in ks)
            lost = sum(_page_f1(new[k]) < _page_f1(base[k]) - 1e-9 for k in ks)
            folds = []
            for fold in range(args.folds):
                fk = [k for k in ks if fold_of[k] == fold]
                folds.append(prf[kind]([new[k] for k in fk])[0] - prf[kind]([base[k] for k in fk])[0])
            print(
                f"{label} {kind:<3} {f1 - f0:>+8.4f} {p1 - p0:>+8.4f} {r1 - r0:>+8.4f} {won:>4}/{lost:<4}  "
                + " ".join(f"{d:+.4f}" for d in folds)
            )

    print(f"\ncross-validated change against newsbeam's bodies ({args.folds} folds by page, halves A)")
    print(f"{'mode':<9} {'thr':>5} {'set':<3} {'dF1':>8} {'dP':>8} {'dR':>8} {'won/lost':>9}  per-fold dF1")
    for mode in MODES:
        for threshold in THRESHOLDS:
            new = {}
            for key in keys:
                lines, rows = cap[key]
                new[key] = count(key, rebuild(lines, probs[key], threshold, mode)) if rows else base[key]
            report(f"{mode:<9} {threshold:>5.2f}", new)
    ceiling = {}
    for key in keys:
        lines, rows = cap[key]
        kept = [line for i, line in enumerate(lines) if not (rows and labels.get((key, i)) == 1)]
        ceiling[key] = count(key, "\n".join(kept))
    report(f"{'ceiling':<9} {'':>5}", ceiling)

    x = np.array([s[2] for s in samples], dtype=float) * mask
    w, b = fit_logistic(
        x, np.array([s[3] for s in samples], float), np.array([s[4] for s in samples]), args.l2
    )
    print(f"\nlogistic regression on all halves A (raw features), bias {b:+.3f}:")
    for name, value in sorted(zip(PARAGRAPH_FEATURES, w), key=lambda item: -abs(item[1])):
        if name not in without:
            print(f"  {name:<26} {value:+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
