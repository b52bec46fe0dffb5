"""``newsbeam search`` over the demo site: ranked hits, and one line per story."""

import json

import pytest

from newsbeam.pipeline.cli import main
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import run_batch

pytestmark = pytest.mark.slow


def test_search_and_collapse_per_story(demo_settings, expected, capsys, es_client):
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
    table = capsys.readouterr().out
    assert "copies" in table and "outlets" in table
