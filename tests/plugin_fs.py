"""A Beam file system plugin for tests: ``nbtest://<absolute local path>``.

A subclass of Beam's ``FileSystem`` (through its local one) that stores
under the local path after the scheme and records the paths it created,
renamed to and deleted (in the process it runs in).  Defining the class
registers it in a process; ``register_on_dask`` registers it on the
workers of a Dask cluster too.
"""

from __future__ import annotations

import os

from apache_beam.io.filesystem import FileMetadata, MatchResult
from apache_beam.io.localfilesystem import LocalFileSystem

SCHEME = "nbtest"
PREFIX = f"{SCHEME}://"


class TempDirFileSystem(LocalFileSystem):
    """``nbtest://<absolute local path>``: a file system plugin for this test,
    a subclass of Beam's ``FileSystem`` (via its local one) that records the
    paths it created, renamed to and deleted."""

    created: list[str] = []
    deleted: list[str] = []

    @classmethod
    def scheme(cls):
        return SCHEME

    @staticmethod
    def _local(path: str) -> str:
        # Beam's local implementation calls join/split/_list on local paths itself.
        return path[len(PREFIX) :] if path.startswith(PREFIX) else path

    @staticmethod
    def _same(like: str, path: str) -> str:
        return PREFIX + path if like.startswith(PREFIX) else path

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
                PREFIX + result.pattern,
                [
                    FileMetadata(PREFIX + m.path, m.size_in_bytes, m.last_updated_in_seconds)
                    for m in result.metadata_list
                ],
            )  # fmt: skip
            for pattern, result in zip(patterns, results)
        ]

    def create(self, path, *args, **kwargs):
        self.created.append(path)  # list.append is atomic: no lock needed
        return super().create(self._local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)

    def copy(self, source_file_names, destination_file_names):
        return super().copy(
            [self._local(p) for p in source_file_names], [self._local(p) for p in destination_file_names]
        )

    def rename(self, source_file_names, destination_file_names):
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
        self.deleted.extend(paths)
        for path in paths:
            os.remove(self._local(path))


def _keep() -> str:
    """On a worker: keep the class alive (Beam finds file systems among the
    live subclasses of ``FileSystem``); the worker's working directory."""
    import apache_beam.io.filesystems as filesystems

    filesystems.__dict__.setdefault("_newsbeam_test_plugins", []).append(TempDirFileSystem)
    return os.getcwd()


def register_on_dask(address: str) -> list[str]:
    """Register the plugin in every worker process of the cluster at
    ``address`` (the function and the class it names travel by value); the
    workers' working directories."""
    import sys

    import cloudpickle
    from distributed import Client

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        with Client(address) as client:
            return sorted(set(client.run(_keep).values()))
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
