"""A client-rendered page (its HTML an empty shell filled by a script) whose text is only in its
JSON-LD: a live blog's updates (``liveBlogUpdate``) become the body instead of nothing."""

from __future__ import annotations

import json

from newsbeam.transforms.extraction import extract_article

UPDATES = [
    "The count has now finished in 14 of the 20 districts, with turnout reported at 61 per cent.",
    "The opposition leader has arrived at the count centre and told reporters she is optimistic.",
    "Election officials say a recount has been requested in the northern district after a close vote.",
]


def _shell(ld: dict, body: str = '<div id="root"></div><script src="/app.js"></script>') -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Election live | Ledger</title>'
        f'<script type="application/ld+json">{json.dumps(ld)}</script></head><body>{body}</body></html>'
    )


def _live_blog() -> dict:
    return {
        "@context": "https://schema.org",
        "@type": "LiveBlogPosting",
        "headline": "Regional election live",
        "datePublished": "2026-11-28T15:00:00Z",
        "liveBlogUpdate": [
            {"@type": "BlogPosting", "datePublished": f"2026-11-28T1{8 - i}:00:00Z", "articleBody": text}
            for i, text in enumerate(UPDATES)
        ],
    }


def test_a_client_rendered_live_blog_gets_its_updates_as_body():
    result = extract_article(_shell(_live_blog()))
    assert result.body == "\n".join(UPDATES)  # before: "" (an empty_text failure)
    assert result.provenance["method"] == "jsonld"
    assert (result.title, result.published, result.language) == (
        "Regional election live",
        "2026-11-28T15:00:00Z",
        "en",
    )


def test_a_page_with_text_of_its_own_keeps_it():
    own = "<article>" + "".join(f"<p>{t} It was reported live.</p>" for t in UPDATES) + "</article>"
    result = extract_article(_shell(_live_blog(), own))
    assert result.provenance["method"] != "jsonld"
    assert "It was reported live." in result.body


def test_character_references_and_blank_lines_of_the_declared_text_are_cleaned():
    ld = _live_blog()
    ld["liveBlogUpdate"] = {
        "@type": "BlogPosting",
        "articleBody": "Voters&#8217; turnout rose.\n\n  Counting continues.  ",
    }
    assert extract_article(_shell(ld)).body == "Voters\u2019 turnout rose.\nCounting continues."
