"""``newsbeam run`` when Elasticsearch fails in the middle of the run: an
error naming the cluster's URL and what failed, the summary (and
``--summary-json``) of what was done, a dead-letter note only when there are
dead letters, exit 1, no traceback; the next run, against a healthy
cluster, ends with exactly the demo articles.

The cluster is the session's embedded server behind tests/faults/proxy.py:
``Outage`` answers 503 to the bulk writes; pointing the proxy at a closed
port makes the cluster unreachable (every connection reset) from a chosen
request on.  Both runner modes are covered: in this process, and the
shipped default's worker processes (whose failures Beam hands back as a
``RuntimeError`` carrying the worker's traceback text).
"""

from __future__ import annotations

import json

import pytest
import yaml

from newsbeam.connectors.embedded import free_port
from newsbeam.connectors.es_sink import read_dead_letters
from newsbeam.transforms.model import doc_id_for_url
from tests.faults.proxy import FaultProxy, Hook, Outage

pytestmark = [pytest.mark.es, pytest.mark.slow]

RUNNER_MODES = ["in_memory", pytest.param("default", marks=pytest.mark.default_runner)]


@pytest.fixture
def proxy(es_url):
    with FaultProxy(es_url) as running:
        yield running


@pytest.fixture
def setup(tmp_path, demo_site, index_prefix, monkeypatch):
    from newsbeam.pipeline.demo import demo_feeds

    for var in ("ES_URL", "ES_API_KEY", "ES_USERNAME", "ES_PASSWORD", "ES_CLOUD_ID"):
        monkeypatch.delenv(var, raising=False)
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(yaml.safe_dump({"feeds": demo_feeds(demo_site)}))
    dead = tmp_path / "dead"

    def argv(proxy_url: str, wave_size: int = 500, mode: str = "default") -> list[str]:
        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "elasticsearch": {
                        "index_prefix": index_prefix,
                        "max_retries": 1,
                        "dead_letter_dir": str(dead),
                    },
                    "fetch": {"retries": 0, "timeout": 10, "host_delay": 0},
                    "run": {"wave_size": wave_size},
                    "ner": {"enabled": False},
                }
            )
        )
        args = ["run", "--config", str(config), "--feeds", str(feeds), "--es-url", proxy_url]
        args += ["--allow-private-hosts", "--summary-json", str(tmp_path / "summary.json")]
        if mode == "in_memory":
            args.append("--direct_running_mode=in_memory")
        return args

    return argv, dead / index_prefix, tmp_path / "summary.json"


def _run_statuses(es_url, prefix) -> list[str]:
    """The statuses of the runs kept in <prefix>-runs, oldest first."""
    from newsbeam.config.settings import ElasticsearchSettings
    from newsbeam.connectors.es import connect

    client = connect(ElasticsearchSettings(url=es_url))
    try:
        hits = client.search(index=f"{prefix}-runs", sort=[{"@timestamp": "asc"}], size=100)["hits"]["hits"]
        return [hit["_source"]["status"] for hit in hits]
    finally:
        client.close()


def _articles(es_url, prefix) -> list[str]:
    from newsbeam.config.settings import ElasticsearchSettings
    from newsbeam.connectors.es import connect

    client = connect(ElasticsearchSettings(url=es_url))
    try:
        client.indices.refresh(index=f"{prefix}-articles")
        hits = client.search(index=f"{prefix}-articles", query={"match_all": {}}, size=1000)["hits"]["hits"]
        return sorted(hit["_id"] for hit in hits)
    finally:
        client.close()


def _want(demo_site, expected) -> list[str]:
    return sorted(doc_id_for_url(demo_site.base_url + a["canonical_path"]) for a in expected["articles"])


@pytest.mark.parametrize("mode", RUNNER_MODES)
def test_bulk_503_mid_run(mode, setup, proxy, es_url, index_prefix, demo_site, expected, capfd):
    """Every bulk write answered 503: the articles go to the dead letters, the
    feed health cannot be recorded; the run reports both and exits 1."""
    from newsbeam.pipeline.cli import main

    argv, dead, summary_json = setup
    outage = Outage(503, seconds=600, path="_bulk")
    proxy.add(outage)
    assert main(argv(proxy.url, mode=mode)) == 1
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, err
    assert f"Elasticsearch at {proxy.url} answered 503 to a bulk write" in err, err
    kept = [a.id for _path, actions in read_dead_letters(str(dead)) for a in actions]
    want = _want(demo_site, expected)
    assert sorted(a for a in kept if a in want) == want  # every article kept for the next run
    assert f"kept in {dead}" in err
    document = json.loads(summary_json.read_text())
    assert document["status"] == "failed"
    assert document["documents"]["indexed"] == 0
    assert document["dead_letters"] == len(kept)
    assert document["entries"]["new"] >= len(want)
    assert "articles indexed" in out  # the summary table
    # the cluster took everything but bulk writes: the failed run is listed by newsbeam status
    assert _run_statuses(es_url, index_prefix) == ["failed"]

    outage.until = 0  # the cluster answers again: the next run replays the dead letters
    assert main(argv(proxy.url, mode="in_memory")) == 0
    capfd.readouterr()
    assert _articles(es_url, index_prefix) == want
    assert read_dead_letters(str(dead)) == []
    assert _run_statuses(es_url, index_prefix) == ["failed", "ok"]


@pytest.mark.parametrize("mode", RUNNER_MODES)
def test_unreachable_between_waves(mode, setup, proxy, es_url, index_prefix, demo_site, expected, capfd):
    """The cluster goes away after the first wave (at its refresh): the second
    wave's known-URL lookups cannot be answered.  Nothing is fetched unlooked
    up, the first wave's figures are reported, and there are no dead letters
    to announce."""
    from newsbeam.pipeline.cli import main

    argv, dead, summary_json = setup
    upstream = proxy.upstream_port

    def go_away():
        proxy.upstream_port = free_port()  # nothing listens there: connections are reset

    proxy.add(Hook(go_away, times=1, path="_refresh"))
    assert main(argv(proxy.url, wave_size=5, mode=mode)) == 1
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, err
    assert f"Elasticsearch at {proxy.url}" in err and "cannot be reached" in err, err
    assert read_dead_letters(str(dead)) == []
    assert str(dead) not in err  # nothing was kept there: the message does not say so
    document = json.loads(summary_json.read_text())
    assert document["status"] == "failed"
    assert document["documents"]["indexed"] == 5  # the first wave's
    assert "articles indexed" in out

    proxy.upstream_port = upstream
    assert main(argv(proxy.url, wave_size=5, mode="in_memory")) == 0
    capfd.readouterr()
    assert _articles(es_url, index_prefix) == _want(demo_site, expected)


@pytest.mark.parametrize("mode", RUNNER_MODES)
def test_lookup_unreachable_in_first_wave(mode, setup, proxy, es_url, index_prefix, capfd):
    """The cluster goes away at the first known-URL lookup: nothing is fetched,
    nothing recorded, exit 1 naming the URL."""
    from newsbeam.pipeline.cli import main

    argv, dead, summary_json = setup

    def go_away():
        proxy.upstream_port = free_port()

    proxy.add(Hook(go_away, times=1, path="_search", body=b'"urls"'))
    assert main(argv(proxy.url, mode=mode)) == 1
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, err
    assert f"Elasticsearch at {proxy.url}" in err and "cannot be reached" in err, err
    assert str(dead) not in err
    document = json.loads(summary_json.read_text())
    assert (document["status"], document["pages"]["fetched"], document["documents"]["indexed"]) == (
        "failed",
        0,
        0,
    )


@pytest.mark.default_runner
def test_unreachable_at_a_stage_that_raises(setup, proxy, capfd):
    """A stage that still raises when Elasticsearch cannot answer (the story
    lookups of ClusterStories): the wave fails in a worker process; the run
    names the URL, writes the summary and prints no worker traceback."""
    from newsbeam.pipeline.cli import main

    argv, dead, summary_json = setup

    def go_away():
        proxy.upstream_port = free_port()

    proxy.add(Hook(go_away, times=1, path="_search", body=b'"story_bands"'))
    assert main(argv(proxy.url)) == 1
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, err
    assert f"Elasticsearch at {proxy.url} cannot be reached" in err, err
    kept = sum(len(actions) for _path, actions in read_dead_letters(str(dead)))
    assert (str(dead) in err) == bool(kept)
    document = json.loads(summary_json.read_text())
    assert (document["status"], document["documents"]["indexed"]) == ("failed", 0)
