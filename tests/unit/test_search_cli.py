"""``newsbeam search``: pure parts (filters, request body, cleaning) and bad flags."""

from datetime import datetime, timezone

import pytest

from newsbeam.pipeline.cli import main
from newsbeam.pipeline.search import SearchFilters, build_search_body, clean_text, parse_time


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("plain title", "plain title"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("a\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),
        ("bell\x07 and \x9b31m8-bit", "bell and 8-bit"),
        ("two\nlines\tand\r\nmore", "two lines and more"),
        ("[bold]markup stays text[/bold]", "[bold]markup stays text[/bold]"),
        ("nul\x00 del\x7f c1\x85", "nul del c1"),
    ],
)
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean


def test_parse_time_forms():
    now = datetime(2024, 5, 10, 12, 0, tzinfo=timezone.utc)
    assert parse_time("2024-05-01", "--since") == "2024-05-01T00:00:00Z"
    assert parse_time("2024-05-01T08:30:00+02:00", "--since") == "2024-05-01T06:30:00Z"
    assert parse_time("7d", "--since", now) == "2024-05-03T12:00:00Z"
    assert parse_time("90m", "--since", now) == "2024-05-10T10:30:00Z"
    with pytest.raises(ValueError, match="--until"):
        parse_time("last tuesday", "--until")
    # --until with a date alone takes that whole day in; with a time, that moment
    assert parse_time("2024-05-07", "--until", end_of_day=True) == "2024-05-07T23:59:59Z"
    assert parse_time("2024-05-07T08:00:00Z", "--until", end_of_day=True) == "2024-05-07T08:00:00Z"


def test_parse_time_far_dates_are_four_digit_years_or_usage_errors():
    """``--since 0999-01-01`` was sent as ``999-01-01T00:00:00Z`` (strftime's %Y), which
    Elasticsearch refuses (exit 1); ``--since 999999w`` raised OverflowError (exit 1)."""
    assert parse_time("0999-01-01", "--since") == "0999-01-01T00:00:00Z"
    assert parse_time("0001-01-01", "--until", end_of_day=True) == "0001-01-01T23:59:59Z"
    assert parse_time("0999-01-01", "--since") < parse_time(
        "2020-01-01", "--since"
    )  # --since > --until check
    now = datetime(2024, 5, 10, 12, 0, tzinfo=timezone.utc)
    for value in ("999999w", "0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"):
        with pytest.raises(ValueError, match="--since: .* is outside the years 1 to 9999"):
            parse_time(value, "--since", now)


def test_far_dates_are_a_usage_error_on_the_command_line(capsys):
    assert main(["search", "--since", "999999w", "--es-url", "http://127.0.0.1:1"]) == 2
    assert "--since: '999999w' is outside the years 1 to 9999" in capsys.readouterr().err


def test_filters_become_filter_clauses_and_story_sorts_earliest_first():
    body = build_search_body(
        None,
        SearchFilters(outlets=("Globe",), languages=("en",), story="abc", since="2024-01-01T00:00:00Z"),
    )
    clauses = body["query"]["bool"]["filter"]
    assert {"term": {"story.cluster_id": "abc"}} in clauses
    assert {"terms": {"language": ["en"]}} in clauses
    assert {"range": {"published": {"gte": "2024-01-01T00:00:00Z"}}} in clauses
    assert body["sort"][0] == {"published": {"order": "asc", "missing": "_last"}}
    assert "highlight" not in body
    ranked = build_search_body("quake", SearchFilters())
    assert "sort" not in ranked and "highlight" in ranked


def test_collapse_ranks_stories_by_relevance_and_names_them_by_the_canonical_copy():
    body = build_search_body("quake", SearchFilters(), collapse=True)
    assert "sort" not in body  # stories rank by their best-matching copy
    inner = body["collapse"]["inner_hits"]
    assert body["collapse"]["field"] == "story.cluster_id" and inner["size"] == 1
    assert [next(iter(key)) for key in inner["sort"]][:2] == ["story.is_canonical", "published"]
    assert inner["sort"][0]["story.is_canonical"]["order"] == "desc"
    assert inner["sort"][1]["published"]["order"] == "asc"
    assert "highlight" in inner  # the passage is the shown copy's own


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--since", "yesterday"], "--since"),
        (["--until", "2024-13-45"], "--until"),
        (["--since", "2024-05-02", "--until", "2024-05-01"], "is after --until"),
        (["--lang", "english"], "--lang"),
        (["--story", " "], "--story"),
        (["--outlet", ""], "--outlet"),
        ([], "give QUERY, a filter"),
        (["ceasefire", "--since", ""], "--since"),  # an empty value is a mistake, with a query too
        (["ceasefire", "--until", ""], "--until"),
        ([" ".join(["word"] * 501)], "QUERY: 501 words, more than the 500"),  # over the clause limit
        (["a" * 300 + " b"], None),  # a word longer than a token (255) counts as two; fine
        (["x" * 10_001], "QUERY: 10001 characters"),
        (["--until", ""], "--until"),
    ],
)
def test_bad_filter_values_exit_2_naming_the_flag(flags, message, capsys):
    # No server is needed: values are checked before connecting (exit 1: nothing answers).
    assert main(["search", *flags, "--es-url", "http://127.0.0.1:9"]) == (2 if message else 1)
    if message:
        assert message in capsys.readouterr().err


def test_search_help_lists_filters(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    out = capsys.readouterr().out
    for flag in ("--outlet", "--since", "--until", "--entity", "--place", "--agency", "--lang", "--story"):
        assert flag in out


def test_table_keeps_a_long_url_on_one_line_at_160_columns():
    import io

    from rich.console import Console

    from newsbeam.pipeline.search import format_hits

    url = "https://www.example-news-outlet.com/world/2024/05/01/" + "a-very-long-slug-" * 8 + "story.html"
    hits = [
        {
            "title": "A title long enough to need wrapping in a narrow column " * 2,
            "source": "Example Outlet",
            "published": "2024-05-01T08:00:00Z",
            "url": url + "?utm_source=rss",
            "canonical_url": url,
            "_passage_marked": "the \ue000matched\ue001 words",
        }
    ]
    out = io.StringIO()
    format_hits(hits, Console(file=out, width=160), total=1)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 160
    assert len([line for line in lines if "example-news-outlet.com" in line]) == 1
    assert "utm_source" not in out.getvalue()
    assert "1 matching article" in out.getvalue()
    empty = io.StringIO()
    format_hits([], Console(file=empty, width=160), total=0)
    assert empty.getvalue().strip() == "no articles match"


@pytest.mark.parametrize("width", [60, 80, 100, 120, 160])
@pytest.mark.parametrize("collapse", [False, True])
def test_results_fit_the_terminal_with_the_url_on_one_line(width, collapse):
    import io

    from rich.console import Console

    from newsbeam.pipeline.search import format_hits

    url = "https://www.example-news-outlet.com/world/2024/05/01/" + "a-very-long-slug-" * 3 + "story.html"
    hit = {
        "title": "Ceasefire talks resume in Cairo as mediators press both sides for a deal",
        "copies": 4,
        "outlets": ["Dawn", "The News", "Reuters", "AP News"],
        "source": "Dawn",
        "published": "2024-05-07T10:00:00Z",
        "url": url,
        "canonical_url": url,
    }
    out = io.StringIO()
    format_hits(
        [hit, {**hit, "title": "Another"}], Console(file=out, width=width), collapse=collapse, total=2
    )
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= width
    assert len([line for line in lines if "www.example-news-outlet.com" in line]) == 2  # one line each
    table = [line for line in lines if line and line[0] in "┏┃┡│└"]
    assert all(line.rstrip()[-1] in "┓┃┩│┘" for line in table)  # a table is never cut at its right
