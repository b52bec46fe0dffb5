"""Every keyword field of the shipped index templates either bounds what it indexes
(``ignore_above``) or holds a value newsbeam computes itself, of bounded length.

Elasticsearch refuses a whole document when one keyword value is over 32,766 bytes ("immense
term"): a 40 KB site name, byline or dateline taken from a page would lose the article (the
embedded server does not enforce the limit, so only a real cluster showed it).  Values from the
network are also cut where they are read (``transforms/model.py``: URLs over 8,191 characters are
``bad_url``, names 512 characters); ``ignore_above`` keeps such a document indexed whatever a
later extractor produces: the value stays in ``_source``, only unsearchable."""

from __future__ import annotations

import pytest

from newsbeam.connectors.es import TEMPLATE_KINDS, load_template

# Keywords whose values newsbeam makes itself: codes, hashes, ISO codes, names of its own.
COMPUTED = {
    "articles": {
        "published_source",  # page, feed, ...
        "language",  # ISO 639-1
        "story.cluster_id",  # an article _id (32 hex digits)
        "story_bands",  # MinHash band keys
        "entities.model",  # the NER model's name and version
        "extraction.extractor",
        "extraction.version",
        "extraction.method",
    },
    "failures": {"stage", "reason"},  # stable codes (fetch, http_404, ...)
    "feeds": {"status"},  # ok, not_modified, or a failure reason code
    "runs": {"command", "status", "host"},
}
# ignore_above counts characters: 8,191 characters are at most 32,764 bytes in UTF-8.
LUCENE_SAFE_CHARS = 8191


def _keywords(properties: dict, prefix: str = ""):
    for name, field in properties.items():
        path = f"{prefix}{name}"
        if field.get("type") == "keyword" and field.get("index", True):
            yield path, field
        for sub, subfield in (field.get("fields") or {}).items():
            if subfield.get("type") == "keyword":
                yield f"{path}.{sub}", subfield
        yield from _keywords(field.get("properties") or {}, f"{path}.")


@pytest.mark.parametrize("kind", TEMPLATE_KINDS)
def test_every_free_form_keyword_bounds_what_it_indexes(kind):
    mappings = load_template(f"component-{kind}")["template"]["mappings"]
    unbounded, too_large = [], []
    for path, field in _keywords(mappings["properties"]):
        limit = field.get("ignore_above")
        if limit is None and path not in COMPUTED[kind]:
            unbounded.append(path)
        if limit is not None and limit > LUCENE_SAFE_CHARS:
            too_large.append(path)
    assert not unbounded, f"{kind}: keyword fields from outside without ignore_above: {unbounded}"
    assert not too_large, f"{kind}: ignore_above over {LUCENE_SAFE_CHARS} characters: {too_large}"
    for template in mappings.get("dynamic_templates", []):
        for name, spec in template.items():
            mapping = spec.get("mapping") or {}
            if mapping.get("type") == "keyword":
                assert 0 < mapping.get("ignore_above", 0) <= LUCENE_SAFE_CHARS, (kind, name)


def _paths(document: dict, prefix: str = ""):
    for name, value in document.items():
        if isinstance(value, dict):
            yield from _paths(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def _mapped(properties: dict, prefix: str = ""):
    for name, field in properties.items():
        yield f"{prefix}{name}"
        yield from _mapped(field.get("properties") or {}, f"{prefix}{name}.")


def test_every_field_of_a_failure_document_is_mapped():
    """The failures mapping is not dynamic: a field it lacks is kept in _source but cannot be
    searched or filtered in Kibana (``final``, ``retry_after`` were)."""
    from newsbeam.transforms.model import Failure

    failure = Failure(
        url="https://example.org/a", stage="fetch", reason="http_429", http_status=429, error="too many",
        feed_url="https://example.org/feed", attempts=2, at="2026-11-30T00:00:00Z", final=True,
        retry_after=60.0,
    )  # fmt: skip
    mapped = set(_mapped(load_template("component-failures")["template"]["mappings"]["properties"]))
    assert set(_paths(failure.to_document())) - mapped == set()
