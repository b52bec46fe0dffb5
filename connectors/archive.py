"""The raw archive: fetched pages kept as WARC, for re-extraction later.

``ArchivePages`` (optional, ``archive.enabled``) writes every fetched page
as a WARC ``response`` record (the HTTP status, headers and body as
received, gzip-compressed per record by ``warcio``) followed by a
``metadata`` record holding the feed entry (JSON), so a page can be turned
back into the ``FetchedPage`` it was.  Each bundle writes one new file
``<archive.dir>/newsbeam-<time>-<uuid>.warc.gz`` through Beam's
``FileSystems``, so the directory may be local or on a distributed file
system (``gs://``, ``s3://``).  Files are written whole and renamed into
place at the end of the bundle: a reader never sees half a file, and a
retried bundle leaves at most a duplicate record, which ``read_archive``
resolves (the newest fetch of a URL wins).

``ReadArchive`` reads every ``newsbeam-*.warc.gz`` of a directory (the
files ``ArchivePages`` wrote; not the ``.tmp-`` ones being written) back
into ``FetchedPage`` values, one per URL.  A damaged file (not a WARC,
truncated) gives the pages read before the damage and a warning naming it;
the other files are read all the same.  ``newsbeam reextract`` runs
extraction and the stages after it over them, overwriting documents by id.

A file that cannot be written (a full disk, a folder made read-only) does
not stop the run: its pages go on to extraction and indexing as usual, the
partial ``.tmp-`` file is removed, one error names the folder and the cause,
and the pages count in ``pages_not_written`` (the run prints a warning), so
a full archive disk at night costs the raw copies of those pages, not the
articles.

Counters in ``news.archive``: ``pages_written``, ``pages_not_written``,
``pages_read``, ``files_damaged``.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import logging
import time
import uuid

import apache_beam as beam

from newsbeam.transforms.model import FeedEntry, FetchedPage

__all__ = ["ArchivePages", "ReadArchive", "page_records", "read_warc"]

_NS = "news.archive"
_LOG = logging.getLogger(__name__)
_ENTRY_TYPE = "application/vnd.newsbeam.entry+json"


def _status_line(status: int) -> str:
    from http import HTTPStatus

    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"{status} {phrase}".strip()


def page_records(writer, page: FetchedPage) -> None:
    """Write one page as a WARC response record plus its metadata record."""
    from warcio.statusandheaders import StatusAndHeaders

    headers = [("Content-Type", page.content_type or "application/octet-stream")]
    if page.encoding:
        headers = [("Content-Type", f"{page.content_type or 'text/html'}; charset={page.encoding}")]
    http_headers = StatusAndHeaders(_status_line(page.status), headers, protocol="HTTP/1.1")
    warc_headers = {"WARC-Date": page.fetched_at}
    response = writer.create_warc_record(
        page.final_url,
        "response",
        payload=io.BytesIO(page.content),
        http_headers=http_headers,
        warc_headers_dict=warc_headers,
    )
    writer.write_record(response)
    entry = json.dumps(dataclasses.asdict(page.entry), ensure_ascii=False).encode("utf-8")
    metadata = writer.create_warc_record(
        page.final_url,
        "metadata",
        payload=io.BytesIO(entry),
        warc_content_type=_ENTRY_TYPE,
        warc_headers_dict={
            "WARC-Date": page.fetched_at,
            "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
        },
    )
    writer.write_record(metadata)


def read_warc(stream, name: str = "archive") -> list[FetchedPage]:
    """The pages of one WARC stream (a response record with its metadata); the pages before
    the damage when the stream is damaged (``name`` is logged)."""
    data = stream.read()
    pages: list[FetchedPage] = []
    try:
        _read_records(io.BytesIO(data), pages)
        if data[:2] == b"\x1f\x8b":  # warcio stops quietly at a truncated gzip member
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as whole:  # read through, kept nowhere
                while whole.read(1 << 20):
                    pass
    except Exception as exc:  # warcio's ArchiveLoadFailed, zlib, EOF, a bad record: any damage
        beam.metrics.Metrics.counter(_NS, "files_damaged").inc()
        _LOG.warning("archive %s is damaged (%s: %s); %d pages read before it", name, type(exc).__name__,
                     str(exc).splitlines()[0][:200] if str(exc) else "", len(pages))  # fmt: skip
    return pages


def _read_records(stream, pages: list[FetchedPage]) -> None:
    from warcio.archiveiterator import ArchiveIterator

    pending: dict[str, tuple] = {}
    for record in ArchiveIterator(stream):
        record_id = record.rec_headers.get_header("WARC-Record-ID")
        if record.rec_type == "response":
            status = int(record.http_headers.get_statuscode() or 0)
            ctype = record.http_headers.get_header("Content-Type") or ""
            media, _, params = ctype.partition(";")
            charset = None
            for part in params.split(";"):
                key, _, value = part.partition("=")
                if key.strip().lower() == "charset":
                    charset = value.strip() or None
            pending[record_id] = (
                record.rec_headers.get_header("WARC-Target-URI"),
                status,
                record.content_stream().read(),
                media.strip() or None,
                charset,
                record.rec_headers.get_header("WARC-Date"),
            )
        elif record.rec_type == "metadata" and record.rec_headers.get_header("Content-Type") == _ENTRY_TYPE:
            parent = record.rec_headers.get_header("WARC-Concurrent-To")
            if parent not in pending:
                continue
            url, status, content, media, charset, fetched_at = pending.pop(parent)
            fields = json.loads(record.content_stream().read().decode("utf-8"))
            fields["authors"] = tuple(fields.get("authors") or ())  # a JSON list; FeedEntry is hashable
            entry = FeedEntry(**fields)
            pages.append(
                FetchedPage(entry=entry, final_url=url, status=status, content=content,
                            content_type=media, encoding=charset, fetched_at=fetched_at)
            )  # fmt: skip


class _WriteWarcFn(beam.DoFn):
    def __init__(self, directory: str):
        self._directory = directory.rstrip("/")
        self._written = beam.metrics.Metrics.counter(_NS, "pages_written")
        self._not_written = beam.metrics.Metrics.counter(_NS, "pages_not_written")

    def start_bundle(self):
        self._pages: list[FetchedPage] = []

    def process(self, page: FetchedPage):
        self._pages.append(page)
        yield page

    def finish_bundle(self):
        if not self._pages:
            return
        from apache_beam.io.filesystems import FileSystems
        from warcio.warcwriter import WARCWriter

        buffer = io.BytesIO()
        writer = WARCWriter(buffer, gzip=True)
        for page in self._pages:
            page_records(writer, page)
        name = f"newsbeam-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{uuid.uuid4().hex}.warc.gz"
        final = FileSystems.join(self._directory, name)
        temporary = FileSystems.join(self._directory, f".tmp-{name}")
        try:
            FileSystems.mkdirs(self._directory) if not FileSystems.exists(self._directory) else None
            with FileSystems.create(temporary, compression_type="uncompressed") as handle:
                handle.write(buffer.getvalue())
            FileSystems.rename([temporary], [final])
        except OSError as exc:  # Beam's BeamIOError too: the pages were passed on already
            try:
                FileSystems.delete([temporary])
            except Exception:
                pass
            _LOG.error(
                "could not archive %d pages in %s (%s); they are indexed all the same",
                len(self._pages),
                self._directory,
                getattr(exc, "strerror", None) or type(exc).__name__,
            )
            self._not_written.inc(len(self._pages))
        else:
            self._written.inc(len(self._pages))
        self._pages = []


class ArchivePages(beam.PTransform):
    """FetchedPage → the same FetchedPage, after archiving it as WARC."""

    def __init__(self, directory: str):
        super().__init__()
        if not directory:
            raise ValueError("ArchivePages: directory (archive.dir) must be set")
        self._directory = directory

    def expand(self, pages):
        return pages | "WriteWarc" >> beam.ParDo(_WriteWarcFn(self._directory))


def _read_file(readable_file):
    with readable_file.open(compression_type="uncompressed") as handle:
        data = handle.read()
    pages = read_warc(io.BytesIO(data), readable_file.metadata.path)
    beam.metrics.Metrics.counter(_NS, "pages_read").inc(len(pages))
    return pages


def _newest(_url, pages):
    return max(pages, key=lambda page: (page.fetched_at or "", page.final_url))


class ReadArchive(beam.PTransform):
    """A directory of WARC files → one ``FetchedPage`` per entry URL (newest fetch)."""

    def __init__(self, directory: str):
        super().__init__()
        if not directory:
            raise ValueError("ReadArchive: directory (archive.dir) must be set")
        self._pattern = directory.rstrip("/") + "/newsbeam-*.warc.gz"

    def expand(self, pipeline_or_pbegin):
        from apache_beam.io import fileio

        return (
            pipeline_or_pbegin
            | "Match"
            >> fileio.MatchFiles(self._pattern, empty_match_treatment=fileio.EmptyMatchTreatment.ALLOW)
            | "Open" >> fileio.ReadMatches()
            | "Records" >> beam.FlatMap(_read_file)
            | "KeyByUrl" >> beam.Map(lambda page: (page.entry.url, page))
            | "GroupByUrl" >> beam.GroupByKey()
            | "Newest" >> beam.MapTuple(_newest)
        )
