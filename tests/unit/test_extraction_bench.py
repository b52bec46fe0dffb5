"""The extraction benchmark names its data set and where to get it when the data is absent."""

from __future__ import annotations

import json
from pathlib import Path

from tests.scripts import load_script


def _bench():
    return load_script("bench/extraction.py", "bench_extraction")


def test_missing_data_exits_2_naming_the_data_set(tmp_path, capsys):
    assert _bench().main(["--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err
    assert "ScrapingHub article-extraction benchmark" in err
    assert "github.com/scrapinghub/article-extraction-benchmark" in err
    assert "NEWSBEAM_BENCH_DATA" in err


def test_without_flag_or_environment_it_reads_the_checkouts_bench_data(monkeypatch, tmp_path, capsys):
    """README and bench/benchdata.py: $NEWSBEAM_BENCH_DATA defaults to .bench-data in the checkout,
    as for every other benchmark; this one ignored that folder and said nothing was set."""
    monkeypatch.delenv("NEWSBEAM_BENCH_DATA", raising=False)
    bench = _bench()
    assert Path(__file__).resolve().parents[2] / ".bench-data" == bench.DEFAULT_ROOT
    monkeypatch.setattr(bench, "DEFAULT_ROOT", tmp_path / "checkout-bench-data")
    assert bench.main([]) == 2
    assert f"at {tmp_path / 'checkout-bench-data' / 'extraction'}" in capsys.readouterr().err


def _scrapinghub_folder(tmp_path: Path) -> Path:
    data = tmp_path / "extraction"
    (data / "html").mkdir(parents=True)
    (data / "ground_truth.jsonl").write_text("", encoding="utf-8")
    return data


def test_an_explicit_snippet_folder_that_is_absent_exits_2_saying_how_to_build_it(tmp_path, capsys):
    data = _scrapinghub_folder(tmp_path)
    code = _bench().main(["--data", str(data), "--snippets", str(tmp_path / "no-eval")])
    assert code == 2
    err = capsys.readouterr().err
    assert "no-eval" in err
    assert "bench/get_trafilatura_eval.py" in err
    assert "evaldata.jsonl" in err


def test_snippet_scores_are_summed_over_pages_not_averaged():
    bench = _bench()
    f1, p, r = bench._prf_summed([(9, 1, 0), (0, 0, 1)])  # (tp, fp, fn) per page
    assert (p, r) == (0.9, 0.9)
    assert abs(f1 - 0.9) < 1e-12
    # the 4-gram metric averages per page instead
    _, p_macro, r_macro = bench._prf([(9, 1, 0), (0, 0, 1)])
    assert (p_macro, r_macro) == (0.45, 0.5)


def test_load_snippet_set_keeps_rows_whose_page_exists(tmp_path):
    folder = tmp_path / "trafilatura-eval"
    (folder / "html").mkdir(parents=True)
    (folder / "html" / "b.html").write_bytes(b"<html><body><p>x</p></body></html>")
    rows = [
        {"url": "https://a.example/", "file": "a.html", "with": ["x"], "without": [], "comments": []},
        {"url": "https://b.example/", "file": "b.html", "with": ["x"], "without": [], "comments": []},
    ]
    (folder / "evaldata.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    pages, items = _bench().load_snippet_set(folder)
    assert list(pages) == ["b.html"] and list(items) == ["b.html"]


def test_the_snippet_set_is_scored_for_both_systems_with_halves_and_cpu(tmp_path, capsys):
    import argparse

    pages = Path(__file__).resolve().parents[1] / "fixtures" / "extraction_pages"
    folder = tmp_path / "trafilatura-eval"
    (folder / "html").mkdir(parents=True)
    rows = []
    for name in ("empty_base", "read_more_box", "side_section", "standfirst"):
        spec = json.loads((pages / f"{name}.json").read_text("utf-8"))
        (folder / "html" / f"{name}.html").write_bytes((pages / f"{name}.html").read_bytes())
        rows.append(
            {"url": "", "file": f"{name}.html", "with": spec["body"][:3], "without": spec["boilerplate"][:3]}
        )
    (folder / "evaldata.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    args = argparse.Namespace(repeat=1, bootstrap=20, tuning=False, tuned_before=None)
    _bench()._snippets(folder, args)
    out = capsys.readouterr().out
    assert "snippet metric: 4 pages" in out
    assert "half B (held out)" in out and "half A (tuned)" in out
    assert "never tuned" not in out
    assert "ratio newsbeam / plain" in out
    # half B is read_more_box and standfirst (odd positions by file name); an earlier build had
    # standfirst in its half A, so the "never tuned" row keeps read_more_box alone
    earlier = tmp_path / "earlier.jsonl"
    earlier.write_text(json.dumps({"file": "standfirst.html", "half": "A"}) + "\n", encoding="utf-8")
    args.tuned_before = earlier
    _bench()._snippets(folder, args)
    out = capsys.readouterr().out
    rows = [line.split()[:6] for line in out.splitlines() if line.startswith("B never tuned on")]
    assert rows == [["B", "never", "tuned", "on", "1", "plain"]]
    args.tuning = True
    _bench()._snippets(folder, args)
    out = capsys.readouterr().out
    assert "half A (tuned)" in out and "half B" not in out


def test_the_first_builds_tuning_halves_ship_with_the_repository():
    """The README's honest snippet figure ("on the 27 never in a tuning half") needs the first
    build's halves; they were only in a data folder outside the repository, so nobody with a clone
    could print that row.  Only file names and halves are shipped (the annotations stay outside)."""
    bench = _bench()
    rows = [json.loads(line) for line in bench.FIRST_BUILD_HALVES.read_text("utf-8").splitlines()]
    assert len(rows) == 82 and all(set(row) == {"file", "half"} for row in rows)
    assert sum(row["half"] == "A" for row in rows) == 41
