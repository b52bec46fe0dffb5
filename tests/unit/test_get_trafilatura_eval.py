"""bench/get_trafilatura_eval.py: builds the snippet set from a sdist + evaldata.py, offline here
(the downloads need PyPI and GitHub; their parsing is what is tested, on small local samples)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.scripts import load_script

# the shape of trafilatura's tests/evaldata.py: comments, extra keys, a commented-out entry,
# quotes inside strings, non-ASCII, entries whose page is not in the sdist
EVALDATA = """\
# pylint: disable=C0114,C0301,C0302
EVAL_PAGES = {
'https://example.org/zeta': {
    'file': 'zeta.example.html',
    'with': ['Der erste Absatz "zitiert" etwas.', 'zweiter Absatz'],
    'without': ['Impressum', 'Teilen'],  #
},
'https://example.org/alpha': {
    'file': 'alpha.example.html',
    'author': 'Somebody',
    'date': '2020-01-01',
    'with': ['Grounded in sustainable', 'Dining and Drinking'],  # title: 'x'
    'without': ['Reply'],
    'comments': ['what a place'],
},
# overview page: result is None
# 'https://example.org/overview': {
#    'file': 'mid.example.html',
#    'with': [],
#},
'https://example.org/not-in-sdist': {
    'file': 'elsewhere.example.html',
    'with': ['x'],
    'without': ['y'],
},
'https://example.org/mid': {
    'file': 'mid.example.html',
    'with': ['神道'],
    'without': [],
},
}
"""

PAGE = "<html><body><nav>Teilen Impressum</nav><article><p>{}</p></article></body></html>"


def _script():
    return load_script("bench/get_trafilatura_eval.py", "get_trafilatura_eval")


def _sdist(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"trafilatura-1.1.0/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def sources(tmp_path, monkeypatch):
    g = _script()
    sdist = _sdist(
        tmp_path / "trafilatura-1.1.0.tar.gz",
        {
            "tests/cache/zeta.example.html": PAGE.format("Der erste Absatz"),
            "tests/cache/alpha.example.html": PAGE.format("alpha"),
            "tests/cache/mid.example.html": PAGE.format("mid"),
            "tests/cache/unannotated.example.html": PAGE.format("none"),
            "tests/cache/sub/deeper.html": PAGE.format("not a cache page"),
            "tests/resources/apache.html": PAGE.format("not a cache page"),
            "trafilatura/core.py": "print('code')\n",
        },
    )
    monkeypatch.setattr(g, "SDIST_SHA256", hashlib.sha256(sdist.read_bytes()).hexdigest())
    evaldata = tmp_path / "evaldata.py"
    evaldata.write_text(EVALDATA, encoding="utf-8")
    return g, sdist, evaldata


def test_builds_rows_for_the_annotated_pages_of_the_sdist(sources, tmp_path):
    g, sdist, evaldata = sources
    out = tmp_path / "set"
    assert g.main(["--out", str(out), "--sdist", str(sdist), "--evaldata", str(evaldata)]) == 0
    assert sorted(p.name for p in (out / "html").iterdir()) == [
        "alpha.example.html",
        "mid.example.html",
        "unannotated.example.html",
        "zeta.example.html",
    ]
    rows = [json.loads(line) for line in (out / "evaldata.jsonl").read_text("utf-8").splitlines()]
    assert [r["file"] for r in rows] == ["alpha.example.html", "mid.example.html", "zeta.example.html"]
    assert [r["half"] for r in rows] == ["A", "B", "A"]
    alpha, mid, zeta = rows
    assert alpha == {
        "url": "https://example.org/alpha",
        "file": "alpha.example.html",
        "half": "A",
        "with": ["Grounded in sustainable", "Dining and Drinking"],
        "without": ["Reply"],
        "comments": ["what a place"],
    }
    assert mid["with"] == ["神道"] and mid["comments"] == []
    assert zeta["with"][0] == 'Der erste Absatz "zitiert" etwas.'
    provenance = (out / "PROVENANCE.md").read_text("utf-8")
    assert "`unannotated.example.html`" in provenance
    assert g.EVALDATA_COMMIT in provenance and "GPL-3.0" in provenance
    assert "3 pages" in provenance


def test_check_scores_plain_trafilatura_with_the_snippet_metric(sources, tmp_path, capsys):
    g, sdist, evaldata = sources
    out = tmp_path / "set"
    argv = ["--out", str(out), "--sdist", str(sdist), "--evaldata", str(evaldata), "--check"]
    assert g.main(argv) == 0
    assert "plain trafilatura: precision" in capsys.readouterr().out


def test_snippet_metric_counts_like_trafilaturas_evaluate_result():
    g = _script()
    row = {"with": ["alpha beta", "gamma", "missing"], "without": ["Impressum", "delta"]}
    assert g.snippet_counts("alpha beta gamma\ndelta", row) == (2, 1, 1, 1)
    # no whitespace normalisation: a snippet split across lines is not found
    assert g.snippet_counts("alpha\nbeta", {"with": ["alpha beta"], "without": []}) == (0, 1, 0, 0)
    assert g.snippet_counts(None, row) == (0, 3, 0, 2)
    s = g.snippet_scores([(2, 1, 1, 1), (0, 3, 0, 2)])
    assert (s["tp"], s["fn"], s["fp"], s["tn"]) == (2, 4, 1, 3)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 6)
    assert s["f1"] == pytest.approx(2 * (2 / 3) * (1 / 3) / (2 / 3 + 1 / 3))
    assert s["accuracy"] == pytest.approx(5 / 10)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("EVAL_PAGES = {'u': {'file': open('x')}}\n", "not a plain literal"),
        ("PAGES = {}\n", "no EVAL_PAGES"),
        ("EVAL_PAGES = {\n", "does not parse"),
        ("EVAL_PAGES = {'u': {'file': 'zeta.example.html', 'with': 'a string'}}\n", "'with' is not a list"),
        ("EVAL_PAGES = {'u': {'file': 'other.html', 'with': [], 'without': []}}\n", "no entry"),
    ],
)
def test_bad_annotations_exit_2_saying_why(sources, tmp_path, capsys, source, message):
    g, sdist, evaldata = sources
    evaldata.write_text(source, encoding="utf-8")
    assert g.main(["--out", str(tmp_path / "set"), "--sdist", str(sdist), "--evaldata", str(evaldata)]) == 2
    err = capsys.readouterr().err
    assert "FAIL get_trafilatura_eval" in err and message in err


def test_an_sdist_that_is_not_the_pinned_one_exits_2(sources, tmp_path, monkeypatch, capsys):
    g, sdist, evaldata = sources
    monkeypatch.setattr(g, "SDIST_SHA256", "0" * 64)
    assert g.main(["--out", str(tmp_path / "set"), "--sdist", str(sdist), "--evaldata", str(evaldata)]) == 2
    assert "SHA-256" in capsys.readouterr().err


def test_missing_local_sources_exit_2_naming_the_flag(sources, tmp_path, capsys):
    g, sdist, evaldata = sources
    assert (
        g.main(
            [
                "--out",
                str(tmp_path / "s"),
                "--sdist",
                str(tmp_path / "no.tar.gz"),
                "--evaldata",
                str(evaldata),
            ]
        )
        == 2
    )
    assert "--sdist" in capsys.readouterr().err
    assert (
        g.main(["--out", str(tmp_path / "s"), "--sdist", str(sdist), "--evaldata", str(tmp_path / "no.py")])
        == 2
    )
    assert "--evaldata" in capsys.readouterr().err


def test_keep_halves_never_moves_a_page_of_an_earlier_build(sources, tmp_path):
    g, sdist, evaldata = sources
    old = tmp_path / "old.jsonl"
    # a fresh build gives alpha A, mid B, zeta A: an earlier build that had zeta in B keeps it there
    old.write_text(
        json.dumps({"file": "zeta.example.html", "half": "B"})
        + "\n"
        + json.dumps({"file": "gone.html", "half": "A"})
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "set"
    argv = ["--out", str(out), "--sdist", str(sdist), "--evaldata", str(evaldata), "--keep-halves", str(old)]
    assert g.main(argv) == 0
    rows = [json.loads(line) for line in (out / "evaldata.jsonl").read_text("utf-8").splitlines()]
    # zeta stays in B; the new pages, in file order, fill the smaller half: alpha A, then mid (A 1, B 1) A
    assert {r["file"]: r["half"] for r in rows} == {
        "alpha.example.html": "A",
        "mid.example.html": "A",
        "zeta.example.html": "B",
    }


def test_keep_halves_needs_a_readable_earlier_build(sources, tmp_path, capsys):
    g, sdist, evaldata = sources
    bad = tmp_path / "old.jsonl"
    bad.write_text('{"file": "zeta.example.html", "half": "C"}\n', encoding="utf-8")
    argv = ["--out", str(tmp_path / "s"), "--sdist", str(sdist), "--evaldata", str(evaldata)]
    assert g.main([*argv, "--keep-halves", str(bad)]) == 2
    assert "--keep-halves" in capsys.readouterr().err
    assert g.main([*argv, "--keep-halves", str(tmp_path / "missing.jsonl")]) == 2
    assert "--keep-halves" in capsys.readouterr().err
