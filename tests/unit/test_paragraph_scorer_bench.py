"""bench/paragraph_scorer.py: its features see the box a line sits in, its decision never drops
the article's bulk, and it names its data sets when they are absent."""

from __future__ import annotations

import numpy as np
import pytest
from lxml import html as lxml_html

from tests.scripts import load_script

ARTICLE = [
    "The council approved the new tram line on Monday after a debate that lasted well into the night.",
    "Supporters said the line would cut journeys between the station and the hospital by half an hour.",
    "Opponents argued that the cost had doubled since the plan was first presented three years ago.",
    "Construction is expected to start next spring and to take about two and a half years to finish.",
    "The regional government has promised to pay for a third of the work from its transport budget.",
]
NEWSLETTER = "Sign up to our morning briefing and get the day's news in your inbox"
RELATED = ["Bus fares rise again in January", "Cycle lane plan split the council"]

PAGE = f"""<html><body>
<div class="page"><div class="article-body">{"".join(f"<p>{p}</p>" for p in ARTICLE)}</div>
<div class="newsletter-box"><p>{NEWSLETTER}</p></div>
<ul class="related-stories">{"".join(f'<li><a href="/x">{r}</a></li>' for r in RELATED)}</ul>
</div></body></html>"""


@pytest.fixture(scope="module")
def bench():
    return load_script("bench/paragraph_scorer.py", "bench_paragraph_scorer")


def _features(bench, lines):
    rows = bench.paragraph_features(lines, bench.DomIndex(lxml_html.fromstring(PAGE)), None)
    return [dict(zip(bench.PARAGRAPH_FEATURES, row)) for row in rows]


def test_a_newsletter_box_and_a_related_list_are_outside_the_main_container(bench):
    lines = [*ARTICLE, NEWSLETTER, *(f"- {r}" for r in RELATED)]
    rows = _features(bench, lines)
    assert all(row["matched"] == 1.0 for row in rows)
    for row in rows[: len(ARTICLE)]:
        assert (row["outside_main"], row["class_newsletter"], row["class_related"], row["link_density"]) == (
            0,
            0,
            0,
            0,
        )
    box = rows[len(ARTICLE)]
    assert (box["outside_main"], box["class_newsletter"]) == (1.0, 1.0)
    for row in rows[len(ARTICLE) + 1 :]:
        assert (row["outside_main"], row["class_related"], row["list_item"], row["link_density"]) == (
            1,
            1,
            1,
            1,
        )


def test_a_line_not_in_the_page_is_unmatched(bench):
    row = _features(bench, [*ARTICLE, "A line written nowhere in the page at all"])[-1]
    assert (row["matched"], row["outside_main"], row["link_density"]) == (0.0, 0.0, 0.0)


def test_the_decision_keeps_to_its_mode_and_never_drops_the_bulk(bench):
    sizes = [20, 20, 20, 20, 20, 2, 2]
    probs = [0.99, 0.1, 0.99, 0.1, 0.1, 0.99, 0.99]
    assert bench.boilerplate_lines(sizes, probs, 0.9, "tail", 0.2) == {5, 6}
    assert bench.boilerplate_lines(sizes, probs, 0.9, "edges", 0.3) == {0, 5, 6}
    assert bench.boilerplate_lines(sizes, probs, 0.9, "anywhere", 0.7) == {0, 2, 5, 6}
    # 24 of 104 tokens is more than 20%: nothing is dropped rather than the bulk
    assert bench.boilerplate_lines(sizes, probs, 0.9, "edges", 0.2) == set()
    assert bench.boilerplate_lines([5, 5], [0.99, 0.99], 0.9, "anywhere", 1.0) == set()


def test_both_models_rank_a_separable_set(bench):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] + 0.1 * x[:, 1] > 0).astype(float)
    w, b = bench.fit_logistic(x, y, np.ones(len(y)), 1.0)
    assert (((x @ w + b) > 0) == (y == 1)).mean() > 0.95
    trees, bias = bench.fit_trees(x, y, np.ones(len(y)), rounds=20)
    margins = np.array([bias + sum(bench.tree_value(t, row) for t in trees) for row in x])
    assert ((margins > 0) == (y == 1)).mean() > 0.95


def test_absent_data_exits_2_naming_the_set(bench, tmp_path, capsys):
    assert bench.main(["--data", str(tmp_path / "nowhere"), "--snippets", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "ScrapingHub article-extraction benchmark" in err


def test_page_blocks_are_the_elements_no_body_line_came_from(bench):
    dom = bench.DomIndex(lxml_html.fromstring(PAGE))
    texts, rows = bench.page_block_features(ARTICLE, dom, None)
    assert texts == [NEWSLETTER, *RELATED]
    sequence = [bench.PARAGRAPH_FEATURES.index(name) for name in bench.SEQUENCE_FEATURES]
    assert all(row[i] == 0.0 for row in rows for i in sequence)
    named = [dict(zip(bench.PARAGRAPH_FEATURES, row)) for row in rows]
    assert [row["outside_main"] for row in named] == [1.0, 1.0, 1.0]
    assert named[0]["class_newsletter"] == 1.0 and named[1]["class_related"] == 1.0
