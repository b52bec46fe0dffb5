"""The raw archive: a run with archive.enabled keeps every page as WARC, and
``reextract`` rebuilds the same documents from it without fetching."""

from __future__ import annotations

import pytest

from newsbeam.connectors.archive import read_warc
from newsbeam.pipeline.build import build_reextract_pipeline
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import run_batch

pytestmark = pytest.mark.slow


def _docs(client, alias):
    client.indices.refresh(index=alias)
    hits = client.search(index=alias, query={"match_all": {}}, size=1000)["hits"]["hits"]
    return {h["_id"]: h["_source"] for h in hits}


def test_reextract_rebuilds_documents_from_the_archive(
    demo_settings, demo_site, expected, es_client, tmp_path
):
    archive = tmp_path / "archive"
    settings = demo_settings.model_copy(
        update={"archive": demo_settings.archive.model_copy(update={"enabled": True, "dir": str(archive)})}
    )
    summary = run_batch(settings, beam_options([]))
    files = sorted(archive.glob("newsbeam-*.warc.gz"))
    assert files
    pages = [page for path in files for page in read_warc(path.open("rb"))]
    assert len(pages) == len(expected["articles"]) == summary.get("news.archive/pages_written")
    assert {p.status for p in pages} == {200}
    assert all(p.content.startswith(b"<!DOCTYPE html") or b"<html" in p.content[:500] for p in pages)

    alias = settings.elasticsearch.articles_alias
    before = _docs(es_client, alias)
    # Damage the indexed documents, then rebuild them from the archive alone.
    for doc_id in before:
        es_client.update(index=alias, id=doc_id, doc={"body": "stale", "title": "stale"})
    requests_before = len(demo_site.requests)
    again = run_batch(settings, beam_options([]), builder=build_reextract_pipeline)
    assert len(demo_site.requests) == requests_before  # nothing fetched
    assert again.get("news.archive/pages_read") == len(pages)
    after = _docs(es_client, alias)
    assert after.keys() == before.keys()
    for doc_id, doc in after.items():
        for field in ("title", "body", "published", "urls", "story", "entities", "canonical_url"):
            assert doc[field] == before[doc_id][field], (doc_id, field)
