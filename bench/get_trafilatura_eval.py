"""Build trafilatura's snippet evaluation set (a second, independent extraction benchmark).

    python bench/get_trafilatura_eval.py [--out DIR] [--sdist FILE] [--evaldata FILE]
                                         [--keep-halves OLD.jsonl] [--check]

trafilatura's own evaluation (its ``tests/comparison*.py``) scores an extractor on annotated
web pages: for every page, snippets that must be in the extracted text (``with``) and
snippets that must not (``without``).  The set is not in this repository (third-party web
pages); this script puts it together in DIR (default ``$NEWSBEAM_BENCH_DATA/trafilatura-eval``)
from two public sources, both pinned:

* the HTML pages: ``tests/cache/*.html`` of the trafilatura 1.1.0 source distribution on PyPI
  (downloaded with ``pip download``; its SHA-256 is checked), written to ``DIR/html/``;
* the annotations: ``tests/evaldata.py`` of github.com/adbar/trafilatura at commit
  ``08eb92f0`` (``EVAL_PAGES``: url -> file, with, without, comments), read as data with
  ``ast`` (never executed); only the entries whose page is in the sdist are kept.

Output: ``DIR/evaldata.jsonl``, one row per page ``{"url", "file", "half", "with", "without",
"comments"}`` (``half``: "A" / "B" alternately over the rows sorted by file name, the same
convention as ``bench/extraction.py``: tune on A, report B; ``--keep-halves OLD.jsonl`` keeps
the halves of an earlier build and puts new pages in the smaller half), and ``DIR/PROVENANCE.md``.
``--sdist`` / ``--evaldata`` take local copies instead of downloading (offline rebuilds, tests).
``--check`` then scores plain trafilatura (``include_comments=False, include_tables=False``)
on the set with the snippet metric (``snippet_counts``), a sanity check of the annotations.

Exit status: 0 built, 2 when a source cannot be had or does not hold what is expected.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

TRAFILATURA_VERSION = "1.1.0"
SDIST_NAME = f"trafilatura-{TRAFILATURA_VERSION}.tar.gz"
SDIST_SHA256 = "650678fe3b3219795ccc72d8d37d2a9dc8c3070529598fddc2809ccd27c55bc4"
EVALDATA_COMMIT = "08eb92f03e60a89773aeff9a4644402fea0c3476"
EVALDATA_URL = f"https://raw.githubusercontent.com/adbar/trafilatura/{EVALDATA_COMMIT}/tests/evaldata.py"
CACHE_PREFIX = "tests/cache/"


class SourceError(Exception):
    """A source is unreachable or does not hold what this script expects (exit 2)."""


# --------------------------------------------------------------------------- parsing


def parse_evaldata(source: str) -> dict[str, dict]:
    """``EVAL_PAGES`` of trafilatura's ``tests/evaldata.py``, read as a literal (not executed)."""
    try:
        module = ast.parse(source)
    except SyntaxError as err:
        raise SourceError(f"evaldata.py does not parse as Python: line {err.lineno}: {err.msg}") from err
    for node in module.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "EVAL_PAGES" for t in node.targets
        ):
            try:
                pages = ast.literal_eval(node.value)
            except ValueError as err:
                raise SourceError(f"EVAL_PAGES is not a plain literal: {err}") from err
            if not isinstance(pages, dict):
                raise SourceError("EVAL_PAGES is not a dict")
            return pages
    raise SourceError("no EVAL_PAGES = {...} assignment in evaldata.py")


def _strings(entry: dict, key: str, url: str) -> list[str]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise SourceError(f"entry {url!r}: {key!r} is not a list of strings")
    return value


def select_rows(pages: dict[str, dict], files: set[str], keep: dict[str, str] | None = None) -> list[dict]:
    """One row per page whose HTML file is in ``files``, sorted by file name, with its half.

    A page named in ``keep`` (file -> "A"/"B", from an earlier build) stays in its half, so
    that growing the set never moves a page someone tuned on into the held-back half.  Every
    other page, in file-name order, goes to the smaller half (A on a tie): without ``keep``
    that is A, B, A, B...
    """
    rows = []
    for url, entry in pages.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise SourceError(f"entry {url!r}: no 'file' name")
        if entry["file"] not in files:
            continue
        rows.append(
            {
                "url": url,
                "file": entry["file"],
                "with": _strings(entry, "with", url),
                "without": _strings(entry, "without", url),
                "comments": _strings(entry, "comments", url),
            }
        )
    rows.sort(key=lambda row: row["file"])
    keep = keep or {}
    seen: set[str] = set()
    for row in rows:
        if row["file"] in seen:
            raise SourceError(f"two entries name the file {row['file']!r}")
        seen.add(row["file"])
    sizes = {"A": 0, "B": 0}
    for row in rows:
        if keep.get(row["file"]) in sizes:
            row["half"] = keep[row["file"]]
            sizes[row["half"]] += 1
    for row in rows:
        if "half" not in row:
            row["half"] = "A" if sizes["A"] <= sizes["B"] else "B"
            sizes[row["half"]] += 1
    return rows


def read_halves(path: Path) -> dict[str, str]:
    """file -> half of an earlier evaldata.jsonl (for ``--keep-halves``)."""
    try:
        with path.open(encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as err:
        raise SourceError(f"--keep-halves {path}: not a readable evaldata.jsonl: {err}") from err
    halves = {}
    for row in rows:
        if (
            not isinstance(row, dict)
            or row.get("half") not in ("A", "B")
            or not isinstance(row.get("file"), str)
        ):
            raise SourceError(f"--keep-halves {path}: a row without 'file' and 'half' A/B")
        halves[row["file"]] = row["half"]
    return halves


def cache_members(sdist: Path) -> dict[str, tarfile.TarInfo]:
    """The ``tests/cache/*.html`` members of a trafilatura sdist, by file name."""
    try:
        archive = tarfile.open(sdist, "r:gz")
    except (OSError, tarfile.TarError) as err:
        raise SourceError(f"{sdist} is not a readable .tar.gz: {err}") from err
    with archive:
        members = {}
        for member in archive.getmembers():
            _, _, inner = member.name.partition("/")
            name = inner[len(CACHE_PREFIX) :]
            if (
                member.isfile()
                and inner.startswith(CACHE_PREFIX)
                and name.endswith(".html")
                and "/" not in name
            ):
                members[name] = member
    if not members:
        raise SourceError(f"{sdist} holds no {CACHE_PREFIX}*.html pages")
    return members


def extract_pages(sdist: Path, html_dir: Path) -> set[str]:
    members = cache_members(sdist)
    html_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist, "r:gz") as archive:
        for name, member in members.items():
            (html_dir / name).write_bytes(archive.extractfile(member).read())
    return set(members)


# --------------------------------------------------------------------------- the metric


def snippet_counts(text: str | None, row: dict) -> tuple[int, int, int, int]:
    """(TP, FN, FP, TN) of one page, as trafilatura's ``evaluate_result`` counts them.

    A ``with`` snippet found in the text (plain substring, no normalisation) is a true
    positive, else a false negative; a ``without`` snippet found is a false positive, else a
    true negative.  No text (None) finds nothing.
    """
    text = text or ""
    tp = sum(1 for s in row["with"] if s in text)
    fp = sum(1 for s in row["without"] if s in text)
    return tp, len(row["with"]) - tp, fp, len(row["without"]) - fp


def snippet_scores(counts: list[tuple[int, int, int, int]]) -> dict[str, float]:
    """Precision, recall, F1 and accuracy of counts summed over pages (trafilatura's way)."""
    tp, fn, fp, tn = (sum(c[i] for c in counts) for i in range(4))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    total = tp + fn + fp + tn
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": (tp + tn) / total if total else 0.0,
        "tp": tp,
        "fn": fn,
        "fp": fp,
        "tn": tn,
    }


def read_page(path: Path) -> str | bytes:
    """The page as trafilatura's comparison reads it: UTF-8 text, else the raw bytes."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def load_rows(out: Path) -> list[dict]:
    with (out / "evaldata.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# --------------------------------------------------------------------------- sources


def download_sdist(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", f"trafilatura=={TRAFILATURA_VERSION}"]
    cmd += ["--no-binary", ":all:", "--no-deps", "--quiet", "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    path = dest / SDIST_NAME
    if proc.returncode != 0 or not path.exists():
        raise SourceError(
            f"pip download of the trafilatura {TRAFILATURA_VERSION} sdist failed "
            f"(PyPI unreachable?): {proc.stderr.strip()[-400:]}"
        )
    return path


def check_sdist(path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise SourceError(f"{path}: SHA-256 {digest} is not that of {SDIST_NAME} ({SDIST_SHA256})")


def download_evaldata() -> str:
    try:
        with urllib.request.urlopen(EVALDATA_URL, timeout=60) as response:
            return response.read().decode("utf-8")
    except (urllib.error.URLError, OSError, UnicodeDecodeError) as err:
        raise SourceError(f"cannot download {EVALDATA_URL}: {err}") from err


# --------------------------------------------------------------------------- output


PROVENANCE = """\
# trafilatura snippet evaluation set

Built by newsbeam's `bench/get_trafilatura_eval.py`.  Not part of newsbeam: third-party web
pages kept for evaluation only.

* `html/`: the {n_html} pages of `tests/cache/` in the trafilatura {version} source
  distribution on PyPI (`{sdist}`, SHA-256 `{sha}`).
* `evaldata.jsonl`: the entries of `EVAL_PAGES` in trafilatura's `tests/evaldata.py`
  (github.com/adbar/trafilatura, commit `{commit}`) whose page is in `html/`: {n_rows} pages,
  {n_with} `with` and {n_without} `without` snippets, copied as they are (they are matched as
  substrings).  `half` splits the rows sorted by file name alternately into A and B (pages
  kept from an earlier build with `--keep-halves` stay in their half).
  Pages of `html/` without an entry are not scored: {unannotated}.

Licence: trafilatura (code, test data) is GPL-3.0-or-later up to version 1.1; the pages are
third-party web pages under their publishers' rights, used here for evaluation only and never
copied into newsbeam's repository.

Metric (trafilatura's `tests/comparison.py`, `evaluate_result`): for every page, each `with`
snippet found in the extracted text (plain substring) is a true positive, else a false
negative; each `without` snippet found is a false positive, else a true negative; counts are
summed over pages; precision = TP/(TP+FP), recall = TP/(TP+FN), F1, accuracy = (TP+TN)/all.
"""


def write_set(out: Path, rows: list[dict], html_files: set[str], evaldata_source: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "evaldata.jsonl").open("w", encoding="utf-8") as f:
        for row in rows:
            ordered = {k: row[k] for k in ("url", "file", "half", "with", "without", "comments")}
            f.write(json.dumps(ordered, ensure_ascii=False) + "\n")
    annotated = {row["file"] for row in rows}
    unannotated = sorted(html_files - annotated)
    (out / "PROVENANCE.md").write_text(
        PROVENANCE.format(
            n_html=len(html_files),
            version=TRAFILATURA_VERSION,
            sdist=SDIST_NAME,
            sha=SDIST_SHA256,
            commit=EVALDATA_COMMIT,
            n_rows=len(rows),
            n_with=sum(len(r["with"]) for r in rows),
            n_without=sum(len(r["without"]) for r in rows),
            unannotated=", ".join(f"`{n}`" for n in unannotated) or "none",
        )
        + f"\nAnnotations read from: {evaldata_source}\n",
        encoding="utf-8",
    )


def check(out: Path) -> dict[str, float]:
    """Plain trafilatura's snippet scores on the built set."""
    import trafilatura

    counts = []
    for row in load_rows(out):
        html = read_page(out / "html" / row["file"])
        text = trafilatura.extract(html, include_comments=False, include_tables=False)
        counts.append(snippet_counts(text, row))
    return snippet_scores(counts)


def _default_out() -> Path:
    root = os.environ.get("NEWSBEAM_BENCH_DATA")
    return (Path(root) if root else REPO / ".bench-data") / "trafilatura-eval"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build trafilatura's snippet evaluation set (pages + annotations) in a folder.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder to build (default: $NEWSBEAM_BENCH_DATA/trafilatura-eval)",
    )
    parser.add_argument(
        "--sdist",
        type=Path,
        default=None,
        help=f"a local {SDIST_NAME} instead of downloading it from PyPI (its SHA-256 is checked)",
    )
    parser.add_argument(
        "--evaldata",
        type=Path,
        default=None,
        help=f"a local evaldata.py instead of downloading it from GitHub (commit {EVALDATA_COMMIT[:8]})",
    )
    parser.add_argument(
        "--keep-halves",
        type=Path,
        default=None,
        help="an earlier evaldata.jsonl: its pages keep their half A/B (new pages fill the smaller half)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="then score plain trafilatura on the set (snippet precision/recall/F1)",
    )
    args = parser.parse_args(argv)
    out = args.out or _default_out()
    try:
        if args.evaldata is not None:
            if not args.evaldata.is_file():
                raise SourceError(f"--evaldata {args.evaldata}: no such file")
            source, origin = args.evaldata.read_text("utf-8"), str(args.evaldata)
        else:
            source, origin = download_evaldata(), EVALDATA_URL
        pages = parse_evaldata(source)
        keep = read_halves(args.keep_halves) if args.keep_halves is not None else None
        with tempfile.TemporaryDirectory() as tmp:
            if args.sdist is not None:
                if not args.sdist.is_file():
                    raise SourceError(f"--sdist {args.sdist}: no such file")
                sdist = args.sdist
            else:
                sdist = download_sdist(Path(tmp))
            check_sdist(sdist)
            html_files = extract_pages(sdist, out / "html")
        rows = select_rows(pages, html_files, keep)
        if not rows:
            raise SourceError("no entry of evaldata.py names a page of the sdist")
        write_set(out, rows, html_files, origin)
    except SourceError as err:
        print(f"FAIL get_trafilatura_eval: {err}", file=sys.stderr)
        return 2
    print(f"{out}: {len(rows)} annotated pages ({len(html_files)} pages in html/)")
    if args.check:
        s = check(out)
        print(
            "plain trafilatura: precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f} "
            "accuracy {accuracy:.3f} (TP {tp}, FN {fn}, FP {fp}, TN {tn})".format(**s)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
