"""Rule 8: inline promotions (a link of the page in capitals, or behind a short label) leave the body."""

from __future__ import annotations

from newsbeam.transforms.extraction import _drop_promotions, extract_article

PARAGRAPHS = [
    "The harbour authority said on Monday that the new ferry terminal would open in the spring, "
    "two years later than planned, after the contractor found old timber piles under the quay.",
    "Work on the foundations has resumed and the authority expects the building to be weather-tight "
    "by the end of the year, although the fit-out of the passenger hall has yet to be tendered.",
    "Local businesses said the delay had cost them summer trade, and the town council asked the "
    "authority to publish a timetable with dates it could be held to.",
    "The authority's chief executive said the final cost would be within the budget agreed in 2022, "
    "because the delay had been covered by the contingency fund set aside for the project.",
]
LINKS = {
    "Harbour dues to rise for yachts",
    "GET THE COURIER APP FOR BREAKING NEWS",
    "COUNCIL BACKS LIBRARY PLAN",
    "2019 2020 2021",
}


def _links() -> set[str]:
    return {" ".join(t.replace("'", " ").split()) for t in LINKS}


def _body(*extra: tuple[int, str]) -> str:
    lines = list(PARAGRAPHS)
    for at, line in sorted(extra, reverse=True):
        lines.insert(at, line)
    return "\n".join(lines)


def test_a_labelled_link_inside_the_body_is_dropped():
    body, dropped = _drop_promotions(_body((2, "READ MORE: Harbour dues to rise for yachts")), _links)
    assert (body, dropped) == ("\n".join(PARAGRAPHS), 1)


def test_a_link_in_capitals_is_dropped():
    body, dropped = _drop_promotions(_body((4, "GET THE COURIER APP FOR BREAKING NEWS")), _links)
    assert (body, dropped) == ("\n".join(PARAGRAPHS), 1)


def test_labelled_and_capital_lines_that_are_not_links_stay():
    kept = _body(
        (1, "Photo: Harbour authority archive, 2019"),
        (3, "WHAT HAPPENS NEXT FOR THE TERMINAL"),
        (4, "Note: the authority has not said whether harbour dues will change."),
    )
    assert _drop_promotions(kept, _links) == (kept, 0)


def test_a_link_covering_most_of_the_line_is_enough():
    body, dropped = _drop_promotions(_body((2, "READ MORE: Harbour dues to rise for yachts (video)")), _links)
    assert (body, dropped) == ("\n".join(PARAGRAPHS), 1)


def test_a_labelled_link_in_capitals_is_dropped():
    body, dropped = _drop_promotions(_body((2, "SEE MORE: COUNCIL BACKS LIBRARY PLAN")), _links)
    assert (body, dropped) == ("\n".join(PARAGRAPHS), 1)


def test_a_line_without_letters_is_not_in_capitals():
    kept = _body((2, "2019 2020 2021 2022"))
    assert _drop_promotions(kept, _links) == (kept, 0)


def test_numbered_section_headings_are_not_labels():
    kept = _body((2, "Step 1: Harbour dues to rise for yachts"))
    assert _drop_promotions(kept, _links) == (kept, 0)


def test_the_page_links_are_not_collected_when_no_line_has_the_form():
    def fail() -> set[str]:
        raise AssertionError("links computed for a body without a candidate line")

    assert _drop_promotions("\n".join(PARAGRAPHS), fail) == ("\n".join(PARAGRAPHS), 0)


def test_promotions_over_a_fifth_of_the_body_are_left_alone():
    lines = ["READ MORE: Harbour dues to rise for yachts"] * 30 + PARAGRAPHS[:1]
    body = "\n".join(lines)
    assert _drop_promotions(body, _links) == (body, 0)


def test_headings_a_table_of_contents_links_to_stay():
    sections = [
        "Part one: Harbour dues to rise for yachts",
        "Part two: Work on the foundations resumes today",
    ]
    toc = "".join(f"<li><a href='#s{i}'>{h.split(': ')[1]}</a></li>" for i, h in enumerate(sections))
    text = "".join(f"<h2 id='s{i}'>{h}</h2><p>{p}</p>" for i, (h, p) in enumerate(zip(sections, PARAGRAPHS)))
    page = (
        "<html><head><title>Harbour guide | The Courier</title></head><body><article><h1>Harbour guide</h1>"
        f"<ul class=toc>{toc}</ul>{text}<p>{PARAGRAPHS[2]}</p><p>{PARAGRAPHS[3]}</p></article></body></html>"
    )
    body = extract_article(page.encode()).body
    assert all(h in body for h in sections), body


def test_extract_article_drops_an_inline_read_more_link():
    paragraphs = "".join(f"<p>{p}</p>" for p in PARAGRAPHS[:2])
    rest = "".join(f"<p>{p}</p>" for p in PARAGRAPHS[2:])
    page = (
        "<html><head><title>Ferry terminal delayed | The Courier</title></head><body>"
        "<nav><a href='/'>Home</a> <a href='/news'>News</a></nav><article><h1>Ferry terminal delayed</h1>"
        f"{paragraphs}<p><strong>READ MORE:</strong> <a href='/dues'>Harbour dues to rise for yachts</a></p>"
        f"{rest}</article><footer>The Courier, 1 Quay Street</footer></body></html>"
    )
    result = extract_article(page.encode())
    assert "Harbour dues" not in result.body
    assert all(p in result.body for p in PARAGRAPHS)
    assert result.provenance["signals"]["promotion_lines"] == 1


def test_a_chinese_labelled_link_is_dropped_with_a_full_width_colon():
    paragraphs = [
        "铁路部门周二宣布，从五月一日起，杭州东站至黄山北站之间每天将新增四趟夜间列车，全程约两小时。",
        "据介绍，这条线路开通以来客流持续增长，周末和节假日的车票经常在开售后几分钟内售罄。",
        "铁路部门表示，新增的夜间车次将采用八节编组的复兴号列车，每趟可载客约五百七十人。",
        "黄山市旅游部门对此表示欢迎，认为夜间车次有助于带动当地的餐饮和住宿消费。",
    ]
    link = "杭州地铁三号线北段下月试运行"  # one \w+ token, seven words
    page = (
        "<html><body><article>"
        + "".join(f"<p>{p}</p>" for p in paragraphs[:2])
        + f'<p>相关阅读：<a href="/news/2">{link}</a></p>'
        + "".join(f"<p>{p}</p>" for p in paragraphs[2:])
        + "</article></body></html>"
    )
    from lxml import html as lxml_html

    from newsbeam.transforms.extraction import _link_texts

    links = _link_texts(lxml_html.fromstring(page))
    assert link in links
    lines = [*paragraphs[:2], f"相关阅读：{link}", *paragraphs[2:]]
    assert _drop_promotions("\n".join(lines), lambda: links) == ("\n".join(paragraphs), 1)
