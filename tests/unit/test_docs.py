"""The repository stands alone: docs inside it, links that resolve, benchmarks that fail loudly
without their data (issue 15 item 10)."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUTSIDE = "../" + "shared"  # a folder beside the checkout, absent from a clone


def _tracked_text_files():
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    return [
        REPO / n
        for n in names
        if n.endswith((".py", ".md", ".yaml", ".toml", ".cfg")) and (REPO / n).exists()
    ]


def test_nothing_points_outside_the_repository():
    offenders = [str(p.relative_to(REPO)) for p in _tracked_text_files() if OUTSIDE in p.read_text("utf-8")]
    assert offenders == []


def test_readme_links_resolve():
    readme = (REPO / "README.md").read_text("utf-8")
    headings = {
        re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", readme, re.MULTILINE)
    }
    for target in re.findall(r"\]\(([^)\s]+)\)", readme):
        if target.startswith("http"):
            continue
        if target.startswith("#"):
            assert target[1:] in headings, target
        else:
            assert (REPO / target.split("#")[0]).exists(), target
    assert (REPO / "docs" / "DESIGN.md").exists()


def test_a_benchmark_without_its_data_fails_and_says_where_to_get_it(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run_all.py"), "extraction", "dedup"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "NEWSBEAM_BENCH_DATA": str(tmp_path)},
        timeout=120,
    )
    assert proc.returncode != 0
    assert "NEWSBEAM_BENCH_DATA" in proc.stderr
    assert "github.com/scrapinghub/article-extraction-benchmark" in proc.stderr
    assert "NEWS-COPY" in proc.stderr
    assert "SKIP" not in proc.stdout + proc.stderr
