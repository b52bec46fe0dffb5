"""Paths that travel: every file a run writes (the raw archive, the dead
letters) goes through Beam's ``FileSystems``, so a URL of any file system
Beam knows (``gs://``, ``s3://``, ``hdfs://``, a plugin's) works.

The test registers a file system of its own, scheme ``nbtest``, backed by a
temporary folder, and runs the pipeline over the demo site with the archive
and the dead-letter folder on it, while Elasticsearch refuses every bulk
write (a proxy answers 503).  Files that bypassed ``FileSystems`` would not
be found there (``open("nbtest://...")`` makes a relative folder
``nbtest:``).  The next run, with Elasticsearch back, replays the dead
letters from that file system and deletes them through it.
"""

from __future__ import annotations

import dataclasses

import pytest

from newsbeam.connectors.archive import read_warc
from newsbeam.connectors.es import connect
from newsbeam.connectors.es_sink import read_dead_letters
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import RunFailed, dead_letter_dir, replay_dead_letters, run_batch
from tests.faults.proxy import FaultProxy, WholeRequest
from tests.plugin_fs import PREFIX, SCHEME, TempDirFileSystem

pytestmark = [pytest.mark.es]


@dataclasses.dataclass
class _Refuse(WholeRequest):
    body: bytes = b""  # only bulk requests whose body holds this (the articles alias)


@pytest.fixture
def plugin_fs(tmp_path, monkeypatch):
    """The ``nbtest`` file system's root (a temp folder); the test runs in
    another temp folder so a stray relative ``nbtest:`` folder is seen."""
    TempDirFileSystem.created.clear()
    TempDirFileSystem.deleted.clear()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    root = tmp_path / "plugin-fs"
    root.mkdir()
    yield root
    assert not (cwd / f"{SCHEME}:").exists(), "a file was written around FileSystems"


def test_archive_and_dead_letters_go_through_beams_filesystems(plugin_fs, demo_settings, es_url):
    archive = f"{PREFIX}{plugin_fs}/archive"
    dead = f"{PREFIX}{plugin_fs}/dead-letter"
    es = demo_settings.elasticsearch
    with FaultProxy(es_url) as proxy:
        settings = demo_settings.model_copy(
            update={
                "archive": demo_settings.archive.model_copy(update={"enabled": True, "dir": archive}),
                "elasticsearch": es.model_copy(
                    update={"dead_letter_dir": dead, "url": proxy.url, "max_retries": 0}
                ),
            }
        )
        folder = dead_letter_dir(settings)
        assert folder == f"{dead}/{es.index_prefix}"
        proxy.add(_Refuse(503, times=10_000, body=es.articles_alias.encode()))
        with pytest.raises(RunFailed) as failed:
            run_batch(settings, beam_options(["--direct_running_mode=in_memory"]))
    summary = failed.value.summary
    assert summary is not None and summary.unwritten > 0

    # The archive: WARC files on the plugin's file system, one page per fetched page.
    warcs = sorted((plugin_fs / "archive").glob("newsbeam-*.warc.gz"))
    assert warcs
    pages = [page for path in warcs for page in read_warc(path.open("rb"))]
    assert len(pages) == summary.get("news.fetch/fetched") == summary.get("news.archive/pages_written") > 0
    assert {f"{archive}/{path.name}" for path in warcs} <= set(TempDirFileSystem.created)

    # The dead letters: on the plugin's file system, read back through it.
    letters = read_dead_letters(folder)
    assert letters and all(path.startswith(f"{folder}/unwritten-") for path, _ in letters)
    assert sum(len(actions) for _path, actions in letters) == summary.unwritten
    assert {path for path, _ in letters} <= set(TempDirFileSystem.created)
    local = sorted((plugin_fs / "dead-letter" / es.index_prefix).glob("unwritten-*.jsonl"))
    assert len(local) == len(letters)

    # Elasticsearch back: what the next run replays first is read from there and deleted through it.
    settings = settings.model_copy(
        update={"elasticsearch": settings.elasticsearch.model_copy(update={"url": es_url})}
    )
    client = connect(settings.elasticsearch)
    try:
        assert replay_dead_letters(client, settings) == summary.unwritten
    finally:
        client.close()
    assert read_dead_letters(folder) == []
    assert {path for path, _ in letters} <= set(TempDirFileSystem.deleted)
