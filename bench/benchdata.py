"""Where each benchmark's public data set lives, and the message when it is absent.

The data sets are not in the repository.  Put them under one folder and point
``NEWSBEAM_BENCH_DATA`` at it (default: ``<repo>/.bench-data``):

    $NEWSBEAM_BENCH_DATA/extraction/   ground_truth.jsonl, html/<id>.html, score.py
    $NEWSBEAM_BENCH_DATA/dedup/        score.py, data/synthetic_smoke.jsonl

A benchmark whose data is missing exits 2 with ``missing(...)``'s message (a
benchmark that did not run must not look like one that passed).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["DATA_ENV", "DATASETS", "data_root", "missing"]

REPO = Path(__file__).resolve().parent.parent
DATA_ENV = "NEWSBEAM_BENCH_DATA"

# folder under the data root -> (what it holds, where to get it)
DATASETS = {
    "extraction": (
        "the ScrapingHub article-extraction-benchmark (181 news pages with human-labelled bodies): "
        "ground_truth.jsonl, html/<id>.html and the benchmark's score.py",
        "https://github.com/scrapinghub/article-extraction-benchmark (commit 4a3bc97), converted to "
        "ground_truth.jsonl + html/ by its README's recipe",
    ),
    "dedup": (
        "the story-clustering benchmark: score.py (pairwise precision/recall/F1, ARI) and "
        "data/synthetic_smoke.jsonl (NEWS-COPY pairs converted to JSON lines where available)",
        "NEWS-COPY, https://github.com/dell-research-harvard/NEWS-COPY, converted to "
        "{id, text, title, cluster} JSON lines",
    ),
}


def data_root() -> Path:
    return Path(os.environ.get(DATA_ENV) or REPO / ".bench-data")


def missing(benchmark: str, dataset: str, path: Path | str) -> int:
    """Print why ``benchmark`` cannot run and return its exit status (2)."""
    what, where = DATASETS[dataset]
    print(
        f"FAIL {benchmark}: benchmark data not found at {path}.\n"
        f"  It needs {what}.\n"
        f"  Get it from {where},\n"
        f"  put it under <folder>/{dataset}/ and set {DATA_ENV}=<folder> (default {REPO / '.bench-data'}).",
        file=sys.stderr,
        flush=True,
    )
    return 2
