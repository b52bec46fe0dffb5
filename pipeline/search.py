"""``newsbeam search``: ranked hits from the articles alias.

``SearchFilters`` holds the filters of the command line (outlet, time range,
entity, place, agency, language, story); ``build_search_body`` turns free
text plus filters into one request body (pure, unit-tested);
``search_articles`` runs it and returns plain hit dicts with the matched
passage (highlight); ``format_hits`` prints them as a table that fits the
terminal.

Everything printed comes from crawled pages, so it is hostile text: every
string goes through ``clean_text`` (ESC/CSI/OSC sequences and C0/C1 control
characters removed) and is printed as ``rich.text.Text`` (never parsed as
Rich markup); messages that embed user input are escaped with
``rich.markup.escape``.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "add_filter_arguments",
    "filters_from_args",
    "public_hit",
    "run_search",
    "search_page",
    "SearchFilters",
    "build_search_body",
    "check_query",
    "clean_text",
    "format_hits",
    "parse_time",
    "search_articles",
]

_SOURCE = [
    "title",
    "source",
    "published",
    "url",
    "canonical_url",
    "story",
    "language",
    "agency",
    "dateline",
]
# Private-use characters mark the highlighted words: they survive clean_text
# and cannot come from Elasticsearch's own markup.
_PRE, _POST = "\ue000", "\ue001"
_PASSAGE_CHARS = 160
# --collapse: the copy that names a story (DESIGN.md: story.is_canonical is the
# earliest copy; the date and URL order also pick one among copies that match
# when the canonical one does not).
_REPRESENTATIVE = "representative"
_CANONICAL_FIRST = [
    {"story.is_canonical": {"order": "desc", "missing": "_last"}},
    {"published": {"order": "asc", "missing": "_last"}},
    {"canonical_url": {"order": "asc", "missing": "_last"}},
]

# ESC-introduced sequences (CSI ... final byte, OSC/DCS/APC/PM ... ST or BEL,
# two-character escapes), then any remaining C0/C1 control character.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS, SOS, PM, APC
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|[\x9d\x90\x98\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # 8-bit OSC, DCS, ...
    r"|\x1b[ -/]*[0-~]?"  # other escapes
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[\t\n\r\u2028\u2029]+")


def clean_text(value: Any) -> str:
    """``value`` as one printable line: terminal escape sequences and control
    characters removed, line breaks and tabs turned into spaces."""
    if value is None:
        return ""
    text = _ESCAPES.sub("", str(value))
    text = _SPACES.sub(" ", text)
    return _CONTROLS.sub("", text).strip()


_RELATIVE = re.compile(r"(\d{1,6})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: str, flag: str, now: datetime | None = None, end_of_day: bool = False) -> str:
    """An ISO date or date-time (UTC when no offset is given), or a duration
    before now (``90m``, ``12h``, ``7d``, ``2w``); returns an ISO UTC string.
    ``end_of_day``: a date alone means its last second (``--until 2024-05-07``
    takes that day in).  Raises ``ValueError`` naming ``flag``."""
    text = value.strip()
    relative = _RELATIVE.fullmatch(text)
    try:
        if relative:
            now = now or datetime.now(timezone.utc)
            moment = now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
        else:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(
                    f"{flag}: expected a date (2024-05-01), a date and time (2024-05-01T08:00:00Z) or "
                    f"a duration before now (90m, 12h, 7d, 2w), got {value!r}"
                ) from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            if end_of_day and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                moment += timedelta(days=1, seconds=-1)
        moment = moment.astimezone(timezone.utc)
    except OverflowError:  # 999999w, 0001-01-01T00:00:00+01:00: before year 1 or after 9999 in UTC
        raise ValueError(f"{flag}: {value!r} is outside the years 1 to 9999") from None
    # The year always in four digits: strftime's %Y gives "999" for 999, which Elasticsearch refuses.
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}Z"


_LANG = re.compile(r"[a-z]{2,3}")


@dataclasses.dataclass(frozen=True)
class SearchFilters:
    """Filters of ``newsbeam search``; each one narrows the hits (AND)."""

    outlets: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    entities: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    agencies: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    story: str | None = None

    def __post_init__(self):
        for lang in self.languages:
            if not _LANG.fullmatch(lang):
                raise ValueError(f"--lang: expected an ISO 639-1 code such as en or de, got {lang!r}")
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"--since {self.since} is after --until {self.until}")
        if self.story is not None and not self.story.strip():
            raise ValueError("--story: expected a story cluster id (story.cluster_id), got an empty value")

    def clauses(self) -> list[dict[str, Any]]:
        """The ``bool.filter`` clauses (pure)."""
        clauses: list[dict[str, Any]] = []

        def any_of(fields: list[str], values: tuple[str, ...], case_insensitive: bool = False) -> None:
            # Several values of one flag: any of them (OR); the flags: all (AND).
            if not values:
                return
            if case_insensitive:  # one term per value: ``terms`` has no case_insensitive
                should = [
                    {"term": {field: {"value": value, "case_insensitive": True}}}
                    for field in fields
                    for value in values
                ]
            else:
                should = [{"terms": {field: list(values)}} for field in fields]
            clauses.append({"bool": {"should": should, "minimum_should_match": 1}})

        # Names in any case: `--place kabul`, `--agency ap` and `--outlet "the globe"` mean
        # what is stored as "Kabul", "AP" and "The Globe"; and documents tagged before names
        # in capitals were title-cased keep "NEW YORK" (transforms/entities.display_name).
        any_of(["source.name", "source.domain"], self.outlets, case_insensitive=True)
        entity_fields = ["entities.person", "entities.org", "entities.location", "entities.misc"]
        any_of(entity_fields, self.entities, case_insensitive=True)
        any_of(["dateline.places"], self.places, case_insensitive=True)
        any_of(["agency"], self.agencies, case_insensitive=True)
        if self.languages:
            clauses.append({"terms": {"language": list(self.languages)}})
        if self.story:
            clauses.append({"term": {"story.cluster_id": self.story}})
        if self.since or self.until:
            bounds = {}
            if self.since:
                bounds["gte"] = self.since
            if self.until:
                bounds["lte"] = self.until
            clauses.append({"range": {"published": bounds}})
        return clauses


# A search's words become term clauses, one per word and field (title, body); Elasticsearch
# 8 refuses a query over its clause limit (``too_many_nested_clauses``), which is at least
# 1024 whatever the heap.  The standard tokenizer cuts a longer word into 255-character tokens.
MAX_QUERY_WORDS = 500
MAX_QUERY_CHARS = 10_000
_WORD = re.compile(r"\w+")
_MAX_TOKEN_CHARS = 255


def check_query(query: str | None) -> None:
    """``ValueError`` (a usage error) for a query too long to send: more than
    ``MAX_QUERY_CHARS`` characters or ``MAX_QUERY_WORDS`` words."""
    text = (query or "").strip()
    if len(text) > MAX_QUERY_CHARS:
        raise ValueError(
            f"QUERY: {len(text)} characters, more than the {MAX_QUERY_CHARS} a search takes; "
            "search for fewer words (a few distinctive ones rank best), or use filters"
        )
    words = sum(-(-len(word) // _MAX_TOKEN_CHARS) for word in _WORD.findall(text))
    if words > MAX_QUERY_WORDS:
        raise ValueError(
            f"QUERY: {words} words, more than the {MAX_QUERY_WORDS} a search takes; "
            "search for fewer words (a few distinctive ones rank best), or use filters"
        )


def build_search_body(
    query: str | None, filters: SearchFilters | None = None, size: int = 10, collapse: bool = False
) -> dict[str, Any]:
    """The request body (pure).  Free text ranks by relevance; without it
    (filters only), or with ``--story``, the newest first, except for a
    story: its copies earliest first."""
    filters = filters or SearchFilters()
    text = (query or "").strip()
    must: list[dict[str, Any]] = []
    if text:
        must.append({"multi_match": {"query": text, "fields": ["title^3", "body"], "type": "best_fields"}})
    body: dict[str, Any] = {
        "query": {"bool": {"must": must or [{"match_all": {}}], "filter": filters.clauses()}},
        "source": _SOURCE,
        "size": size,
        "track_total_hits": True,
    }
    if filters.story:
        body["sort"] = [{"published": {"order": "asc", "missing": "_last"}}, {"canonical_url": "asc"}]
    elif not text:
        body["sort"] = [{"published": {"order": "desc", "missing": "_last"}}, {"canonical_url": "asc"}]
    highlight = {
        "fields": {
            "body": {"fragment_size": _PASSAGE_CHARS, "number_of_fragments": 1},
            "title": {"number_of_fragments": 0},
        },
        "pre_tags": [_PRE],
        "post_tags": [_POST],
    }
    if text:
        body["highlight"] = highlight
    if collapse:
        # One hit per story, ranked by the story's best-matching copy (the
        # top-level sort); the story is shown as its canonical copy, else (a
        # filter left that copy out) its earliest matching copy: the inner hit.
        representative: dict[str, Any] = {
            "name": _REPRESENTATIVE,
            "size": 1,
            "sort": _CANONICAL_FIRST,
            "_source": _SOURCE,
        }
        if text:
            representative["highlight"] = highlight
        body["collapse"] = {"field": "story.cluster_id", "inner_hits": representative}
    return body


def _source_name(src: dict[str, Any]) -> str | None:
    source = src.get("source") or {}
    return source.get("name") or source.get("domain")


def _passage(hit: dict[str, Any]) -> str | None:
    highlight = hit.get("highlight") or {}
    fragments = highlight.get("body") or highlight.get("title") or []
    return fragments[0] if fragments else None


def search_articles(
    client,
    alias: str,
    query: str | None,
    size: int = 10,
    collapse: bool = False,
    filters: SearchFilters | None = None,
) -> list[dict[str, Any]]:
    """Ranked hits (plain dicts, strings cleaned of control characters); with
    ``collapse`` one hit per story (``story.cluster_id``), ranked by the
    story's best-matching copy and shown as its canonical copy
    (``story.is_canonical``; when a filter leaves that copy out, the earliest
    copy that matches), with its number of copies and outlets.  The number of
    matching articles is in each hit's ``total`` (also when collapsed)."""
    return search_page(client, alias, query, size, collapse, filters)[0]


def search_page(
    client,
    alias: str,
    query: str | None,
    size: int = 10,
    collapse: bool = False,
    filters: SearchFilters | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """``(hits, total matching articles)``."""
    response = client.search(index=alias, **build_search_body(query, filters, size, collapse))
    total = response["hits"].get("total") or 0
    if isinstance(total, dict):
        total = total.get("value", 0)
    hits = []
    for ranked in response["hits"]["hits"]:
        hit = _representative(ranked) if collapse else ranked
        src = hit.get("_source", {})
        story = src.get("story") or {}
        passage = _passage(hit) or _passage(ranked)
        hits.append(
            {
                "id": hit["_id"],
                "score": ranked.get("_score"),
                "title": clean_text(src.get("title")) or None,
                "source": clean_text(_source_name(src)) or None,
                "published": src.get("published"),
                "url": clean_text(src.get("url")) or None,
                "canonical_url": clean_text(src.get("canonical_url") or src.get("url")) or None,
                "language": src.get("language"),
                "cluster_id": story.get("cluster_id"),
                "canonical": story.get("is_canonical"),
                "copies": story.get("size", 1),
                "passage": clean_text(passage.replace(_PRE, "").replace(_POST, "")) if passage else None,
                "_passage_marked": clean_text(passage) if passage else None,
            }
        )
    if collapse and hits:
        outlets = _outlets_per_story(client, alias, [h["cluster_id"] for h in hits if h["cluster_id"]])
        for hit in hits:
            hit["outlets"] = outlets.get(hit["cluster_id"], [hit["source"]] if hit["source"] else [])
    return hits, int(total)


def _representative(ranked: dict[str, Any]) -> dict[str, Any]:
    """The copy that names a collapsed story: the inner hit (canonical copy
    first, else the earliest that matches); the ranked hit itself when the
    server gave no inner hit (an article without ``story.cluster_id``)."""
    inner = ((ranked.get("inner_hits") or {}).get(_REPRESENTATIVE) or {}).get("hits") or {}
    found = inner.get("hits") or []
    return found[0] if found else ranked


def _outlets_per_story(client, alias: str, cluster_ids: list[str]) -> dict[str, list[str]]:
    response = client.search(
        index=alias,
        size=0,
        query={"terms": {"story.cluster_id": cluster_ids}},
        aggs={
            "stories": {
                "terms": {"field": "story.cluster_id", "size": len(cluster_ids)},
                "aggs": {"outlets": {"terms": {"field": "source.name", "size": 50}}},
            }
        },
    )
    return {
        bucket["key"]: sorted(clean_text(b["key"]) for b in bucket["outlets"]["buckets"])
        for bucket in response["aggregations"]["stories"]["buckets"]
    }


def public_hit(hit: dict[str, Any]) -> dict[str, Any]:
    """The JSON line of a hit (``--json``)."""
    return {key: value for key, value in hit.items() if not key.startswith("_")}


def _marked(text: str):
    """Rich Text with the highlighted words in bold (never parsed as markup)."""
    from rich.text import Text

    out = Text()
    bold = False
    for part in re.split(f"([{_PRE}{_POST}])", text):
        if part == _PRE:
            bold = True
        elif part == _POST:
            bold = False
        elif part:
            out.append(part, style="bold" if bold else None)
    return out


def _display_url(hit: dict[str, Any]) -> str:
    url = hit.get("canonical_url") or hit.get("url") or ""
    return re.sub(r"^https?://", "", url)


def _published(value: Any) -> str:
    text = clean_text(value)
    return text[:16].replace("T", " ") if len(text) >= 16 else text


def format_hits(
    hits: list[dict[str, Any]], console, collapse: bool = False, total: int | None = None
) -> None:
    """A table that fits ``console.width``: the URL (canonical, without
    scheme) stays on one line and the title column wraps instead; the matched
    passage is printed under the title.  Too narrow for a URL column: one block
    per hit (``_stacked``)."""

    if not hits:
        console.print("no articles match")
        return
    width = console.width
    urls = [_display_url(hit) for hit in hits]
    # borders and padding, published, then copies and outlets, or source; the title needs 20
    fixed = 16 + 16 + 6 + 24 if collapse else 13 + 16 + 18
    room = width - fixed - 20
    if room < NARROW_URL:  # no room for a URL column: one block per hit
        _stacked(hits, urls, console, collapse)
    else:
        _table(hits, urls, console, collapse, min(max(len(u) for u in urls), room))
    shown = len(hits)
    what = "stories" if collapse else "articles"
    if total is not None and total > shown and not collapse:
        console.print(f"{shown} of {total} matching {what} shown (--size for more)")
    elif total is not None and collapse:
        console.print(f"{shown} {what} shown, {total} matching articles")
    else:
        console.print(f"{shown} matching {what if shown != 1 else what[:-1]}")


NARROW_URL = 30  # narrower than this, the URL column gives way to one block per hit


def _title_text(hit: dict[str, Any]):
    from rich.text import Text

    title = Text(hit.get("title") or "", style="bold")
    if hit.get("_passage_marked"):
        title.append("\n")
        title.append_text(_marked("… " + hit["_passage_marked"] + " …"))
    return title


def _stacked(hits: list[dict[str, Any]], urls: list[str], console, collapse: bool) -> None:
    """A narrow terminal: per hit, its title and passage (wrapped), a line of its outlets or
    source and date, and its URL on one line (cut with an ellipsis if longer than the line)."""
    from rich.text import Text

    for hit, url in zip(hits, urls):
        console.print(_title_text(hit))
        if collapse:
            copies = hit.get("copies", 1)
            about = f"{copies} {'copy' if copies == 1 else 'copies'}: {', '.join(hit.get('outlets') or [])}"
        else:
            about = hit.get("source") or ""
        console.print(Text(f"{about} · {_published(hit.get('published'))}", style="dim"))
        console.print(Text(url), no_wrap=True, overflow="ellipsis", crop=True)
        console.print()


def _table(hits: list[dict[str, Any]], urls: list[str], console, collapse: bool, url_width: int) -> None:
    from rich.table import Table
    from rich.text import Text

    url_width = max(NARROW_URL, url_width)
    table = Table(show_lines=True, expand=False)
    table.add_column("title", ratio=1, min_width=20, overflow="fold")
    if collapse:
        table.add_column("copies", justify="right", no_wrap=True)
        table.add_column("outlets", max_width=24, overflow="fold")
    else:
        table.add_column("source", max_width=18, overflow="fold")
    table.add_column("published", no_wrap=True)
    table.add_column("url", no_wrap=True, overflow="ellipsis", min_width=url_width, max_width=url_width)
    for hit, url in zip(hits, urls):
        title = _title_text(hit)
        if collapse:
            middle = [
                Text(str(hit.get("copies", 1))),
                Text(", ".join(hit.get("outlets") or [])),
            ]
        else:
            middle = [Text(hit.get("source") or "")]
        table.add_row(title, *middle, Text(_published(hit.get("published"))), Text(url))
    console.print(table)


# -- command line -------------------------------------------------------------


def add_filter_arguments(parser) -> None:
    """The filter flags of ``newsbeam search``."""
    add = parser.add_argument
    add("--outlet", action="append", metavar="NAME", help="outlet name or domain (source.name/source.domain)")
    add(
        "--since",
        metavar="WHEN",
        help="published at or after WHEN: 2024-05-01, 2024-05-01T08:00:00Z, or a duration before now "
        "(90m, 12h, 7d, 2w)",
    )
    add(
        "--until",
        metavar="WHEN",
        help="published at or before WHEN (same forms as --since; a date alone takes that whole day in)",
    )
    add(
        "--entity",
        action="append",
        metavar="NAME",
        help="a person, organisation, place or other entity named",
    )
    add("--place", action="append", metavar="NAME", help="a dateline place, e.g. Kabul")
    add("--agency", action="append", metavar="NAME", help="wire agency credited, e.g. AP, Reuters, APP")
    add("--lang", action="append", metavar="CODE", help="language, ISO 639-1 (en, de, ...)")
    add(
        "--story",
        metavar="CLUSTER_ID",
        help="every copy of one story (story.cluster_id, shown by --json), earliest first",
    )


def filters_from_args(args) -> SearchFilters:
    """Raises ``ValueError`` naming the flag."""

    def values(name: str) -> tuple[str, ...]:
        out = []
        for value in getattr(args, name, None) or ():
            if not value.strip():
                raise ValueError(f"--{name}: expected a value, got an empty string")
            out.append(value.strip())
        return tuple(out)

    return SearchFilters(
        outlets=values("outlet"),
        since=parse_time(args.since, "--since") if args.since is not None else None,
        until=parse_time(args.until, "--until", end_of_day=True) if args.until is not None else None,
        entities=values("entity"),
        places=values("place"),
        agencies=values("agency"),
        languages=tuple(v.lower() for v in values("lang")),
        story=args.story.strip() if args.story is not None else None,
    )


def run_search(args, load_settings, usage_error) -> int:
    """``newsbeam search``: 0 with hits or none (a message says so on stderr
    for ``--json``, on stdout for the table)."""
    import json

    from rich.console import Console

    from newsbeam.connectors.es import EsUnavailable, connect, describe, ping

    try:
        check_query(args.query)
        filters = filters_from_args(args)
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    if not (args.query or "").strip() and filters == SearchFilters():
        raise usage_error("search: give QUERY, a filter (--outlet, --since, --entity, --story, ...) or both")
    settings = load_settings(args)
    es = settings.elasticsearch
    from elasticsearch import ApiError, NotFoundError

    client = connect(es)
    try:
        ping(client, es)
        try:
            hits, total = search_page(
                client, es.articles_alias, args.query, args.size, args.collapse, filters
            )
        except NotFoundError:
            raise EsUnavailable(
                f"no index {es.articles_alias} at {describe(es)}: run newsbeam run "
                "(or newsbeam es setup) first, or check --index-prefix"
            ) from None
        except ApiError as exc:
            raise EsUnavailable(
                f"Elasticsearch at {describe(es)} refused the search: {exc.message}"
            ) from None
    finally:
        client.close()
    if args.json:
        for hit in hits:
            print(json.dumps(public_hit(hit), ensure_ascii=False))
        if not hits:
            Console(stderr=True, highlight=False).print("no articles match", markup=False)
        return 0
    format_hits(hits, Console(highlight=False), collapse=args.collapse, total=total)
    return 0
