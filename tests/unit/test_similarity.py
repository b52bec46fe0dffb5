"""Story clustering core: copies found, topic neighbours and digests kept apart."""

import dataclasses
import json
import pathlib
import pickle
import random
import re
import subprocess
import sys
import textwrap

import pytest

from newsbeam.transforms.similarity import (
    DedupConfig,
    band_keys,
    cluster,
    dedup_rows,
    fingerprint,
    is_copy,
    normalize_paragraphs,
    similarity,
)

CONFIG = DedupConfig()
SEED = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "seed" / "wire-story.txt"

ORIGINAL = [
    "WASHINGTON (Reuters) - The U.S. Senate on Thursday passed a $96 billion bill to replace "
    "lead pipes, repair aging dams and upgrade wastewater plants, sending the measure to the "
    "House with rare bipartisan support.",
    "The vote was 71-27, with 21 Republicans joining all Democrats present in favor of the "
    "legislation, which its sponsors called the largest investment in water systems in a "
    "generation.",
    '"Every family in this country deserves to turn on the tap and know the water is safe," '
    "said Sen. Tom Carper, one of the bill's authors.",
    "The bill sets aside $30 billion to remove lead service lines within ten years and $12 "
    "billion for dam safety programs run by the Army Corps of Engineers.",
    "It would also create a grant program to help small and rural towns pay for water "
    "treatment upgrades they cannot finance through local bonds.",
    "Opponents said the bill spent too much at a time of high federal deficits, calling it a "
    "wish list rather than a budget.",
    "House Speaker Mike Johnson has not said when the chamber will take up the bill.",
    "The Environmental Protection Agency estimates that more than 9 million homes still get "
    "water through lead pipes.",
    "Utilities have warned that replacing the pipes could take decades without federal money, "
    "because many of the lines run under private property.",
]
OTHER = [
    "LONDON (Reuters) - Oil prices rose more than 3% on Thursday after OPEC+ agreed to deepen "
    "its output cuts by a further 500,000 barrels per day from November.",
    "Brent crude futures were up $2.61 at $84.20 a barrel by 0945 GMT, while West Texas "
    "Intermediate crude rose $2.48 to $80.15.",
    "Saudi Arabia will shoulder the largest share of the additional cut, according to a "
    "statement from the Saudi energy ministry.",
]


def fp(paragraphs):
    return fingerprint("\n\n".join(paragraphs), CONFIG)


def test_normalization_strips_dateline_credits_boilerplate_and_unifies_style():
    text = (
        "Senate passes water bill\n\nWASHINGTON (AP) — The U.S. Senate passed it.\n\n"
        "It costs 5 per cent more.\n\n— Reuters\n\nCopyright 2024 The Daily. All rights reserved."
    )
    assert normalize_paragraphs(text) == [
        ["the", "us", "senate", "passed", "it"],
        ["it", "costs", "5", "percent", "more"],
    ]


def test_trimmed_to_first_third_is_a_copy():
    copy = ["ISLAMABAD: " + ORIGINAL[0].split(" - ", 1)[1]] + ORIGINAL[1:3]
    assert is_copy(fp(ORIGINAL), fp(copy), CONFIG)
    scores = similarity(fp(ORIGINAL), fp(copy), CONFIG)
    assert scores.containment == 1.0
    assert 0.2 < scores.resemblance < 0.4


def test_reordered_paragraphs_dateline_swap_and_added_paragraph_are_copies():
    reordered = [ORIGINAL[0], ORIGINAL[4], ORIGINAL[2], ORIGINAL[1], ORIGINAL[3], *ORIGINAL[5:]]
    assert is_copy(fp(ORIGINAL), fp(reordered), CONFIG)
    swapped = ["KABUL, Afghanistan (AP) — " + ORIGINAL[0].split(" - ", 1)[1], *ORIGINAL[1:]]
    assert is_copy(fp(ORIGINAL), fp(swapped), CONFIG)
    added = [
        *ORIGINAL[:2],
        "Local officials in Flint said the money would help the city.",
        *ORIGINAL[2:],
        "(With inputs from agencies)",
    ]
    assert is_copy(fp(ORIGINAL), fp(added), CONFIG)
    styled = [p.replace("U.S.", "US").replace('"', "“") for p in ORIGINAL]
    assert is_copy(fp(ORIGINAL), fp(styled), CONFIG)


def test_follow_up_repeating_two_background_paragraphs_is_not_a_copy():
    follow_up = [
        "WASHINGTON — Mayors and water utilities on Friday urged the House to quickly approve "
        "the water bill passed by the Senate, while conservative groups pledged to fight it.",
        "Our cities have been patching century-old pipes for years, the head of the mayors' "
        "conference said at a news conference outside the Capitol.",
        ORIGINAL[3],
        ORIGINAL[7],
        "The Heritage Foundation called the bill a federal takeover of local responsibilities.",
        "House Democrats said they expected a vote before the July 4 recess.",
    ]
    assert not is_copy(fp(ORIGINAL), fp(follow_up), CONFIG)


def test_digest_of_openings_is_not_a_copy_and_does_not_bridge_stories():
    digest = ["Senate passes water bill", ORIGINAL[0], "Oil jumps on OPEC cut", *OTHER[:2]]
    trimmed = ORIGINAL[:3]
    other_trim = OTHER[:2] + ["Analysts expect Brent to test $90 before the end of the year."]
    assert not is_copy(fp(ORIGINAL), fp(digest), CONFIG)
    labels = cluster(
        [
            ("a", fp(ORIGINAL), None),
            ("b", fp(trimmed), None),
            ("d", fp(digest), None),
            ("o", fp(OTHER), None),
            ("p", fp(other_trim), None),
        ],
        CONFIG,
    )
    assert labels == {"a": "a", "b": "a", "d": "d", "o": "o", "p": "o"}


def test_cluster_ids_do_not_depend_on_input_order():
    items = [
        ("z9", fp(ORIGINAL), "2024-04-25T22:00:00Z"),
        ("a1", fp(ORIGINAL[:4]), "2024-04-26T01:00:00Z"),
        ("m5", fp(ORIGINAL[:3] + ["Local paragraph added by an outlet here today."]), None),
        ("b2", fp(OTHER), None),
        ("c3", fp(OTHER), "2024-10-03"),
    ]
    expected = {"z9": "z9", "a1": "z9", "m5": "z9", "b2": "c3", "c3": "c3"}
    rng = random.Random(5)
    for _ in range(6):
        rng.shuffle(items)
        assert cluster(items, CONFIG) == expected


def test_dedup_rows_contract_aliases_and_every_id_once():
    rows = [
        {"id": "x", "text": "\n\n".join(ORIGINAL), "headline": "H", "date": "2024-04-26"},
        {
            "id": "y",
            "text": "\n\n".join(ORIGINAL[:3]),
            "published": "2024-04-25T10:00:00+00:00",
            "cluster": "gold-ignored",
        },
        {"id": "w", "text": ""},
    ]
    assert dedup_rows(rows, CONFIG) == [
        {"id": "x", "cluster": "y"},
        {"id": "y", "cluster": "y"},
        {"id": "w", "cluster": "w"},
    ]


def test_fingerprint_is_picklable_and_compact():
    f = fp(ORIGINAL)
    assert pickle.loads(pickle.dumps(f)) == f
    ends = len(f.paragraph_ends) + len(f.soft_ends) + len(f.number_ends) + len(f.char_ends)
    assert f.stored_size() == 4 * f.n_shingles + len(f.soft) + len(f.numbers) + len(f.chars) + 2 * ends
    assert len(f.numbers) == 4 * f.number_ends[-1] > 0
    assert len(f.soft) == 2 * f.soft_ends[-1]
    assert len(f.chars) == 2 * f.char_ends[-1] > 0
    keys = band_keys(f, CONFIG)
    # the lead and the second paragraph's opening; no character bands by default
    assert CONFIG.char_bands == 0 and len(keys) == CONFIG.bands + 2
    assert keys[0].startswith("00:") and len(keys[0]) == 15
    assert keys[CONFIG.bands + 1].startswith("L:")
    with_chars = DedupConfig(char_bands=24)  # then the character bands come last
    keys = band_keys(fingerprint("\n\n".join(ORIGINAL), with_chars), with_chars)
    assert len(keys) == with_chars.bands + 2 + 24 and keys[-1].startswith("C23:")


GOLDEN_KEYS = ("00:c4aa5004bb3e", "01:5d9e2e64c7de")
GOLDEN_TEXT = "The quick brown fox jumps over the lazy dog near the river bank today."


def test_band_keys_golden_value_and_agree_across_processes():
    keys = band_keys(fingerprint(GOLDEN_TEXT, CONFIG), CONFIG)
    code = (
        "import json; from newsbeam.transforms.similarity import DedupConfig, band_keys, "
        f"fingerprint; c = DedupConfig(); print(json.dumps(band_keys(fingerprint({GOLDEN_TEXT!r}, c), c)))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
    )
    assert tuple(json.loads(other.stdout)) == keys
    assert keys[:2] == GOLDEN_KEYS


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="bands"):
        DedupConfig(num_perm=64, bands=64, rows=2)
    with pytest.raises(ValueError, match="min_containment"):
        DedupConfig(min_containment=1.5)


@pytest.mark.skipif(not SEED.exists(), reason="seed wire story not available")
def test_seed_story_copy_with_other_dateline_is_found():
    text = SEED.read_text(encoding="utf-8")
    body = text.split("ISLAMABAD-NEW YORK,", 1)[1]
    copy = "WASHINGTON (Reuters) - " + "\n\n".join(body.split("\n\n")[:4])
    assert is_copy(fingerprint(text, CONFIG), fingerprint(copy, CONFIG), CONFIG)


def test_text_without_paragraph_breaks_still_clusters():
    """Flattened text (feeds, OCR, other tools' exports) is cut into
    pseudo-paragraphs of whole sentences, and a boilerplate phrase inside it
    does not wipe the whole text out."""
    import re

    from newsbeam.transforms.similarity import DedupConfig, fingerprint, is_copy

    config = DedupConfig()
    sentences = [
        f"Officials in district {i} said the water tariff would take effect in {2020 + i % 5} after a vote."
        for i in range(40)
    ]
    original = " ".join(sentences) + " Subscribe to the Valley Post. All rights reserved."
    trimmed = " ".join(sentences[:14])
    other = " ".join(f"The football club {i} signed a striker from abroad for the season." for i in range(40))
    residents = original.replace("after a vote.", "after a vote, and residents can sign up for it.", 1)
    texts = {"original": original, "trimmed": trimmed, "other": other, "residents": residents}
    fp = {name: fingerprint(re.sub(r"\s+", " ", text), config) for name, text in texts.items()}
    assert fp["original"].n_shingles > 100
    assert len(fp["original"].paragraph_ends) > 3
    assert is_copy(fp["original"], fp["trimmed"], config)
    assert is_copy(fp["original"], fp["residents"], config)
    assert not is_copy(fp["original"], fp["other"], config)


def test_scripts_without_spaces_use_character_shingles():
    from newsbeam.transforms.similarity import DedupConfig, fingerprint, is_copy

    config = DedupConfig()
    tokyo = (
        "東京都は二十七日、新型コロナウイルスの感染者が新たに百人確認されたと発表した。"
        "都は外出自粛を改めて呼びかけている。"
    )
    osaka = (
        "大阪府は二十八日、豪雨により河川が氾濫し住民三千人が避難したと発表した。"
        "府は警戒を続けるよう求めている。"
    )
    story = "\n".join(f"{tokyo}{i}" for i in range(6))
    other = "\n".join(f"{osaka}{i}" for i in range(6))
    full, head = fingerprint(story, config), fingerprint("\n".join(story.splitlines()[:3]), config)
    assert full.n_shingles > 200
    assert is_copy(full, head, config)
    assert not is_copy(full, fingerprint(other, config), config)


def test_fingerprints_read_a_bounded_prefix_of_huge_texts():
    from newsbeam.transforms.similarity import MAX_FINGERPRINT_CHARS, DedupConfig, fingerprint

    config = DedupConfig()
    huge = "The council met again today and voted on the budget. " * 200_000  # about 11 MB
    assert fingerprint(huge, config) == fingerprint(huge[:MAX_FINGERPRINT_CHARS], config)


# A house rewrite of ORIGINAL: about one word in seven replaced outside the
# quote, "U.S." and numerals in house style, the quote kept verbatim.
REWRITE = [
    "WASHINGTON (AP) - The US Senate on Thursday approved a $96 billion bill to replace "
    "lead pipes, fix ageing dams and modernise wastewater plants, sending the measure to the "
    "House with rare support from both parties.",
    "The vote was 71-27, with 21 Republicans joining all Democrats present in backing the "
    "legislation, which its authors called the biggest investment in water systems in a "
    "generation.",
    "\u201cEvery family in this country deserves to turn on the tap and know the water is safe,\u201d "
    "said Senator Tom Carper, one of the bill's sponsors.",
    "The bill earmarks $30 billion to remove lead service lines within 10 years and $12 "
    "billion for dam safety programmes run by the Army Corps of Engineers.",
    "It would also set up a grant program to help small and rural towns pay for water "
    "treatment upgrades they cannot fund through local bonds.",
    "Critics said the bill spent too much at a time of high federal deficits, calling it a "
    "wish list rather than a budget.",
]
# A rival agency's own report of the vote: the same official quoted verbatim and
# one background paragraph repeated, the rest in its own words.
RIVAL = [
    "WASHINGTON (Bloomberg) - Senators sent a sweeping water infrastructure package to the House "
    "on Thursday, giving cities money to dig up lead pipes that have poisoned drinking water for "
    "decades.",
    '"Every family in this country deserves to turn on the tap and know the water is safe," '
    "said Sen. Tom Carper, one of the bill's authors.",
    "Water utilities and construction unions lobbied heavily for the measure, while budget hawks "
    "in both parties objected to its price tag.",
    "The Environmental Protection Agency estimates that more than 9 million homes still get "
    "water through lead pipes.",
    "The House is expected to take up its own version next month.",
]


def test_house_rewrite_is_a_copy_by_the_rewrite_signal_only():
    original, rewrite = fp(ORIGINAL), fp(REWRITE)
    assert is_copy(original, rewrite, CONFIG)
    # The 5-word runs alone do not find it: the rewrite signal does.
    from newsbeam.transforms.similarity import _verbatim_copy, soft_scores

    assert not _verbatim_copy(original, rewrite, CONFIG)
    assert soft_scores(original, rewrite, CONFIG)[0].containment >= CONFIG.soft_containment
    # A fingerprint stored before the signal existed (no word pairs, nor the
    # later character runs) is verified by containment only.
    legacy = dataclasses.replace(rewrite, soft=b"", soft_ends=(), chars=b"", char_ends=())
    assert not is_copy(original, legacy, CONFIG)


def test_trimmed_rewrite_and_write_through_are_copies():
    original = fp(ORIGINAL)
    assert is_copy(original, fp(REWRITE[:3]), CONFIG)
    top = (
        "WASHINGTON (AP) - The House passed the $96 billion water bill on Friday, a day after the "
        "Senate vote, "
        "and President Joe Biden said he would sign it next week."
    )
    # The dateline moves to the new top paragraph.
    assert is_copy(original, fp([top, REWRITE[0].split(" - ", 1)[1]] + REWRITE[1:5]), CONFIG)


def test_rival_report_quoting_the_same_official_is_not_a_copy():
    assert not is_copy(fp(ORIGINAL), fp(RIVAL), CONFIG)
    assert not is_copy(fp(REWRITE), fp(RIVAL), CONFIG)
    labels = cluster(
        [("o", fp(ORIGINAL), None), ("w", fp(REWRITE), None), ("r", fp(RIVAL), None)],
        CONFIG,
    )
    assert labels["o"] == labels["w"] != labels["r"]


def test_stored_fingerprint_round_trip_keeps_the_rewrite_signal_and_reads_old_documents():
    from newsbeam.transforms.stories import decode_fingerprint, encode_fingerprint

    f = fp(REWRITE)
    data = json.loads(json.dumps(encode_fingerprint(f)))
    back = decode_fingerprint(data)
    assert (back.shingles, back.paragraph_ends, back.soft, back.soft_ends) == (
        f.shingles,
        f.paragraph_ends,
        f.soft,
        f.soft_ends,
    )
    assert is_copy(fp(ORIGINAL), back, CONFIG)
    assert (back.numbers, back.number_ends) == (f.numbers, f.number_ends)
    assert (back.chars, back.char_ends) == (f.chars, f.char_ends)
    old = decode_fingerprint({k: v for k, v in data.items() if k not in ("b", "q", "n", "m", "c", "e")})
    assert old.soft == b"" and old.soft_ends == () and old.number_ends == ()
    assert old.chars == b"" and old.char_ends == ()
    assert not is_copy(fp(ORIGINAL), old, CONFIG)


def test_digest_carrying_one_story_opening_first_is_not_a_copy_of_its_trimmed_copy():
    # No other story's copy in the batch shows that the digest is a composite:
    # its inner headlines do.
    digest = fp(
        [
            "Senate passes $96 billion water bill",
            ORIGINAL[0].split(" - ", 1)[1],
            ORIGINAL[1],
            "Oil jumps after OPEC+ deepens cuts",
            OTHER[0].split(" - ", 1)[1],
            "Rail strike called for next week",
            "Train drivers will walk out for three days from Wednesday, their union said on Monday, "
            "after talks with the national operator over pay and working hours broke down.",
        ]
    )
    assert len(digest.sections) == 2  # the first headline sits above the body
    assert not is_copy(digest, fp(ORIGINAL[:3]), CONFIG)
    assert not is_copy(digest, fp(REWRITE[:3]), CONFIG)
    # Without the inner headlines the same text would match the trimmed copy.
    plain = dataclasses.replace(digest, sections=())
    assert is_copy(plain, fp(ORIGINAL[:3]), CONFIG)


def test_trimmed_copy_of_an_article_with_subheads_is_still_a_copy():
    sectioned = ORIGINAL[:3] + ["What the bill does"] + ORIGINAL[3:6] + ["What comes next"] + ORIGINAL[6:]
    full = fp(sectioned)
    assert len(full.sections) == 2
    assert is_copy(full, fp(sectioned[:6]), CONFIG)  # crosses the first subhead


def test_editors_note_with_a_curly_apostrophe_is_dropped():
    text = "Editor\u2019s note: This story was updated with comment from the company.\n\n" + ORIGINAL[1]
    assert normalize_paragraphs(text) == normalize_paragraphs(ORIGINAL[1])


def _seed_body():
    lines = [line.strip() for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [lines[2].split(",", 1)[1], *lines[3:]]  # below the two headline lines, without the dateline


# Background a long version of the seed story carries after the wire text.
_BACKGROUND = [
    "Diplomats in Kabul said the report would complicate talks on a timetable for the withdrawal, "
    "because commanders had counted on a lull in attacks on coalition bases through the summer.",
    "In Doha, where Taliban negotiators keep a political office, a spokesman dismissed the story "
    "as propaganda meant to derail the agreement signed in February.",
    "Several senators from both parties asked for a classified briefing before the July recess, "
    "saying they had learned of the findings from the newspaper rather than from the agencies.",
    "Military historians noted that Moscow backed Afghan fighters against American forces once "
    "before, in the 1980s, when Washington armed the mujahideen against the Soviet army.",
    "The Pentagon has reported four American combat deaths in Afghanistan so far this year, none "
    "since the deal took effect, while Afghan security forces have suffered heavy losses.",
    "European allies with soldiers in the country, including Britain and Germany, said they were "
    "seeking more information from Washington and would review the security of their bases.",
    "A former ambassador to Moscow said the Kremlin had every reason to want the United States "
    "to leave Afghanistan bloodied, but little reason to risk an open confrontation.",
    "Officials at the embassy in London repeated the denial on Sunday and accused British "
    "newspapers of copying an unverified story without asking the Russian side for comment.",
    "Intelligence analysts have debated for years how far Russian support for the Taliban went, "
    "with earlier assessments pointing to fuel, small arms and cash routed through Tajikistan.",
    "Questions about the briefing are likely to dominate the coming week in Congress, where "
    "the annual defense policy bill is due for a vote in both chambers.",
    "Relatives of soldiers killed last year told local television that they wanted to know "
    "whether anyone in the government had been warned and what had been done about it.",
    "The intelligence directorate known as the GRU has been linked by Western governments to "
    "the poisoning of a former spy in Salisbury and to hacking during the 2016 election.",
]


def test_paywalled_copy_holding_the_first_paragraphs_of_a_long_article_is_a_copy():
    """A paywall or trim-from-the-end copy keeps the first two or three
    paragraphs: of a long article that is far below ``min_resemblance`` of
    the whole, and of an article with subheads it lies inside the first
    section.  Both were kept apart from their original."""
    body = _seed_body()
    long_article = fingerprint("\n\n".join(body + _BACKGROUND), CONFIG)
    sectioned = body[:3] + ["What the intelligence showed"] + body[3:7] + ["Moscow's response"] + body[7:]
    sectioned = sectioned[:13] + ["A deal with the Taliban"] + sectioned[13:]
    with_subheads = fingerprint("\n\n".join(sectioned), CONFIG)
    assert len(with_subheads.sections) == 3
    for kept in (2, 3):
        paywalled = fingerprint(
            "\n\n".join(
                ["Moscow denies bounty report", "WASHINGTON (Reuters) - " + body[0], *body[1:kept]]
                + ["Subscribe to continue reading. Already a subscriber? Log in."]
            ),
            CONFIG,
        )
        if kept == 2:
            assert similarity(long_article, paywalled, CONFIG).resemblance < CONFIG.min_resemblance
        assert is_copy(long_article, paywalled, CONFIG)
        assert is_copy(with_subheads, paywalled, CONFIG)
        labels = cluster([("long", long_article, None), ("paywalled", paywalled, None)], CONFIG)
        assert labels == {"long": "long", "paywalled": "long"}


# A follow-up three days on that opens with the wire story's first two paragraphs.
_FOLLOW_UP = [
    "The White House said the president had not been briefed on the findings because they had not "
    "been verified, a claim several lawmakers rejected.",
    "The national security adviser told reporters that the intelligence agencies had disagreed about "
    "the reports and that a dissenting view was still being examined.",
    "Democrats on the House intelligence committee demanded the raw reporting and said they would "
    "call the directors of the agencies to testify before the recess.",
    "In Kabul, a spokesman for the Afghan government said it had passed information about the "
    "payments to American officers months earlier.",
    "The Taliban repeated its denial on Wednesday, saying its fighters had no need of foreign money "
    "to carry out operations against occupying forces.",
    "Russian officials called the new reports fabricated and said the embassy would demand an "
    "apology from the newspapers that published them.",
    "Some Republican senators said the allegations, if confirmed, should lead to new sanctions "
    "against the Russian military intelligence service.",
    "The Pentagon said it had found no evidence so far linking specific deaths to the alleged "
    "payments but would keep investigating.",
]


def test_a_paywalled_opening_that_a_follow_up_reuses_does_not_bridge_the_two():
    """The paywalled copy of a long article's first two paragraphs is also
    wholly inside a follow-up that reuses those paragraphs word for word.
    It copies both, the two are no copies of each other, and union-find put
    all three in one story: the excerpt now joins one of them only."""
    body = _seed_body()
    long_article = fingerprint("\n\n".join(body + _BACKGROUND), CONFIG)
    follow_up = fingerprint("\n\n".join(["Lawmakers demand answers", *body[:2], *_FOLLOW_UP]), CONFIG)
    paywalled = fingerprint(
        "\n\n".join(
            ["Moscow denies bounty report", "WASHINGTON (Reuters) - " + body[0], body[1]]
            + ["Subscribe to continue reading. Already a subscriber? Log in."]
        ),
        CONFIG,
    )
    assert is_copy(long_article, paywalled, CONFIG) and is_copy(follow_up, paywalled, CONFIG)
    assert not is_copy(long_article, follow_up, CONFIG)
    items = [
        ("long", long_article, "2020-06-27T10:00:00Z"),
        ("paywalled", paywalled, "2020-06-27T12:00:00Z"),
        ("follow", follow_up, "2020-06-30T09:00:00Z"),
    ]
    assert cluster(items, CONFIG) == {"long": "long", "paywalled": "long", "follow": "follow"}
    # Undated: the excerpt joins the partner with more copies (a reprint of the long article).
    undated = [(doc_id, fp_, None) for doc_id, fp_, _ in items] + [("reprint", long_article, None)]
    labels = cluster(undated, CONFIG)
    assert labels["paywalled"] == labels["long"] == labels["reprint"] != labels["follow"]


def test_a_brief_shorter_than_a_sentence_is_not_an_opening_copy():
    """The low-resemblance exemption needs ``min_excerpt_shingles`` (about a
    sentence): a caption-sized line that opens a long article stays apart."""
    body = _seed_body()
    long_article = fingerprint("\n\n".join(body + _BACKGROUND), CONFIG)
    brief = fingerprint(" ".join(body[0].split()[:18]) + ".", CONFIG)
    assert CONFIG.min_shingles <= brief.n_shingles < CONFIG.min_excerpt_shingles
    assert not is_copy(long_article, brief, CONFIG)


def test_a_body_of_short_unpunctuated_lines_is_fingerprinted():
    """A schedule, a list or a results table has no line that ends a
    sentence: all its lines looked like headlines above the body and were
    dropped, so even identical copies had no fingerprint and never grouped."""
    stops = ["Interlagos – 10 March", "Curitiba – 8 April", "Velopark – 22 April", "Londrina – 6 May"]
    stops += ["Santa Cruz do Sul – 20 May", "Cascavel – 9 September", "Tarumã – 21 October"]
    other = ["Melbourne – 25 March", "Sakhir – 8 April", "Shanghai – 15 April", "Baku – 29 April"]
    other += ["Barcelona – 13 May", "Monaco – 27 May", "Montreal – 10 June"]
    schedule = fingerprint("\n\n".join(["Stock Car 2018 calendar", *stops]), CONFIG)
    retitled = fingerprint("\n\n".join(["Stock Car: the full 2018 schedule", *stops]), CONFIG)
    assert schedule.n_shingles >= CONFIG.min_shingles and schedule.sections == ()
    assert is_copy(schedule, retitled, CONFIG)
    assert not is_copy(
        schedule, fingerprint("\n\n".join(["Formula 1 2018 calendar", *other]), CONFIG), CONFIG
    )
    rows = [{"id": "a", "text": "\n\n".join(stops)}, {"id": "b", "text": "\n\n".join(stops)}]
    assert dedup_rows(rows, CONFIG) == [{"id": "a", "cluster": "a"}, {"id": "b", "cluster": "a"}]
    # One short line under a dateline is the body, not a headline.
    assert normalize_paragraphs("SANTIAGO (Reuters) - Quake hits northern Chile") == [
        ["quake", "hits", "northern", "chile"]
    ]


def _covid_update(day, cases, deaths, total):
    return [
        f"Pakistan reported {cases} new coronavirus cases and {deaths} deaths in the past 24 hours, "
        f"the National Command and Operation Centre said on {day}.",
        f"The country's total number of cases has risen to {total}, according to official figures.",
        "The government has urged citizens to follow standard operating procedures, including "
        "wearing masks in public places and maintaining social distance.",
        "Markets, restaurants and wedding halls have been ordered to close by 10 p.m. in cities "
        "with high positivity rates.",
        "Health experts have warned that hospitals in Lahore and Karachi could run out of critical "
        "care beds if the trend continues.",
    ]


def _quake(magnitude, km, direction, place, depth):
    return [
        f"A magnitude {magnitude} earthquake struck {km} kilometres {direction} of {place} on Sunday, "
        "the U.S. Geological Survey said, with no immediate reports of damage or casualties.",
        f"The quake hit at a depth of {depth} kilometres, the USGS said.",
    ]


def test_daily_updates_and_templated_reports_with_other_figures_are_not_copies():
    """Monday's and Tuesday's case counts over the same background, or two
    quakes from one template: the lede matches by word pairs and the rest
    verbatim, but the figures of the shared paragraphs differ both ways."""
    monday = fp(_covid_update("Monday", "4,512", 35, "498,257"))
    tuesday = fp(_covid_update("Tuesday", "3,795", 52, "502,052"))
    assert similarity(monday, tuesday, CONFIG).resemblance > CONFIG.anchor_exempt_resemblance
    assert not is_copy(monday, tuesday, CONFIG)
    # Monday's copy, trimmed and with a house-style "ten" for 10, is a copy.
    trimmed = _covid_update("Monday", "4512", 35, "498,257")[:4]
    trimmed[3] = trimmed[3].replace("10 p.m.", "ten p.m.")
    assert is_copy(monday, fp(["ISLAMABAD: " + trimmed[0], *trimmed[1:]]), CONFIG)
    assert not is_copy(tuesday, fp(trimmed), CONFIG)
    iquique = fp(_quake("5.2", 80, "west", "Iquique, Chile", 35))
    assert not is_copy(iquique, fp(_quake("6.0", 30, "east", "Hualien, Taiwan", 20)), CONFIG)
    assert is_copy(
        iquique,
        fp(["SANTIAGO, Chile (AP) — " + p for p in _quake("5.2", 80, "west", "Iquique, Chile", 35)]),
        CONFIG,
    )
    labels = cluster([("mon", monday, "2020-12-07"), ("tue", tuesday, "2020-12-08")], CONFIG)
    assert labels == {"mon": "mon", "tue": "tue"}


def test_trimmed_copy_with_one_more_paragraph_on_top_meets_its_original():
    """A paywalled copy of a long article whose top line the original lacks
    (a kicker ending in "?", a local paragraph) shares no lead key with it,
    and at a resemblance of ~0.05 few bands: the second paragraph's opening
    is a lead key too, so the pair becomes a candidate both ways round."""
    body = _seed_body()
    long_article = fingerprint("\n\n".join(body + _BACKGROUND), CONFIG)
    kicker = "Is Moscow paying the Taliban to kill Americans? Here is what we know so far."
    copy = fingerprint("\n\n".join([kicker, *body[:2]]), CONFIG)
    shared = set(band_keys(long_article, CONFIG)) & set(band_keys(copy, CONFIG))
    assert any(key.startswith("L:") for key in shared)
    assert is_copy(long_article, copy, CONFIG)
    labels = cluster([("long", long_article, None), ("copy", copy, None)], CONFIG)
    assert labels["long"] == labels["copy"]
    # The other way round: the original has the extra top paragraph.
    with_kicker = fingerprint("\n\n".join([kicker, *body, *_BACKGROUND]), CONFIG)
    plain = fingerprint("\n\n".join(body[:2]), CONFIG)
    assert any(
        k.startswith("L:") for k in set(band_keys(with_kicker, CONFIG)) & set(band_keys(plain, CONFIG))
    )


def test_digest_whose_first_item_is_a_paywalled_copy_stays_apart():
    """The paywalled opening of a story is also, word for word, the first
    item of a digest with inner headlines.  The copy joins the story; the
    digest, which goes on about other stories, does not join through it."""
    body = _seed_body()
    opening = ["ISLAMABAD: " + body[0], body[1]]
    digest = fp(
        ["World in brief", "Russia bounty report", body[0], body[1], "Senate passes water bill"]
        + ORIGINAL[:2]
        + ["Oil jumps on OPEC cut"]
        + OTHER[:2]
    )
    assert len(digest.sections) == 2
    assert not is_copy(fp(opening), digest, CONFIG)
    labels = cluster(
        [("a-story", fp(body), None), ("b-copy", fp(opening), None), ("c-digest", digest, None)], CONFIG
    )
    assert labels == {"a-story": "a-story", "b-copy": "a-story", "c-digest": "c-digest"}


def test_soft_hyphens_and_zero_width_characters_inside_words_do_not_split_them():
    """CMSs put hyphenation hints (U+00AD) and zero-width spaces inside long
    words; they never show, but split each such word into two tokens, so a
    copy carrying them matched 1 of 22 bench originals."""
    for mark in ("\u00ad", "\u200b", "\u2060"):
        hinted = [
            re.sub(r"(\w{4})(\w{3,})", lambda m, mark=mark: m.group(1) + mark + m.group(2), p)
            for p in ORIGINAL
        ]
        assert hinted != ORIGINAL
        assert is_copy(fp(ORIGINAL), fp(hinted), CONFIG)


def _wrapped(paragraphs, width, blank_lines=True, hyphenate=False):
    """The paragraphs as hard-wrapped plain text (wire copy, e-mail, OCR of a column)."""
    out = []
    for paragraph in paragraphs:
        lines = textwrap.wrap(paragraph, width)
        if hyphenate:  # move the first half of the next line's first long word up, with a hyphen
            for i in range(len(lines) - 1):
                head, _, rest = lines[i + 1].partition(" ")
                if len(head) > 7 and head.isalpha():
                    lines[i] += " " + head[:4] + "-"
                    lines[i + 1] = (head[4:] + " " + rest).strip()
        out.append("\n".join(lines))
    return ("\n\n" if blank_lines else "\n").join(out)


def test_hard_wrapped_text_is_joined_back_into_paragraphs():
    """Plain-text copy wrapped at a fixed width ends every line mid-sentence:
    each line was a paragraph (or an inner headline), so a copy of the seed
    story in 35-character columns was no copy of it, and on the bench sets
    wrapped copies matched 12-16 of 22 originals."""
    body = _seed_body()
    for width, blank_lines, hyphenate in (
        (70, False, False),
        (35, True, True),
        (35, False, True),
        (100, True, False),
    ):
        wrapped = _wrapped(body, width, blank_lines, hyphenate)
        assert is_copy(fp(body), fingerprint(wrapped, CONFIG), CONFIG), (width, blank_lines, hyphenate)
        # A follow-up reusing the first two paragraphs stays apart, wrapped alike.
        follow_up = _wrapped(
            ["Lawmakers demand answers", *body[:2], *_FOLLOW_UP], width, blank_lines, hyphenate
        )
        assert not is_copy(fingerprint(wrapped, CONFIG), fingerprint(follow_up, CONFIG), CONFIG)
    # One paragraph per line, a list of short lines: not wrapped, left as they are.
    assert normalize_paragraphs("\n".join(ORIGINAL)) == [p for x in ORIGINAL for p in normalize_paragraphs(x)]
    schedule = "\n".join(f"Stage {i} – Interlagos to Curitiba, {i + 3} March" for i in range(1, 12))
    assert len(normalize_paragraphs(schedule)) >= 10


_OCR = {"e": "c", "c": "e", "l": "1", "i": "l", "o": "0", "m": "rn", "h": "b", "u": "n", "n": "u"}


def _ocr(paragraphs, seed, rate=0.03):
    """OCR-like character errors at ``rate``: confusions, dropped letters, merged words."""
    rng = random.Random(seed)
    out = []
    for para in paragraphs:
        chars = []
        for ch in para:
            r = rng.random()
            if r < rate * 0.6 and ch.lower() in _OCR:
                chars.append(_OCR[ch.lower()])
            elif not (r < rate * 0.8 and ch.isalpha() or r < rate and ch == " "):
                chars.append(ch)
        out.append("".join(chars))
    return out


_NOISY_FOLLOW_UP = [
    "WASHINGTON — Mayors and water utilities on Friday urged the House to quickly approve "
    "the water bill passed by the Senate, while conservative groups pledged to fight it.",
    "Our cities have been patching century-old pipes for years, the head of the mayors' "
    "conference said at a news conference outside the Capitol.",
    ORIGINAL[3],
    ORIGINAL[7],
    "The Heritage Foundation called the bill a federal takeover of local responsibilities.",
    "House Democrats said they expected a vote before the July 4 recess.",
]


def test_copies_with_ocr_errors_on_both_sides_are_found_by_the_character_signal():
    from newsbeam.transforms.similarity import _rewritten_copy, _verbatim_copy

    original = fp(_ocr(ORIGINAL, 1))
    whole = fp(_ocr(ORIGINAL, 2))
    trimmed = fp(_ocr(["ISLAMABAD: " + ORIGINAL[0].split(" - ", 1)[1]] + ORIGINAL[1:4], 3))
    for copy in (whole, trimmed):
        # About one word in eight is broken on each side: the word signals miss it.
        assert not _verbatim_copy(original, copy, CONFIG) and not _rewritten_copy(original, copy, CONFIG)
        assert is_copy(original, copy, CONFIG)
    # Such short texts share no word band key; the optional character bands make them candidates.
    with_chars = DedupConfig(char_bands=24)
    noisy = [
        fingerprint("\n\n".join(_ocr(paras, seed)), with_chars)
        for paras, seed in ((ORIGINAL, 1), (ORIGINAL, 2))
    ]
    assert set(band_keys(noisy[0], with_chars)) & set(band_keys(noisy[1], with_chars))
    # Stored before the character signal existed: the word signals only.
    legacy = dataclasses.replace(whole, chars=b"", char_ends=())
    assert not is_copy(original, legacy, CONFIG)


def test_noisy_follow_up_and_rival_report_stay_apart_from_noisy_copies():
    items = [
        ("o", fp(_ocr(ORIGINAL, 1)), None),
        ("c", fp(_ocr(ORIGINAL[:6], 2)), None),
        ("f", fp(_ocr(_NOISY_FOLLOW_UP, 4)), None),
        ("r", fp(_ocr(RIVAL, 5)), None),
    ]
    for _, other, _ in items[2:]:
        assert not is_copy(items[0][1], other, CONFIG)
        assert not is_copy(items[1][1], other, CONFIG)
    labels = cluster(items, CONFIG)
    assert labels["o"] == labels["c"]
    assert len({labels["o"], labels["f"], labels["r"]}) == 3


def test_page_footer_whose_longest_sentence_is_misspelt_is_still_dropped():
    footer = (
        "Subscribe to City Ledger for unlimited access to breaking news, analysis and opinion. "
        "Follow us on Twitter, Facebook and Instagram for the latest updates. Copyright City "
        "Ledger. All rights reserved. This material may not be published, broadcast, rewritten or "
        "redistributed without permission. Re1ated c0verage: markets open higher; weather alert "
        "issued for the weekend; city council approves new budget; schools to reopen after "
        "holiday; sports roundup and scores; letters to the editor; obituaries and notices."
    )
    assert normalize_paragraphs("\n\n".join(ORIGINAL[:2] + [footer])) == normalize_paragraphs(
        "\n\n".join(ORIGINAL[:2])
    )


def test_dedup_rows_in_worker_processes_labels_as_in_one(monkeypatch):
    """A large input is fingerprinted by a pool of processes: same labels, in input order, with
    progress up to every row."""
    from newsbeam.transforms import similarity

    rng = random.Random(5)
    words = [f"w{i}" for i in range(400)]
    stories = [" ".join(rng.choice(words) for _ in range(120)) + "." for _ in range(25)]
    rows = []
    for i in range(60):
        story = stories[i % 25]
        text = story if i < 25 else story[: len(story) * 2 // 3]  # the later copies are cut short
        rows.append({"id": f"r{i}", "text": text, "published": f"2024-01-{1 + i % 28:02d}"})
    monkeypatch.setattr(similarity, "POOL_MIN_ROWS", 10)
    monkeypatch.setattr(similarity, "_POOL_CHUNK", 7)
    done = []
    pooled = similarity.dedup_rows(rows, DedupConfig(), workers=2, progress=done.append)
    alone = similarity.dedup_rows(rows, DedupConfig(), workers=1)
    assert pooled == alone
    assert [r["id"] for r in pooled] == [f"r{i}" for i in range(60)]
    assert len({r["cluster"] for r in pooled}) < 60  # copies grouped (the test checks something)
    assert done[-1] == 60 and done == sorted(done)
