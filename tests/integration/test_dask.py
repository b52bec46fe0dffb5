"""The end-to-end run on a real Dask cluster (Beam's DaskRunner).

A local ``dask scheduler`` and two ``dask worker`` processes (loopback only)
run the pipeline over the demo site; the documents must equal those of the
DirectRunner, field for field where the runner could matter (ids, story,
entities), the run summary (built from the Beam metrics the runner collects
from its workers) must count what is in Elasticsearch and equal the
DirectRunner's, and a second run must add nothing.
"""

from __future__ import annotations

import pytest

from newsbeam.connectors.archive import read_warc
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.report import reconcile, summary_document
from newsbeam.pipeline.run import run_batch
from tests.es_cleanup import drop_prefix

pytest.importorskip("distributed", reason="needs the dask extra: pip install -e '.[dask]'")

pytestmark = [pytest.mark.es, pytest.mark.slow]

_FIELDS = ("story", "entities", "canonical_url", "title", "published", "language")
# Summary sections that do not depend on the runner's bundling or timing.
_SECTIONS = (
    "feeds",
    "entries",
    "pages",
    "articles",
    "stories",
    "documents",
    "failures",
    "dead_letters",
    "per_feed",
)


@pytest.fixture
def dask_cluster(tmp_path):
    """A scheduler and two single-threaded worker processes on 127.0.0.1; its address."""
    from newsbeam.pipeline.dask_runner import local_cluster

    with local_cluster(workers=2, threads=1, work_dir=str(tmp_path)) as address:
        yield address


def _docs(client, alias) -> dict[str, dict]:
    client.indices.refresh(index=alias)
    hits = client.search(index=alias, query={"match_all": {}}, size=1000)["hits"]["hits"]
    return {hit["_id"]: {f: hit["_source"].get(f) for f in _FIELDS} for hit in hits}


def test_dask_cluster_indexes_what_the_direct_runner_does(
    dask_cluster, demo_settings, expected, es_client, tmp_path
):
    es = demo_settings.elasticsearch
    direct_es = es.model_copy(update={"index_prefix": es.index_prefix + "-direct"})
    try:
        direct = run_batch(
            demo_settings.model_copy(update={"elasticsearch": direct_es}),
            beam_options(["--direct_running_mode=in_memory"]),
        )
        want = _docs(es_client, direct_es.articles_alias)
        want_failures = set(_docs(es_client, direct_es.failures_alias))
    finally:
        drop_prefix(es_client, direct_es.index_prefix)
    assert len(want) == len(expected["articles"])

    dask_args = ["--runner", "DaskRunner", "--dask_client_address", dask_cluster]
    # The workers also keep the raw archive, on a file system plugin registered
    # in their processes (tests/plugin_fs.py): what they write goes through Beam's FileSystems.
    from pathlib import Path

    from tests.plugin_fs import PREFIX, SCHEME, register_on_dask

    worker_dirs = register_on_dask(dask_cluster)
    archive = tmp_path / "archive"
    on_dask = demo_settings.model_copy(
        update={
            "archive": demo_settings.archive.model_copy(update={"enabled": True, "dir": f"{PREFIX}{archive}"})
        }
    )
    summary = run_batch(on_dask, beam_options(dask_args))
    got = _docs(es_client, es.articles_alias)
    assert sorted(got) == sorted(want)
    for doc_id, doc in want.items():
        assert got[doc_id] == doc, doc_id
    assert {d["story"]["size"] for d in got.values()} != {1}  # copies were clustered
    failures = set(_docs(es_client, es.failures_alias))
    assert failures == want_failures

    # The summary, from the metrics collected on the workers, counts what was written.
    document = summary_document(summary, demo_settings)
    assert document["documents"]["indexed"] == len(got)
    clusters = {doc["story"]["cluster_id"] for doc in got.values()}
    assert (document["stories"]["new"], document["stories"]["joined"]) == (
        len(clusters),
        len(got) - len(clusters),
    )
    assert (
        document["pages"]["fetched"] + sum(document["pages"]["failed"].values()) == document["entries"]["new"]
    )
    assert document["feeds"]["polled"] == len(demo_settings.feeds)
    assert 0 < document["failures"]["written"] <= len(failures)
    assert document["per_feed"] and reconcile(document) == []
    pages = [page for path in archive.glob("newsbeam-*.warc.gz") for page in read_warc(path.open("rb"))]
    assert len(pages) == document["pages"]["fetched"] == summary.get("news.archive/pages_written") > 0
    assert not any((Path(folder) / f"{SCHEME}:").exists() for folder in worker_dirs)
    direct_document = summary_document(direct, demo_settings)
    for section in _SECTIONS:
        assert document[section] == direct_document[section], section

    # A second run on the cluster recognises everything and adds nothing.
    again = run_batch(demo_settings, beam_options(dask_args))
    assert again.unwritten == 0
    assert _docs(es_client, es.articles_alias) == got
    assert set(_docs(es_client, es.failures_alias)) == want_failures


def test_an_unreachable_scheduler_is_one_message_naming_the_flag(es_settings, tmp_path, capsys, monkeypatch):
    """It was 'unexpected error: OSError: Timed out trying to connect ...' with a -v hint."""
    from newsbeam.connectors.embedded import free_port
    from newsbeam.pipeline.cli import main

    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path / "state"))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - url: http://127.0.0.1:9/feed.xml\n")
    address = f"tcp://127.0.0.1:{free_port()}"
    argv = ["run", "--feeds", str(feeds), "--es-url", es_settings.url, "--quiet",
            "--index-prefix", es_settings.index_prefix, "--runner", "DaskRunner",
            "--dask_client_address", address, "--dask_connection_timeout", "1"]  # fmt: skip
    assert main(argv) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"cannot reach the Dask scheduler at {address} (--dask_client_address)" in err
    assert "unexpected" not in err and "Traceback" not in err
