"""Benchmark the newsbeam extractor against plain trafilatura, side by side in one run.

    python bench/extraction.py [--data DIR] [--snippets DIR] [--repeat 1] [--bootstrap 1000]
                               [--tuning] [--output preds.jsonl] [--tuned-before rows.jsonl]

Two public data sets, each scored with its own metric:

* ``--data DIR``: the ScrapingHub article-extraction benchmark (``html/<id>.html``,
  ``ground_truth.jsonl``, ``score.py``: 181 news pages, MIT licence, from
  github.com/scrapinghub/article-extraction-benchmark); default
  ``$NEWSBEAM_BENCH_DATA/extraction``.  Its 4-gram metric (``score.py``): precision and
  recall averaged over pages, F1 of the averages.  Exits 2 when it is absent.
* ``--snippets DIR``: trafilatura's own annotated evaluation set (``html/<file>``,
  ``evaldata.jsonl`` rows ``{url, file, with, without, comments}``); default
  ``$NEWSBEAM_BENCH_DATA/trafilatura-eval``; ``bench/get_trafilatura_eval.py`` builds it.
  Its snippet metric (trafilatura's ``tests/comparison.py``): a ``with`` snippet found in
  the output is a true positive, else a false negative; a ``without`` snippet found is a
  false positive, else a true negative; counts summed over pages.  When the folder is
  absent the set is skipped with a message saying where to get it (exit 2 if
  ``--snippets`` was given explicitly).

Plain trafilatura is ``trafilatura.extract(html, include_comments=False,
include_tables=False)``.  Both systems run on every page in the same process, interleaved
page by page, so that both see the same machine load.  Reported per set:

* F1 / precision / recall with 95 % bootstrap intervals (percentiles over resampled
  pages) and the paired bootstrap interval of the F1 difference, on all pages and on two
  fixed halves (pages sorted by id or file name; half A = even positions, half B = odd
  positions).  The thresholds of ``transforms/extraction.py`` were chosen on the halves A
  only: the halves B are the estimate on unseen pages.  ``--tuning`` prints half A only
  (and no per-language or all-pages rows), so that choosing a threshold never shows half B;
* the same per language (as detected by newsbeam) for every language with >= 10 pages;
* process CPU time per page (``time.process_time``, not wall time) of both systems:
  median, p95, max and total, and the ratios newsbeam / plain;
* (181-page set) title and date accuracy against the silver metadata, and the share of
  chosen methods.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

DATASET = (
    "the ScrapingHub article-extraction benchmark (181 pages: html/, ground_truth.jsonl, score.py; "
    "github.com/scrapinghub/article-extraction-benchmark)"
)
SNIPPET_DATASET = (
    "trafilatura's annotated evaluation set (html/<file> and evaldata.jsonl rows "
    "{url, file, with, without, comments}, from github.com/adbar/trafilatura tests/); "
    "build it with `python bench/get_trafilatura_eval.py`"
)


#: The data root when ``NEWSBEAM_BENCH_DATA`` is unset, as for every benchmark (bench/benchdata.py).
DEFAULT_ROOT = Path(__file__).resolve().parent.parent / ".bench-data"
#: The snippet set's first build was split and tuned on before it grew from 82 to 103 pages: its
#: half A, never to be counted as held out (bench/data/README.md).
FIRST_BUILD_HALVES = Path(__file__).resolve().parent / "data" / "trafilatura_eval_first_build_halves.jsonl"


def _env_data(name: str) -> Path:
    env = os.environ.get("NEWSBEAM_BENCH_DATA")
    return (Path(env) if env else DEFAULT_ROOT) / name


def _load_score(data: Path):
    spec = importlib.util.spec_from_file_location("bench_score", data / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def _prf(counts: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """4-gram metric: macro-averaged precision and recall over pages, F1 of the averages
    (the ScrapingHub benchmark's metric); ``counts`` are per-page (tp, fp, fn)."""
    p = [tp / (tp + fp) if tp + fp else 0.0 for tp, fp, _ in counts]
    r = [tp / (tp + fn) if tp + fn else 0.0 for tp, _, fn in counts]
    mp, mr = statistics.mean(p), statistics.mean(r)
    return (2 * mp * mr / (mp + mr) if mp + mr else 0.0), mp, mr


def _prf_summed(counts: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """Snippet metric: counts (tp, fp, fn) summed over pages, then precision, recall, F1
    (trafilatura's ``tests/comparison.py``)."""
    tp = sum(c[0] for c in counts)
    fp = sum(c[1] for c in counts)
    fn = sum(c[2] for c in counts)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return (2 * p * r / (p + r) if p + r else 0.0), p, r


def _sibling(name: str):
    """bench/<name>.py as a module (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}", Path(__file__).resolve().parent / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bootstrap(ours: list, plain: list, n: int, prf: Callable, seed: int = 0) -> dict:
    """95 % percentile intervals of each system's F1/P/R and of the paired F1 difference."""
    rng = random.Random(seed)
    draws: dict[str, list[float]] = {}
    size = len(ours)
    for _ in range(n):
        idx = [rng.randrange(size) for _ in range(size)]
        fo, po, ro = prf([ours[i] for i in idx])
        fp_, pp, rp = prf([plain[i] for i in idx])
        for key, value in (("f1", fo), ("p", po), ("r", ro), ("pf1", fp_), ("pp", pp), ("pr", rp)):
            draws.setdefault(key, []).append(value)
        draws.setdefault("diff", []).append(fo - fp_)
    return {k: (_pct(v, 0.025), _pct(v, 0.975)) for k, v in draws.items()} if n else {}


def _timed(fns: dict, pages: dict[str, str | bytes], repeat: int) -> tuple[dict, dict]:
    """Every function on every page, interleaved page by page; per page the median process
    CPU time (ms) over ``repeat`` passes."""
    outs: dict = {name: {} for name in fns}
    times: dict = {name: {} for name in fns}
    for _ in range(repeat):
        for key, page in pages.items():
            for name, fn in fns.items():
                t0 = time.process_time()
                outs[name][key] = fn(page)
                times[name].setdefault(key, []).append(time.process_time() - t0)
    ms = {name: {k: statistics.median(v) * 1000 for k, v in per.items()} for name, per in times.items()}
    return outs, ms


def _ci(pair: tuple[float, float] | None) -> str:
    return f"[{pair[0]:.3f}, {pair[1]:.3f}]" if pair else ""


def _run_set(
    title: str, pages: dict, count: Callable, prf: Callable, args, exclude_from_b: frozenset = frozenset()
) -> dict:
    """Run both systems on ``pages`` (key -> html), print the score table and CPU times;
    return newsbeam's results by key.  ``exclude_from_b``: keys tuned on earlier, left out of an
    extra "half B never tuned on" row."""
    import trafilatura

    from newsbeam.transforms.extraction import extract_article

    def plain_fn(page) -> str:
        return trafilatura.extract(page, include_comments=False, include_tables=False) or ""

    for page in list(pages.values())[:5]:  # warm-up (imports, caches) outside the timings
        plain_fn(page)
        extract_article(page, None)
    outs, ms = _timed({"plain": plain_fn, "ours": lambda p: extract_article(p, None)}, pages, args.repeat)
    plain, ours = outs["plain"], outs["ours"]
    ids = sorted(pages)
    counts = {
        "plain": {k: count(k, plain[k]) for k in ids},
        "ours": {k: count(k, ours[k].body) for k in ids},
    }
    groups: list[tuple[str, list[str]]] = [("half A (tuned)", ids[0::2])]
    langs = Counter(r.language for r in ours.values())
    if not args.tuning:
        groups = [("all", ids), *groups, ("half B (held out)", ids[1::2])]
        if exclude_from_b:
            groups.append(("B never tuned on", [k for k in ids[1::2] if k not in exclude_from_b]))
        for lang, n in sorted(langs.items(), key=lambda x: -x[1]):
            if lang and n >= 10:
                groups.append((f"lang={lang}", [k for k in ids if ours[k].language == lang]))

    print(f"\n== {title}: {len(ids)} pages" + (" (--tuning: half A only)" if args.tuning else ""))
    head = (
        f"{'pages':<18} {'n':>4} {'system':<8} {'F1':>6} {'95% CI':>16} {'P':>6} {'R':>6} "
        f"{'F1 diff (paired 95% CI)':>30}"
    )
    print(head)
    print("-" * len(head))
    for label, keys in groups:
        co = [counts["ours"][k] for k in keys]
        cp = [counts["plain"][k] for k in keys]
        bo = _bootstrap(co, cp, args.bootstrap, prf)
        fp_, pp, rp = prf(cp)
        fo, po, ro = prf(co)
        print(
            f"{label:<18} {len(keys):>4} {'plain':<8} {fp_:>6.3f} {_ci(bo.get('pf1')):>16} "
            f"{pp:>6.3f} {rp:>6.3f}"
        )
        print(
            f"{'':<18} {'':>4} {'newsbeam':<8} {fo:>6.3f} {_ci(bo.get('f1')):>16} {po:>6.3f} {ro:>6.3f} "
            f"{fo - fp_:>+9.3f} {_ci(bo.get('diff')):>20}"
        )

    tp, to = ms["plain"], ms["ours"]
    print("\nprocess CPU time per page, ms (same run, interleaved; the machine may be loaded):")
    for name, t in (("plain", tp), ("newsbeam", to)):
        v = list(t.values())
        print(
            f"  {name:<9} median {statistics.median(v):7.1f}  p95 {_pct(v, 0.95):7.1f}  "
            f"max {max(v):7.1f}  total {sum(v):8.0f}"
        )
    med_ratio = statistics.median(to.values()) / statistics.median(tp.values())
    print(
        f"  ratio newsbeam / plain: median {med_ratio:.2f}x, "
        f"total {sum(to.values()) / sum(tp.values()):.2f}x, "
        f"p95 {_pct(list(to.values()), 0.95) / _pct(list(tp.values()), 0.95):.2f}x"
    )
    methods = Counter(r.provenance.get("method") for r in ours.values())
    print("methods chosen:", ", ".join(f"{m} {n}" for m, n in methods.most_common()))
    print("languages:", dict(langs.most_common()))
    # every benchmark page is an article: each one rejected as none is a false rejection
    rejected = sorted(k for k in ids if ours[k].not_article)
    print(
        f"rejected as not articles: {len(rejected)} of {len(ids)}"
        + "".join(f"\n  {k}: {ours[k].not_article}" for k in rejected)
    )
    return ours


def _scrapinghub(data: Path, args) -> None:
    score = _load_score(data)
    gt = score.load_ground_truth(data / "ground_truth.jsonl")
    pages = {k: (data / "html" / f"{k}.html").read_text(encoding="utf-8") for k in sorted(gt)}

    def count(key: str, text: str):
        return score.string_shingle_matching(true=gt[key].get("articleBody", ""), pred=text)

    ours = _run_set("ScrapingHub benchmark, 4-gram metric", pages, count, _prf, args)
    title_ok = title_n = date_ok = date_n = 0
    for k in sorted(gt):
        if gt[k].get("headline"):
            title_n += 1
            title_ok += score.title_match(ours[k].title, gt[k]["headline"])[1]
        if gt[k].get("datePublished"):
            date_n += 1
            date_ok += score.norm_date(ours[k].published_raw) == gt[k]["datePublished"]
    print(
        f"title accuracy {title_ok / max(title_n, 1):.3f} (n={title_n}); "
        f"date accuracy {date_ok / max(date_n, 1):.3f} (n={date_n})"
    )
    if args.output:
        with args.output.open("w", encoding="utf-8") as f:
            for k in sorted(gt):
                r = ours[k]
                row = {
                    "id": k,
                    "articleBody": r.body,
                    "title": r.title,
                    "date": r.published_raw,
                    "author": list(r.authors),
                }
                f.write(json.dumps(row, ensure_ascii=False) + "\n")


def load_snippet_set(folder: Path) -> tuple[dict[str, bytes], dict[str, dict]]:
    """(pages by file name, annotation rows by file name) of the snippet set; rows whose
    page is missing are skipped."""
    items: dict[str, dict] = {}
    with (folder / "evaldata.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                if (folder / "html" / row["file"]).is_file():
                    items[row["file"]] = row
    pages = {name: (folder / "html" / name).read_bytes() for name in sorted(items)}
    return pages, items


def _snippets(folder: Path, args) -> None:
    pages, items = load_snippet_set(folder)
    snippet_counts = _sibling("get_trafilatura_eval").snippet_counts  # the set's own metric

    def count(key: str, text: str):
        tp, fn, fp, _ = snippet_counts(text, items[key])
        return tp, fp, fn

    tuned = frozenset()
    if args.tuned_before:
        with args.tuned_before.open(encoding="utf-8") as f:
            tuned = frozenset(
                r["file"] for r in map(json.loads, filter(str.strip, f)) if r.get("half") == "A"
            )
    _run_set("trafilatura evaluation set, snippet metric", pages, count, _prf_summed, args, tuned)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data",
        type=Path,
        default=None,
        help="ScrapingHub benchmark folder (default: $NEWSBEAM_BENCH_DATA/extraction, "
        "$NEWSBEAM_BENCH_DATA defaulting to .bench-data in the checkout)",
    )
    ap.add_argument(
        "--snippets",
        type=Path,
        default=None,
        help="trafilatura evaluation set folder, html/ + evaldata.jsonl (default: "
        "$NEWSBEAM_BENCH_DATA/trafilatura-eval, skipped when absent; build it with "
        "bench/get_trafilatura_eval.py)",
    )
    ap.add_argument("--repeat", type=int, default=1, help="timed passes (median per page)")
    ap.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (0: none)")
    ap.add_argument(
        "--tuning",
        action="store_true",
        help="print half A (the tuning half) only: no all-pages, half B or per-language rows",
    )
    ap.add_argument("--output", type=Path, help="write newsbeam predictions (181-page set) as JSONL")
    ap.add_argument(
        "--tuned-before",
        type=Path,
        default=FIRST_BUILD_HALVES,
        help="snippet set: JSONL rows {file, half} of an earlier build whose half A was tuned on; adds "
        "a row for the half-B pages that were never in a tuning half (default: the first build's, "
        "bench/data/trafilatura_eval_first_build_halves.jsonl)",
    )
    args = ap.parse_args(argv)
    data: Path = args.data or _env_data("extraction")
    if not (data / "ground_truth.jsonl").exists() or not (data / "html").is_dir():
        where = f"at {data}"
        print(
            f"error: extraction benchmark data not found {where}. It is {DATASET}; "
            "pass its folder with --data DIR or set NEWSBEAM_BENCH_DATA to the folder holding "
            "extraction/.",
            file=sys.stderr,
        )
        return 2
    snippets: Path = args.snippets or _env_data("trafilatura-eval")
    have_snippets = (snippets / "evaldata.jsonl").is_file()
    if not have_snippets:
        where = f"at {snippets}"
        message = (
            f"snippet evaluation set not found {where}. It is {SNIPPET_DATASET}; pass its folder "
            "with --snippets DIR or put it at $NEWSBEAM_BENCH_DATA/trafilatura-eval."
        )
        if args.snippets is not None:
            print(f"error: {message}", file=sys.stderr)
            return 2
        print(f"SKIPPED: {message}", file=sys.stderr, flush=True)
    _scrapinghub(data, args)
    if have_snippets:
        _snippets(snippets, args)
    if not args.tuning:
        offline_workers(data / "html")
    return 0


def offline_workers(html_dir: Path) -> None:
    """``newsbeam extract``'s default (one sandbox per core) against one sandbox, wall clock, side
    by side on the same pages; the rows must be identical."""
    import tempfile

    from newsbeam.pipeline.options import usable_cores
    from newsbeam.transforms.extraction import run_extract_dir

    cores = usable_cores()
    print(f"\n== newsbeam extract --workers: one sandbox against {cores} (the default), wall clock")
    with tempfile.TemporaryDirectory() as tmp:
        walls, outputs = {}, {}
        for workers in (1, cores, 1, cores):  # twice each, interleaved: the best of two
            out = Path(tmp) / f"out{workers}.jsonl"
            t0 = time.perf_counter()
            pages = run_extract_dir(html_dir, out, workers=workers)
            walls[workers] = min(walls.get(workers, float("inf")), time.perf_counter() - t0)
            outputs[workers] = [json.loads(line)["articleBody"] for line in out.read_text().splitlines()]
    same = outputs[1] == outputs[cores]
    print(
        f"  {pages} pages: 1 worker {walls[1]:.1f} s, {cores} workers {walls[cores]:.1f} s, "
        f"speed-up {walls[1] / walls[cores]:.2f}x; bodies identical: {same}"
    )


if __name__ == "__main__":
    sys.exit(main())
