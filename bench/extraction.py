"""Benchmark the newsbeam extractor against plain trafilatura on the 181-page
ScrapingHub article-extraction benchmark, side by side in one run.

    python bench/extraction.py [--data DIR] [--repeat 1] [--output preds.jsonl]

DIR is the benchmark folder (``html/``, ``ground_truth.jsonl``, ``score.py``); default
``$NEWSBEAM_BENCH_DATA/extraction`` (default ``<repo>/.bench-data/extraction``).

Reports, with the benchmark's own ``score.py``: F1 / precision / recall on all pages and on
two fixed halves (pages sorted by id; half A = even positions, half B = odd positions;
the rule thresholds of ``transforms/extraction.py`` were chosen on half A), title accuracy
(lenient match against the silver ``headline``), date accuracy (day of the page's own
written date against the silver ``datePublished``), the share of chosen methods, and ms per
page (median, p95) of newsbeam vs ``trafilatura.extract(html, deduplicate=False)`` and
their ratio.  Fails (exit 2) saying where to get the data when it is absent.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _default_data() -> Path:
    from benchdata import data_root

    return data_root() / "extraction"


def _load_score(data: Path):
    spec = importlib.util.spec_from_file_location("bench_score", data / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def _timed_pair(fns: dict, pages: dict[str, str], repeat: int) -> tuple[dict, dict]:
    """Run every function on every page, interleaved page by page so that both see the
    same machine load; per page keep the median time (ms) over ``repeat`` passes."""
    outs: dict = {name: {} for name in fns}
    times: dict = {name: {} for name in fns}
    for _ in range(repeat):
        for key, page in pages.items():
            for name, fn in fns.items():
                t0 = time.perf_counter()
                outs[name][key] = fn(page)
                times[name].setdefault(key, []).append(time.perf_counter() - t0)
    medians = {name: {k: statistics.median(v) * 1000 for k, v in per.items()} for name, per in times.items()}
    return outs, medians


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=_default_data())
    ap.add_argument("--repeat", type=int, default=1, help="timed passes (median per page)")
    ap.add_argument("--output", type=Path, help="write newsbeam predictions as JSONL")
    args = ap.parse_args(argv)
    data: Path = args.data
    if not (data / "ground_truth.jsonl").exists() or not (data / "html").is_dir():
        from benchdata import missing

        return missing("bench/extraction.py", "extraction", data)

    import trafilatura

    from newsbeam.transforms.extraction import extract_article

    score = _load_score(data)
    gt = score.load_ground_truth(data / "ground_truth.jsonl")
    ids = sorted(gt)
    pages = {k: (data / "html" / f"{k}.html").read_text(encoding="utf-8") for k in ids}
    halves = {"all": ids, "half A (tuned)": ids[0::2], "half B": ids[1::2]}

    # warm-up (imports, caches) outside the timings
    for page in list(pages.values())[:5]:
        trafilatura.extract(page, deduplicate=False)
        extract_article(page, None)
    outs, ms = _timed_pair(
        {
            "plain": lambda p: trafilatura.extract(p, deduplicate=False) or "",
            "ours": lambda p: extract_article(p, None),
        },
        pages,
        args.repeat,
    )
    plain, plain_ms, ours, ours_ms = (
        outs["plain"],
        ms["plain"],
        outs["ours"],
        ms["ours"],
    )

    def metrics(texts: dict[str, str], keys: list[str]) -> dict:
        sub = {k: gt[k] for k in keys}
        m = score.evaluate(sub, {k: {"articleBody": texts[k]} for k in keys}, 0)
        return m

    body = {k: r.body for k, r in ours.items()}
    rows = []
    for half, keys in halves.items():
        for name, texts, ms in (
            ("plain trafilatura", plain, plain_ms),
            ("newsbeam", body, ours_ms),
        ):
            m = metrics(texts, keys)
            t = [ms[k] for k in keys]
            row = {
                "pages": half,
                "system": name,
                "n": len(keys),
                "f1": m["f1"],
                "precision": m["precision"],
                "recall": m["recall"],
                "ms_median": statistics.median(t),
                "ms_p95": _pct(t, 0.95),
            }
            if name == "newsbeam":
                title_ok = date_ok = date_n = title_n = 0
                for k in keys:
                    ref = gt[k].get("headline")
                    if ref:
                        title_n += 1
                        title_ok += score.title_match(ours[k].title, ref)[1]
                    ref = gt[k].get("datePublished")
                    if ref:
                        date_n += 1
                        date_ok += score.norm_date(ours[k].published_raw) == ref
                row["title_acc"] = title_ok / title_n if title_n else None
                row["date_acc"] = date_ok / date_n if date_n else None
            rows.append(row)

    head = (
        f"{'pages':<15} {'system':<18} {'n':>4} {'F1':>6} {'P':>6} {'R':>6} "
        f"{'title':>6} {'date':>6} {'ms med':>7} {'ms p95':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        title = f"{r['title_acc']:.3f}" if r.get("title_acc") is not None else "-"
        date = f"{r['date_acc']:.3f}" if r.get("date_acc") is not None else "-"
        print(
            f"{r['pages']:<15} {r['system']:<18} {r['n']:>4} {r['f1']:>6.3f} "
            f"{r['precision']:>6.3f} {r['recall']:>6.3f} {title:>6} {date:>6} "
            f"{r['ms_median']:>7.1f} {r['ms_p95']:>7.1f}"
        )
    med_ratio = statistics.median(ours_ms.values()) / statistics.median(plain_ms.values())
    p95_ratio = _pct(list(ours_ms.values()), 0.95) / _pct(list(plain_ms.values()), 0.95)
    print(f"\ntime ratio newsbeam / plain trafilatura: median {med_ratio:.2f}x, p95 {p95_ratio:.2f}x")
    methods = Counter(r.provenance.get("method") for r in ours.values())
    print("methods chosen:", ", ".join(f"{m} {n}" for m, n in methods.most_common()))
    with_time = sum(1 for r in ours.values() if r.published_has_time)
    sources = Counter(r.published_source for r in ours.values())
    print(f"published with time of day: {with_time}/{len(ours)}; sources: {dict(sources)}")
    langs = Counter(r.language for r in ours.values())
    print("languages:", dict(langs.most_common(8)))
    if args.output:
        with args.output.open("w", encoding="utf-8") as f:
            for k in ids:
                r = ours[k]
                f.write(
                    json.dumps(
                        {
                            "id": k,
                            "articleBody": r.body,
                            "title": r.title,
                            "date": r.published_raw,
                            "author": list(r.authors),
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
