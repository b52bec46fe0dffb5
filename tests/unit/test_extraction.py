"""Unit tests of the pure extraction core and its process sandbox."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from newsbeam.transforms import extraction
from newsbeam.transforms.extraction import (
    ExtractionCrashed,
    ExtractionSandbox,
    ExtractionTimeout,
    extract_article,
    parse_iso_datetime,
    run_extract_dir,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "extraction"
PARAGRAPH_1 = (
    "The city council voted on Tuesday evening to approve a new plan for the riverside "
    "district, ending a debate that had lasted for almost three years and divided residents "
    "across the town."
)
PARAGRAPH_5 = (
    "The mayor said construction would start next spring and that the first apartments "
    "should be ready within two years, adding that the council would publish the full "
    "budget next month."
)


def _page(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_body_keeps_the_article_and_drops_navigation_and_footer():
    result = extract_article(_page("article_jsonld_en.html"))
    lines = result.body.split("\n")
    assert lines[0] == PARAGRAPH_1  # the <h1> title is metadata, not body
    assert "Council approves riverside plan" not in result.body
    assert lines[-1] == PARAGRAPH_5
    for boilerplate in ("Subscribe", "Copyright", "Most read", "Local bakery", "Sport"):
        assert boilerplate not in result.body


def test_metadata_from_json_ld():
    result = extract_article(_page("article_jsonld_en.html"))
    assert result.title == "Council approves riverside plan"
    assert result.authors == ("Jane Doe", "John Roe")
    assert result.published == "2021-03-04T14:30:00Z"
    assert result.published_raw == "2021-03-04T15:30:00+01:00"
    assert result.published_has_time is True
    assert result.published_source == "jsonld"
    assert result.canonical_href == "https://courier.example/news/council-approves-riverside-plan"
    assert result.sitename == "Riverside Courier"
    assert result.language == "en"


@pytest.mark.parametrize(
    "deep",
    [
        "[" * 100_000 + "]" * 100_000,  # json.loads raised RecursionError
        '{"@type": "NewsArticle", "headline": "Council approves riverside plan", "author": '
        + "[" * 700
        + '"x"'
        + "]" * 700
        + "}",  # _names did
    ],
    ids=["100000-lists", "author-700-lists"],
)
def test_json_ld_nested_too_deep_is_ignored_and_the_article_kept(deep):
    """A RecursionError killed the extraction child: the page's article was lost as
    ``extract_crash`` and the child's traceback printed on the run's stderr."""
    page = _page("article_jsonld_en.html").replace(
        b"<head>", b'<head><script type="application/ld+json">' + deep.encode() + b"</script>", 1
    )
    assert deep.encode() in page
    result = extract_article(page)
    assert result.body.split("\n")[0] == PARAGRAPH_1
    assert result.title == "Council approves riverside plan"  # the page's other JSON-LD still read
    assert result.authors == ("Jane Doe", "John Roe")


@pytest.mark.parametrize(
    "author, expected",
    [
        ('"By JANE DOE, Courier Staff Writer"', ("Jane Doe",)),
        ('"Analysis by Jane Doe, Riverside Courier"', ("Jane Doe",)),
        ('"By JANE DOE and JOHN ROE, Associated Press"', ("Jane Doe", "John Roe", "AP")),
        ('"Jane Doe, MS, RDN"', ("Jane Doe",)),
        ('"Jane Doe | Courier Media for Courier.example"', ("Jane Doe",)),
        ('"Martin Luther King, Jr."', ("Martin Luther King Jr.",)),
        ('{"name": "Jane Doe, John Roe"}', ("Jane Doe", "John Roe")),
        ('["Jane Doe", "JANE DOE"]', ("Jane Doe",)),
        ('"Doe, Jane"', ("Doe, Jane",)),  # one name, surname first
        ('"AFP, Reuters"', ("AFP", "Reuters")),
        ('"admin"', ()),
        ('["Jane Doe", "webteam", "editor1", "Web Team", "web_team"]', ("Jane Doe",)),
        ('"Jane Doe <jane@courier.example>"', ("Jane Doe",)),
        ('["jane@courier.example (Jane Doe)", "@courierdesk"]', ("Jane Doe",)),
        ('["The Associated Press", "Associated Press", "AP"]', ("AP",)),
        ('["REUTERS", "Agence France-Presse"]', ("Reuters", "AFP")),
        ('["bell hooks", "王小明", "Ani"]', ("bell hooks", "王小明", "Ani")),
    ],
    ids=[
        "by-caps-role",
        "analysis-by-site",
        "and-agency",
        "degrees",
        "bar-for-site",
        "jr",
        "two",
        "case-dup",
        "surname-first",
        "agencies",
        "account",
        "accounts",
        "email-after",
        "email-before-handle",
        "agency-variants",
        "agency-capitals-long",
        "real-names-kept",
    ],
)
def test_authors_are_the_names_of_the_byline(author, expected):
    """A byline string was stored as one author: "By TOM KRISHER, AP Auto Writer" (the
    ``authors`` keyword an analyst filters on never matched "Tom Krisher"), the outlet after
    a comma as a second author ("Jill Disis", "CNN Business"), degrees as authors ("MS",
    "RDN"): 14 of the 181 ScrapingHub pages.  The agency stays (``agency`` is read from it)."""
    page = _page("article_jsonld_en.html").replace(
        b'[{"@type": "Person", "name": "Jane Doe"}, {"@type": "Person", "name": "John Roe"}]',
        author.encode(),
    )
    assert author.encode() in page
    assert extract_article(page).authors == expected


def test_feed_authors_drop_accounts_and_spell_agencies_one_way():
    """Content-management accounts ("admin", "webteam", "editor1") were stored as authors, and
    "AP", "Associated Press", "The Associated Press" as three authors an analyst had to find
    (2 accounts and 3 agency spellings on the 181 ScrapingHub pages)."""
    from newsbeam.transforms.extraction import clean_authors

    bylines = ["admin", "By Jane Doe, The Associated Press", "Associated Press", "editor1"]
    assert clean_authors(bylines, "https://courier.example/a") == ("Jane Doe", "AP")


def test_meta_author_byline_is_split_into_its_names():
    page = (
        _page("article_jsonld_en.html")
        .replace(
            b'"author": [{"@type": "Person", "name": "Jane Doe"}, {"@type": "Person", "name": "John Roe"}]',
            b'"inLanguage": "en"',
        )
        .replace(b"<head>", b'<head><meta name="author" content="By Jane Doe and John Roe, Courier.example">')
    )
    assert b'"inLanguage"' in page
    assert extract_article(page).authors == ("Jane Doe", "John Roe")


def test_a_lone_surrogate_escape_in_json_ld_becomes_a_replacement_character(tmp_path):
    """A headline or author holding an unpaired "\\ud800" escape (valid JSON, no text) was
    kept as a lone surrogate: writing the row stopped the whole `newsbeam extract` (exit 1,
    every other page's row lost) and the bulk write stopped `newsbeam run`."""
    ld = (
        '{"@type": "NewsArticle", "headline": "Council \\ud800approves plan \\ud83d\\ude00", '
        '"author": {"name": "Jane \\udc01Doe"}}'
    )
    page = _page("article_jsonld_en.html").replace(
        b"<head>", b'<head><script type="application/ld+json">' + ld.encode() + b"</script>", 1
    )
    result = extract_article(page)
    assert result.title == "Council \ufffdapproves plan \U0001f600"  # a pair is one character
    assert "Jane \ufffdDoe" in result.authors
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.html").write_bytes(page)
    (tmp_path / "in" / "b.html").write_bytes(_page("article_jsonld_en.html"))
    assert run_extract_dir(tmp_path / "in", tmp_path / "out.jsonl") == 2
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [row["title"] for row in rows] == [result.title, "Council approves riverside plan"]


def test_provenance_names_versions_method_and_signals():
    result = extract_article(_page("article_jsonld_en.html"))
    prov = result.provenance
    assert prov["extractor"] == "newsbeam"
    assert set(prov["versions"]) == {"trafilatura", "resiliparse"}
    assert prov["method"] == "trafilatura"
    assert prov["signals"]["body_tokens"] == len(result.body.replace("-", " ").split())
    assert prov["signals"]["title_lines"] == 1  # "Council approves riverside plan"
    assert prov["signals"]["base_tokens"] == prov["signals"]["body_tokens"] + 4


def test_meta_date_with_time_and_german_language():
    result = extract_article(_page("article_meta_de.html"))
    assert result.title == "Stadtrat beschließt Plan für das Flussviertel"
    assert result.published == "2021-03-04T08:15:00Z"
    assert result.published_has_time is True
    assert result.published_source == "meta"
    assert result.language == "de"
    assert result.canonical_href is None
    assert result.og_url == "https://zeitung.example/lokal/flussviertel"


@pytest.mark.parametrize(
    ("url", "day"),
    [
        ("https://www.theguardian.example/world/2019/nov/18/council-plan", "2019-11-18T00:00:00Z"),
        ("https://facts.example/statements/2019/sept/3/claim/", "2019-09-03T00:00:00Z"),
        ("https://courier.example/2020/June/27", "2020-06-27T00:00:00Z"),
    ],
)
def test_date_from_a_url_with_the_months_name(url, day):
    result = extract_article(_page("article_no_date.html"), url)
    assert (result.published, result.published_source) == (day, "url")


@pytest.mark.parametrize(
    "path", ["/2019/nov/council-plan", "/2019/mayday/18/rally", "/2019/feb/31/x", "/2019/02/31/x"]
)
def test_a_month_name_without_a_day_or_a_word_starting_like_a_month_is_not_a_date(path):
    result = extract_article(_page("article_no_date.html"), "https://courier.example" + path)
    assert result.published_source != "url"


def test_a_saved_page_without_a_url_takes_the_date_from_its_own_canonical_link():
    page = _page("article_no_date.html").replace(
        b"</head>", b'<link rel="canonical" href="https://courier.example/2020/06/27/council-plan"></head>'
    )
    assert b"canonical" in page
    result = extract_article(page)
    assert (result.published, result.published_source) == ("2020-06-27T00:00:00Z", "url")
    broken = page.replace(b"https://courier.example/2020", b"http://[bad/2020")
    assert extract_article(broken).published_source != "url"  # and no error


def test_a_body_of_book_length_gets_no_optional_rule(monkeypatch):
    from newsbeam.transforms import extraction

    page = _page("article_jsonld_en.html")
    assert "reader" in extract_article(page).provenance["signals"]  # an article gets the rules
    monkeypatch.setattr(extraction, "OPTIONAL_MAX_CHARS", 100)
    signals = extract_article(page).provenance["signals"]
    assert "reader" not in signals and signals["title_lines"] == 1  # the cheap rules still run


def test_a_jsonld_type_that_is_not_a_string_is_skipped():
    page = (
        '<html><head><script type="application/ld+json">{"@type": {"x": 1}, "headline": "Odd"}</script>'
        '<script type="application/ld+json">{"@type": ["NewsArticle", {"x": 1}], '
        '"headline": "Council approves plan"}</script></head><body><p>Text.</p></body></html>'
    )
    assert extract_article(page.encode()).title == "Council approves plan"


def test_date_from_url_has_no_time_of_day():
    result = extract_article(_page("article_no_date.html"), "https://courier.example/2020/06/27/council-plan")
    assert result.published == "2020-06-27T00:00:00Z"
    assert result.published_has_time is False
    assert result.published_source == "url"


def test_empty_page_gives_empty_body():
    result = extract_article(_page("empty.html"))
    assert result.body == ""
    assert result.title is None
    assert result.published is None
    assert extract_article(b"").body == ""


def test_parse_iso_datetime_offsets_and_dates():
    parsed, has_time = parse_iso_datetime("2019-11-19T09:30:00-0500")
    assert (parsed.isoformat(), has_time) == ("2019-11-19T14:30:00+00:00", True)
    parsed, has_time = parse_iso_datetime("2019-11-19")
    assert (parsed.isoformat(), has_time) == ("2019-11-19T00:00:00+00:00", False)
    assert parse_iso_datetime("19 November 2019") == (None, False)


def test_run_extract_dir_writes_one_row_per_page(tmp_path):
    out = tmp_path / "out.jsonl"
    assert run_extract_dir(FIXTURES, out) == 4
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [
        "article_jsonld_en",
        "article_meta_de",
        "article_no_date",
        "empty",
    ]
    first = rows[0]
    assert first["url"] == "https://courier.example/news/council-approves-riverside-plan"
    assert first["title"] == "Council approves riverside plan"
    assert first["published"] == "2021-03-04T14:30:00Z"
    assert first["authors"] == ["Jane Doe", "John Roe"]
    assert first["language"] == "en"
    assert first["extraction"]["method"] == "trafilatura"
    assert rows[1]["url"] == "https://zeitung.example/lokal/flussviertel"
    assert rows[2]["url"] is None
    assert rows[3]["articleBody"] == ""


# --------------------------------------------------------------------------- sandbox


def _hang_or_extract(html, url):
    """Injected extractor: hangs on a page that says "hang", dies on "crash", raises on "raise"."""
    if html == b"hang":
        time.sleep(60)
    if html == b"crash":
        os._exit(3)
    if html == b"raise":
        raise RecursionError("maximum recursion depth exceeded")
    return extract_article(html, url)


@pytest.fixture
def sandbox():
    box = ExtractionSandbox(extract_fn=_hang_or_extract)
    yield box
    box.close()


def test_sandbox_cuts_off_a_hanging_page_and_the_next_page_works(sandbox):
    first = sandbox.extract_with_limit(_page("article_jsonld_en.html"), None, timeout_s=30)
    assert first.title == "Council approves riverside plan"
    t0 = time.monotonic()
    with pytest.raises(ExtractionTimeout):
        sandbox.extract_with_limit(b"hang", None, timeout_s=1.0)
    assert time.monotonic() - t0 < 5
    after = sandbox.extract_with_limit(_page("article_meta_de.html"), None, timeout_s=30)
    assert after.published == "2021-03-04T08:15:00Z"


def test_sandbox_survives_a_crashing_page(sandbox):
    with pytest.raises(ExtractionCrashed):
        sandbox.extract_with_limit(b"crash", None, timeout_s=30)
    after = sandbox.extract_with_limit(_page("article_jsonld_en.html"), None, timeout_s=30)
    assert after.published_source == "jsonld"


def test_json_ld_nested_past_the_decoder_limit_or_deep_in_graphs_is_read_or_skipped():
    """A JSON-LD block nested deeper than the JSON decoder allows is skipped (it raised
    RecursionError: the page had no body), and so is one nested hundreds of @graph levels
    deep (past the walkers' depth limit): the body is kept, the title taken from <title>."""
    paragraph = (
        "<p>" + "The council approved the riverside plan after a long debate on Tuesday. " * 3 + "</p>"
    )
    too_deep = "[" * 100_000 + "]" * 100_000
    graphs = '{"@graph":[' * 300 + '{"@type":"NewsArticle","headline":"Riverside plan passes"}' + "]}" * 300
    for block, title in ((too_deep, None), (graphs, "Riverside plan passes")):
        html = (
            f"<html><head><title>Riverside plan passes | News</title>"
            f'<script type="application/ld+json">{block}</script></head>'
            f"<body><article>{paragraph}{paragraph}</article></body></html>"
        )
        result = extract_article(html.encode(), "https://news.example.com/a")
        assert "riverside plan" in result.body
        if title:
            assert result.title == title


def test_a_page_nested_past_the_parser_limit_gets_no_resiliparse_witness(monkeypatch):
    """libxml2 keeps 256 levels; resiliparse parses the page itself in time growing with the
    cube of the depth (20 s at 20,000 levels): such a page gets no witness, a shallow page
    with an empty base still does."""
    calls = []
    monkeypatch.setattr(extraction, "_resiliparse_text", lambda text: calls.append(len(text)) or "")
    monkeypatch.setattr(extraction, "_trafilatura_with_reader", lambda tree, url: ("", None))  # empty base
    deep = (
        "<html><body>" + "<div>" * 3000 + "<p>Deep text of the page.</p>" + "</div>" * 3000 + "</body></html>"
    )
    extract_article(deep.encode(), "https://news.example.com/deep")
    assert calls == []
    shallow = "<html><body><div><p>Text of the page.</p></div></body></html>"
    extract_article(shallow.encode(), "https://news.example.com/shallow")
    assert len(calls) == 1


def test_an_exception_in_the_extractor_is_a_crash_of_that_page_and_the_child_lives_on(sandbox, capfd):
    """The child died of it, printing its traceback on the run's stderr, and the next page paid
    for a new child's start."""
    first = sandbox.extract_with_limit(_page("article_jsonld_en.html"), None, timeout_s=30)
    child = sandbox._proc.pid
    with pytest.raises(ExtractionCrashed, match="RecursionError: maximum recursion depth exceeded"):
        sandbox.extract_with_limit(b"raise", None, timeout_s=30)
    after = sandbox.extract_with_limit(_page("article_jsonld_en.html"), None, timeout_s=30)
    assert after.title == first.title
    assert sandbox._proc.pid == child
    assert "Traceback" not in capfd.readouterr().err


def test_language_of_a_text_written_without_spaces():
    # Few \w+ tokens (no spaces, little punctuation), no lang attribute.
    paragraph = (
        "新型コロナウイルスの感染者が新たに百人確認されたと"
        "東京都が二十七日に発表し外出自粛を改めて呼びかけた。"
    )
    article = f"<h1>見出し</h1><p>{paragraph}</p><p>{paragraph}</p>"
    html = f"<html><body><article>{article}</article></body></html>"
    result = extract_article(html.encode(), "https://news.example.jp/a")
    assert result.body
    assert result.language == "ja"


def test_a_table_inside_the_article_is_body():
    """Standings, results and price tables in an article are its content (every other
    extractor keeps them, and so do the benchmark's references)."""
    table = (
        "<table><tr><th>Team</th><th>Points</th></tr>"
        "<tr><td>Riverside Rovers</td><td>42</td></tr><tr><td>Harbour United</td><td>39</td></tr></table>"
    )
    page = _page("article_jsonld_en.html").replace(b"</p><p>Under", b"</p>" + table.encode() + b"<p>Under")
    body = extract_article(page).body
    assert "Riverside Rovers" in body and "Harbour United" in body
    assert PARAGRAPH_1 in body and PARAGRAPH_5 in body


def test_the_reader_comes_from_trafilaturas_own_run_and_the_hook_is_undone(monkeypatch):
    """The readability port runs once per page, inside trafilatura's cascade; the hook that
    keeps its text is removed afterwards, even when trafilatura fails."""
    import trafilatura.external

    from newsbeam.transforms import extraction

    original = trafilatura.external.try_readability

    def no_second_run(tree):
        raise AssertionError("the reader must come from trafilatura's own comparison stage")

    monkeypatch.setattr(extraction, "_reader_text", no_second_run)
    result = extract_article(_page("article_jsonld_en.html"))
    assert result.provenance["signals"]["reader"] == "trafilatura.readability"
    assert trafilatura.external.try_readability is original

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(trafilatura, "extract", broken)
    with pytest.raises(RuntimeError):
        extraction._trafilatura_with_reader(None, None)
    assert trafilatura.external.try_readability is original


def test_a_page_past_its_budget_searches_no_date_in_its_text(monkeypatch):
    """htmldate's search of the page is the costly part of date detection (seconds on some
    pages): once a page has used its CPU budget in trafilatura, it is skipped."""
    from newsbeam.transforms import extraction

    paragraphs = "".join(f"<p>{PARAGRAPH_1} {i}</p>" for i in range(4))
    html = f'<html><body><article><span class="date">2021-03-12</span>{paragraphs}</article></body></html>'
    found = extract_article(html)
    assert (found.published_raw, found.published_source) == ("2021-03-12", "text")
    monkeypatch.setattr(extraction, "OPTIONAL_BUDGET_S", 0.0)
    spent = extract_article(html)
    assert spent.published is None and spent.published_source is None
    assert PARAGRAPH_1 in spent.body


def test_trafilatura_leaves_the_parsed_page_as_it_was():
    # extract_article runs trafilatura on the page's tree without copying it first, then reads
    # the same tree for metadata and the standfirst: an upgrade that edits it in place must fail
    from lxml import etree
    from trafilatura.utils import load_html

    from newsbeam.transforms.extraction import _own_text, _trafilatura_with_reader

    tree = load_html(_page("article_jsonld_en.html"))
    before = etree.tostring(tree)
    base, reader = _trafilatura_with_reader(tree, None)
    assert base and reader
    assert etree.tostring(tree) == before
    assert _own_text(tree, None)  # rule 2's second run, on the same tree
    assert etree.tostring(tree) == before


def test_language_is_an_iso_639_1_code_or_none():
    from newsbeam.transforms.extraction import _language

    assert _language("Short.", "de-AT") == "de"
    assert _language("Short.", "zxx") is None  # "no linguistic content" is not a language
    assert _language("Short.", "x-klingon") is None
    assert _language("Short.", "english") is None
    assert _language("The council approved the riverside plan on Tuesday evening.", "") == "en"


def test_provenance_names_the_extractor_and_its_version_as_the_contract_says():
    """DESIGN.md: ``extraction.*`` holds "extractor, version, method, quality signals" and the
    articles mapping has ``extraction.version``; documents had lost ``version`` (only the libraries'
    ``versions`` were left), so a check or a Kibana filter on it found nothing."""
    from newsbeam import __version__
    from newsbeam.transforms.extraction import extract_article

    paragraphs = "".join(
        f"<p>Paragraph {i} of the council's report on the harbour dredging plan and its costs.</p>"
        for i in range(8)
    )
    result = extract_article(
        f"<html><body><article>{paragraphs}</article></body></html>", "https://example.org/a"
    )
    assert result.provenance["extractor"] == "newsbeam"
    assert result.provenance["version"] == __version__
    assert set(result.provenance["versions"]) == {"trafilatura", "resiliparse"}
    assert result.provenance["method"] and result.provenance["signals"]
    assert extract_article("", None).provenance["version"] == __version__  # an empty page too


# --------------------------------------------------------------------------- workers


def _timed_extract(html, url):
    """Injected extractor: records when it ran (a file per page), dies on "crash"."""
    if html == b"crash":
        os._exit(3)
    start = time.monotonic()
    time.sleep(0.3)
    log_dir = Path(os.environ["NEWSBEAM_TEST_TIMES"])
    (log_dir / f"{os.getpid()}-{start}").write_text(f"{start} {time.monotonic()}")
    return extraction.ExtractionResult(body=html.decode())


def _intervals(log_dir: Path) -> list[tuple[float, float]]:
    return sorted(tuple(map(float, p.read_text().split())) for p in log_dir.iterdir())


@pytest.mark.parametrize("workers", [1, 3])
def test_run_extract_dir_with_workers_keeps_file_order_and_every_row(tmp_path, monkeypatch, workers):
    pages = tmp_path / "pages"
    pages.mkdir()
    for i in range(8):
        (pages / f"p{i}.html").write_bytes(f"page {i}".encode())
    (pages / "p2.html").write_bytes(b"crash")
    (pages / "p5.html").write_bytes(b"crash")
    times = tmp_path / "times"
    times.mkdir()
    monkeypatch.setenv("NEWSBEAM_TEST_TIMES", str(times))
    out = tmp_path / "out.jsonl"
    done = []
    errors = extraction.Counter()
    count = run_extract_dir(
        pages, out, _timed_extract, timeout_s=60, errors=errors, workers=workers, progress=done.append
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert count == 8 and [r["id"] for r in rows] == [f"p{i}" for i in range(8)]
    assert errors == {"extract_crash": 2}, rows
    assert [r["articleBody"] for r in rows] == [
        "page 0",
        "page 1",
        "",
        "page 3",
        "page 4",
        "",
        "page 6",
        "page 7",
    ]
    assert rows[2]["error"] == rows[5]["error"] == "extract_crash"
    assert done == list(range(1, 9))
    spans = _intervals(times)
    overlapping = any(b[0] < a[1] for a, b in zip(spans, spans[1:]))
    # one sandbox extracts one page at a time; several sandboxes extract pages at the same time
    assert overlapping == (workers > 1)
