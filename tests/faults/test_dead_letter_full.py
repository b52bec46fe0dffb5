"""Elasticsearch refuses the bulk writes and the dead-letter folder cannot take them either
(a full disk; simulated by making ``FileSystems.create`` fail with ENOSPC after writing a few
bytes).  The run ended with "unexpected error: RuntimeError: OSError: [Errno 28] No space left
on device [while running 'IndexArticles/Bulk/ParDo(_BulkIndexFn)']", no summary figures, and a
half-written ``.tmp`` file in the dead-letter folder.  Now the sink treats it as data: one
message saying what was not kept and that the next run fetches it again, the summary, no
file left behind, and the next run indexes every article."""

from __future__ import annotations

import errno
import json

import pytest

from tests.faults.proxy import Outage
from tests.faults.test_es_fail_mid_run import _articles, _want, proxy, setup  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.es]


def test_a_full_dead_letter_folder_is_reported_and_the_next_run_fetches_again(
    setup,  # noqa: F811
    proxy,  # noqa: F811
    es_url,
    index_prefix,
    demo_site,
    expected,
    capfd,
    monkeypatch,
):
    from apache_beam.io import filesystems

    from newsbeam.pipeline.cli import main

    argv, dead, summary_json = setup
    outage = Outage(503, seconds=600, path="_bulk")
    proxy.add(outage)
    create = filesystems.FileSystems.create

    def disk_full(path, *args, **kwargs):
        if "unwritten-" not in path:
            return create(path, *args, **kwargs)
        handle = create(path, *args, **kwargs)
        handle.write(b'{"op": "upsert", "id": "')  # the disk fills up part-way
        handle.close()
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(filesystems.FileSystems, "create", staticmethod(disk_full))
        assert main(argv(proxy.url, mode="in_memory")) == 1
    out, err = capfd.readouterr()
    assert "unexpected error" not in err and "Traceback" not in err, err
    assert f"could not be kept in {dead} either" in err, err
    assert "fetches them again" in err, err
    assert f"kept in {dead} and will be sent" not in err, err  # nothing was kept: no such claim
    assert [p.name for p in dead.rglob("*")] == []  # no half-written file
    document = json.loads(summary_json.read_text())
    assert document["status"] == "failed" and "articles indexed" in out
    want = _want(demo_site, expected)
    assert document["dead_letters"] == 0 and document["dead_letters_lost"] >= len(want), document

    outage.until = 0  # the cluster and the disk are fine again: the next run fetches and indexes all
    assert main(argv(proxy.url, mode="in_memory")) == 0
    capfd.readouterr()
    assert _articles(es_url, index_prefix) == want
