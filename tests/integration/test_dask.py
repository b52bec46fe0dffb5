"""The end-to-end run on a real Dask cluster (Beam's DaskRunner).

A local ``dask scheduler`` and two ``dask worker`` processes (loopback only)
run the pipeline over the demo site; the documents must equal those of the
DirectRunner, field for field where the runner could matter (ids, story,
entities), and a second run must add nothing.
"""

from __future__ import annotations

import pytest

from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import run_batch
from tests.es_cleanup import drop_prefix

pytest.importorskip("distributed", reason="needs the dask extra: pip install -e '.[dask]'")

pytestmark = [pytest.mark.es, pytest.mark.slow]

_FIELDS = ("story", "entities", "canonical_url", "title", "published", "language")


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


def test_dask_cluster_indexes_what_the_direct_runner_does(dask_cluster, demo_settings, expected, es_client):
    es = demo_settings.elasticsearch
    direct_es = es.model_copy(update={"index_prefix": es.index_prefix + "-direct"})
    try:
        run_batch(demo_settings.model_copy(update={"elasticsearch": direct_es}), beam_options([]))
        want = _docs(es_client, direct_es.articles_alias)
        want_failures = set(_docs(es_client, direct_es.failures_alias))
    finally:
        drop_prefix(es_client, direct_es.index_prefix)
    assert len(want) == len(expected["articles"])

    dask_args = ["--runner", "DaskRunner", "--dask_client_address", dask_cluster]
    run_batch(demo_settings, beam_options(dask_args))
    got = _docs(es_client, es.articles_alias)
    assert sorted(got) == sorted(want)
    for doc_id, doc in want.items():
        assert got[doc_id] == doc, doc_id
    assert {d["story"]["size"] for d in got.values()} != {1}  # copies were clustered
    assert set(_docs(es_client, es.failures_alias)) == want_failures

    # A second run on the cluster recognises everything and adds nothing.
    again = run_batch(demo_settings, beam_options(dask_args))
    assert again.unwritten == 0
    assert _docs(es_client, es.articles_alias) == got
    assert set(_docs(es_client, es.failures_alias)) == want_failures
