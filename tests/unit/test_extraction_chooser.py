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


def test_a_caption_one_reader_lacks_is_dropped_without_asking_the_second_reader():
    caption = "Photo: Jane Doe / Agency"
    paras = "\n".join(_paragraphs(10, 40, seed=8))
    body, method, signals = _choose_body(caption + "\n" + paras, NAV + "\n" + paras, lambda: paras, _unused)
    assert method == "trafilatura+trimmed"
    assert body == paras
    assert "trim_confirmed_by" not in signals


def test_a_standfirst_one_reader_lacks_is_kept_when_the_other_reader_has_it():
    standfirst = _paragraphs(1, 30, seed=7)[0]
    caption = "Photo: Jane Doe / Agency"
    paras = "\n".join(_paragraphs(10, 40, seed=8))
    base = "\n".join([caption, standfirst, paras])
    body, method, _ = _choose_body(base, NAV + "\n" + base, lambda: paras, lambda: standfirst + "\n" + paras)
    assert method == "trafilatura+trimmed"
    assert body == standfirst + "\n" + paras


def test_a_large_cut_needs_both_readers_to_lack_the_lines():
    related = "\n".join(_paragraphs(6, 20, seed=9))  # 120 tokens of related links
    paras = "\n".join(_paragraphs(6, 40, seed=10))  # 240 tokens of article
    base = paras + "\n" + related
    body, method, signals = _choose_body(base, base + "\n" + NAV, lambda: paras, lambda: paras)
    assert body == paras and method == "trafilatura+trimmed"
    assert signals["trim_confirmed_by"] == "readability"
    body, method, _ = _choose_body(base, base, lambda: paras, lambda: base)
    assert body == base and method == "trafilatura"
    body, method, _ = _choose_body(base, base, lambda: paras, None)  # budget spent: no second reader
    assert body == base and method == "trafilatura"


def test_the_title_repeated_at_the_start_of_the_body_is_dropped():
    paras = "\n".join(_paragraphs(6, 40, seed=12))
    base = "Council approves riverside plan\n" + paras
    titles = ("Council approves riverside plan | The Courier", None)
    body, _, signals = _choose_body(base, base, lambda: base, _unused, titles)
    assert body == paras and signals["title_lines"] == 1
    # a first line that merely shares a word or two with the title stays
    body, _, signals = _choose_body("Council\n" + paras, base, lambda: base, _unused, titles)
    assert body.startswith("Council\n") and signals["title_lines"] == 0


def test_a_page_past_its_budget_runs_no_reader_and_keeps_the_base():
    paras = _paragraphs(10, 40, seed=11)
    base = "Photo: Jane Doe / Agency\n" + "\n".join(paras[:3])
    body, method, signals = _choose_body(base, "\n".join(paras), None, None)
    assert method == "trafilatura"
    assert body == base
    assert "reader" not in signals
