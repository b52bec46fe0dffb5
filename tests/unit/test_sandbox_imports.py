"""What the sandbox children import: a spawned child imports the module of the
function it runs and of every object it unpickles.  The feed parser's child
must not pay for Apache Beam (about 0.9 s of CPU and 140 MB per worker, on
the path to the first page request) nor for the settings model."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

from newsbeam.connectors.feed_parse import FeedRef, ParsedFeed, parse_job
from newsbeam.connectors.feeds import _ReadFeedFn
from newsbeam.transforms.extraction import ExtractionSandbox

_FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><title>One</title><link>http://example.org/a.html</link></item></channel></rss>"""


def _modules_after_unpickling(payload: bytes) -> dict:
    """Unpickle ``payload`` in a fresh interpreter, as the spawned child does, run
    the job it holds and say which heavy modules that imported."""
    script = textwrap.dedent(
        """
        import pickle, sys
        fn, content, job = pickle.loads(sys.stdin.buffer.read())
        result = fn(content, job)
        print(len(result.entries), "apache_beam" in sys.modules, "pydantic" in sys.modules)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], input=payload, capture_output=True, timeout=120, check=True
    )
    entries, beam, pydantic = proc.stdout.decode().split()
    return {"entries": int(entries), "apache_beam": beam == "True", "pydantic": pydantic == "True"}


def test_the_feed_parsers_job_imports_neither_beam_nor_pydantic():
    job = (FeedRef("http://example.org/feed.xml", "Example"), "http://example.org/feed.xml", {})
    found = _modules_after_unpickling(pickle.dumps((parse_job, _FEED, job)))
    assert found == {"entries": 1, "apache_beam": False, "pydantic": False}


def test_read_feeds_sends_its_child_the_beam_free_job():
    from newsbeam.config.settings import FetchSettings

    fn = _ReadFeedFn(FetchSettings(), {})
    fn.setup()
    try:
        sandbox = fn._sandbox._resource
        assert isinstance(sandbox, ExtractionSandbox)
        assert sandbox._extract_fn is parse_job
    finally:
        fn.teardown()


def test_the_feed_parser_child_parses_a_feed():
    with ExtractionSandbox(parse_job) as sandbox:
        job = (FeedRef("http://example.org/feed.xml", None), "http://example.org/feed.xml", {})
        parsed = sandbox.extract_with_limit(_FEED, job, 120)
    assert isinstance(parsed, ParsedFeed)
    assert [e.url for e in parsed.entries] == ["http://example.org/a.html"]
    assert parsed.entries[0].feed_name == "T"
