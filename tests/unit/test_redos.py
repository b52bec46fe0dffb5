"""Every regular expression applied to text from the internet stays linear (or
bounded) on adversarial input (issue 15 item 2, ReDoS).

Each case is an input that took seconds to minutes (or longer: exponential)
before the patterns were rewritten, and takes milliseconds now.  The cases run
in one child process with a generous cap, so a regression shows as a test
that does not finish in minutes, reported with the name of the case that hung;
no timing is asserted beyond that cap.

One case is not a pattern but the same kind of risk: the extractor's lookup of a page's link
texts (rule 8), quadratic in lines x links before.

A second test lists every compiled pattern in the modules that read pages,
feeds and bodies: a new pattern fails it until it is audited here.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

# Each case: (name, statement).  The statements run in the child process.
CASES = {
    # "By A" + "andA" * n + "!": 2**n paths before (3.8 s at 93 characters).
    "similarity byline": "similarity._is_noise_line('By A' + 'andA' * 28 + '!')",
    "similarity byline via fingerprint": (
        "similarity.fingerprint(('By A' + 'andA' * 28 + '!\\n') * 20 + 'Body text here. ' * 40, "
        "similarity.DedupConfig())"
    ),
    "similarity boilerplate": "similarity._is_noise_line('download the ' * 40000)",
    "similarity boilerplate anywhere": (
        "similarity._is_boilerplate('may not be ' * 40000 + 'has been ' * 40000)"
    ),
    "similarity sentences": "similarity._sentences(('. ' + ' ' * 2000 + 'a') * 200)",
    "similarity headline": "similarity._headline_line('.' + ' ' * 200000 + 'x')",
    "similarity terminal": "similarity._TERMINAL_RE.search(('.' + ' ' * 2000 + 'x') * 100)",
    "similarity invisible": "similarity._INVISIBLE_RE.sub('', '\u00ad' * 200000 + 'x')",
    "similarity unwrap": "similarity._unwrap(('word ' * 12 + 'go-\\n') * 20000)",
    # A credit line of blanks: cubic before (2 s at 100 blanks, 200 allowed).
    "dateline credit line": "dateline.credit_line_agency('By A' + ' ' * 190 + '. x')",
    "dateline credit line bracket": "dateline.credit_line_agency('(' + ' ' * 190 + 'x')",
    "dateline find credit": "dateline.find_credit_agency(('By A' + ' ' * 190 + '. x\\n') * 6)",
    "dateline upper": "dateline.parse_dateline('A-' * 5000 + '!')",
    "dateline upper words": "dateline.parse_dateline('NEW ' * 5000 + 'x')",
    "dateline title": "dateline.parse_dateline('Ab/' * 5000 + '!')",
    "dateline title words": "dateline.parse_dateline('New Delhi ' * 3000)",
    "dateline headline lines": "dateline.parse_dateline(('Short headline' + ' ' * 5000 + 'x\\n') * 5)",
    "dateline accented words": "dateline.parse_dateline('ÉÀ ' * 5000 + 'x')",
    "dateline editor's notes": "dateline.parse_dateline((\"Editor's note\" + ' ' * 5000 + '.\\n') * 5)",
    # " 11" * n: exponential before (27 s at 25 tokens).
    "entities trailing number": "entities.normalize_name('Ab' + ' 11' * 40 + ' x', 'person')",
    "entities long name": "entities.normalize_name('Ab' + ' 1' * 20000 + ' x', 'location')",
    # A run of blanks before no "/": quadratic before (7 s for 50,000).
    "entities person cut": "entities._person_words('A' + ' ' * 200000 + 'x')",
    "entities possessor": "entities._POSSESSOR_RE.match('a' + \"'s\" * 100000 + ' ' * 100000)",
    "entities chunks": "entities.split_chunks('a. ' * 100000, 20000)",
    # "<link " * n: quadratic before (19 s for 120 kB).
    "entities first occurrence": "entities._first_occurrence('Ab ' * 50000 + 'x', 'Ab Ab Ab Cd', 'person')",
    "extraction canonical": "extraction.find_canonical_href(b'<link ' * 80000)",
    "extraction canonical rel": "extraction.find_canonical_href(b'<link rel=' * 50000)",
    "extraction url month date": "extraction._URL_MONTH_DATE_RE.search('/2019/nov' * 20000 + 'x')",
    "extraction slug": "extraction._SLUG_RE.fullmatch('a-' * 50000 + '!')",
    "extraction unspaced": "extraction._size(['\u4e2d\u6587' * 100000, 'word'] * 50)",
    "extraction title separator": "extraction._TITLE_SEPARATOR_RE.split('a ' * 50000 + '| x')",
    "extraction label": "extraction._LABEL_RE.match('Read more' + ' ' * 100000 + 'x')",
    "extraction label after": "extraction._LABEL_RE.match('Read: ' + ' ' * 100000)",
    "extraction surrogate escape": "extraction._SURROGATE_ESCAPE.search('\\\\u' * 100000 + 'x')",
    "extraction surrogates": "extraction._without_surrogates({'a': ['\\ud800' * 100000]})",
    # A byline of blanks without a separator: quadratic before (127 s for 50,000).
    "extraction byline split": "extraction._byline_names('a' + ' ' * 200000 + 'b', set())",
    "extraction byline prefix": "extraction._byline_names('ab ' * 3 + ' ' * 100000 + 'by', set())",
    "extraction byline words": "extraction._byline_names('a' * 100000 + ', ' + 'b' * 100000 + ' Jr', set())",
    "extraction byline roles": "extraction._ROLE_RE.search('writ' * 100000)",
    "extraction promotion": "extraction._promotion_texts('READ' + ' ' * 240 + 'x')",
    # not a pattern: rule 8's link lookup compared every line with every link before (quadratic:
    # about three minutes for 40,000 promotion-like lines on a page of 40,000 links)
    "extraction promotions and links": (
        "extraction._drop_promotions("
        "'\\n'.join('READ MORE: item number %d today' % i for i in range(40000)), "
        "lambda: {'link number %d here' % i for i in range(40000)})"
    ),
    "urls www": "urls.normalize_url('http://' + 'www1' * 5000 + '.example/')",
    "es redact": "es.redact('http://' + 'a' * 50000 + ' http://x' * 5000)",
}

CHILD = textwrap.dedent(
    """
    import sys
    from newsbeam.connectors import es
    from newsbeam.transforms import dateline, entities, extraction, similarity, urls

    for name, statement in CASES.items():
        print(name, flush=True)
        try:
            eval(statement)
        except Exception as exc:  # a wrong statement must fail the test, not pass silently
            print("ERROR", name, repr(exc), flush=True)
            sys.exit(3)
    print("DONE", flush=True)
    """
)

# Generous: all cases take well under a second together; each input above took
# from several seconds to far longer than this with the old patterns.
CAP_SECONDS = 60


def test_adversarial_lines_finish(tmp_path):
    script = "CASES = " + repr(CASES) + "\n" + CHILD
    try:
        proc = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=CAP_SECONDS,
            cwd=tmp_path,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        started = [line for line in out.splitlines() if line]
        pytest.fail(f"regex case {started[-1] if started else '?'!r} did not finish in {CAP_SECONDS} s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == "DONE"


AUDITED = {
    "newsbeam.transforms.similarity": {
        "_BOILERPLATE_START_RE",
        "_BOILERPLATE_ANYWHERE_RE",
        "_BYLINE_LINE_RE",
        "_TOKEN_RE",
        "_SENTENCE_END",
        "_INVISIBLE_RE",
        "_TERMINAL_RE",
    },
    "newsbeam.transforms.dateline": {
        "_UPPER_RE",
        "_TITLE_RE",
        "_CREDIT_LINE_RE",
        "_SENT_END_RE",
        "_EDITORS_NOTE_RE",
        "_NOT_UP_RE",
        "_NOT_LETTER_RE",
    },
    "newsbeam.transforms.entities": {
        "_TITLE_RE",
        "_ARTICLE_RE",
        "_POSSESSIVE_RE",
        "_NUMBER_TOKEN_RE",
        "_NON_NAME_RE",
        "_PERSON_CUT_RE",
        "_POSSESSOR_RE",
    },
    "newsbeam.transforms.extraction": {
        "_TOKEN_RE",
        "_CANONICAL_RE",
        "_HREF_RE",
        "_DATE_RE",
        "_URL_DATE_RE",
        "_URL_MONTH_DATE_RE",
        "_LABEL_RE",
        "_SLUG_RE",
        "_TITLE_SEPARATOR_RE",
        "_UNSPACED_RE",
        "_SURROGATE",
        "_SURROGATE_ESCAPE",
        "_BYLINE_PREFIX_RE",
        "_BYLINE_SPLIT_RE",
        "_NAME_SUFFIX_RE",
        "_ROLE_RE",
        "_SURNAME_FIRST_RE",
    },
    "newsbeam.transforms.urls": {"_WWW"},
    "newsbeam.connectors.es": {"_USERINFO"},
}


@pytest.mark.parametrize("module", sorted(AUDITED))
def test_every_pattern_is_audited(module):
    import importlib

    mod = importlib.import_module(module)
    found = {name for name, value in vars(mod).items() if isinstance(value, re.Pattern)}
    assert found <= AUDITED[module], (
        f"{module}: new patterns {sorted(found - AUDITED[module])}: add an adversarial case to "
        "test_adversarial_lines_finish and list them here"
    )
