"""The sink on unbounded input: its processing-time timer flushes a batch
after the maximum buffering time even when no further document arrives, and
a batch goes in requests no larger than ``max_bytes``."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms import window

from newsbeam.connectors.es import setup_indices
from newsbeam.connectors.es_sink import IndexAction, WriteToElasticsearch, bulk_lines
from tests.faults.proxy import FaultProxy

pytestmark = [pytest.mark.es, pytest.mark.es_client]


def _action(alias, n):
    return IndexAction(alias, f"doc-{n}", {"title": f"t{n}", "url": f"http://x/{n}"}, url=f"http://x/{n}")


def _run(es_settings, advance_processing: float) -> int:
    """Runs the stream through a proxy; returns the number of bulk requests."""
    with FaultProxy(es_settings.url) as proxy:
        _pipeline(es_settings.model_copy(update={"url": proxy.url}), advance_processing)
        return proxy.bulk_requests()


def _pipeline(es_settings, advance_processing: float) -> None:
    alias = es_settings.articles_alias
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([window.TimestampedValue(_action(alias, n), 1) for n in range(3)])
        .advance_processing_time(advance_processing)
        .add_elements([window.TimestampedValue(_action(alias, n), 2) for n in range(3, 5)])
        .advance_watermark_to_infinity()
    )
    options = PipelineOptions([])
    options.view_as(StandardOptions).streaming = True
    p = beam.Pipeline(options=options)
    written = (
        p
        | stream
        | beam.WindowInto(window.FixedWindows(60))
        | WriteToElasticsearch(
            es_settings, max_docs=100, max_buffer_seconds=10, shards=1, streaming_clock=lambda: 0.0
        )
    )
    assert written.written.is_bounded is False
    p.run().wait_until_finish()


def test_timer_flushes_a_quiet_buffer_and_window_end_flushes_the_rest(es_settings, es_client):
    setup_indices(es_client, es_settings.index_prefix)
    # 30 s of processing time pass after the first three: the timer (10 s) sends them alone.
    assert _run(es_settings, advance_processing=30) == 2
    es_client.indices.refresh(index=es_settings.articles_alias)
    assert es_client.count(index=es_settings.articles_alias)["count"] == 5
    # Only 5 s pass: nothing is due before the window ends, which sends all five at once.
    assert _run(es_settings, advance_processing=5) == 1


def test_a_batch_goes_in_requests_of_at_most_max_bytes(es_settings, es_client):
    # Streaming batches were cut by count only: 250 long articles made one request of any
    # size, over a cluster's http.max_content_length (answered 413) or its heap.
    setup_indices(es_client, es_settings.index_prefix)
    alias = es_settings.articles_alias
    actions = [
        IndexAction(alias, f"long-{n}", {"title": f"t{n}", "body": "word " * 2_000, "url": f"http://x/{n}"})
        for n in range(5)
    ]
    size = len(bulk_lines(actions[0]).encode("utf-8"))
    with FaultProxy(es_settings.url) as proxy:
        options = PipelineOptions([])
        options.view_as(StandardOptions).streaming = True
        p = beam.Pipeline(options=options)
        stream = (
            TestStream()
            .advance_watermark_to(0)
            .add_elements([window.TimestampedValue(action, 1) for action in actions])
            .advance_watermark_to_infinity()
        )
        settings = es_settings.model_copy(update={"url": proxy.url})
        _ = (
            p
            | stream
            | beam.WindowInto(window.FixedWindows(60))
            | WriteToElasticsearch(
                settings, max_docs=100, max_bytes=size * 2 + 10, shards=1, streaming_clock=lambda: 0.0
            )
        )
        p.run().wait_until_finish()
        assert proxy.bulk_requests() == 3  # 2 + 2 + 1 documents
    es_client.indices.refresh(index=alias)
    assert es_client.count(index=alias)["count"] == 5
