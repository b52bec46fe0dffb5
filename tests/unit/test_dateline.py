"""Datelines and agency credits in the formats wire services and outlets print."""

import pytest

from newsbeam.transforms.dateline import Dateline, canonical_agency, parse_dateline

BODY = "The government said on Tuesday it would act.\n\nOfficials gave no details."

# (text, places, agency, dateline text that the span must cover)
TABLE = [
    # Reuters
    (
        "WASHINGTON (Reuters) - The U.S. Senate",
        ("Washington",),
        "Reuters",
        "WASHINGTON (Reuters) - ",
    ),
    (
        "HONG KONG/SHANGHAI (Reuters) - Asian shares",
        ("Hong Kong", "Shanghai"),
        "Reuters",
        "HONG KONG/SHANGHAI (Reuters) - ",
    ),
    (
        "NEW YORK/LONDON, June 27 (Reuters) - Oil prices",
        ("New York", "London"),
        "Reuters",
        "NEW YORK/LONDON, June 27 (Reuters) - ",
    ),
    (
        "GENEVA, 27 June (Reuters) - The WHO",
        ("Geneva",),
        "Reuters",
        "GENEVA, 27 June (Reuters) - ",
    ),
    (
        "RIO DE JANEIRO (Reuters) - Brazil",
        ("Rio de Janeiro",),
        "Reuters",
        "RIO DE JANEIRO (Reuters) - ",
    ),
    # AP
    (
        "KABUL, Afghanistan (AP) — Taliban fighters",
        ("Kabul",),
        "AP",
        "KABUL, Afghanistan (AP) — ",
    ),
    (
        "UNITED NATIONS (AP) — The Security Council",
        ("United Nations",),
        "AP",
        "UNITED NATIONS (AP) — ",
    ),
    (
        "SAN FRANCISCO, Calif. (AP) — A judge",
        ("San Francisco",),
        "AP",
        "SAN FRANCISCO, Calif. (AP) — ",
    ),
    (
        "RAMALLAH, West Bank (AP) — Palestinian",
        ("Ramallah",),
        "AP",
        "RAMALLAH, West Bank (AP) — ",
    ),
    (
        "WASHINGTON, D.C. (AP) — The House",
        ("Washington",),
        "AP",
        "WASHINGTON, D.C. (AP) — ",
    ),
    (
        "AL-ARISH, Egypt (AP) — Militants",
        ("Al-Arish",),
        "AP",
        "AL-ARISH, Egypt (AP) — ",
    ),
    # AFP, dpa, Anadolu, Xinhua, TASS, Kyodo, Yonhap, Bernama, AAP, UNB
    ("PARIS (AFP) - France's", ("Paris",), "AFP", "PARIS (AFP) - "),
    ("BERLIN (dpa) - Germany", ("Berlin",), "dpa", "BERLIN (dpa) - "),
    (
        "FRANKFURT, June 27 (dpa-AFX) - German",
        ("Frankfurt",),
        "dpa",
        "FRANKFURT, June 27 (dpa-AFX) - ",
    ),
    ("ANKARA (AA) - Turkey", ("Ankara",), "Anadolu Agency", "ANKARA (AA) - "),
    ("ISTANBUL (AA) – Turkish", ("Istanbul",), "Anadolu Agency", "ISTANBUL (AA) – "),
    (
        "BEIJING, June 27 (Xinhua) -- China's",
        ("Beijing",),
        "Xinhua",
        "BEIJING, June 27 (Xinhua) -- ",
    ),
    (
        "MOSCOW, June 27. /TASS/. Russia's",
        ("Moscow",),
        "TASS",
        "MOSCOW, June 27. /TASS/. ",
    ),
    ("TOKYO (Kyodo) -- Japan", ("Tokyo",), "Kyodo", "TOKYO (Kyodo) -- "),
    (
        "SEOUL, June 27 (Yonhap) -- North Korea",
        ("Seoul",),
        "Yonhap",
        "SEOUL, June 27 (Yonhap) -- ",
    ),
    (
        "KUALA LUMPUR, June 27 (Bernama) -- Malaysia",
        ("Kuala Lumpur",),
        "Bernama",
        "KUALA LUMPUR, June 27 (Bernama) -- ",
    ),
    (
        "SYDNEY, June 27 (AAP) - Australia",
        ("Sydney",),
        "AAP",
        "SYDNEY, June 27 (AAP) - ",
    ),
    ("DHAKA, June 27 (UNB) - Bangladesh", ("Dhaka",), "UNB", "DHAKA, June 27 (UNB) - "),
    # PTI, APP, INP (South Asia)
    (
        "NEW DELHI, June 27 (PTI) — The Centre",
        ("New Delhi",),
        "PTI",
        "NEW DELHI, June 27 (PTI) — ",
    ),
    (
        "New Delhi, Jun 27 (PTI) The government",
        ("New Delhi",),
        "PTI",
        "New Delhi, Jun 27 (PTI) ",
    ),
    (
        "ISLAMABAD, June 27 (APP): Prime Minister",
        ("Islamabad",),
        "APP",
        "ISLAMABAD, June 27 (APP): ",
    ),
    (
        "PESHAWAR, Jun 27 (INP): The police",
        ("Peshawar",),
        "INP",
        "PESHAWAR, Jun 27 (INP): ",
    ),
    # in-house styles
    (
        "ISLAMABAD-NEW YORK,A Russian military unit",
        ("Islamabad", "New York"),
        None,
        "ISLAMABAD-NEW YORK,",
    ),
    (
        "ISLAMABAD-NEW YORK, A Russian unit",
        ("Islamabad", "New York"),
        None,
        "ISLAMABAD-NEW YORK, ",
    ),
    ("LONDON: Britain's economy", ("London",), None, "LONDON: "),
    ("ISLAMABAD:The cabinet", ("Islamabad",), None, "ISLAMABAD:"),
    (
        "By Staff Reporter ISLAMABAD: The federal cabinet",
        ("Islamabad",),
        None,
        "By Staff Reporter ISLAMABAD: ",
    ),
    (
        "By Our Correspondent PESHAWAR: Police",
        ("Peshawar",),
        None,
        "By Our Correspondent PESHAWAR: ",
    ),
    ("LAHORE, June 27: The Punjab government", ("Lahore",), None, "LAHORE, June 27: "),
    ("WASHINGTON DC: The Pentagon", ("Washington DC",), None, "WASHINGTON DC: "),
    ("WASHINGTON — President", ("Washington",), None, "WASHINGTON — "),
    ("WASHINGTON—President", ("Washington",), None, "WASHINGTON—"),
    ("Mumbai: The Bombay High Court", ("Mumbai",), None, "Mumbai: "),
    # headline lines repeated above the body, as extracted pages often have
    (
        "Russia offered bounties\n\nRussia offered bounties\n\nISLAMABAD-NEW YORK,A Russian unit",
        ("Islamabad", "New York"),
        None,
        "ISLAMABAD-NEW YORK,",
    ),
    (
        "WHO WARNS OF SECOND WAVE\nGENEVA (Reuters) - The World Health",
        ("Geneva",),
        "Reuters",
        "GENEVA (Reuters) - ",
    ),
    # places spelled with accented capitals
    ("BOGOTÁ, Colombia (AP) — Thousands of coffee growers", ("Bogotá",), "AP", "BOGOTÁ, Colombia (AP) — "),
    ("DÜSSELDORF, Germany (AP) — The", ("Düsseldorf",), "AP", "DÜSSELDORF, Germany (AP) — "),
    ("SÃO PAULO (AP) — Brazil's", ("São Paulo",), "AP", "SÃO PAULO (AP) — "),
    ("ŁÓDŹ, Poland (AP) — The", ("Łódź",), "AP", "ŁÓDŹ, Poland (AP) — "),
    ("São Paulo, Jun 27 (PTI) The", ("São Paulo",), "PTI", "São Paulo, Jun 27 (PTI) "),
    # an editor's note above the dateline
    (
        "Editor's note: This story contains graphic details.\n\nISLAMABAD-NEW YORK, (AP) — A Russian unit",
        ("Islamabad", "New York"),
        "AP",
        "ISLAMABAD-NEW YORK, (AP) — ",
    ),
    (
        "EDITOR’S NOTE — This is part of a series on the war.\n\nKABUL, Afghanistan (AP) — Taliban",
        ("Kabul",),
        "AP",
        "KABUL, Afghanistan (AP) — ",
    ),
    # other languages' agencies: EFE's ".-", months in Spanish, German, Italian, Portuguese,
    # Russian; TASS in Cyrillic
    ("MADRID (EFE).- El Gobierno", ("Madrid",), "EFE", "MADRID (EFE).- "),
    ("Madrid, 18 abr (EFE).- El Gobierno", ("Madrid",), "EFE", "Madrid, 18 abr (EFE).- "),
    ("Bogotá (EFE).- El Gobierno", ("Bogotá",), "EFE", "Bogotá (EFE).- "),
    (
        "BUENOS AIRES, 3 de mayo (Reuters) - El peso",
        ("Buenos Aires",),
        "Reuters",
        "BUENOS AIRES, 3 de mayo (Reuters) - ",
    ),
    ("Berlin, 5. März (dpa) - Die Regierung", ("Berlin",), "dpa", "Berlin, 5. März (dpa) - "),
    ("ROMA, 12 MAG - Il governo", ("Roma",), None, "ROMA, 12 MAG - "),
    ("LISBOA, 4 jun (Lusa) - O Governo", ("Lisboa",), "Lusa", "LISBOA, 4 jun (Lusa) - "),
    ("МОСКВА, 5 мая. /ТАСС/. Президент", ("Москва",), "TASS", "МОСКВА, 5 мая. /ТАСС/. "),
]


@pytest.mark.parametrize(("text", "places", "agency", "dateline"), TABLE)
def test_dateline_formats(text, places, agency, dateline):
    parsed = parse_dateline(text)
    assert parsed.places == places
    assert parsed.agency == agency
    start, end = parsed.span
    assert text[start:end] == dateline


NEGATIVES = [
    '"We will not back down," the minister said.',
    "“We will not back down,” the minister said.",
    "NATO said on Saturday that it would send more troops.",
    "NATO, the military alliance, said on Saturday it would act.",
    "EXCLUSIVE-Russia offered bounties to militants",
    "WATCH: Protesters march through the capital",
    "BREAKING NEWS: Earthquake hits the coast",
    "Breaking: The minister resigned.",
    "US, China agree to resume trade talks\n\nThe two sides met in Geneva.",
    "The minister said on Tuesday that the plan would go ahead.",
    "UN SECURITY COUNCIL MEETS ON SYRIA\n\nThe council met behind closed doors.",
    "Über 100 Menschen demonstrierten am Samstag in der Innenstadt.",
    "НАТО заявило в понедельник, что направит войска.",
    "MAYO CLINIC researchers said on Monday.",
    "Editor's note: This story was corrected on Monday.\n\nThe council met behind closed doors.",
    "COVID-19, the disease caused by the coronavirus, spread quickly.",  # a dash joining a figure
    "F-16 jets flew over the capital on Monday.",
    "FILE PHOTO: A man walks past the central bank in Frankfurt.",  # a caption's kicker
    # column and section labels: a function word, or a kicker as the last word
    "DEAR ABBY: My husband and I have been married for 20 years.",
    "Dear Abby: My husband and I have been married for 20 years.",
    "WHY IT MATTERS: The law takes effect on Monday.",
    "OUR VIEW: The council should publish the budget.",
    "WHAT WE KNOW: Police said two people were hurt.",
    "NEWS ANALYSIS: The vote shows a divided party.",
    "MOVIE REVIEW - The sequel is longer than the original.",
    "HIGH SCHOOL ROUNDUP: Central beat North 3-1 on Friday.",
    "",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_no_dateline(text):
    assert parse_dateline(text) == Dateline((), None, None)


@pytest.mark.parametrize(
    ("credit", "agency"),
    [
        ("— Reuters", "Reuters"),
        ("- APP", "APP"),
        ("(AFP)", "AFP"),
        ("Agencies", "Agencies"),
        ("APP", "APP"),
        ("Anadolu Agency", "Anadolu Agency"),
        ("With inputs from PTI", "PTI"),
        ("(With inputs from agencies)", "Agencies"),
        ("Copyright 2020 The Associated Press. All rights reserved.", "AP"),
        ("Source: Xinhua", "Xinhua"),
        ("Additional reporting by our correspondent.", None),
        ("The minister met Reuters.", None),
    ],
)
def test_agency_from_credit_line(credit, agency):
    parsed = parse_dateline(f"{BODY}\n\n{credit}")
    assert parsed == Dateline((), agency, None)


def test_dateline_agency_wins_over_credit_and_metadata():
    text = "PARIS (AFP) - France's economy grew.\n\n— Reuters"
    assert parse_dateline(text, metadata_author="AP").agency == "AFP"


@pytest.mark.parametrize(
    ("author", "agency"),
    [
        ("Reuters Staff", "Reuters"),
        ("APP | Dawn", "APP"),
        ("Staff Reporter", None),
        ("Associated Press", "AP"),
        (None, None),
    ],
)
def test_agency_from_metadata_author(author, agency):
    assert parse_dateline(BODY, metadata_author=author).agency == agency


def test_canonical_agency():
    assert canonical_agency("The Associated Press") == "AP"
    assert canonical_agency("PTI, Reuters") == "PTI"
    assert canonical_agency("Reuters Health") == "Reuters"
    assert canonical_agency("Metro Herald") is None


@pytest.mark.parametrize(
    ("text", "places"),
    [
        ("SANTA FE, N.M. (AP) — A cat missing in Santa Fe for five years was found.", ("Santa Fe",)),
        ("SANTA FE, N.M. (AP) — A cat missing for five years was found.", ("Santa FE",)),  # no other spelling
        ("WASHINGTON DC (Reuters) - The Washington dc office said.", ("Washington DC",)),
        ("RIO DE JANEIRO (Reuters) - Police in Rio de Janeiro said.", ("Rio de Janeiro",)),
    ],
)
def test_a_place_takes_the_spelling_the_article_uses_after_its_dateline(text, places):
    """ "SANTA FE, N.M. (AP) —" gave the keyword "Santa FE" (a two-letter word stays in
    capitals, as "DC" does) while the article writes "Santa Fe": the analyst's filter on
    ``dateline.places`` met two spellings of one city."""
    assert parse_dateline(text).places == places


@pytest.mark.parametrize(
    ("text", "places"),
    [
        ("THE HAGUE: The court ruled on Monday.", ("The Hague",)),
        ("SALT LAKE CITY: Utah lawmakers met.", ("Salt Lake City",)),
        ("UNITED NATIONS: The council met.", ("United Nations",)),
        ("COX'S BAZAR: Rohingya refugees marched.", ("Cox's Bazar",)),
        ("NEW YORK - Stocks rose on Monday.", ("New York",)),
        ("DEE WHY, Australia (AAP) - A surfer was rescued.", ("Dee Why",)),  # marked: a dateline
    ],
)
def test_places_holding_common_words_stay_datelines(text, places):
    """The label rule (a function word, a kicker last) lets places through, and any dateline
    with an agency, a date or a region."""
    assert parse_dateline(text).places == places
