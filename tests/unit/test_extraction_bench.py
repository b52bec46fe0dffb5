"""The extraction benchmark names its data set and where to get it when the data is absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "extraction.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_extraction", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_data_exits_2_naming_the_data_set(tmp_path, capsys):
    assert _bench().main(["--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err
    assert "ScrapingHub article-extraction benchmark" in err
    assert "github.com/scrapinghub/article-extraction-benchmark" in err
    assert "NEWSBEAM_BENCH_DATA" in err


def test_without_flag_or_environment_it_says_neither_is_set(monkeypatch, capsys):
    monkeypatch.delenv("NEWSBEAM_BENCH_DATA", raising=False)
    assert _bench().main([]) == 2
    assert "neither --data nor $NEWSBEAM_BENCH_DATA is set" in capsys.readouterr().err
