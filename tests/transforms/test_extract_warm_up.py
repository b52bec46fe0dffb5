"""The extraction child starts and warms up when the DoFn is set up (on a
thread, while the stage's first pages download), not on the first page."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.config.settings import ExtractSettings
from newsbeam.transforms.extract import ExtractArticles, _ExtractFn
from newsbeam.transforms.model import doc_id_for_url
from tests.transforms.test_extract_articles import BASE, PAGE, page


def test_setup_starts_and_warms_the_child_before_the_first_page():
    fn = _ExtractFn(ExtractSettings())
    fn.setup()
    try:
        fn._warming.join(120)
        assert not fn._warming.is_alive()
        sandbox = fn._sandbox._resource
        assert sandbox._proc is not None and sandbox._proc.is_alive()  # started by setup, before any page
        child = sandbox._proc.pid
        outputs = list(fn.process(page(PAGE)))
        fn.finish_bundle()
        assert [a.id for a in outputs] == [doc_id_for_url(BASE + PAGE)]
        assert sandbox._proc.pid == child  # the page went to the warmed child
    finally:
        fn.teardown()
    assert sandbox._proc is None


def test_the_warm_up_page_never_reaches_the_output():
    with TestPipeline() as p:
        out = p | beam.Create([page(PAGE)]) | ExtractArticles(ExtractSettings())
        assert_that(out.articles | beam.Map(lambda a: a.url), equal_to([BASE + PAGE]), label="articles")
        assert_that(out.failed, equal_to([]), label="failures")
