"""A damaged WARC file in the archive (not a WARC, truncated) costs the pages it held past the
damage, never the other files: ``reextract`` goes on and says which file it was."""

from __future__ import annotations

import io
import logging

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from warcio.warcwriter import WARCWriter

from newsbeam.connectors.archive import ReadArchive, page_records, read_warc
from newsbeam.transforms.model import FeedEntry, FetchedPage


def _page(n: int) -> FetchedPage:
    url = f"https://example.org/{n}.html"
    return FetchedPage(
        entry=FeedEntry(feed_url="https://example.org/feed.xml", feed_name="Example", link=url, url=url),
        final_url=url,
        status=200,
        content=f"<html><body><p>Story {n} ".encode() + b"text " * 200 + b"</p></body></html>",
        content_type="text/html",
        encoding="utf-8",
        fetched_at="2024-05-07T10:00:00Z",
    )


def _warc(pages) -> bytes:
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    for page in pages:
        page_records(writer, page)
    return buffer.getvalue()


def test_a_damaged_stream_gives_the_pages_before_the_damage_and_a_warning(caplog):
    whole = _warc([_page(1), _page(2), _page(3)])
    assert [p.entry.url for p in read_warc(io.BytesIO(whole))] == [_page(n).entry.url for n in (1, 2, 3)]
    first = len(_warc([_page(1)]))
    with caplog.at_level(logging.WARNING):
        pages = read_warc(io.BytesIO(whole[: first + 40]), "newsbeam-cut.warc.gz")
        assert [p.entry.url for p in pages] == [_page(1).entry.url]
        assert read_warc(io.BytesIO(b"garbage"), "newsbeam-bad.warc.gz") == []
    assert "newsbeam-bad.warc.gz is damaged" in caplog.text and "newsbeam-cut.warc.gz" in caplog.text


def test_read_archive_reads_the_good_files_past_a_damaged_one(tmp_path):
    (tmp_path / "newsbeam-1.warc.gz").write_bytes(_warc([_page(1)]))
    (tmp_path / "newsbeam-2.warc.gz").write_bytes(b"garbage")
    (tmp_path / "newsbeam-3.warc.gz").write_bytes(_warc([_page(3)]))
    with TestPipeline() as p:
        urls = p | ReadArchive(str(tmp_path)) | beam.Map(lambda page: page.entry.url)
        assert_that(urls, equal_to([_page(1).entry.url, _page(3).entry.url]))


def test_a_full_archive_disk_loses_the_raw_copies_not_the_pages(tmp_path, monkeypatch, caplog):
    """A full disk (ENOSPC part-way through a WARC file): the bundle raised, so the whole run
    failed ('unexpected error: RuntimeError: OSError ...') and indexed none of the wave's
    articles, and a half-written ``.tmp-`` file stayed in the archive folder.  Now the pages go
    on, the partial file is removed, and the loss is counted and named."""
    import errno

    from apache_beam.io import filesystems
    from apache_beam.metrics.metric import MetricsFilter

    from newsbeam.connectors.archive import ArchivePages

    create = filesystems.FileSystems.create

    def disk_full(path, *args, **kwargs):
        handle = create(path, *args, **kwargs)
        handle.write(b"WARC/1.0\r\n")
        handle.close()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(filesystems.FileSystems, "create", staticmethod(disk_full))
    pages = [_page(n) for n in range(3)]
    with caplog.at_level(logging.ERROR, logger="newsbeam.connectors.archive"):
        pipeline = TestPipeline()
        out = pipeline | beam.Create(pages) | ArchivePages(str(tmp_path / "archive"))
        assert_that(out | beam.Map(lambda page: page.final_url), equal_to([page.final_url for page in pages]))
        result = pipeline.run()
        result.wait_until_finish()
    assert [p.name for p in (tmp_path / "archive").iterdir()] == []  # no half-written file
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(MetricsFilter())["counters"]}
    assert counters.get("pages_not_written") == 3 and not counters.get("pages_written"), counters
    assert any("No space left on device" in r.getMessage() for r in caplog.records), caplog.text
