"""Story clustering core: which articles are copies of one wire story.  Pure.

A *copy* derives from the same original report whatever its headline,
dateline, agency credit, house style (U.S./US, quotes, per cent), trimmed,
split or reordered paragraphs, an added local paragraph, editor's note or
page boilerplate; a copy that keeps only the first third of the original is
still a copy.  Different articles about the same event -- follow-ups,
denials, reactions, a rival agency's own report -- are *not* copies even
when they repeat a few background paragraphs, and neither is a digest that
strings together the openings of several stories.

How (every step is a pure function of the text and one ``DedupConfig``):

1. ``normalize_paragraphs`` -- fingerprinting only, never for display: the
   dateline (``transforms.dateline``), credit lines, bylines, editor's notes
   and page boilerplate are dropped; case, quotes, whitespace, "U.S."/"US",
   "per cent"/"percent" and a few British/American spellings are unified;
   words are ``\\w+`` tokens.
2. ``fingerprint`` -- word ``shingle_size``-grams hashed to 32 bits (each
   word hashed once with CRC-32, a shingle is a fixed odd-multiplier mix of
   its words, then MurmurHash3's finalizer), in document order with the
   paragraph boundaries, plus a datasketch MinHash (``scheme="affine32"``,
   seeded) over the distinct shingle hashes.
3. ``band_keys`` -- LSH bands of the MinHash as short strings
   ``"07:3fa2c19b04de"`` (band index, 48 bits of BLAKE2b of the band's rows):
   Elasticsearch ``keyword`` terms; two articles are candidates when they
   share one.
4. ``similarity`` / ``is_copy`` -- exact verification on the stored
   shingles: *resemblance* (Jaccard of the shingle sets) and *containment*
   of the smaller document in the larger, counted by paragraph: a paragraph
   of the smaller document is "found" when at least ``paragraph_match`` of
   its shingles occur in the other document, and containment is the share
   of the smaller document's shingles that sit in found paragraphs.  Counting
   whole paragraphs makes house-style edits harmless (an edited paragraph is
   still found) while two repeated background paragraphs in a follow-up
   weigh only what two paragraphs weigh.
   The second signal, for house rewrites (one word in five to ten replaced
   outside quotes, which breaks most 5-grams): ``soft_scores`` does the same
   paragraph count over 16-bit hashes of adjacent word pairs after a
   further house-style pass (number words, honorifics, articles), with a
   stricter containment; ``is_copy`` accepts either signal under the same
   structural rules, plus one for digests: a partial match inside one
   section of a text with inner headlines is not a copy.  Last, the
   figures: two texts whose shared paragraphs report different numbers
   both ways (a daily update, a templated quake report) are not copies.
   The third signal, for character noise on either side (OCR'd newspapers,
   typos, merged words), which breaks words and so both signals above:
   ``char_scores`` does the paragraph count over 16-bit hashes of a sample
   of 5-character runs of each paragraph's words joined without spaces,
   under the same rules; its candidates come from extra band keys over
   13-character runs (``"C07:..."``).
5. ``cluster`` -- candidates from band keys, verification, union-find; a
   *composite* article (a digest) whose matches with two articles that are
   not copies of each other fall on disjoint parts of it is kept out of both,
   so it cannot bridge two stories.  The cluster id is the id of the member
   with the earliest ``published`` (ties and missing dates: smallest id),
   whatever the input order.

Determinism: no Python ``hash()``, no global RNG; the MinHash permutations
come from ``DedupConfig.seed``, so every worker and every run computes the
same band keys (``tests/unit/test_similarity.py`` pins a golden value).

Stored size per article (500-word article, default config): 66 band keys,
988 bytes as keywords (90 and 1,372 with ``char_bands`` 24); verification
data (``Fingerprint`` ``shingles``, ``soft``, ``numbers``, ``chars``, their
paragraph ends, section heads) about 8.5 bytes per word of real text, ~4.2 KB
raw or ~5.6 KB base64 (6 bytes per word, ~3.0 KB raw, without ``chars``); the
MinHash values themselves (512 + 192 bytes) need not be stored since the band
keys are what is looked up.

Example::

    config = DedupConfig()
    fps = {row_id: fingerprint(text, config) for row_id, text in texts.items()}
    labels = cluster([(i, fp, published[i]) for i, fp in fps.items()], config)
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import unicodedata
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from newsbeam.transforms.dateline import credit_line_agency, parse_dateline
from newsbeam.transforms.model import parse_instant

__all__ = [
    "DedupConfig",
    "Fingerprint",
    "Scores",
    "band_keys",
    "cluster",
    "dedup_rows",
    "find_digests",
    "find_shared_excerpts",
    "fingerprint",
    "fingerprints",
    "is_copy",
    "normalize_paragraphs",
    "similarity",
]


@dataclasses.dataclass(frozen=True)
class DedupConfig:
    """Every knob of story clustering; one instance shared by all steps.

    * ``shingle_size`` 5 words: short enough that a house-style edit spoils
      few shingles, long enough that unrelated news shares almost none (two
      different stories share stock phrases such as "said in a statement on",
      not 5-grams in bulk).
    * ``num_perm`` 128 = ``bands`` 64 x ``rows`` 2.  Candidates must survive
      the worst copy we promise to find: the first third of an article, whose
      resemblance to the full text is about 0.25-0.3 after edits.  The chance
      to become a candidate is 1 - (1 - J^2)^64: 0.98 at J = 0.25, 0.998 at
      J = 0.3, and 0.06 at J = 0.03 (topic neighbours sharing a stock line),
      so lookups stay cheap.  One more key, ``"L:..."``, is the MinHash of the
      first ``lead_shingles`` 20 shingles (the first sentence): a copy
      trimmed from the end keeps it; a second ``"L:..."`` key is the same
      over the first 20 shingles of the second paragraph, so a trimmed copy
      that lacks or adds one paragraph on top (a kicker, a local paragraph)
      still meets its original (65-66 keys per article).
    * ``min_containment`` 0.6 and ``paragraph_match`` 0.5: a copy's smaller
      side is found paragraph by paragraph (edits, an added local paragraph
      or editor's note cost one paragraph); a follow-up repeating two
      background paragraphs out of five or more stays below 0.6.
    * ``strong_containment`` 0.8 / ``max_unmatched_paragraphs`` 1: below
      0.8, the smaller side may leave only one paragraph unmatched (the added
      local paragraph); a short copy meeting a digest that repeats two of its
      three paragraphs leaves two.
    * ``anchor_paragraphs`` 2, unless resemblance >= ``anchor_exempt_resemblance``
      0.5: a partial match must start within the first two paragraphs of both
      documents -- a copy starts where its original starts (the lede), a
      digest carries a story's opening in its middle.
    * ``min_resemblance`` 0.12: rejects a short brief that reappears inside
      a long digest or round-up (containment 1, resemblance small); above the
      ~0.25 of a first-third copy.  Not applied to a *leading excerpt*: the
      whole smaller text found as one block at the start of the larger and
      at least ``min_excerpt_shingles`` 20 shingles (about a sentence) long
      -- a paywalled copy keeping the first two or three paragraphs of an
      800-2,000-word article has resemblance 0.03-0.1: of such copies
      (first two paragraphs) of the 97 real articles over 500 words in the
      extraction benchmark, 21 were found without the rule and 93 with it.
      Such an excerpt is a copy even inside the first section of an
      article with subheads (``composite_sections``) when the larger text
      goes on about the same things: ``excerpt_continuation`` 0.06 of the
      excerpt's word pairs recur after the matched block.  The paywalled
      openings of the extraction benchmark's articles with subheads score
      0.0-0.58 (median 0.17, 3 of 76 below 0.06); a digest whose first item
      is the excerpt 0.0-0.04 (the ``wirecopies`` digests), so it stays
      apart.
    * ``min_shingles`` 8: below that a text (a photo caption, a stub) is
      a copy only when nearly identical (``short_resemblance`` 0.8).
    * ``composite_overlap`` 0.2: a document whose matches with two
      non-copies overlap in less than this share of paragraphs is a digest.
    * ``soft_paragraph_match`` 0.5, ``soft_containment`` 0.75,
      ``soft_resemblance`` 0.15: the second signal, for house rewrites (up to
      one word in five replaced, which breaks most 5-grams).  A paragraph
      of the smaller text is "close" when half of its word pairs (house
      style normalized further: numerals, honorifics, articles) occur in the
      other text; a rewrite replacing one word in five at random keeps
      ~60% of them, one in ten ~80%, a rival's own wording of the same
      facts ~10-40%.  The structural rules (unmatched paragraphs, lede
      anchoring) apply as for containment, with a stricter containment so a
      report that repeats two or three of five paragraphs verbatim stays
      apart.  Chosen on the ``tune`` half of ``bench/data/rewrites.jsonl``
      and random word substitution (10-21%) of its originals: any value in
      0.4-0.5 / 0.6-0.75 keeps every hard negative apart there; resemblance
      0.15 (a first third rewritten at one word in five is ~0.18) only
      rejects a short brief inside a long round-up.
    * ``rewrite_min_resemblance`` 0.03: the rewrite signal is tried only
      when the 5-gram resemblance reaches this (a first third rewritten at
      one word in five keeps ~0.06; topic neighbours that share a stock
      phrase stay below), so most non-copies cost one check, not two.
    * ``composite_sections`` 2: in a text with two or more inner headlines
      (section heads followed by text) a partial match must reach beyond
      one section.  A digest ("World in brief") carries one story's opening
      under one head; a copy of a long article with subheads shares text
      across them (or is near-identical: resemblance >=
      ``anchor_exempt_resemblance``, or is wholly its opening: a leading
      excerpt, see ``min_resemblance``).  This keeps a digest out of the story
      whose opening it carries even when no other story's copy is in the
      batch to show that it is a composite.
    * ``max_conflicting_figures`` 1: two texts that pass the rules above
      are still different reports when, both ways, the paragraphs they share
      carry two or more figures the other text lacks: a daily update (new
      counts over the same background paragraphs, the lede matching by word
      pairs), the next quake or market report from one template.  A copy
      keeps the figures of the paragraphs it copies (a house rewrite at
      most swaps one, "ten" -> "10" aside).  On the bench sets every true
      copy pair has at most one such figure; the templated updates have 3-4.
    * ``excerpt_share`` 0.5: a document that lies wholly inside two texts
      which are not copies of each other, and is at most this share of each,
      is only their common part (a paywalled opening that a follow-up also
      reuses): it joins one of them and bridges nothing
      (``find_shared_excerpts``).  On the bench sets 5 documents are such
      excerpts (``rewrites``: an opening inside two rewrites of one story
      that other copies link anyway); every figure is unchanged.
    * The noise signal, for character errors on both sides (OCR'd
      newspapers, typos: a 2% error rate breaks about one word in ten on
      each side, so two thirds of the 5-word runs and a third of the word
      pairs two copies share; 4% leaves the word signals almost nothing).  Words
      are joined without spaces (a merged or split word costs nothing) and
      cut into ``char_gram`` 5-character runs (code points); one run in
      ``char_sample`` 4, chosen by its hash so both texts keep the same
      ones, is stored as 16 bits (~0.5 bytes per character, +40% of the
      verification data).  A character error spoils five runs, not five
      5-word runs.  Verified like the rewrite signal: a paragraph of the
      smaller text is found when ``char_paragraph_match`` 0.5 of its runs
      occur in the other text, ``char_containment`` 0.75 of it in found
      paragraphs, ``char_resemblance`` 0.15, lede anchoring, sections, the
      figures; at most one unmatched paragraph below
      ``char_strong_containment`` 0.9 (short paragraphs hold few runs and
      one error more hides one); and ``char_found_presence`` 0.6 of the runs
      in the found paragraphs occur in the other text -- a copy with 4%
      errors on both sides keeps ~0.7-0.8, a reaction story that repeats
      the original's background in its own paragraph found one at 0.54.
      Candidates: the word band keys.  ``char_bands`` (default 0: none)
      adds that many band keys (x ``rows`` 2) over the sampled
      ``char_band_gram`` 13-character runs, for copies at 3-4% errors whose
      word keys all broke; 24 of them raised the candidates per probe of
      ``bench/dedup.py``'s 100,000-article index from 0.57 to 3.22 and the
      cost per article from 3.1 to 4.7 ms (1.50x the cost at 10,000), so
      they are off.  Shorter runs are shared by unrelated texts (7
      characters made every synthetic article of the index a candidate of
      every other), longer ones rarely survive 4% noise.  Chosen on the ``tune`` halves of
      ``wirecopies`` and ``rewrites`` and on the smoke set with
      ``bench/dedup.py:_ocr_noise`` at 1-4% on every text: precision 1.00
      on all; recall at 2% 0.99 (smoke), 0.89 (wirecopies), 1.00
      (rewrites); at 4% 0.54 / 0.29 / 0.26 without the character bands
      (0.90 / 0.81 / 0.81 with them).
    * ``seed`` fixes the MinHash permutations for every worker and run.

    Thresholds follow from the arithmetic above and were checked on the
    synthetic smoke set; the two structural rules (anchoring, unmatched
    paragraphs) were added after digest errors on ``bench/data/wirecopies.jsonl``,
    so that set is not an independent test of them (see its README).
    """

    shingle_size: int = 5
    num_perm: int = 128
    bands: int = 64
    rows: int = 2
    lead_shingles: int = 20
    lead_bands: int = 2
    min_containment: float = 0.6
    strong_containment: float = 0.8
    max_unmatched_paragraphs: int = 1
    paragraph_match: float = 0.5
    min_resemblance: float = 0.12
    min_excerpt_shingles: int = 20
    excerpt_continuation: float = 0.06
    min_shingles: int = 8
    anchor_paragraphs: int = 2
    anchor_exempt_resemblance: float = 0.5
    short_resemblance: float = 0.8
    composite_overlap: float = 0.2
    soft_paragraph_match: float = 0.5
    soft_containment: float = 0.75
    soft_resemblance: float = 0.15
    rewrite_min_resemblance: float = 0.03
    composite_sections: int = 2
    max_conflicting_figures: int = 1
    excerpt_share: float = 0.5
    char_gram: int = 5
    char_sample: int = 4
    char_paragraph_match: float = 0.5
    char_containment: float = 0.75
    char_resemblance: float = 0.15
    char_strong_containment: float = 0.9
    char_found_presence: float = 0.6
    char_band_gram: int = 13
    char_bands: int = 0
    seed: int = 1

    def __post_init__(self) -> None:
        if self.shingle_size < 1:
            raise ValueError(f"shingle_size must be >= 1, got {self.shingle_size}")
        if self.char_gram < 1 or self.char_sample < 1:
            raise ValueError(
                f"char_gram and char_sample must be >= 1, got {self.char_gram} and {self.char_sample}"
            )
        if self.min_excerpt_shingles < 1:
            raise ValueError(f"min_excerpt_shingles must be >= 1, got {self.min_excerpt_shingles}")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(
                f"bands * rows ({self.bands} * {self.rows}) must not exceed num_perm ({self.num_perm})"
            )
        for name in (
            "min_containment",
            "paragraph_match",
            "min_resemblance",
            "short_resemblance",
            "soft_paragraph_match",
            "soft_containment",
            "soft_resemblance",
            "rewrite_min_resemblance",
            "excerpt_continuation",
            "excerpt_share",
            "char_paragraph_match",
            "char_containment",
            "char_resemblance",
            "char_strong_containment",
            "char_found_presence",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """What clustering needs of one article; picklable and compact.

    ``minhash``: ``num_perm`` 32-bit MinHash values.  ``lead``: the min-hash
    values over the first shingles (lead band keys); ``lead_next``: the same
    over the second paragraph's first shingles.  ``shingles``: the
    32-bit shingle hashes in document order, little-endian ``uint32`` bytes.
    ``paragraph_ends``: for each kept paragraph, the index one past its last
    shingle.  ``words``: normalized word count.  ``soft``: 16-bit hashes of
    the word pairs of each paragraph (the rewrite signal), little-endian
    ``uint16``; ``soft_ends`` their paragraph ends.  Empty in fingerprints
    stored before the rewrite signal existed: such pairs are verified by
    containment alone.  ``sections``: paragraph indices of inner headlines
    (section heads followed by text).  ``numbers``: CRC-32s of the figures of
    each paragraph (numerals; number words "one" to "ten" as numerals) in
    document order, little-endian ``uint32``; ``number_ends`` their
    paragraph ends.  Both empty in fingerprints stored before figures were
    compared: such pairs skip that check.  ``chars``: 16-bit hashes of the
    sampled character runs of each paragraph (the noise signal),
    little-endian ``uint16``; ``char_ends`` their paragraph ends; empty in
    fingerprints stored before that signal (the word signals only).
    ``char_minhash``: the MinHash of the longer character runs (band keys
    ``"Cnn:..."``; not stored, like ``minhash``).
    """

    minhash: tuple[int, ...]
    lead: tuple[int, ...]
    shingles: bytes
    paragraph_ends: tuple[int, ...]
    words: int
    soft: bytes = b""
    soft_ends: tuple[int, ...] = ()
    sections: tuple[int, ...] = ()
    numbers: bytes = b""
    number_ends: tuple[int, ...] = ()
    lead_next: tuple[int, ...] = ()
    chars: bytes = b""
    char_ends: tuple[int, ...] = ()
    char_minhash: tuple[int, ...] = ()

    @property
    def n_shingles(self) -> int:
        return len(self.shingles) // 4

    def shingle_array(self) -> np.ndarray:
        return np.frombuffer(self.shingles, dtype="<u4")

    def soft_array(self) -> np.ndarray:
        return np.frombuffer(self.soft, dtype="<u2")

    def number_array(self) -> np.ndarray:
        return np.frombuffer(self.numbers, dtype="<u4")

    def char_array(self) -> np.ndarray:
        return np.frombuffer(self.chars, dtype="<u2")

    # The distinct values, computed once per fingerprint: a fingerprint meets
    # every candidate of its batch.  Not pickled (``__getstate__``).
    @functools.cached_property
    def distinct_shingles(self) -> np.ndarray:
        return np.unique(self.shingle_array())

    @functools.cached_property
    def distinct_soft(self) -> np.ndarray:
        return np.unique(self.soft_array())

    @functools.cached_property
    def distinct_chars(self) -> np.ndarray:
        return np.unique(self.char_array())

    def __getstate__(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def stored_size(self) -> int:
        """Bytes of the verification data (shingles, word pairs, paragraph ends)."""
        ends = len(self.paragraph_ends) + len(self.soft_ends) + len(self.number_ends) + len(self.char_ends)
        return len(self.shingles) + len(self.soft) + len(self.numbers) + len(self.chars) + 2 * ends


@dataclasses.dataclass(frozen=True)
class Scores:
    resemblance: float  # Jaccard of the shingle sets
    containment: float  # paragraph-level containment of the smaller in the larger


# --------------------------------------------------------------------------
# Normalization

# Boilerplate: patterns at the start of a line, and phrases anywhere in it.  Two patterns, the
# second searched in the lower-cased line without IGNORECASE: one case-blind pattern searched at
# every position of every sentence was a fifth of a fingerprint's time (3.5x slower).
_BOILERPLATE_START_RE = re.compile(
    r"\s*(?:subscribe\b|(?:also )?read more\b"
    r"|(?:also read|related(?: coverage| stories| articles)?|recommended|advertisement"
    r"|click here|share this|download the .{0,80}? app)\b|copyright\b"
    r"|(?:editor['’]?s note|correction|clarification|update(?:d)?)\s*[:\-–—]"
    r"|(?:reporting|writing|editing|additional reporting) by\b)",
    re.IGNORECASE,
)
_BOILERPLATE_ANYWHERE_RE = re.compile(
    r"all rights reserved|\bsubscribe (?:to|now)\b|follow us on|sign up for"
    r"|may not be (?:re)?published|broadcast, rewritten|redistributed|©"
    r"|published from a wire agency feed|has been (?:corrected|updated) to"
)


def _is_boilerplate(text: str) -> bool:
    return bool(_BOILERPLATE_START_RE.match(text) or _BOILERPLATE_ANYWHERE_RE.search(text.lower()))


# Linear: a name word ends only at a space, "," or "&" and "and" stands
# between spaces, so a line splits into words one way ("By A" + "andA" * n
# backtracked exponentially when "and" could sit inside a word).
_BYLINE_LINE_RE = re.compile(
    r"^\s*By\s+[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,4}(?:(?:\s*[,&]\s*|\s+and\s+)[A-Z][\w.'’-]*"
    r"(?:\s+[A-Z][\w.'’-]*){0,3})*\s*$"
)
# (pattern, replacement, substrings of which every match holds one)
_STYLE = [
    (re.compile(r"\bu\.\s?s\.(?:\s?a\.)?"), "us ", ("u.",)),
    (re.compile(r"\bu\.\s?k\."), "uk ", ("u.",)),
    (re.compile(r"\bu\.\s?n\."), "un ", ("u.",)),
    (re.compile(r"\bper\s+cent\b"), "percent", ("per",)),
    (re.compile(r"\bmr\.|\bmrs\.|\bms\.|\bdr\."), lambda m: m.group(0)[:-1], ("r.", "s.")),
    (re.compile(r"(?<=\d),(?=\d{3}\b)"), "", (",",)),
]
_SPELLING = {
    "defence": "defense",
    "offence": "offense",
    "programme": "program",
    "programmes": "programs",
    "centre": "center",
    "centres": "centers",
    "labour": "labor",
    "favour": "favor",
    "honour": "honor",
    "neighbour": "neighbor",
    "neighbours": "neighbors",
    "colour": "color",
    "organisation": "organization",
    "organisations": "organizations",
    "recognised": "recognized",
    "criticised": "criticized",
    "authorised": "authorized",
    "apologised": "apologized",
    "emphasised": "emphasized",
    "travelled": "traveled",
    "cancelled": "canceled",
    "towards": "toward",
}
# Scripts written without spaces between words (Chinese, Japanese kana and
# kanji, Thai, Lao, Burmese, Khmer): every character is a token, so their
# shingles are character n-grams; other scripts use \w+ words.
_UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"
_TOKEN_RE = re.compile(rf"[{_UNSPACED}]|[^\W{_UNSPACED}]+")
# Fingerprints look at the first this many characters of a text: copies are
# decided on their opening, and a pathological 100 MB row must not take GBs.
MAX_FINGERPRINT_CHARS = 200_000


# Boilerplate lines are short ("All rights reserved.", "Subscribe to our
# newsletter"); a longer line that merely contains such words ("residents can
# sign up for the scheme ...") is text.
_NOISE_MAX_WORDS = 40
# Text without paragraph breaks (flattened feeds, OCR, other tools' exports)
# is cut into pseudo-paragraphs of whole sentences, so containment by
# paragraph keeps its meaning: a line longer than _LONG_LINE_WORDS becomes
# groups of sentences of at least _PSEUDO_PARAGRAPH_WORDS words.
_LONG_LINE_WORDS = 150
_PSEUDO_PARAGRAPH_WORDS = 45
_SENTENCE_END = re.compile(r"[.!?…][\"”’')\]]*\s+(?=[\"“‘'(\[]?[A-Z0-9])|[。！？][」』”）)]*\s*")


def _word_count(text: str) -> int:
    return len(_TOKEN_RE.findall(text))


def _is_noise_sentence(stripped: str) -> bool:
    if _is_boilerplate(stripped):
        return True
    return bool(len(stripped) < 120 and (_BYLINE_LINE_RE.match(stripped) or credit_line_agency(stripped)))


def _is_noise_line(line: str, words: int | None = None) -> bool:
    """A credit, byline or boilerplate line.  A long line is noise only when
    most of its words, or most of its sentences (three or more), are
    boilerplate (a footer of several boilerplate sentences), not because one
    sentence mentions "sign up for".  ``words``: the line's word count, when known."""
    stripped = line.strip()
    if not stripped:
        return True
    if words is None:
        words = _word_count(stripped)
    if words <= _NOISE_MAX_WORDS:
        return _is_noise_sentence(stripped)
    sentences = _sentences(stripped)
    flags = [_is_noise_sentence(s) for s in sentences]
    noisy = sum(_word_count(s) for s, flag in zip(sentences, flags) if flag)
    # Or most of its sentences, three or more: a footer whose longest sentence
    # an OCR error or a typo hid from the patterns ("Re1ated coverage: ...").
    return noisy >= 0.6 * words or sum(flags) >= max(3, 0.6 * len(sentences))


def _sentences(line: str) -> list[str]:
    out, start = [], 0
    for match in _SENTENCE_END.finditer(line):
        out.append(line[start : match.end()].strip())
        start = match.end()
    out.append(line[start:].strip())
    return [sentence for sentence in out if sentence]


def _split_long_line(line: str) -> list[str]:
    """A line of a text without paragraph breaks as pseudo-paragraphs."""
    if _word_count(line) <= _LONG_LINE_WORDS:
        return [line]
    groups, current, words = [], [], 0
    for sentence in _sentences(line):
        if _is_noise_line(sentence):
            continue
        tokens = _TOKEN_RE.findall(sentence)
        if len(tokens) > 3 * _PSEUDO_PARAGRAPH_WORDS:  # no punctuation (OCR): cut by words
            if current:
                groups.append(" ".join(current))
                current, words = [], 0
            for i in range(0, len(tokens), _PSEUDO_PARAGRAPH_WORDS):
                groups.append(" ".join(tokens[i : i + _PSEUDO_PARAGRAPH_WORDS]))
            continue
        current.append(sentence)
        words += _word_count(sentence)
        if words >= _PSEUDO_PARAGRAPH_WORDS:
            groups.append(" ".join(current))
            current, words = [], 0
    if current:
        groups.append(" ".join(current))
    return groups


# Characters that never show: soft hyphens, zero-width spaces and joiners, the
# word joiner and BOM.  CMSs put them inside words (hyphenation hints), which
# split a word into two tokens in one copy and not in another.
_INVISIBLE_RE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")
# Hard-wrapped text (plain-text wire copy, e-mail, <pre>, OCR of newspaper
# columns): every line ends where the width did, not where a paragraph did.
_WRAP_MIN_LINES = 6
_WRAP_WIDTH = (20, 120)
_TERMINAL_RE = re.compile(r"[.!?…:;\"”’')\]。！？」』]\s*$")


def _unwrap(text: str) -> str:
    """Hard-wrapped text joined back into paragraphs; any other text as is.

    Wrapped when, of six or more lines, the long lines share one width
    (20-120 characters), seven in ten reach 60% of it, two in five end
    mid-sentence and three in ten are followed by a line that starts in
    lower case (a sentence going on).  Lines are then joined; a paragraph
    ends at a blank line, or at a line that ends a sentence well short of
    the width.  A word hyphenated across lines is joined back."""
    lines = text.splitlines()
    full = [line.strip() for line in lines if line.strip()]
    if len(full) < _WRAP_MIN_LINES:
        return text
    lengths = sorted(len(line) for line in full)
    width = lengths[int(0.9 * (len(lengths) - 1))]
    if not _WRAP_WIDTH[0] <= width <= _WRAP_WIDTH[1]:
        return text
    if sum(n >= 0.6 * width for n in lengths) < 0.7 * len(full):
        return text
    if sum(not _TERMINAL_RE.search(line) for line in full) < 0.4 * len(full):
        return text
    if sum(nxt[:1].islower() for nxt in full[1:]) < 0.3 * len(full):
        return text
    paragraphs: list[str] = []
    parts: list[str] = []  # of the paragraph being joined: lines, and the spaces between them
    for raw in lines:
        line = raw.strip()
        if not line:
            if parts:
                paragraphs.append("".join(parts))
            parts = []
            continue
        if parts and parts[-1].endswith("-") and parts[-1][-2:-1].isalpha() and line[:1].islower():
            parts[-1] = parts[-1][:-1]  # a word hyphenated across the break
        elif parts:
            parts.append(" ")
        parts.append(line)
        if _TERMINAL_RE.search(line) and len(line) < 0.8 * width:
            paragraphs.append("".join(parts))
            parts = []
    if parts:
        paragraphs.append("".join(parts))
    return "\n".join(paragraphs)


def _headline_line(line: str, words: int | None = None) -> bool:
    if (_word_count(line) if words is None else words) > 20:
        return False
    return not re.search(r"[.!?…。！？][\"”’')」』]?\s*$", line)


def _tokens(paragraph: str) -> list[str]:
    text = unicodedata.normalize("NFKC", paragraph).lower()
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    for pattern, repl, needles in _STYLE:
        if any(needle in text for needle in needles):  # a substring test is far cheaper than a sub
            text = pattern.sub(repl, text)
    return [_SPELLING.get(tok, tok) for tok in _TOKEN_RE.findall(text)]


def normalize_paragraphs(text: str) -> list[list[str]]:
    """The body's paragraphs as token lists, for fingerprinting only.

    Invisible characters (soft hyphens, zero-width spaces) are removed and
    hard-wrapped text is joined back into paragraphs (``_unwrap``); the
    dateline is cut, then every line is a paragraph; credit lines
    ("— Reuters"), bylines, editor's notes, corrections and boilerplate
    (copyright, subscribe, related links) are dropped.
    """
    return _normalize(text)[0]


def _normalize(text: str) -> tuple[list[list[str]], tuple[int, ...]]:
    """``normalize_paragraphs`` and the indices of its inner headlines: short
    lines without end punctuation inside the body, each followed by a text
    paragraph -- the section heads of a digest ("World in brief" strings
    headline + opening of several stories) or of a long article."""
    if not text:
        return [], ()
    text = _unwrap(_INVISIBLE_RE.sub("", text))
    dateline = parse_dateline(text)
    if dateline.span:
        # Drop the headline lines above the dateline too.
        text = text[dateline.span[1] :]
    out = []
    in_body = False
    sections: list[int] = []
    pending_head = False
    above: list[str] = []
    lines = [part for line in text.splitlines() for part in _split_long_line(line)]
    for line in lines:
        words = _word_count(line)  # counted once for both tests
        if _is_noise_line(line, words):
            continue
        head = _headline_line(line, words)
        if not in_body and head:
            above.append(line)
            continue  # headline lines repeated above the body
        in_body = True
        if pending_head and not head:
            sections.append(len(out) - 1)
        toks = _tokens(line)
        pending_head = head and bool(toks)
        if toks:
            out.append(toks)
    if not in_body:
        # Only short unpunctuated lines: a list, a schedule, a results table
        # or a one-line flash.  They are the body (else identical copies get
        # no fingerprint and never group); the first of several is taken for
        # the headline unless a dateline already cut it off.
        body = above if dateline.span or len(above) < 2 else above[1:]
        out = [toks for toks in map(_tokens, body) if toks]
    return out, tuple(sections)


# --------------------------------------------------------------------------
# Hashing

_M32 = np.uint32(0xFFFFFFFF)


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


@functools.lru_cache(maxsize=8)
def _mixers(shingle_size: int) -> np.ndarray:
    """Fixed odd multipliers, one per position in a shingle."""
    gen = np.random.RandomState(0x5EED + shingle_size)
    return (gen.randint(0, 1 << 31, shingle_size, dtype=np.uint32) * 2 + 1).astype(np.uint32)


@functools.lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutations for (num_perm, seed), built once."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return np.asarray(a, dtype=np.uint32), np.asarray(b, dtype=np.uint32)


def _word_hashes(words: list[str]) -> np.ndarray:
    return np.fromiter((zlib.crc32(w.encode("utf-8")) for w in words), dtype=np.uint32, count=len(words))


def _shingle_hashes(
    paragraphs: list[list[str]], k: int, wh: np.ndarray | None = None
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Shingle hashes and paragraph ends; ``wh``: the words' CRC-32s if known."""
    words = [tok for para in paragraphs for tok in para]
    if not words:
        return np.zeros(0, dtype=np.uint32), ()
    if wh is None:
        wh = _word_hashes(words)
    n = max(1, len(words) - k + 1)
    width = min(k, len(words))
    mix = _mixers(k)
    acc = np.zeros(n, dtype=np.uint32)
    for j in range(width):
        acc += wh[j : j + n] * mix[j]
    hashes = _fmix32(acc)
    # Shingle i starts at word i; it belongs to the paragraph holding word i.
    ends = []
    pos = 0
    for para in paragraphs:
        pos += len(para)
        ends.append(min(pos, n))
    ends[-1] = n
    return hashes, tuple(ends)


def _minhash(distinct: np.ndarray, config: DedupConfig) -> np.ndarray:
    """datasketch MinHash values (scheme affine32) of the distinct hashes.

    Same values as ``MinHash(num_perm, seed, hashfunc=int, scheme="affine32")``
    fed with ``update_batch(distinct.tolist())`` (``bench/dedup.py`` checks the
    values are identical): one numpy expression without a MinHash object per
    article, 0.04 ms against 0.08 ms for 500 shingles; either is small next to
    normalization and tokenizing (~0.7 ms).
    """
    a, b = _permutations(config.num_perm, config.seed)
    if distinct.size == 0:
        return np.full(config.num_perm, 0xFFFFFFFF, dtype=np.uint32)
    hv = _fmix32(distinct.astype(np.uint32))[:, None]
    return (hv * a[None, :] + b[None, :]).min(axis=0)


_SOFT_NUMBERS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
# House-style tokens a sweep adds or removes without changing the text:
# honorifics and articles.
_SOFT_DROP = frozenset({"mr", "mrs", "ms", "dr", "the", "a", "an"})


def _soft_hashes(
    paragraphs: list[list[str]], word_hashes: np.ndarray | None = None
) -> tuple[np.ndarray, tuple[int, ...]]:
    """16-bit hashes of the adjacent word pairs inside each paragraph, after
    a second house-style pass (number words as numerals, honorifics and
    articles dropped), and the paragraph ends (one past each paragraph's
    last pair).  A one-word paragraph contributes that word.  One numpy
    pass over all words; ``word_hashes``: the CRC-32s of all words, reused."""
    words = [t for para in paragraphs for t in para]
    keep = [t not in _SOFT_DROP for t in words]
    if not any(keep):
        return np.zeros(0, dtype=np.uint16), tuple(0 for _ in paragraphs)
    counts = np.fromiter(
        (sum(1 for t in para if t not in _SOFT_DROP) for para in paragraphs),
        dtype=np.int64,
        count=len(paragraphs),
    )
    if word_hashes is None:
        word_hashes = _word_hashes(words)
    wh = word_hashes[np.asarray(keep, dtype=bool)].copy()
    kept = [t for t, k in zip(words, keep) if k]
    for i, t in enumerate(kept):
        if t in _SOFT_NUMBERS:
            wh[i] = zlib.crc32(_SOFT_NUMBERS[t].encode("utf-8"))
    para_of = np.repeat(np.arange(len(paragraphs)), counts)
    mix = _mixers(2)
    pair = _fmix32(wh[:-1] * mix[0] + wh[1:] * mix[1]) >> np.uint32(16)
    single = _fmix32(wh * mix[0]) >> np.uint32(16)
    # Per paragraph: its pairs (a word and the next one in the same paragraph)
    # or, for a one-word paragraph, the word itself; in document order.
    same = para_of[:-1] == para_of[1:]
    one_word = counts[para_of] == 1
    starts = np.concatenate((np.flatnonzero(same), np.flatnonzero(one_word)))
    values = np.concatenate((pair[same], single[one_word]))
    order = np.argsort(starts, kind="stable")
    soft = values[order].astype(np.uint16)
    per_para = np.where(counts == 1, 1, np.maximum(counts - 1, 0))
    return soft, tuple(int(x) for x in np.cumsum(per_para))


def fingerprint(text: str, config: DedupConfig) -> Fingerprint:
    """The ``Fingerprint`` of an article body (headline excluded: outlets rewrite it)."""
    paragraphs, sections = _normalize(text[:MAX_FINGERPRINT_CHARS] if text else text)
    wh = _word_hashes([tok for para in paragraphs for tok in para])
    hashes, ends = _shingle_hashes(paragraphs, config.shingle_size, wh)
    distinct = np.unique(hashes)
    mh = _minhash(distinct, config)
    lead_vals = _minhash(np.unique(hashes[: config.lead_shingles]), config)[: config.lead_bands]
    if hashes.size < config.min_shingles:
        lead_vals = lead_vals[:0]
    # The same over the second paragraph's opening: the lead of a copy that
    # lacks (or adds) one paragraph on top -- a kicker, a headline that ends
    # in "?", an unrecognized dateline line, a local paragraph.
    second = hashes[ends[0] : ends[0] + config.lead_shingles] if len(ends) > 1 else hashes[:0]
    lead_next = ()
    if second.size >= config.min_shingles:
        lead_next = tuple(int(x) for x in _minhash(np.unique(second), config)[: config.lead_bands])
    soft, soft_ends = _soft_hashes(paragraphs, wh)
    numbers, number_ends = _figures(paragraphs)
    codes = _char_data(paragraphs)
    chars, char_ends = _char_hashes(paragraphs, config, codes)
    char_mh = _char_minhash(paragraphs, config, codes) if config.char_bands else ()
    return Fingerprint(
        minhash=tuple(int(x) for x in mh) if distinct.size else (),
        lead=tuple(int(x) for x in lead_vals) if distinct.size else (),
        lead_next=lead_next,
        shingles=hashes.astype("<u4").tobytes(),
        paragraph_ends=ends,
        words=sum(len(p) for p in paragraphs),
        soft=soft.astype("<u2").tobytes(),
        soft_ends=soft_ends,
        sections=sections,
        numbers=numbers,
        number_ends=number_ends,
        chars=chars,
        char_ends=char_ends,
        char_minhash=char_mh,
    )


def _char_runs(
    paragraphs: list[list[str]], k: int, sample: int, data: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of a sample (one in ``sample``, chosen by hash, so two
    texts keep the same runs) of each paragraph's ``k``-character runs of its
    words joined without spaces, in document order, and the paragraph ends.
    ``data``: ``_char_data(paragraphs)`` if known."""
    codes, starts = data if data is not None else _char_data(paragraphs)
    n = codes.size - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint32), np.zeros(len(paragraphs), dtype=np.int64)
    mix = _mixers(k)
    acc = codes[:n] * mix[0]
    for j in range(1, k):
        acc += codes[j : j + n] * mix[j]
    hashes = _fmix32(acc)
    # A run belongs to the paragraph holding its first character and must end inside it.
    para_of = np.repeat(np.arange(len(paragraphs)), np.diff(starts))[:n]
    keep = (np.arange(n) + k <= starts[para_of + 1]) & (hashes % np.uint32(sample) == 0)
    return hashes[keep], np.searchsorted(np.flatnonzero(keep), starts[1:], side="left")


def _char_data(paragraphs: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """The code points of all paragraphs' words joined without spaces (code
    points, not UTF-8 bytes: a Cyrillic or Greek run is as long as a Latin
    one), and where each paragraph starts (plus the end)."""
    joined = ["".join(para) for para in paragraphs]
    lengths = np.fromiter((len(j) for j in joined), dtype=np.int64, count=len(joined))
    starts = np.concatenate(([0], np.cumsum(lengths)))
    return np.frombuffer("".join(joined).encode("utf-32-le"), dtype="<u4"), starts


def _char_hashes(
    paragraphs: list[list[str]], config: DedupConfig, data: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[bytes, tuple[int, ...]]:
    """The noise signal (``Fingerprint.chars``): 16-bit hashes of sampled
    ``char_gram``-character runs per paragraph (``_char_runs``).  A character error
    spoils ``char_gram`` runs, not the five-word runs and word pairs around
    it; a merged word spoils nothing."""
    if not paragraphs:
        return b"", ()
    hashes, ends = _char_runs(paragraphs, config.char_gram, config.char_sample, data)
    return (hashes >> np.uint32(16)).astype("<u2").tobytes(), tuple(int(x) for x in ends)


def _char_minhash(
    paragraphs: list[list[str]], config: DedupConfig, data: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[int, ...]:
    """MinHash (``char_bands`` x ``rows`` values) of the sampled
    ``char_band_gram``-character runs: candidates for copies whose 5-word runs
    noise has broken."""
    if not paragraphs:
        return ()
    hashes, _ = _char_runs(paragraphs, config.char_band_gram, config.char_sample, data)
    if hashes.size < config.min_shingles:
        return ()
    a, b = _permutations(config.char_bands * config.rows, config.seed + 1)
    hv = _fmix32(np.unique(hashes))[:, None]
    return tuple(int(x) for x in (hv * a[None, :] + b[None, :]).min(axis=0))


def _figures(paragraphs: list[list[str]]) -> tuple[bytes, tuple[int, ...]]:
    """CRC-32s of each paragraph's figures and the paragraph ends (see
    ``Fingerprint.numbers``)."""
    values: list[int] = []
    ends = []
    for para in paragraphs:
        for tok in para:
            tok = _SOFT_NUMBERS.get(tok, tok)
            if tok.isdigit():
                values.append(zlib.crc32(tok.lstrip("0").encode("utf-8") or b"0"))
        ends.append(len(values))
    return np.asarray(values, dtype="<u4").tobytes(), tuple(ends)


def _key(prefix: str, values: Sequence[int]) -> str:
    return _raw_key(prefix, np.asarray(values, dtype="<u4").tobytes())


def _raw_key(prefix: str, raw: bytes) -> str:
    return f"{prefix}:{hashlib.blake2b(raw, digest_size=6).hexdigest()}"


def _banded(prefix: str, values: Sequence[int], rows: int, bands: int) -> list[str]:
    """``_key`` of each band of ``rows`` values: one array conversion for all bands (a
    conversion per band was a third of the clustering step's time)."""
    raw = np.asarray(values, dtype="<u4").tobytes()
    width = 4 * rows
    return [_raw_key(f"{prefix}{i:02d}", raw[i * width : (i + 1) * width]) for i in range(bands)]


def band_keys(fp: Fingerprint, config: DedupConfig) -> tuple[str, ...]:
    """LSH band keys: ``"BB:hhhhhhhhhhhh"`` per band, plus ``"L:..."`` for the
    lead and one for the second paragraph's opening (same prefix: the lead
    of one text meets the second opening of another).

    Empty for an article without text.  Keys depend only on the fingerprint
    and ``config`` (num_perm, bands, rows, seed), never on the process.
    """
    if not fp.minhash:
        return ()
    r = config.rows
    keys = _banded("", fp.minhash, r, config.bands)
    if fp.lead:
        keys.append(_key("L", fp.lead))
    if fp.lead_next and fp.lead_next != fp.lead:
        keys.append(_key("L", fp.lead_next))
    cm = fp.char_minhash
    if cm:
        keys.extend(_banded("C", cm, r, len(cm) // r))
    return tuple(keys)


# --------------------------------------------------------------------------
# Verification


def _found_paragraphs(small: Fingerprint, other_set: np.ndarray, config: DedupConfig) -> list[bool]:
    return _paragraph_presence(
        small.shingle_array(), small.paragraph_ends, other_set, config.paragraph_match
    )[0]


def _scores(
    a: Fingerprint, b: Fingerprint, config: DedupConfig
) -> tuple[Scores, list[bool], list[bool], bool]:
    """Scores, which paragraphs of the smaller / larger are found in the other, and
    whether ``a`` is the smaller (fewer distinct shingles, ties to ``a``)."""
    sa, sb = a.distinct_shingles, b.distinct_shingles
    if sa.size == 0 or sb.size == 0:
        return Scores(0.0, 0.0), [], [], sa.size <= sb.size
    inter = np.intersect1d(sa, sb, assume_unique=True).size
    resemblance = inter / (sa.size + sb.size - inter)
    small, big_set, big, small_set = (a, sb, b, sa) if sa.size <= sb.size else (b, sa, a, sb)
    found = _found_paragraphs(small, big_set, config)
    found_big = _found_paragraphs(big, small_set, config)
    total = small.n_shingles
    start = 0
    covered = 0
    for end, ok in zip(small.paragraph_ends, found):
        if ok:
            covered += end - start
        start = end
    return Scores(resemblance, covered / total if total else 0.0), found, found_big, sa.size <= sb.size


def similarity(fp_a: Fingerprint, fp_b: Fingerprint, config: DedupConfig | None = None) -> Scores:
    """Resemblance and paragraph containment (smaller in larger) of two fingerprints."""
    return _scores(fp_a, fp_b, config or DedupConfig())[0]


def _paragraph_presence(
    arr: np.ndarray, ends: Sequence[int], other_set: np.ndarray, share: float
) -> tuple[list[bool], float]:
    """Which paragraphs of ``arr`` have ``share`` of their hashes in
    ``other_set``, and the share of ``arr`` in those paragraphs."""
    if not ends:
        return [], 0.0
    # 16-bit hashes: a lookup table, no sort.
    present = np.isin(arr, other_set, kind="table" if arr.dtype.itemsize <= 2 else None)
    stops = np.minimum(np.asarray(ends, dtype=np.int64), arr.size)
    starts = np.concatenate(([0], stops[:-1]))
    running = np.concatenate(([0], np.cumsum(present, dtype=np.int64)))
    sizes = stops - starts
    ok = (sizes > 0) & (running[stops] - running[starts] >= share * sizes)
    covered = int(sizes[ok].sum())
    return ok.tolist(), covered / arr.size if arr.size else 0.0


def soft_scores(
    fp_a: Fingerprint, fp_b: Fingerprint, config: DedupConfig
) -> tuple[Scores, list[bool], list[bool]]:
    """The rewrite signal: resemblance and paragraph containment over word
    pairs (``Fingerprint.soft``), and which paragraphs of the smaller /
    larger text are close to the other.  Zero scores when either side has no
    word pairs (fingerprints stored before the signal existed)."""
    a, b = fp_a.soft_array(), fp_b.soft_array()
    if a.size == 0 or b.size == 0 or not fp_a.soft_ends or not fp_b.soft_ends:
        return Scores(0.0, 0.0), [], []
    sa, sb = fp_a.distinct_soft, fp_b.distinct_soft
    inter = np.intersect1d(sa, sb, assume_unique=True).size
    resemblance = inter / (sa.size + sb.size - inter)
    (small, small_ends, big_set), (big, big_ends, small_set) = (
        ((a, fp_a.soft_ends, sb), (b, fp_b.soft_ends, sa))
        if sa.size <= sb.size
        else ((b, fp_b.soft_ends, sa), (a, fp_a.soft_ends, sb))
    )
    found, containment = _paragraph_presence(small, small_ends, big_set, config.soft_paragraph_match)
    found_big, _ = _paragraph_presence(big, big_ends, small_set, config.soft_paragraph_match)
    return Scores(resemblance, containment), found, found_big


def _rewritten_copy(fp_a: Fingerprint, fp_b: Fingerprint, config: DedupConfig) -> bool:
    """The second signal: a house rewrite, verified like containment (most
    of the smaller text close paragraph by paragraph, at most one unmatched
    paragraph, anchored at the lede of both)."""
    s, found_small, found_big = soft_scores(fp_a, fp_b, config)
    if s.containment < config.soft_containment or s.resemblance < config.soft_resemblance:
        return False
    if found_small.count(False) > config.max_unmatched_paragraphs:
        return False
    if not (_anchored(found_small, config) and _anchored(found_big, config)):
        return False
    if s.resemblance >= config.anchor_exempt_resemblance:
        return True
    a_small = fp_a.distinct_soft.size <= fp_b.distinct_soft.size
    return not _sectioned_partial(fp_a, fp_b, found_small, found_big, a_small, config)


def char_scores(
    fp_a: Fingerprint, fp_b: Fingerprint, config: DedupConfig
) -> tuple[Scores, list[bool], list[bool], bool]:
    """The noise signal: resemblance and paragraph containment over sampled
    character runs (``Fingerprint.chars``), which paragraphs of the smaller /
    larger text are found in the other, and whether ``fp_a`` is the smaller.
    Zero scores when either side has none (fingerprints stored before the
    signal existed)."""
    a, b = fp_a.char_array(), fp_b.char_array()
    if (
        a.size == 0
        or b.size == 0
        or len(fp_a.char_ends) != len(fp_a.paragraph_ends)
        or len(fp_b.char_ends) != len(fp_b.paragraph_ends)
    ):
        return Scores(0.0, 0.0), [], [], True
    sa, sb = fp_a.distinct_chars, fp_b.distinct_chars
    inter = np.intersect1d(sa, sb, assume_unique=True).size
    resemblance = inter / (sa.size + sb.size - inter)
    a_small = sa.size <= sb.size
    if resemblance < config.char_resemblance:  # not a copy: skip the paragraphs
        return Scores(resemblance, 0.0), [], [], a_small
    (small, small_ends, big_set), (big, big_ends, small_set) = (
        ((a, fp_a.char_ends, sb), (b, fp_b.char_ends, sa))
        if a_small
        else ((b, fp_b.char_ends, sa), (a, fp_a.char_ends, sb))
    )
    found, containment = _paragraph_presence(small, small_ends, big_set, config.char_paragraph_match)
    found_big, _ = _paragraph_presence(big, big_ends, small_set, config.char_paragraph_match)
    return Scores(resemblance, containment), found, found_big, a_small


def _noisy_copy(fp_a: Fingerprint, fp_b: Fingerprint, config: DedupConfig) -> bool:
    """The third signal: a copy with character noise on either side (OCR,
    typos), verified like the rewrite signal over character runs."""
    s, found_small, found_big, a_small = char_scores(fp_a, fp_b, config)
    if s.containment < config.char_containment or s.resemblance < config.char_resemblance:
        return False
    if (
        s.containment < config.char_strong_containment
        and found_small.count(False) > config.max_unmatched_paragraphs
    ):
        return False
    if not (_anchored(found_small, config) and _anchored(found_big, config)):
        return False
    if _found_presence(fp_a, fp_b, found_small, a_small) < config.char_found_presence:
        return False
    if s.resemblance >= config.anchor_exempt_resemblance:
        return True
    return not _sectioned_partial(fp_a, fp_b, found_small, found_big, a_small, config)


def _found_presence(fp_a: Fingerprint, fp_b: Fingerprint, found_small: list[bool], a_small: bool) -> float:
    """Share of the smaller text's character runs, in its found paragraphs,
    that occur in the other text: ~0.7 or more for a copy with 4% character
    errors on both sides; a report that repeats background in its own
    words finds its paragraphs just over ``char_paragraph_match``."""
    small, big = (fp_a, fp_b) if a_small else (fp_b, fp_a)
    arr = small.char_array()
    mask = np.zeros(arr.size, dtype=bool)
    start = 0
    for end, ok in zip(small.char_ends, found_small):
        mask[start:end] = ok
        start = end
    if not mask.any():
        return 0.0
    return float(np.isin(arr[mask], big.distinct_chars).mean())


def is_copy(fp_a: Fingerprint, fp_b: Fingerprint, config: DedupConfig) -> bool:
    """Whether two articles are copies of one story (see ``DedupConfig``):
    by containment of verbatim 5-word runs, or else by the rewrite signal."""
    if min(fp_a.n_shingles, fp_b.n_shingles) < config.min_shingles:
        same = similarity(fp_a, fp_b, config).resemblance >= config.short_resemblance
    else:
        scored = _scores(fp_a, fp_b, config)
        # Topic neighbours that became candidates through a stock phrase share
        # almost no 5-word runs: skip the second signal's work for them.
        same = (
            _verbatim_copy(fp_a, fp_b, config, scored)
            or (
                scored[0].resemblance >= config.rewrite_min_resemblance
                and _rewritten_copy(fp_a, fp_b, config)
            )
            or _noisy_copy(fp_a, fp_b, config)
        )
    return same and not _conflicting_figures(fp_a, fp_b, config)


def _new_figures(doc: Fingerprint, other: Fingerprint, others: set[int], config: DedupConfig) -> int:
    """Distinct figures in ``doc``'s paragraphs found in ``other`` that
    ``other`` nowhere carries (``others``: its figures)."""
    ends = doc.number_ends
    numbers = doc.number_array()
    region = _matched_region(doc, other, config)
    mine = {int(numbers[i]) for p in region for i in range((ends[p - 1] if p else 0), ends[p])}
    return len(mine - others)


def _conflicting_figures(fp_a: Fingerprint, fp_b: Fingerprint, config: DedupConfig) -> bool:
    """Whether the shared paragraphs report different figures both ways: a
    daily update (new case and death counts over the same background), the
    next quake or market report from one template.  A copy keeps the
    figures of what it copies; a trimmed copy's are a subset of the whole's,
    so only figures missing in both directions count (see
    ``max_conflicting_figures``)."""
    if len(fp_a.number_ends) != len(fp_a.paragraph_ends) or len(fp_b.number_ends) != len(fp_b.paragraph_ends):
        return False  # stored before figures were fingerprinted
    if not fp_a.numbers or not fp_b.numbers:
        return False
    limit = config.max_conflicting_figures
    nums_a, nums_b = set(fp_a.number_array().tolist()), set(fp_b.number_array().tolist())
    # Cheap bound first: a copy (trimmed or whole) has at most ``limit`` new
    # figures in all of one side, shared paragraphs or not.
    if len(nums_a - nums_b) <= limit or len(nums_b - nums_a) <= limit:
        return False
    return (
        _new_figures(fp_a, fp_b, nums_b, config) > limit and _new_figures(fp_b, fp_a, nums_a, config) > limit
    )


def _one_section(fp: Fingerprint, found: list[bool], config: DedupConfig) -> bool:
    """Whether ``fp`` has ``composite_sections`` inner headlines and its
    found paragraphs all lie in one section (between two heads)."""
    if len(fp.sections) < config.composite_sections or len(found) != len(fp.paragraph_ends):
        return False
    hits = [i for i, ok in enumerate(found) if ok]
    if not hits:
        return False
    section_of = [sum(1 for head in fp.sections if head <= i) for i in hits]
    return min(section_of) == max(section_of)


def _verbatim_copy(
    fp_a: Fingerprint,
    fp_b: Fingerprint,
    config: DedupConfig,
    scored: tuple[Scores, list[bool], list[bool], bool] | None = None,
) -> bool:
    """Containment of verbatim 5-word runs (``scored``: ``_scores`` if known)."""
    s, found_small, found_big, a_small = scored or _scores(fp_a, fp_b, config)
    if s.containment < config.min_containment:
        return False
    small, big = (fp_a, fp_b) if a_small else (fp_b, fp_a)
    excerpt_end = _excerpt_end(small, found_small, found_big, config)
    if s.resemblance < config.min_resemblance and not excerpt_end:
        return False
    if (
        s.containment < config.strong_containment
        and found_small.count(False) > config.max_unmatched_paragraphs
    ):
        return False
    if s.resemblance >= config.anchor_exempt_resemblance:
        return True
    # A partial copy starts where its original starts: in both documents the
    # shared text begins within the first ``anchor_paragraphs`` paragraphs.
    # A digest carries a story's opening in its middle.
    if not (_anchored(found_small, config) and _anchored(found_big, config)):
        return False
    # The whole of the smaller text is the opening of the larger, and the
    # larger goes on about the same things: a paywalled copy of a long
    # article with subheads keeps its intro, which lies inside the first
    # section.  A digest whose first item is that opening goes on about
    # other stories and keeps the one-section rule.
    if excerpt_end and all(found_small) and _continues(big, small, excerpt_end, config):
        return True
    return not _sectioned_partial(fp_a, fp_b, found_small, found_big, a_small, config)


def _excerpt_end(
    small: Fingerprint, found_small: list[bool], found_big: list[bool], config: DedupConfig
) -> int:
    """Where the matched block ends in the larger text (its paragraph count, 0 when
    the smaller text is not a leading excerpt).  A leading excerpt is the opening of the larger one: a
    paywall-truncated or trimmed-from-the-end copy of a long article (its
    first two or three paragraphs), whose resemblance to the whole is far
    below ``min_resemblance`` (0.03-0.1 for an 800-2,000-word original).
    The larger text's found paragraphs must form one block at its start (at
    most ``max_unmatched_paragraphs`` gaps), beginning within its first
    ``anchor_paragraphs``, and the smaller side must hold at least
    ``min_excerpt_shingles`` (about a sentence): a brief whose text sits in
    the middle of a round-up is not the round-up's opening."""
    if small.n_shingles < config.min_excerpt_shingles:
        return 0
    if not (_anchored(found_big, config) and _anchored(found_small, config)):
        return 0
    end = len(found_big) - found_big[::-1].index(True)  # one past the last paragraph found
    return end if found_big[:end].count(False) <= config.max_unmatched_paragraphs else 0


def _continues(big: Fingerprint, small: Fingerprint, block_end: int, config: DedupConfig) -> bool:
    """Whether ``big``, after its first ``block_end`` paragraphs (the block ``small``
    matches), still uses ``excerpt_continuation`` of ``small``'s word pairs: the rest
    of the same article (its names and phrases recur), not other stories."""
    if len(big.soft_ends) != len(big.paragraph_ends) or not small.soft:
        return False  # no word pairs stored: keep the one-section rule
    rest = np.unique(big.soft_array()[big.soft_ends[block_end - 1] :])
    mine = small.distinct_soft
    return bool(np.isin(mine, rest).mean() >= config.excerpt_continuation)


def _sectioned_partial(
    fp_a: Fingerprint,
    fp_b: Fingerprint,
    found_small: list[bool],
    found_big: list[bool],
    a_small: bool,
    config: DedupConfig,
) -> bool:
    """A partial match that stays inside one section of a text with inner
    headlines: a digest's item (see ``composite_sections``)."""
    if max(len(fp_a.sections), len(fp_b.sections)) < config.composite_sections:
        return False
    small, big = (fp_a, fp_b) if a_small else (fp_b, fp_a)
    return _one_section(small, found_small, config) or _one_section(big, found_big, config)


def _anchored(found: list[bool], config: DedupConfig) -> bool:
    return any(found[: config.anchor_paragraphs])


# --------------------------------------------------------------------------
# Clustering


def _parse_time(value: Any) -> float | None:
    moment = parse_instant(value)
    return None if moment is None else moment.timestamp()


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _matched_region(doc: Fingerprint, other: Fingerprint, config: DedupConfig) -> frozenset[int]:
    """Indices of ``doc``'s paragraphs found in ``other``: by 5-word runs,
    close by word pairs (a rewritten copy's paragraphs) or by character runs
    (a noisy copy's)."""
    found = _found_paragraphs(doc, other.distinct_shingles, config)
    region = {i for i, ok in enumerate(found) if ok}
    if len(region) == len(found):  # every paragraph found: nothing to add
        return frozenset(region)
    if doc.soft and other.soft and len(doc.soft_ends) == len(found):
        close, _ = _paragraph_presence(
            doc.soft_array(), doc.soft_ends, other.distinct_soft, config.soft_paragraph_match
        )
        region.update(i for i, ok in enumerate(close) if ok)
    if len(region) < len(found) and doc.chars and other.chars and len(doc.char_ends) == len(found):
        near, _ = _paragraph_presence(
            doc.char_array(), doc.char_ends, other.distinct_chars, config.char_paragraph_match
        )
        region.update(i for i, ok in enumerate(near) if ok)
    return frozenset(region)


def find_digests(fps: Mapping[Any, Fingerprint], neighbours: Mapping[Any, set], config: DedupConfig) -> set:
    """Documents that copy two others which are not copies of each other on
    disjoint parts of their text (digests, round-ups): kept out of clusters
    so they cannot bridge two stories.  ``neighbours``: verified copy pairs
    as adjacency sets; ``fps``: the fingerprints of (at least) every document
    with two or more neighbours and of those neighbours."""
    digests = set()
    for doc, partners in sorted(neighbours.items()):
        plist = sorted(partners)
        if len(plist) < 2 or doc not in fps:
            continue
        regions = {p: _matched_region(fps[doc], fps[p], config) for p in plist if p in fps}
        for x, u in enumerate(plist):
            for v in plist[x + 1 :]:
                if v in neighbours.get(u, ()) or u not in regions or v not in regions:
                    continue
                ru, rv = regions[u], regions[v]
                if ru and rv and len(ru & rv) < config.composite_overlap * min(len(ru), len(rv)):
                    digests.add(doc)
                    break
            if doc in digests:
                break
    return digests


def is_excerpt_of(doc: Fingerprint, other: Fingerprint, config: DedupConfig) -> bool:
    """``doc`` lies wholly inside ``other`` (every paragraph found there; one
    may be missing from three on) and is at most ``excerpt_share`` of its
    words: a paywalled opening, a brief cut from the article."""
    n = len(doc.paragraph_ends)
    if n == 0 or doc.words > config.excerpt_share * other.words:
        return False
    missing = config.max_unmatched_paragraphs if n >= 3 else 0
    return len(_matched_region(doc, other, config)) >= n - missing


def _goes_on(big: Fingerprint, small: Fingerprint, config: DedupConfig) -> bool:
    """Whether ``big`` goes on, after the last of its paragraphs found in ``small``, about what
    ``small`` is about (``_continues``): the article an excerpt was cut from, not a digest
    that strings the same opening with other stories."""
    region = _matched_region(big, small, config)
    return bool(region) and _continues(big, small, max(region) + 1, config)


def find_shared_excerpts(
    fps: Mapping[Any, Fingerprint],
    neighbours: Mapping[Any, set],
    config: DedupConfig,
    times: Mapping[Any, float | None] | None = None,
    docs: Iterable | None = None,
) -> dict:
    """Documents that are an excerpt of two others which are not copies of
    each other: the opening paragraphs of an article that a later follow-up
    also reuses word for word.  Such a document is only the common part, so
    it joins one of them and must not bridge the two.  Returns ``{doc:
    partners it is an excerpt of, best first}``: those that go on about
    what it is about after the part it holds (``excerpt_continuation``; a
    digest goes on about other stories) before the others, then the one
    published closest to it (missing dates last), then the one with more
    copies, then the smallest id.  It joins the first that is not a digest (``find_digests``
    can name a partner that holds the excerpt among other stories).  ``fps`` and ``neighbours`` as for
    ``find_digests``; ``times``: epoch seconds by document, when known;
    ``docs``: decide for these only (default: every document)."""
    times = times or {}
    joins = {}
    for doc in sorted(neighbours if docs is None else docs):
        partners = neighbours.get(doc, ())
        if len(partners) < 2 or doc not in fps:
            continue
        fp = fps[doc]
        holders = sorted(p for p in partners if p in fps and is_excerpt_of(fp, fps[p], config))
        split = any(
            v not in neighbours.get(u, ()) and not is_copy(fps[u], fps[v], config)
            for x, u in enumerate(holders)
            for v in holders[x + 1 :]
        )
        if not split:
            continue
        own = times.get(doc)

        def rank(p, own=own, fp=fp):
            other = times.get(p)
            distance = float("inf") if own is None or other is None else abs(other - own)
            return (not _goes_on(fps[p], fp, config), distance, -len(neighbours.get(p, ())), str(p))

        joins[doc] = tuple(sorted(holders, key=rank))
    return joins


def cluster(items: Sequence[tuple[str, Fingerprint, Any]], config: DedupConfig) -> dict[str, str]:
    """Cluster id for every item ``(id, fingerprint, published)``.

    Deterministic whatever the order of ``items``; ids must be unique.
    """
    ids = [str(i) for i, _, _ in items]
    if len(set(ids)) != len(ids):
        raise ValueError("cluster: ids must be unique")
    order = sorted(range(len(items)), key=lambda i: ids[i])
    ids = [ids[i] for i in order]
    fps = [items[i][1] for i in order]
    times = [_parse_time(items[i][2]) for i in order]
    n = len(ids)

    buckets: dict[str, list[int]] = defaultdict(list)
    for i, fp in enumerate(fps):
        for key in band_keys(fp, config):
            buckets[key].append(i)
    candidates = set()
    for members in buckets.values():
        if len(members) > 1:
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    candidates.add((members[x], members[y]))

    neighbours: dict[int, set[int]] = defaultdict(set)
    for i, j in sorted(candidates):
        if is_copy(fps[i], fps[j], config):
            neighbours[i].add(j)
            neighbours[j].add(i)

    composite = find_digests(dict(enumerate(fps)), neighbours, config)
    ranked = find_shared_excerpts(dict(enumerate(fps)), neighbours, config, dict(enumerate(times)))
    joins = {i: next((p for p in order if p not in composite), None) for i, order in ranked.items()}

    uf = _UnionFind(n)
    for i, partners in neighbours.items():
        if i in composite:
            continue
        for j in partners:
            if j not in composite and joins.get(i, j) == j and joins.get(j, i) == i:
                uf.union(i, j)

    best: dict[int, int] = {}
    for i in range(n):
        root = uf.find(i)
        cur = best.get(root)
        if cur is None or _earlier(times[i], ids[i], times[cur], ids[cur]):
            best[root] = i
    return {ids[i]: ids[best[uf.find(i)]] for i in range(n)}


def _earlier(t_a: float | None, id_a: str, t_b: float | None, id_b: str) -> bool:
    key_a = (t_a is None, t_a or 0.0, id_a)
    key_b = (t_b is None, t_b or 0.0, id_b)
    return key_a < key_b


# Fingerprints of a large input are computed by a pool of processes, this many texts per task:
# large enough that a task's pickling is small next to its work (~3 ms a text), small enough that
# progress moves.  Below POOL_MIN_ROWS a pool's start (~1 s: each process imports numpy and this
# module) costs more than it saves.
_POOL_CHUNK = 200
POOL_MIN_ROWS = 1000


def _fingerprint_texts(texts: list[str], config: DedupConfig) -> list[Fingerprint]:
    return [fingerprint(text, config) for text in texts]


def fingerprints(
    texts: Sequence[str],
    config: DedupConfig,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[Fingerprint]:
    """``fingerprint`` of every text, in order; with ``workers`` > 1 and at least
    ``POOL_MIN_ROWS`` texts, in that many processes.  ``progress(n)``: called with the number of
    texts done so far, from this thread."""
    if workers <= 1 or len(texts) < POOL_MIN_ROWS:
        out = []
        for start in range(0, len(texts), _POOL_CHUNK):
            out.extend(_fingerprint_texts(list(texts[start : start + _POOL_CHUNK]), config))
            if progress:
                progress(len(out))
        return out
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    # forkserver: no fork of a process whose other threads (a progress display) may hold locks
    context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
    chunks = [list(texts[start : start + _POOL_CHUNK]) for start in range(0, len(texts), _POOL_CHUNK)]
    out = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for done in pool.map(_fingerprint_texts, chunks, [config] * len(chunks)):
            out.extend(done)
            if progress:
                progress(len(out))
    return out


def dedup_rows(
    rows: Iterable[Mapping[str, Any]],
    config: DedupConfig,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, str]]:
    """The ``newsbeam dedup`` contract: rows in, ``{"id", "cluster"}`` out.

    Input rows carry ``id`` and ``text`` (``title``/``headline`` and
    ``published``/``date`` optional; every other field, a gold ``cluster``
    included, is ignored).  Output has every input id exactly once, in input
    order.  ``workers`` and ``progress``: see ``fingerprints`` (the clustering
    after it runs in this process).
    """
    ids, texts, times = [], [], []
    for row in rows:
        if "id" not in row:
            raise ValueError("dedup: every row needs an 'id'")
        published = row.get("published")
        if published is None:
            published = row.get("date")
        ids.append(str(row["id"]))
        texts.append(row.get("text") or "")
        times.append(published)
    fps = fingerprints(texts, config, workers, progress)
    items = list(zip(ids, fps, times))
    labels = cluster(items, config)
    return [{"id": item_id, "cluster": labels[item_id]} for item_id in ids]
