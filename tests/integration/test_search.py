"""``newsbeam search`` over the demo site: ranked hits, and one line per story."""

import json

import pytest

from newsbeam.pipeline.cli import main
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import run_batch

pytestmark = [pytest.mark.slow, pytest.mark.es_client]


def test_search_and_collapse_per_story(demo_settings, expected, capsys, es_client, monkeypatch):
    run_batch(demo_settings, beam_options([]))
    es_client.indices.refresh(index=demo_settings.elasticsearch.articles_alias)
    capsys.readouterr()
    es = demo_settings.elasticsearch
    common = ["--es-url", es.url, "--index-prefix", es.index_prefix, "--json", "--size", "20"]

    assert main(["search", "Russia Taliban bounties", *common]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    bounty_titles = {a["title"] for a in expected["articles"] if a["story"] == "russia-bounties"}
    assert bounty_titles <= {h["title"] for h in hits}
    assert hits[0]["title"] in bounty_titles

    assert main(["search", "Russia Taliban bounties", "--collapse", *common]) == 0
    stories = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    clusters = [s["cluster_id"] for s in stories]
    assert len(clusters) == len(set(clusters))
    top = stories[0]
    assert top["title"] in bounty_titles
    assert top["copies"] == 4
    assert top["outlets"] == sorted(
        {a["outlet"] for a in expected["articles"] if a["story"] == "russia-bounties"}
    )

    assert main(["search", "Russia Taliban bounties", "--collapse", *common[:-3]]) == 0
    narrow = capsys.readouterr().out  # 80 columns (a pipe): one block per story
    assert f"4 copies: {', '.join(top['outlets'])}" in narrow
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["search", "Russia Taliban bounties", "--collapse", *common[:-3]]) == 0
    table = capsys.readouterr().out
    assert "copies" in table and "outlets" in table


def _lines(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_search_filters_story_highlight_and_table(demo_settings, expected, capsys, es_client, monkeypatch):
    run_batch(demo_settings, beam_options([]))
    es = demo_settings.elasticsearch
    es_client.indices.refresh(index=es.articles_alias)
    capsys.readouterr()
    common = ["--es-url", es.url, "--index-prefix", es.index_prefix]
    by_outlet = {}
    for article in expected["articles"]:
        by_outlet.setdefault(article["outlet"], set()).add(article["title"])

    # --outlet: exactly that outlet's articles; the passage shows the matched words
    outlet = "Daily Courier"
    assert main(["search", "--outlet", outlet, "--json", "--size", "50", *common]) == 0
    assert {h["title"] for h in _lines(capsys)} == by_outlet[outlet]

    assert main(["search", "Taliban", "--json", *common]) == 0
    hits = _lines(capsys)
    assert hits and all("taliban" in (h["passage"] or h["title"]).lower() for h in hits)

    # --since/--until on published
    assert (
        main(
            [
                "search",
                "--since",
                "2020-06-29",
                "--until",
                "2020-06-29T23:59:59Z",
                "--json",
                "--size",
                "50",
                *common,
            ]
        )
        == 0
    )
    days = {h["published"][:10] for h in _lines(capsys)}
    assert days == {
        a["published"][:10] for a in expected["articles"] if a["published"].startswith("2020-06-29")
    }

    # --story: every copy of one story, earliest first
    assert main(["search", "Russia Taliban bounties", "--json", *common]) == 0
    cluster = _lines(capsys)[0]["cluster_id"]
    assert main(["search", "--story", cluster, "--json", *common]) == 0
    copies = _lines(capsys)
    bounty = [a for a in expected["articles"] if a["story"] == "russia-bounties"]
    assert len(copies) == len(bounty)
    assert [c["published"] for c in copies] == sorted(c["published"] for c in copies)

    # --entity (any entity type) and --agency: exactly the documents that carry them
    docs = [h["_source"] for h in es_client.search(index=es.articles_alias, size=100)["hits"]["hits"]]
    with_putin = {d["title"] for d in docs if "Vladimir Putin" in (d.get("entities") or {}).get("person", [])}
    assert main(["search", "--entity", "Vladimir Putin", "--json", "--size", "50", *common]) == 0
    assert {h["title"] for h in _lines(capsys)} == with_putin and with_putin
    with_nato = {d["title"] for d in docs if "NATO" in (d.get("entities") or {}).get("org", [])}
    assert main(["search", "--entity", "NATO", "--outlet", outlet, "--json", "--size", "50", *common]) == 0
    assert {h["title"] for h in _lines(capsys)} == with_nato & by_outlet[outlet]
    agencies = {d["agency"] for d in docs if d.get("agency")}
    assert agencies  # the demo credits wire agencies (APP, AP, ...)
    for agency in agencies:
        credited = {d["title"] for d in docs if d.get("agency") == agency}
        assert main(["search", "--agency", agency, "--json", "--size", "50", *common]) == 0
        assert {h["title"] for h in _lines(capsys)} == credited

    # --place (dateline) and --lang
    assert main(["search", "--place", "Islamabad", "--json", "--size", "50", *common]) == 0
    assert any(h["title"] == bounty[0]["title"] for h in _lines(capsys))
    assert main(["search", "--lang", "en", "--json", "--size", "50", *common]) == 0
    assert len(_lines(capsys)) == len(expected["articles"])
    assert main(["search", "--lang", "fr", "--json", *common]) == 0
    assert _lines(capsys) == []

    # the table: canonical URL (no utm_*) on one line at 160 columns; a count line
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["search", "budget", *common]) == 0
    table = capsys.readouterr().out
    assert "utm_" not in table
    assert max(len(line) for line in table.splitlines()) <= 160
    url_lines = [line for line in table.splitlines() if "/courier/2020/06/26/imc-budget-2020-21.html" in line]
    assert len(url_lines) == 1
    assert "matching articles" in table

    # no results: a message, not an empty table
    assert main(["search", "zzqxnotaword", *common]) == 0
    out = capsys.readouterr().out
    assert "no articles match" in out and "┏" not in out


def test_search_prints_no_markup_or_escape_sequences(es_settings, es_client, capsys, monkeypatch):
    from newsbeam.connectors.es import setup_indices

    setup_indices(es_client, es_settings.index_prefix)
    hostile = "[bold red]Owned[/] \x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\ \x1b[2J\x9b31m\x07Quake news"
    es_client.index(
        index=es_settings.articles_alias,
        id="x1",
        document={
            "title": hostile,
            "body": "Quake news body",
            "url": "http://example.org/a?utm_source=x",
            "canonical_url": "http://example.org/a",
            "source": {"name": "[link=http://evil]Evil[/link]"},
        },
        refresh=True,
    )
    common = ["--es-url", es_settings.url, "--index-prefix", es_settings.index_prefix]
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["search", "Quake", *common]) == 0
    out = capsys.readouterr().out
    assert "[bold red]Owned[/] click Quake news" in out and "[link=http://evil]" in out
    assert not any(ch in out for ch in "\x1b\x07\x9b")
    assert "example.org/a" in out and "utm_source" not in out
    assert main(["search", "Quake", "--json", *common]) == 0
    line = capsys.readouterr().out
    assert not any(ch in line for ch in "\x1b\x07\x9b") and "\\u001b" not in line
    assert json.loads(line)["title"].startswith("[bold red]Owned[/]")


def test_a_query_without_accents_finds_the_accented_words(es_settings, es_client, capsys):
    from newsbeam.connectors.es import setup_indices

    setup_indices(es_client, es_settings.index_prefix)
    es_client.index(
        index=es_settings.articles_alias,
        id="bogota",
        document={
            "title": "Coffee growers march in Bogotá",
            "body": "Thousands of growers marched through Bogotá and Medellín on Tuesday.",
            "url": "https://example.org/bogota",
        },
        refresh=True,
    )
    common = ["--es-url", es_settings.url, "--index-prefix", es_settings.index_prefix, "--json"]
    for query in ("bogota", "Bogotá", "medellin growers"):
        assert main(["search", query, *common]) == 0
        assert [hit["title"] for hit in _lines(capsys)] == ["Coffee growers march in Bogotá"], query


def test_the_longest_query_taken_is_answered_and_a_longer_one_is_a_usage_error(
    es_settings, es_client, capsys
):
    # MAX_QUERY_WORDS words over title and body stay under Elasticsearch 8's smallest clause
    # limit (1024); a longer query is refused before it is sent, exit 2, not an "Elasticsearch
    # refused the search" (exit 1) from a cluster, or a search the embedded server takes.
    from newsbeam.connectors.es import setup_indices
    from newsbeam.pipeline.search import MAX_QUERY_WORDS

    setup_indices(es_client, es_settings.index_prefix)
    es_client.index(
        index=es_settings.articles_alias,
        id="harbour",
        document={
            "title": "Harbour strike ends",
            "body": "Dockers went back to work.",
            "url": "https://e.org/h",
        },
        refresh=True,
    )
    common = ["--es-url", es_settings.url, "--index-prefix", es_settings.index_prefix, "--json"]
    words = ["harbour"] + [f"filler{i}" for i in range(MAX_QUERY_WORDS - 1)]
    assert main(["search", " ".join(words), *common]) == 0
    assert [hit["title"] for hit in _lines(capsys)] == ["Harbour strike ends"]
    assert main(["search", " ".join([*words, "strike"]), *common]) == 2
    err = capsys.readouterr().err
    assert f"QUERY: {MAX_QUERY_WORDS + 1} words, more than the {MAX_QUERY_WORDS}" in err
    assert "Traceback" not in err
    assert main(["search", "x" * 60_000, *common]) == 2
    assert "QUERY: 60000 characters" in capsys.readouterr().err


def _story_doc(title, body, outlet, published, cluster, canonical, size):
    return {
        "title": title,
        "body": body,
        "url": f"https://{outlet.lower()}.example/{cluster}",
        "canonical_url": f"https://{outlet.lower()}.example/{cluster}",
        "source": {"name": outlet, "domain": f"{outlet.lower()}.example"},
        "published": published,
        "story": {"cluster_id": cluster, "is_canonical": canonical, "size": size},
    }


def test_collapse_names_each_story_by_its_canonical_copy(es_settings, es_client, capsys):
    """One row per story, ranked by its best-matching copy, but shown as the story's
    canonical (earliest) copy: its title, outlet and date, with the number of copies."""
    from newsbeam.connectors.es import setup_indices

    setup_indices(es_client, es_settings.index_prefix)
    docs = {
        # story "s1": the canonical copy mentions the quake once; a later copy matches best
        "a1": _story_doc(
            "Coast shaken overnight",
            "A quake struck the coast.",
            "Globe",
            "2024-03-01T06:00:00Z",
            "s1",
            True,
            3,
        ),
        "a2": _story_doc(
            "Quake quake: aftershock fears after quake",
            "The quake, the quake and another quake struck the coast.",
            "Ledger",
            "2024-03-01T09:00:00Z",
            "s1",
            False,
            3,
        ),
        "a3": _story_doc(
            "Coast shaken overnight (update)",
            "A quake struck the coast overnight.",
            "Courier",
            "2024-03-01T08:00:00Z",
            "s1",
            False,
            3,
        ),
        # story "s2": one copy, a weaker match than s1's best copy
        "b1": _story_doc(
            "Markets calm",
            "Traders shrugged off the quake.",
            "Frontier",
            "2024-03-02T06:00:00Z",
            "s2",
            True,
            1,
        ),
    }
    for doc_id, doc in docs.items():
        es_client.index(index=es_settings.articles_alias, id=doc_id, document=doc)
    es_client.indices.refresh(index=es_settings.articles_alias)
    common = ["--es-url", es_settings.url, "--index-prefix", es_settings.index_prefix, "--json"]

    assert main(["search", "quake", *common]) == 0
    assert _lines(capsys)[0]["id"] == "a2"  # the best-matching copy ranks first

    assert main(["search", "quake", "--collapse", *common]) == 0
    stories = _lines(capsys)
    assert [s["cluster_id"] for s in stories] == ["s1", "s2"]  # still ranked by relevance
    top = stories[0]
    assert (top["id"], top["title"], top["source"]) == ("a1", "Coast shaken overnight", "Globe")
    assert top["published"].startswith("2024-03-01T06:00")
    assert top["canonical"] is True
    assert top["copies"] == 3 and top["outlets"] == ["Courier", "Globe", "Ledger"]
    assert "quake" in top["passage"].lower()  # the shown copy's own matched passage
    assert "another" not in top["passage"]

    # a filter that leaves the canonical copy out: the earliest copy that matches names the story
    assert main(["search", "quake", "--collapse", "--outlet", "Ledger", "--outlet", "Courier", *common]) == 0
    stories = _lines(capsys)
    assert [(s["id"], s["canonical"]) for s in stories] == [("a3", False)]
    assert stories[0]["copies"] == 3


def test_entity_filter_ignores_case(es_settings, es_client, capsys):
    """--entity "New York" also finds documents tagged before entity names in capitals were
    title-cased (entities.location "NEW YORK"), and a name typed in any case."""
    from newsbeam.connectors.es import setup_indices

    setup_indices(es_client, es_settings.index_prefix)
    tagged = {"old": ["NEW YORK"], "new": ["New York"], "other": ["New Yorker"]}
    for doc_id, places in tagged.items():
        es_client.index(
            index=es_settings.articles_alias,
            id=doc_id,
            document={
                "title": doc_id,
                "url": f"https://example.org/{doc_id}",
                "entities": {"location": places},
            },
        )
    es_client.indices.refresh(index=es_settings.articles_alias)
    common = ["--es-url", es_settings.url, "--index-prefix", es_settings.index_prefix, "--json"]
    for typed in ("New York", "new york", "NEW YORK"):
        assert main(["search", "--entity", typed, *common]) == 0
        assert sorted(h["id"] for h in _lines(capsys)) == ["new", "old"], typed


def test_outlet_place_and_agency_filters_ignore_case(es_settings, es_client, capsys):
    """--outlet, --place and --agency typed in any case find the stored spelling
    ("The Globe", "Kabul", "AP"); other names stay out (before: only the exact
    spelling matched, and `--place kabul` printed "no articles match")."""
    from newsbeam.connectors.es import setup_indices

    setup_indices(es_client, es_settings.index_prefix)
    docs = {
        "kabul": ("The Globe", "globe.example", ["Kabul"], "AP"),
        "delhi": ("Delhi Times", "times.example", ["New Delhi"], "Reuters"),
    }
    for doc_id, (outlet, domain, places, agency) in docs.items():
        es_client.index(
            index=es_settings.articles_alias,
            id=doc_id,
            document={
                "title": doc_id,
                "url": f"https://{domain}/{doc_id}",
                "source": {"name": outlet, "domain": domain},
                "dateline": {"places": places},
                "agency": agency,
            },
        )
    es_client.indices.refresh(index=es_settings.articles_alias)
    common = ["--es-url", es_settings.url, "--index-prefix", es_settings.index_prefix, "--json"]
    for flag, typed, found in [
        ("--place", "kabul", "kabul"),
        ("--place", "NEW DELHI", "delhi"),
        ("--agency", "ap", "kabul"),
        ("--agency", "REUTERS", "delhi"),
        ("--outlet", "the globe", "kabul"),
        ("--outlet", "TIMES.EXAMPLE", "delhi"),
    ]:
        assert main(["search", flag, typed, *common]) == 0
        assert [h["id"] for h in _lines(capsys)] == [found], (flag, typed)
