"""Tests of the body chooser (``_choose_body``) on candidate texts made to reproduce each
failure kind seen on unseen pages (issue 14): an empty base, readability choosing a side
section, a standfirst (a base stopped at an inline "read more" box is trafilatura's own
cascade's job now: see tests/transforms/test_extraction_pages.py)."""

from __future__ import annotations

import random

from newsbeam.transforms.extraction import _choose_body, _size, _tokens

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


def test_an_empty_base_takes_the_witness_even_when_the_budget_is_spent():
    article = "\n".join(_paragraphs(8, 40, seed=2))
    body, method, _ = _choose_body("", article, None)
    assert (body, method) == (article, "resiliparse.empty_base")
    body, method, _ = _choose_body("", "\n" + article + "\n", lambda: article)
    assert body == article and method == "resiliparse.empty_base"


def test_the_witness_runs_only_for_an_empty_base():
    paras = "\n".join(_paragraphs(6, 40, seed=15))

    def unused() -> str:
        raise AssertionError("the witness must not be needed")

    body, method, signals = _choose_body(paras, unused, lambda: paras + "\n" + paras)
    assert (body, method) == (paras, "trafilatura") and "witness_tokens" not in signals
    assert _choose_body("", lambda: "", lambda: "")[:2] == ("", "trafilatura")


def test_a_side_section_chosen_by_readability_does_not_cut_the_article():
    lines = _paragraphs(48, 15, seed=6)  # short lines: only the share guard keeps them
    base = "\n".join(lines)
    side = "\n".join(lines[24:])  # readability picked the second half only
    body, method, _ = _choose_body(base, NAV + "\n" + base, lambda: side)
    assert body == base
    assert "trimmed" not in method


def test_a_caption_and_a_byline_the_reader_lacks_are_dropped():
    paras = "\n".join(_paragraphs(10, 40, seed=8))
    base = "Photo: Jane Doe / Agency\n" + paras + "\nBy Jane Doe, staff writer"
    body, method, signals = _choose_body(base, NAV + "\n" + base, lambda: paras)
    assert method == "trafilatura+trimmed"
    assert body == paras
    assert signals["trimmed_lines"] == 2


def test_a_standfirst_the_reader_lacks_is_kept():
    standfirst = _paragraphs(1, 30, seed=7)[0]
    caption = "Photo: Jane Doe / Agency"
    paras = "\n".join(_paragraphs(10, 40, seed=8))
    base = "\n".join([standfirst, caption, paras])
    body, method, _ = _choose_body(base, NAV + "\n" + base, lambda: paras)
    assert body == base and method == "trafilatura"  # the caption is behind the standfirst
    base = "\n".join([caption, standfirst, paras])
    body, method, _ = _choose_body(base, NAV + "\n" + base, lambda: paras)
    assert body == standfirst + "\n" + paras and method == "trafilatura+trimmed"


def test_no_cut_beyond_a_small_share_of_the_text():
    related = "\n".join(_paragraphs(8, 15, seed=9))  # 120 tokens of short related links
    paras = "\n".join(_paragraphs(6, 40, seed=10))  # 240 tokens of article
    base = paras + "\n" + related
    body, method, _ = _choose_body(base, base + "\n" + NAV, lambda: paras)
    assert body == base and method == "trafilatura"
    short = "\n".join(related.split("\n")[:3])  # 45 tokens: within the share
    body, method, _ = _choose_body(paras + "\n" + short, base, lambda: paras)
    assert body == paras and method == "trafilatura+trimmed"


def test_a_reader_that_is_not_inside_the_text_cuts_nothing():
    paras = "\n".join(_paragraphs(6, 40, seed=13))
    base = "Photo: Jane Doe / Agency\n" + paras
    other = "\n".join(_paragraphs(6, 40, seed=14))  # readability picked another text
    body, method, _ = _choose_body(base, base, lambda: other)
    assert body == base and method == "trafilatura"


def test_the_title_repeated_at_the_start_of_the_body_is_dropped():
    paras = "\n".join(_paragraphs(6, 40, seed=12))
    base = "Council approves riverside plan\n" + paras
    titles = ("Council approves riverside plan | The Courier", None)
    body, _, signals = _choose_body(base, base, lambda: base, titles)
    assert body == paras and signals["title_lines"] == 1
    # a first line that merely shares a word or two with the title stays
    body, _, signals = _choose_body("Council\n" + paras, base, lambda: base, titles)
    assert body.startswith("Council\n") and signals["title_lines"] == 0


def test_a_page_past_its_budget_runs_no_reader_and_keeps_the_base():
    paras = _paragraphs(10, 40, seed=11)
    base = "Photo: Jane Doe / Agency\n" + "\n".join(paras[:3])
    body, method, signals = _choose_body(base, "\n".join(paras), None)
    assert method == "trafilatura"
    assert body == base
    assert "reader" not in signals


def test_a_standfirst_the_base_lacks_is_supplied_by_the_reader():
    standfirst = _paragraphs(1, 30, seed=16)[0]
    paras = "\n".join(_paragraphs(6, 40, seed=17))
    reader = "\n".join(["Council approves plan", standfirst, "By Jane Doe", paras])
    body, method, signals = _choose_body(paras, paras, lambda: reader)
    assert body == standfirst + "\n" + paras
    assert method == "trafilatura+lede" and signals["lede_lines"] == 1
    # the title and the byline stay out; a reader that does not hold the base supplies nothing
    other = "\n".join([standfirst, *_paragraphs(6, 40, seed=18)])
    assert _choose_body(paras, paras, lambda: other)[0] == paras


def test_a_heading_left_dangling_at_the_end_is_dropped():
    paras = "\n".join(_paragraphs(6, 40, seed=16))
    body, method, signals = _choose_body(paras + "\nMore on this topic:\nRead also:", paras, None)
    assert body == paras and method == "trafilatura+dangling" and signals["dangling_lines"] == 2
    body, _, _ = _choose_body(paras + "\nWeitere Artikel\uff1a", paras, lambda: paras)
    assert body == paras


def test_a_closing_paragraph_or_standfirst_ending_with_a_colon_is_kept():
    paras = _paragraphs(6, 40, seed=17)
    closing = _paragraphs(1, 25, seed=18)[0][:-1] + ":"  # a long closing line
    body, method, _ = _choose_body("\n".join([*paras, closing]), "", None)
    assert body.endswith(closing) and method == "trafilatura"
    standfirst = "What the council decided on Monday:"  # short, but not the last line
    base = "\n".join([standfirst, *paras])
    assert _choose_body(base, "", None)[:2] == (base, "trafilatura")
    inner = "\n".join([paras[0], "The plan in short:", *paras[1:]])
    assert _choose_body(inner, "", None)[:2] == (inner, "trafilatura")
    assert _choose_body("Contact:", "", None)[0] == "Contact:"  # never the only line


def test_a_base_that_repeats_the_article_takes_trafilaturas_own_text():
    article = "\n".join(_paragraphs(6, 40, seed=19))
    meta = "2024-03-12T18:05:11+01:00\nhttps://images.example.test/harbour.jpg\nHarbourCourierNet"
    base = "\n".join([article, meta, article, meta])  # readability took hidden copies' container
    body, method, signals = _choose_body(base, base, lambda: base, own=lambda: article)
    assert (body, method) == (article, "trafilatura.own")
    assert signals["repeated_share"] > 0.9


def test_trafilaturas_own_text_is_asked_for_only_when_the_base_repeats_itself():
    article = "\n".join(_paragraphs(6, 40, seed=20))

    def unused() -> str:
        raise AssertionError("trafilatura's own text must not be needed")

    body, method, signals = _choose_body(article, article, lambda: article, own=unused)
    assert (body, method) == (article, "trafilatura") and "repeated_share" not in signals
    # a page whose own text repeats as much (a recipe's repeated steps) keeps the base, and so
    # does a base that does not hold the own text
    steps = "\n".join(_paragraphs(3, 30, seed=21))
    recipe = "\n".join([steps, steps, steps])
    assert _choose_body(recipe, recipe, None, own=lambda: recipe)[:2] == (recipe, "trafilatura")
    repeated = "\n".join([article, article])
    other = "\n".join(_paragraphs(6, 40, seed=22))
    assert _choose_body(repeated, repeated, None, own=lambda: other)[:2] == (repeated, "trafilatura")
    assert _choose_body(repeated, repeated, None, own=lambda: "")[:2] == (repeated, "trafilatura")


_HAN_WORDS = ["议会", "河畔", "计划", "住房", "预算", "市长", "图书", "公园", "大桥", "交通", "居民", "仓库"]


def _han_paragraphs(count: int, clauses: int, seed: int) -> list[str]:
    """``count`` Chinese paragraphs of ``clauses`` clauses of 6 two-character words (no spaces):
    each clause is one ``\\w+`` token, a paragraph a handful of tokens."""
    rng = random.Random(seed)
    return [
        "，".join("".join(rng.choice(_HAN_WORDS) for _ in range(6)) for _ in range(clauses)) + "。"
        for _ in range(count)
    ]


def test_a_chinese_paragraph_counts_its_characters_not_its_clauses():
    (lead,) = _han_paragraphs(1, 5, seed=20)  # 5 tokens, 60 characters
    assert len(_tokens(lead)) == 5 and _size(_tokens(lead)) == 30
    assert _size(_tokens("Council approves the plan")) == 4
    # a Japanese line mixing Latin words and kana
    assert _size(_tokens("Kindle for PCをCtrlで立ち上げる方法")) == 2 + 8  # 15 characters


def test_a_chinese_lead_paragraph_the_reader_lacks_is_kept_and_a_caption_is_cut():
    lead, *rest = _han_paragraphs(10, 5, seed=21)
    paras = "\n".join(rest)
    caption = "图片：新华社"
    base = "\n".join([caption, lead, paras])
    body, method, _ = _choose_body(base, base, lambda: paras)
    assert body == lead + "\n" + paras and method == "trafilatura+trimmed"


def test_a_chinese_standfirst_is_supplied_by_the_reader_once_and_the_first_line_is_not_repeated():
    standfirst, *rest = _han_paragraphs(8, 4, seed=22)
    paras = "\n".join(rest)
    reader = "\n".join(["市议会通过计划", standfirst, paras])
    body, method, signals = _choose_body(paras, paras, lambda: reader)
    assert body == standfirst + "\n" + paras and signals["lede_lines"] == 1
    # the reader's lines are of fewer than four tokens: the base's first line is found among
    # them, and a line the base holds is not prepended again
    body, method, _ = _choose_body(paras, paras, lambda: "\n".join([rest[0], paras]))
    assert body == paras and method == "trafilatura"
