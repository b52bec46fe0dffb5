"""WarmUpEntities: the NER model starts loading in a worker process when a
bundle of an earlier stage ends, and TagEntities then takes that model
instead of loading its own."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.transforms import entities
from newsbeam.transforms.entities import TagEntities, WarmUpEntities, resolve_model_name
from newsbeam.transforms.model import Article


@pytest.fixture
def counted_loads(monkeypatch, record_calls):
    """Counts spaCy pipeline loads in this process (tests run in memory)."""
    monkeypatch.setattr(entities, "_PRELOADS", {})
    return record_calls(entities, "_load_pipeline", lambda model: model)


def test_warm_up_loads_the_model_after_its_bundle_and_outputs_nothing(counted_loads):
    model = resolve_model_name(None)
    with TestPipeline() as p:
        out = p | beam.Create(["feed status 1", "feed status 2"]) | WarmUpEntities()
        assert_that(out, equal_to([]))
    loading = entities._PRELOADS[model]
    assert loading.result(timeout=120).nlp.pipe_names == ["ner"]
    assert counted_loads == [model]


def test_nothing_loads_before_the_bundle_ends(counted_loads):
    from newsbeam.transforms.entities import _WarmUpFn

    fn = _WarmUpFn(None)
    fn.setup()
    assert list(fn.process("a feed status")) == []
    assert counted_loads == [] and entities._PRELOADS == {}  # polling is not slowed by the load
    fn.finish_bundle()
    entities._PRELOADS[resolve_model_name(None)].result(timeout=120)
    assert counted_loads == [resolve_model_name(None)]


def test_tag_entities_takes_the_preloaded_model(counted_loads):
    model = resolve_model_name(None)
    with TestPipeline() as p:
        _ = p | "Statuses" >> beam.Create(["s"]) | WarmUpEntities()
    preloaded = entities._PRELOADS[model].result(timeout=120)
    body = "Kofi Annan visited Ghana and met officials of the United Nations in Accra."
    url = "https://news.example/a"
    article = Article(id="a", url=url, canonical_url=url, urls=(url,), title=None, body=body, language="en")
    with TestPipeline() as p:
        tagged = p | "Articles" >> beam.Create([article]) | TagEntities()
        assert_that(tagged | beam.Map(lambda a: "Kofi Annan" in a.entities["person"]), equal_to([True]))
    assert counted_loads == [model]  # one load: the warm-up's, taken by the tagger
    assert model not in entities._PRELOADS  # handed over to Shared, not kept twice
    assert entities._take_or_load_pipeline(model) is not preloaded  # a later taker loads anew


def test_warm_up_refuses_a_bad_model_name():
    with pytest.raises(ValueError, match="ner.model"):
        WarmUpEntities(model=" ")
