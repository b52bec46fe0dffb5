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
import os
import threading

import pytest
from apache_beam.io.filesystem import FileMetadata, MatchResult
from apache_beam.io.localfilesystem import LocalFileSystem

from newsbeam.connectors.archive import read_warc
from newsbeam.connectors.es import connect
from newsbeam.connectors.es_sink import read_dead_letters
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import RunFailed, dead_letter_dir, replay_dead_letters, run_batch
from tests.faults.proxy import FaultProxy, WholeRequest

pytestmark = [pytest.mark.es]

_SCHEME = "nbtest"
_PREFIX = f"{_SCHEME}://"


class _TempDirFileSystem(LocalFileSystem):
    """``nbtest://<absolute local path>``: a file system plugin for this test,
    a subclass of Beam's ``FileSystem`` (via its local one) that records the
    paths it created, renamed to and deleted."""

    created: list[str] = []
    deleted: list[str] = []
    _lock = threading.Lock()

    @classmethod
    def scheme(cls):
        return _SCHEME

    @staticmethod
    def _local(path: str) -> str:
        # Beam's local implementation calls join/split/_list on local paths itself.
        return path[len(_PREFIX) :] if path.startswith(_PREFIX) else path

    @staticmethod
    def _same(like: str, path: str) -> str:
        return _PREFIX + path if like.startswith(_PREFIX) else path

    def join(self, basepath, *paths):
        return self._same(basepath, super().join(self._local(basepath), *paths))

    def split(self, path):
        head, tail = super().split(self._local(path))
        return self._same(path, head), tail

    def mkdirs(self, path):
        os.makedirs(self._local(path), exist_ok=True)

    def has_dirs(self):
        return True

    def match(self, patterns, limits=None):
        results = super().match([self._local(p) for p in patterns], limits)
        return [
            MatchResult(
                _PREFIX + result.pattern,
                [
                    FileMetadata(_PREFIX + m.path, m.size_in_bytes, m.last_updated_in_seconds)
                    for m in result.metadata_list
                ],
            )  # fmt: skip
            for pattern, result in zip(patterns, results)
        ]

    def create(self, path, *args, **kwargs):
        with self._lock:
            self.created.append(path)
        return super().create(self._local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)

    def copy(self, source_file_names, destination_file_names):
        return super().copy(
            [self._local(p) for p in source_file_names], [self._local(p) for p in destination_file_names]
        )

    def rename(self, source_file_names, destination_file_names):
        with self._lock:
            self.created.extend(destination_file_names)
        return super().rename(
            [self._local(p) for p in source_file_names], [self._local(p) for p in destination_file_names]
        )

    def exists(self, path):
        return super().exists(self._local(path))

    def size(self, path):
        return super().size(self._local(path))

    def last_updated(self, path):
        return super().last_updated(self._local(path))

    def checksum(self, path):
        return super().checksum(self._local(path))

    def delete(self, paths):
        with self._lock:
            self.deleted.extend(paths)
        for path in paths:
            os.remove(self._local(path))


@dataclasses.dataclass
class _Refuse(WholeRequest):
    body: bytes = b""  # only bulk requests whose body holds this (the articles alias)


@pytest.fixture
def plugin_fs(tmp_path, monkeypatch):
    """The ``nbtest`` file system's root (a temp folder); the test runs in
    another temp folder so a stray relative ``nbtest:`` folder is seen."""
    _TempDirFileSystem.created.clear()
    _TempDirFileSystem.deleted.clear()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    root = tmp_path / "plugin-fs"
    root.mkdir()
    yield root
    assert not (cwd / f"{_SCHEME}:").exists(), "a file was written around FileSystems"


def test_archive_and_dead_letters_go_through_beams_filesystems(plugin_fs, demo_settings, es_url):
    archive = f"{_PREFIX}{plugin_fs}/archive"
    dead = f"{_PREFIX}{plugin_fs}/dead-letter"
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
    assert {f"{archive}/{path.name}" for path in warcs} <= set(_TempDirFileSystem.created)

    # The dead letters: on the plugin's file system, read back through it.
    letters = read_dead_letters(folder)
    assert letters and all(path.startswith(f"{folder}/unwritten-") for path, _ in letters)
    assert sum(len(actions) for _path, actions in letters) == summary.unwritten
    assert {path for path, _ in letters} <= set(_TempDirFileSystem.created)
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
    assert {path for path, _ in letters} <= set(_TempDirFileSystem.deleted)
