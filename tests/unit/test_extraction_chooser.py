"""Regression tests of the body chooser (``_choose_body``) on candidate texts made to
reproduce each failure kind seen on unseen pages (issue 14): an empty base, a base that
stops at an inline "read more" box, readability choosing a side section, a standfirst."""

from __future__ import annotations

import random

from newsbeam.transforms.extraction import _choose_body

_WORDS = [
    "council",
    "river",
    "plan",
    "housing",
    "budget",
    "mayor",
    "library",
    "park",
    "bridge",
    "traffic",
    "residents",
    "city",
    "warehouse",
    "mill",
    "families",
    "rents",
    "project",
    "cost",
    "district",
    "spring",
    "apartments",
    "debate",
    "vote",
    "evening",
    "morning",
    "school",
    "market",
    "station",
    "harbour",
    "museum",
    "hospital",
    "street",
    "garden",
    "tower",
]


def _paragraphs(count: int, words: int, seed: int) -> list[str]:
    """``count`` distinct paragraphs of ``words`` words (no shared 4-grams in practice)."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "." for _ in range(count)]


NAV = "Home\nWorld\nSport\nSubscribe to our newsletter\nCopyright 2024 The Courier"


def _unused() -> str:
    raise AssertionError("this reader must not be needed")


def test_empty_base_takes_the_witness_not_a_headline_from_the_reader():
    article = "\n".join(_paragraphs(8, 40, seed=1))
    body, method, _ = _choose_body(
        "", article + "\n" + NAV, lambda: "Council approves plan", lambda: "Headline"
    )
    assert method == "resiliparse.empty_base"
    assert article in body


def test_empty_base_takes_the_reader_when_it_holds_most_of_the_witness():
    article = "\n".join(_paragraphs(8, 40, seed=2))
    body, method, _ = _choose_body("", NAV + "\n" + article, lambda: article, lambda: article)
    assert method.startswith("readability.empty_base")
    assert body == article


def test_base_stopped_at_an_inline_read_more_box_is_extended_by_an_agreeing_reader():
    paras = _paragraphs(10, 40, seed=3)
    base = "\n".join(paras[:3])  # stopped at the box after the third paragraph
    full = "\n".join(paras)
    witness = NAV.split("\n", 1)[0] + "\n" + full
    body, method, signals = _choose_body(base, witness, _unused, lambda: full)
    assert method.startswith("readability.extends_base")
    assert body == full
    assert signals["reader_witness_agreement"] >= 0.9


def test_a_longer_reader_that_the_witness_contradicts_does_not_replace_the_base():
    paras = _paragraphs(10, 40, seed=4)
    base = "\n".join(paras[:3])
    reader = base + "\n" + "\n".join(_paragraphs(8, 40, seed=5))  # base plus a side section
    body, method, _ = _choose_body(base, "\n".join(paras), lambda: base, lambda: reader)
    assert method == "trafilatura"
    assert body == base


def test_a_side_section_chosen_by_readability_does_not_cut_the_article():
    lines = _paragraphs(48, 15, seed=6)
    base = "\n".join(lines)
    side = "\n".join(lines[24:])  # readability picked the second half only
    body, method, _ = _choose_body(base, NAV + "\n" + base, lambda: side, lambda: side)
    assert body == base
    assert "trimmed" not in method


def test_a_standfirst_the_reader_lacks_is_kept_but_a_caption_is_dropped():
    standfirst = _paragraphs(1, 30, seed=7)[0]
    caption = "Photo: Jane Doe / Agency"
    paras = "\n".join(_paragraphs(10, 40, seed=8))
    base = "\n".join([caption, standfirst, paras])
    body, method, _ = _choose_body(base, NAV + "\n" + base, lambda: paras, _unused)
    assert method == "trafilatura+trimmed"
    assert body == standfirst + "\n" + paras


def test_a_large_cut_is_allowed_only_where_the_witness_lacks_the_lines_too():
    related = "\n".join(_paragraphs(6, 20, seed=9))  # 120 tokens of related links
    paras = "\n".join(_paragraphs(6, 40, seed=10))  # 240 tokens of article
    base = paras + "\n" + related
    body, method, _ = _choose_body(base, paras + "\n" + NAV, lambda: paras, _unused)
    assert body == paras and method == "trafilatura+trimmed"
    body, method, _ = _choose_body(base, base, lambda: paras, _unused)
    assert body == base and method == "trafilatura"


def test_a_page_past_its_budget_skips_readability_lxml_and_keeps_the_base():
    paras = _paragraphs(10, 40, seed=11)
    base = "\n".join(paras[:3])
    body, method, signals = _choose_body(base, "\n".join(paras), lambda: base, None)
    assert method == "trafilatura"
    assert body == base
    assert signals["reader"] == "trafilatura.readability"
