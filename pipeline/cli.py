"""The ``newsbeam`` command line (contract: docs/DESIGN.md).

Exit status: 0 success; 1 an operational failure (Elasticsearch unreachable,
documents not written, the embedded server failing, every feed failed); 2 bad
usage or configuration, with a message naming the flag or key and no
traceback; 130 interrupted (Ctrl-C); 143 terminated (SIGTERM); 129 hung up (SIGHUP).
Beam's own flags (``--runner``, ``--direct_running_mode``, ``--setup_file``,
...) pass through ``run``; a flag neither newsbeam nor Beam knows is refused.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections import Counter
from typing import Any

__all__ = ["main"]

_LOG = logging.getLogger("newsbeam")

_DESCRIPTION = """\
newsbeam reads RSS/Atom feeds, fetches and extracts each new article and
indexes it into Elasticsearch, on Apache Beam (locally one worker process
per CPU core; Dask, Flink, Spark or Dataflow with --runner).

Start here:  newsbeam demo            (embedded server + demo site + one run)
Then:        newsbeam run --feeds my-feeds.yaml
             newsbeam search "climate summit"
"""

_ENV_HELP = """\
connection settings come from the flags, else the environment (ES_URL,
ES_API_KEY or ES_USERNAME/ES_PASSWORD, ES_CA_CERTS, ES_CLOUD_ID), else the
config file (--config or NEWSBEAM_CONFIG), else the embedded server.

exit status: 0 success, 1 operational failure (for run also: every feed failed),
2 bad usage or configuration, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM),
129 hung up (SIGHUP: the terminal closed).
"""


class UsageError(Exception):
    """Bad usage: exit 2 with the message."""


def _add_common(parser: argparse.ArgumentParser, feeds: bool = True) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="YAML config merged over the shipped defaults (env NEWSBEAM_CONFIG)",
    )
    if feeds:
        parser.add_argument(
            "--feeds",
            metavar="FILE",
            help="YAML file with a feeds: list; replaces the config's",
        )
    parser.add_argument("--es-url", metavar="URL", help="Elasticsearch URL (env ES_URL)")
    parser.add_argument(
        "--index-prefix",
        metavar="P",
        help="names <P>-articles, <P>-failures, <P>-feeds, <P>-runs "
        "(default: elasticsearch.index_prefix, news)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbeam",
        description=_DESCRIPTION,
        epilog=_ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (DEBUG for newsbeam)")
    parser.add_argument("--version", action="version", version=f"newsbeam {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser(
        "run",
        help="poll every feed once, index new articles, exit",
        description="Poll every configured feed once, fetch and extract new articles, index them, "
        "and print a summary. Without --runner it runs locally with one worker process per CPU "
        "core (fewer if memory is short, about 0.6 GB each); --direct_num_workers=N sets the number "
        "of processes, --direct_running_mode=in_memory runs in this process. Any Beam pipeline option "
        "may follow (e.g. --runner=FlinkRunner, "
        "--runner DaskRunner --dask_client_address tcp://HOST:8786, --setup_file=./setup.py).",
        epilog=_ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(run)
    run.add_argument(
        "--allow-private-hosts",
        action="store_true",
        help="allow fetching private and loopback addresses (never link-local)",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="take over the writer lease of another run or stream (only when it is known to be gone)",
    )
    run.add_argument(
        "--max-run-time",
        type=float,
        metavar="SECONDS",
        help="stop starting feed and page requests and waves after SECONDS (config run.max_run_time); "
        "what was fetched is still indexed (extraction stops 10 s later), the rest is left for the next run",
    )

    from newsbeam.pipeline.report import add_report_arguments

    add_report_arguments(run)
    run.set_defaults(func=_cmd_run, beam_args=True)
    _add_stream_parser(sub)

    reextract = sub.add_parser(
        "reextract",
        help="re-run extraction and the later stages over the raw archive",
        description="Read every page kept in the raw archive (archive.enabled: true in the config while "
        "running) and run extraction, story clustering, entity tagging and indexing again, updating "
        "the documents by id. Beam pipeline options may follow, as for run.",
        epilog=_ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(reextract, feeds=False)
    reextract.add_argument("--archive-dir", metavar="DIR", help="the archive (default: archive.dir)")
    add_report_arguments(reextract)
    reextract.set_defaults(func=_cmd_reextract, beam_args=True)

    demo = sub.add_parser(
        "demo",
        help="embedded Elasticsearch + local demo news site + one run + what it found",
        description="Start the embedded Elasticsearch-compatible server on port 9200 (--port, "
        "embedded.port; unless ES_URL points to another cluster) and the shipped demo news site on "
        "port 8765 (demo.site_port; a free port when taken), run the pipeline over its feeds and print "
        "what was indexed. Running it again indexes nothing new. Beam pipeline options may follow, as "
        "for run (e.g. --direct_running_mode=in_memory). Exit status: 0 success, 1 operational "
        "failure (also: another server answers on the port), 2 bad usage, 130 interrupted.",
    )
    demo.add_argument(
        "--config", metavar="FILE", help="YAML config merged over the shipped defaults (env NEWSBEAM_CONFIG)"
    )
    demo.add_argument(
        "--index-prefix", metavar="P", help="index prefix (default: elasticsearch.index_prefix, news)"
    )
    demo.add_argument(
        "--port",
        type=int,
        help="port of the embedded server (default: embedded.port, 9200); the demo refuses a server "
        "on that port that this state directory did not start",
    )
    demo.set_defaults(func=_cmd_demo, beam_args=True)

    es = sub.add_parser("es", help="the embedded server and index setup")
    es_sub = es.add_subparsers(dest="es_command", metavar="ACTION")
    es_sub.required = True
    for action, text in (
        (
            "start",
            "start the embedded Elasticsearch-compatible server (noida-db) in the background",
        ),
        ("stop", "stop the embedded server (its data is kept)"),
        ("status", "say whether the embedded server runs and answers"),
    ):
        cmd = es_sub.add_parser(action, help=text, description=text)
        cmd.add_argument(
            "--config",
            metavar="FILE",
            help="YAML config with embedded.port, embedded.data_dir (env NEWSBEAM_CONFIG)",
        )
        cmd.add_argument("--port", type=int, help="port (default: embedded.port, 9200)")
        cmd.add_argument(
            "--data-dir",
            metavar="DIR",
            help="data directory (default: <state dir>/es-data)",
        )
        cmd.set_defaults(func=_cmd_es_server, beam_args=False)
    setup = es_sub.add_parser(
        "setup",
        help="install index templates, indices and aliases (idempotent)",
        description="Install the index templates and create the indices and aliases; safe to repeat.",
    )
    _add_common(setup, feeds=False)
    setup.set_defaults(func=_cmd_es_setup, beam_args=False)

    kibana = sub.add_parser("kibana", help="Kibana data views, saved searches and dashboard")
    kibana_sub = kibana.add_subparsers(dest="kibana_command", metavar="ACTION")
    kibana_sub.required = True
    kibana_import = kibana_sub.add_parser(
        "import",
        help="import the shipped data views, searches and dashboard (overwrites them)",
        description="POST the shipped saved objects to Kibana's import API with overwrite=true. "
        "Auth from KIBANA_API_KEY, else KIBANA_USERNAME/KIBANA_PASSWORD; KIBANA_CA_CERTS for a "
        "private CA.",
    )
    kibana_import.add_argument("--kibana-url", metavar="URL", help="Kibana base URL (env KIBANA_URL)")
    kibana_import.add_argument(
        "--index-prefix", metavar="P", help="data views for <P>-articles, ... (default: news)"
    )
    kibana_import.add_argument("--space", metavar="ID", help="Kibana space (default: the default space)")
    kibana_import.set_defaults(func=_cmd_kibana_import, beam_args=False)

    extract = sub.add_parser(
        "extract",
        help="extract articles from saved HTML files into JSON lines",
        description="Run newsbeam's article extraction over every *.html file in a directory and write "
        'one JSON line per file: {"id": <file name without .html>, "url", "title", "articleBody", '
        '"published", "authors", "language", "extraction"}. A file that cannot be read or extracted '
        'still gets its row, with an empty "articleBody" and an "error": unreadable, not_a_file, '
        "too_large (over 50 MB), timeout (30 s) or extract_crash; a page that is no article (a section "
        "front, a login wall, an error page asking not to be indexed or naming a front page as its "
        'canonical URL) gets "error": not_article and the reason in "detail".',
    )
    extract.add_argument("--input-dir", required=True, metavar="DIR", help="directory of *.html files")
    extract.add_argument("--output", required=True, metavar="FILE.jsonl", help="where to write the rows")
    _add_workers(extract, "pages extracted at once, each in its own process")
    extract.set_defaults(func=_cmd_extract, beam_args=False)

    dedup = sub.add_parser(
        "dedup",
        help="group syndicated copies in a JSON lines file (offline)",
        description="Cluster the rows of a JSON lines file with the pipeline's story-clustering core. "
        'Input rows: {"id", "text", "title"?, "published"?} ("headline" and "date" are accepted; other '
        'fields are ignored). Output rows: {"id", "cluster"}, every input id exactly once; copies of one '
        "story share a cluster (the id of its earliest copy).",
    )
    dedup.add_argument("--input", required=True, metavar="FILE.jsonl", help="rows to cluster")
    dedup.add_argument(
        "--output", required=True, metavar="FILE.jsonl", help="where to write {id, cluster} rows"
    )
    _add_workers(
        dedup,
        f"processes that fingerprint the texts of an input of {_DEDUP_POOL_MIN_ROWS:,} rows or more "
        "(the clustering after it runs in one)",
    )
    dedup.set_defaults(func=_cmd_dedup, beam_args=False)

    search = sub.add_parser(
        "search",
        help="search indexed articles",
        description="Ranked hits from the articles alias: free text in titles and bodies, narrowed by "
        "filters (each filter flag may be repeated: any of its values; different flags: all of them). "
        "Without QUERY the newest matching articles come first; with --story the copies of one story, "
        "earliest first.",
    )
    search.add_argument(
        "query",
        metavar="QUERY",
        nargs="?",
        help="words to search for in titles and bodies (optional with a filter)",
    )
    _add_common(search, feeds=False)
    search.add_argument("--size", type=int, default=10, help="number of hits, 1 to 10000 (default 10)")
    search.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    search.add_argument(
        "--collapse", action="store_true", help="one line per story, with its number of copies and outlets"
    )
    from newsbeam.pipeline.search import add_filter_arguments

    add_filter_arguments(search)
    search.set_defaults(func=_cmd_search, beam_args=False)

    status = sub.add_parser(
        "status",
        help="document counts, last runs, feed health, failures, writer lease, embedded server",
        description="What the indices hold and how the last runs went: documents per index, the last "
        "runs' summaries (<prefix>-runs), feed health (last poll, status, new items, error streak, next "
        "poll), failures by stage and reason, the writer lease (<prefix>-locks) and the embedded "
        "server's state. Exit 1 when Elasticsearch does not answer.",
        epilog=_ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(status, feeds=False)
    status.add_argument("--json", action="store_true", help="one JSON object instead of tables")
    status.add_argument("--runs", type=int, default=5, help="last runs shown, 1 to 100 (default 5)")
    status.add_argument(
        "--exact",
        action="store_true",
        help="count the articles now even on the embedded server, which counts by scanning (default "
        "there: the count the last run recorded at its end)",
    )
    status.set_defaults(func=_cmd_status, beam_args=False)
    _verbose_everywhere(sub)
    return parser


def _verbose_everywhere(sub) -> None:
    """-v/--verbose also after the subcommand (``newsbeam run -v``)."""
    for command in sub.choices.values():
        command.add_argument(
            "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log more"
        )
        for action in command._subparsers._group_actions if command._subparsers else ():
            _verbose_everywhere(action)


def _version() -> str:
    from newsbeam import __version__

    return __version__


# -- settings -----------------------------------------------------------------


def _es_overrides(args: argparse.Namespace) -> dict[str, Any]:
    env_map = {
        "ES_URL": "url",
        "ES_API_KEY": "api_key",
        "ES_USERNAME": "username",
        "ES_PASSWORD": "password",
        "ES_CA_CERTS": "ca_certs",
        "ES_CLOUD_ID": "cloud_id",
    }
    es: dict[str, Any] = {key: os.environ[var] for var, key in env_map.items() if os.environ.get(var)}
    # A URL and a cloud id both say where the cluster is, and connect() prefers the cloud id: the
    # source that comes first (flag, then environment, then config file) must drop the other, or
    # ES_CLOUD_ID silently beat --es-url (and a config's cloud_id beat ES_URL).
    if "url" in es and "cloud_id" not in es:
        es["cloud_id"] = None
    if "username" in es and "api_key" not in es:  # likewise ES_USERNAME over a config's api_key
        es["api_key"] = None
    if getattr(args, "es_url", None):
        es["url"] = args.es_url
        es["cloud_id"] = None
    if getattr(args, "index_prefix", None) is not None:  # "" is a mistake, not the default
        es["index_prefix"] = args.index_prefix
    return es


def _settings(args: argparse.Namespace, extra: dict[str, Any] | None = None):
    from newsbeam.config.settings import load_settings

    config = getattr(args, "config", None) or os.environ.get("NEWSBEAM_CONFIG") or None
    overrides: dict[str, Any] = {"elasticsearch": _es_overrides(args)}
    if getattr(args, "allow_private_hosts", False):
        overrides["fetch"] = {"allow_private_hosts": True}
    if extra:
        for key, value in extra.items():
            overrides[key] = {**overrides.get(key, {}), **value} if isinstance(value, dict) else value
    settings = load_settings(config, getattr(args, "feeds", None), overrides)
    es = settings.elasticsearch
    if not es.url and not es.cloud_id:
        url = f"http://127.0.0.1:{settings.embedded.port}"
        settings = settings.model_copy(update={"elasticsearch": es.model_copy(update={"url": url})})
    return settings


class _LogLines:
    """The stderr console under ``--log-format json``: each message is one JSON log record of the
    ``newsbeam`` logger (``level``: ERROR by default, INFO for progress notes)."""

    def __init__(self, level: int):
        self.level = level

    def print(self, *objects, **_kwargs) -> None:
        text = " ".join(str(obj) for obj in objects)
        for prefix in ("newsbeam: ", "newsbeam "):
            if text.startswith(prefix):
                text = text[len(prefix) :]
                break
        logging.getLogger("newsbeam").log(self.level, " ".join(text.split()))


def _console(stderr: bool = False, level: int = logging.ERROR):
    # Strings print as plain text: no markup, escape sequences or credentials from pages or config.
    if stderr:
        from newsbeam.pipeline.logs import json_logs

        if json_logs():
            return _LogLines(level)
    from newsbeam.pipeline.text import SafeConsole

    return SafeConsole(stderr=stderr, highlight=False, soft_wrap=True)


# -- commands -----------------------------------------------------------------


def _cmd_run(args, beam_args: list[str]) -> int:
    from newsbeam.pipeline.options import beam_options
    from newsbeam.pipeline.report import run_with_report
    from newsbeam.pipeline.run import run_batch

    settings = _settings(args)
    if not settings.feeds:
        raise UsageError("no feeds to poll: give --feeds FILE or a feeds: list in the config file")
    if args.max_run_time is not None:  # bounded runs: see pipeline/run.py
        if not args.max_run_time > 0:
            raise UsageError(
                f"--max-run-time: must be a positive number of seconds, got {args.max_run_time:g}"
            )
        settings = settings.model_copy(
            update={"run": settings.run.model_copy(update={"max_run_time": args.max_run_time})}
        )
    options = beam_options(beam_args, batch=True, verbose=args.verbose)
    console = _console(stderr=True)
    from newsbeam.pipeline.lifecycle import all_feeds_failed, ensure_embedded

    try:
        if not _cluster_named(args):  # ES_URL or --es-url names a cluster: never start another
            ensure_embedded(settings, lambda text: _console(True, logging.WARNING).print(f"newsbeam: {text}"))
    except Exception as exc:
        from newsbeam.pipeline.report import write_failed_summary

        write_failed_summary(args, settings, "run", exc)
        raise
    if not args.quiet:
        _console(True, logging.INFO).print(
            f"newsbeam: polling {len(settings.feeds)} feeds into {settings.elasticsearch.articles_alias} "
            f"at {_where(settings)}"
        )
    done = {}

    def runner():
        done["summary"] = run_batch(settings, options, force=args.force)
        return done["summary"]

    code = run_with_report(args, settings, runner)
    summary = done.get("summary")
    if code or summary is None:
        return code
    not_archived = summary.get("news.archive/pages_not_written")
    if not_archived:
        from newsbeam.pipeline.build import archive_dir

        _console(True, logging.WARNING).print(
            f"newsbeam: {not_archived} pages could not be archived in {archive_dir(settings)} (see the "
            "errors above); their articles were indexed, but newsbeam reextract will not see them"
        )
    not_polled = summary.get("news.feeds/not_polled")
    if not_polled:
        _console(True, logging.WARNING).print(
            f"newsbeam: {not_polled} feeds not polled (the time limit was reached); the next run polls them"
        )
    if summary.held:
        from newsbeam.pipeline.report import held_message

        _console(True, logging.WARNING).print(held_message(summary.held))
    if summary.deferred:
        why = (
            "the time limit was reached"
            if summary.stopped_at_time_limit
            else "feed and host budgets, or a site's Retry-After"
        )
        _console(True, logging.WARNING).print(
            f"newsbeam: {summary.deferred} new entries left for the next run ({why}; "
            f"{summary.waves} waves indexed)"
        )
    every_feed_failed = all_feeds_failed(summary)
    if every_feed_failed:  # exit 1 so cron notices
        console.print(
            f"newsbeam: {every_feed_failed}; see the failures above and in "
            f"{settings.elasticsearch.failures_alias}"
        )
        return 1
    return 0


# -- stream (pipeline/stream.py) ----------------------------------------------


def _add_stream_parser(sub) -> None:
    stream = sub.add_parser(
        "stream",
        help="poll each feed on its own schedule and index new articles as they appear, until stopped",
        description="A long-running process: polls each feed every --poll-interval seconds (longer when "
        "the feed asks for it with <ttl>, sy:updatePeriod, Cache-Control, Expires or Retry-After; backing "
        "off while it fails) and runs the same stages as run over the feeds that are due. State lives in "
        "the feeds index, so a restart resumes. SIGINT/SIGTERM finishes the cycle in flight and exits 0; "
        "a second signal exits at once. Beam pipeline options may follow, as for run; with --streaming "
        "(Flink, Dataflow) the unbounded graph is submitted instead of local cycles.",
        epilog=_ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(stream)
    stream.add_argument(
        "--poll-interval",
        type=float,
        metavar="SECONDS",
        help="seconds between two polls of a feed (default: stream.poll_interval, 300)",
    )
    stream.add_argument(
        "--allow-private-hosts",
        action="store_true",
        help="allow fetching private and loopback addresses (never link-local)",
    )
    stream.add_argument(
        "--force",
        action="store_true",
        help="take over the writer lease of another run or stream (only when it is known to be gone)",
    )
    stream.set_defaults(func=_cmd_stream, beam_args=True)


def _cmd_stream(args, beam_args: list[str]) -> int:
    from newsbeam.pipeline.options import beam_options, gives_flag
    from newsbeam.pipeline.stream import StopSignal, run_stream

    if args.poll_interval is not None and not 1 <= args.poll_interval <= 86_400:
        raise UsageError(f"--poll-interval: expected 1 to 86400 seconds, got {args.poll_interval:g}")
    extra = {"stream": {"poll_interval": args.poll_interval}} if args.poll_interval is not None else None
    settings = _settings(args, extra)
    if not settings.feeds:
        raise UsageError("no feeds to poll: give --feeds FILE or a feeds: list in the config file")

    # Cycles run in this process (LocalRunner, in_memory): a cycle is small, worker processes
    # would start again every cycle, and the sandbox children are kept between cycles.  Beam's
    # own DirectRunner is not the default because it may swap in its Prism runner.
    local = {}
    if not gives_flag(beam_args, "--direct_running_mode"):
        local["direct_running_mode"] = "in_memory"
        if not gives_flag(beam_args, "--direct_num_workers"):
            local["direct_num_workers"] = 1
    options = beam_options(beam_args, batch=True, verbose=args.verbose, **local)
    from apache_beam.options.pipeline_options import StandardOptions

    standard = options.view_as(StandardOptions)
    if standard.streaming and (standard.runner or "DirectRunner") in (
        "DirectRunner",
        "BundleBasedDirectRunner",
    ):
        raise UsageError(
            "--streaming: the unbounded graph needs a runner that streams (--runner FlinkRunner, "
            "DataflowRunner, ...); the local runners cannot run it. Without --streaming, newsbeam stream "
            "runs local cycles."
        )
    _console(True, logging.INFO).print(
        f"newsbeam: streaming {len(settings.feeds)} feeds into {settings.elasticsearch.articles_alias} at "
        f"{_where(settings)}, polling every {settings.stream.poll_interval:g} s; stop with Ctrl-C or SIGTERM"
    )
    stop = StopSignal(settings.stream.stop_timeout).install()
    try:
        if standard.streaming:  # the unbounded graph, for runners that stream
            from newsbeam.pipeline.stream import run_unbounded

            state = run_unbounded(settings, options, force=args.force, stop=stop)
            _console(True, logging.INFO).print(f"newsbeam: streaming job ended: {state}")
            return 0
        cycles = run_stream(settings, options, force=args.force, stop=stop)
    finally:
        stop.uninstall()
    _console(True, logging.INFO).print(f"newsbeam: stream stopped after {cycles} cycles")
    return 0


def _cmd_reextract(args, beam_args: list[str]) -> int:
    from newsbeam.pipeline.build import archive_dir, build_reextract_pipeline
    from newsbeam.pipeline.options import beam_options
    from newsbeam.pipeline.report import run_with_report
    from newsbeam.pipeline.run import run_batch

    settings = _settings(args, {"archive": {"dir": args.archive_dir}} if args.archive_dir else None)
    folder = archive_dir(settings)
    if "://" not in folder:
        from pathlib import Path

        if not Path(folder).is_dir():
            raise UsageError(
                f"no raw archive at {folder}: run with archive.enabled: true first, or give --archive-dir"
            )
    options = beam_options(beam_args, batch=True, verbose=args.verbose)
    if not args.quiet:
        _console(True, logging.INFO).print(
            f"newsbeam: re-extracting the archive {folder} into {_where(settings)}"
        )
    return run_with_report(
        args,
        settings,
        lambda: run_batch(settings, options, builder=build_reextract_pipeline, command="reextract"),
        "reextract",
    )


def _where(settings) -> str:
    from newsbeam.connectors.es import describe

    return describe(settings.elasticsearch)


def _cmd_demo(args, beam_args: list[str]) -> int:
    from newsbeam.pipeline.demo import run_demo
    from newsbeam.pipeline.options import beam_options

    # The demo site is local and ours: no need to space its requests out.
    extra = {"fetch": {"allow_private_hosts": True, "host_delay": 0}}
    if args.port is not None:
        if not 1 <= args.port <= 65535:
            raise UsageError(f"--port: expected a port number from 1 to 65535, got {args.port}")
        extra["embedded"] = {"port": args.port}
    settings = _settings(args, extra)
    options = beam_options(beam_args, batch=True, verbose=args.verbose)
    explicit_cluster = bool(os.environ.get("ES_URL") or os.environ.get("ES_CLOUD_ID"))
    return run_demo(settings, options, _console(), start_embedded=not explicit_cluster)


def _embedded(args):
    from newsbeam.connectors.embedded import EmbeddedServer

    settings = _settings(args)
    port = args.port if args.port is not None else settings.embedded.port
    if not 1 <= port <= 65535:
        raise UsageError(f"--port: expected a port number from 1 to 65535, got {port}")
    return EmbeddedServer(port=port, data_dir=args.data_dir or settings.embedded.data_dir), settings


def _cmd_es_server(args, _beam_args) -> int:
    server, settings = _embedded(args)
    console = _console()
    if args.es_command == "start":
        url = server.start(timeout=settings.embedded.start_timeout)
        console.print(
            f"embedded Elasticsearch answers at {url} (data: {server.data_dir}, log: {server.log_file})"
        )
        return 0
    if args.es_command == "stop":
        if server.stop():
            console.print("embedded Elasticsearch stopped")
        else:
            console.print("embedded Elasticsearch was not running")
        return 0
    recorded = server.recorded()
    if recorded is not None and recorded[1] is not None and recorded[1] != server.port:
        console.print(f"the embedded server runs on port {recorded[1]}, not on port {server.port}")
        return 1
    running, answers = recorded is not None, server.answers()
    if running and answers:
        console.print(f"running, answering at {server.url} (data: {server.data_dir})")
        return 0
    if running:
        console.print(f"running but not answering at {server.url}; see {server.log_file}")
        return 1
    console.print("not running" + (f" (but something answers at {server.url})" if answers else ""))
    return 1


def _cmd_es_setup(args, _beam_args) -> int:
    from elasticsearch import ApiError, TransportError

    from newsbeam.connectors.es import connect, ping, refused, setup_indices

    settings = _settings(args)
    es = settings.elasticsearch
    client = connect(es)
    try:
        ping(client, es)
        changes = setup_indices(client, es.index_prefix)
    except (ApiError, TransportError) as exc:
        raise refused(exc, es, f"installing the {es.index_prefix}-* templates and indices") from None
    finally:
        client.close()
    console = _console()
    for change in changes:
        console.print(f"installed {change}")
    console.print(
        f"Elasticsearch at {_where(settings)} is set up for prefix {settings.elasticsearch.index_prefix!r}"
    )
    return 0


def _cmd_kibana_import(args, _beam_args) -> int:
    import re

    from newsbeam.connectors.kibana import KibanaError, import_objects, load_objects, objects_for_prefix

    url = args.kibana_url or os.environ.get("KIBANA_URL")
    if not url:
        raise UsageError("kibana import: give --kibana-url URL (or set KIBANA_URL)")
    prefix = "news" if args.index_prefix is None else args.index_prefix
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.+-]*", prefix):
        raise UsageError(f"--index-prefix: expected lower-case letters, digits and _.+-, got {prefix!r}")
    try:
        result = import_objects(
            url,
            objects_for_prefix(load_objects(), prefix),
            api_key=os.environ.get("KIBANA_API_KEY"),
            username=os.environ.get("KIBANA_USERNAME"),
            password=os.environ.get("KIBANA_PASSWORD"),
            ca_certs=os.environ.get("KIBANA_CA_CERTS"),
            space=args.space,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except KibanaError as exc:
        _console(stderr=True).print(f"newsbeam: {exc}", markup=False)
        return 1
    _console().print(
        f"imported {result.success_count} saved objects for {prefix}-* into Kibana; "
        "open Dashboards > newsbeam overview"
    )
    return 0


def _cmd_extract(args, _beam_args) -> int:
    from pathlib import Path

    from newsbeam.transforms.extraction import NO_TEXT, html_files, run_extract_dir

    input_dir = Path(args.input_dir)
    if not input_dir.is_dir():
        raise UsageError(f"--input-dir: {input_dir} is not a directory")
    output = Path(args.output)
    if output.parent and not output.parent.exists():
        raise UsageError(f"--output: directory {output.parent} does not exist")
    workers = _workers(args)
    _open_output(output).close()  # before the work, so a bad --output fails at once
    errors: Counter = Counter()
    from newsbeam.pipeline.offline import OfflineProgress

    with OfflineProgress(f"extracting {input_dir}", len(html_files(input_dir))) as progress:
        count = run_extract_dir(input_dir, output, errors=errors, workers=workers, progress=progress)
    failed = ", ".join(f"{n} {reason}" for reason, n in sorted(errors.items()))
    why = "; see their 'error' field" if set(errors) - {NO_TEXT} else ""
    _console(stderr=True).print(
        f"newsbeam: extracted {count} pages from {input_dir} into {output}"
        + (f" ({sum(errors.values())} without a body: {failed}{why})" if errors else "")
    )
    return 0


# similarity.POOL_MIN_ROWS (not imported to build --help: numpy and the clustering core are slow to load)
_DEDUP_POOL_MIN_ROWS = 1000


def _add_workers(parser, what: str) -> None:
    parser.add_argument(
        "--workers", type=int, metavar="N", help=f"{what} (default: one per CPU core, here {_cores()})"
    )


def _cores() -> int:
    from newsbeam.pipeline.options import usable_cores

    return usable_cores()


def _workers(args) -> int:
    if args.workers is None:
        return _cores()
    if not 1 <= args.workers <= 256:
        raise UsageError(f"--workers: expected a number from 1 to 256, got {args.workers}")
    return args.workers


def _read_dedup_rows(path) -> list[dict[str, Any]]:
    rows, seen = [], set()
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise UsageError(f"--input: cannot read {path}: {exc.strerror}") from None
    for number, raw in enumerate(data.splitlines(), 1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"--input {path}, line {number}: not UTF-8 text") from None
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--input {path}, line {number}: not valid JSON ({exc.msg})") from None
        except RecursionError:  # "[[[[..." past the decoder's limit: exit 1 and a traceback before
            raise UsageError(f"--input {path}, line {number}: JSON nested too deeply to read") from None
        if (
            not isinstance(row, dict)
            or row.get("id") in (None, "")
            or not isinstance(row["id"], (str, int))
            or isinstance(row["id"], bool)  # true would be the id "True"
        ):
            raise UsageError(
                f'--input {path}, line {number}: expected an object with an "id" (a string or an integer)'
            )
        text = row.get("text")
        if text is not None and not isinstance(text, str):
            raise UsageError(f'--input {path}, line {number}: "text" must be a string')
        key = str(row["id"])
        if key in seen:
            raise UsageError(f"--input {path}, line {number}: id {row['id']!r} appears twice")
        seen.add(key)
        rows.append(row)
    return rows


def _open_output(path):
    """``--output`` opened for writing; a path that cannot be written is a usage error."""
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--output: cannot write {path}: {exc.strerror}") from None


def _json_line(row: dict[str, Any]) -> str:
    """One output line, UTF-8 encodable: an id holding a lone surrogate (an unpaired
    "\\ud800" escape, valid JSON but no text) is written as the escape it was read as, so
    every input id comes back exactly (before: exit 1 and a truncated output file)."""
    line = json.dumps(row, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(row)
    return line + "\n"


def _cmd_dedup(args, _beam_args) -> int:
    from newsbeam.transforms.similarity import DedupConfig, dedup_rows

    workers = _workers(args)
    rows = _read_dedup_rows(args.input)
    out = _open_output(args.output)  # before the work, so a bad --output fails at once
    from newsbeam.pipeline.offline import OfflineProgress

    with OfflineProgress(f"fingerprinting {args.input}", len(rows)) as progress:
        labels = {row["id"]: row["cluster"] for row in dedup_rows(rows, DedupConfig(), workers, progress)}
    original = {str(row["id"]): row["id"] for row in rows}
    try:
        with out:
            for row in rows:
                key = str(row["id"])
                out.write(_json_line({"id": row["id"], "cluster": original[labels[key]]}))
    except OSError as exc:
        raise UsageError(f"--output: cannot write {args.output}: {exc.strerror}") from None
    clusters = len(set(labels.values()))
    _console(stderr=True).print(f"newsbeam: {len(rows)} rows in {clusters} clusters written to {args.output}")
    return 0


def _cmd_search(args, _beam_args) -> int:
    from newsbeam.pipeline.search import run_search

    if not 1 <= args.size <= 10_000:
        raise UsageError(f"--size: expected a number from 1 to 10000, got {args.size}")
    return run_search(args, _settings, UsageError)


def _cmd_status(args, _beam_args) -> int:
    from newsbeam.pipeline.status import run_status

    return run_status(args, _settings, UsageError)


def _configure_logging(verbose: bool) -> None:
    # gRPC's C core (Beam's worker channels) writes INFO lines such as "Got goaway" straight to
    # stderr; set before Beam imports grpc, inherited by the worker processes; -v shows them.
    if not verbose:
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    handler = logging.StreamHandler(sys.stderr)
    from newsbeam.pipeline.text import SafeFormatter

    handler.setFormatter(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    # Beam warns at import time about optional Google Cloud libraries.
    handler.addFilter(lambda record: "apitools not found" not in record.getMessage())
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    from newsbeam.pipeline.logs import use_log_format

    use_log_format("text")  # until run's --log-format says otherwise (main() may run more than once)
    from newsbeam.pipeline.options import logger_levels

    for name, level in logger_levels(verbose).items():  # the worker processes' too
        logging.getLogger(name).setLevel(level)
    logging.getLogger("apache_beam").setLevel(logging.WARNING if verbose else logging.ERROR)
    # Beam logs a failing bundle with its traceback; run_batch reports it (RunFailed) or re-raises.
    logging.getLogger("apache_beam.runners.common").setLevel(logging.WARNING if verbose else logging.CRITICAL)
    from newsbeam.pipeline.options import worker_log_filter

    worker_log_filter(verbose)  # records of multi_processing workers: one readable line each


def _cluster_named(args) -> bool:
    """Whether the operator named the cluster (``--es-url``, ``ES_URL``, ``ES_CLOUD_ID``): then it
    is theirs even at the embedded server's address (``docker compose``'s localhost:9200), and
    ``run`` must not start the embedded server in its place when it does not answer (their articles
    went into the embedded server, and docker's Elasticsearch could not bind the port)."""
    return bool(getattr(args, "es_url", None) or os.environ.get("ES_URL") or os.environ.get("ES_CLOUD_ID"))


def _hint(args, exc) -> str:
    """Name ``newsbeam es start`` when the unreachable server is the embedded default (at the
    start: "cannot reach Elasticsearch"; in the middle of a run: "... cannot be reached")."""
    text = str(exc)
    during_run = "cannot be reached" in text
    if not (during_run or "cannot reach Elasticsearch" in text) or _cluster_named(args):
        return ""
    from newsbeam.pipeline.lifecycle import unreachable_hint

    try:
        return unreachable_hint(_settings(args), during_run=during_run)
    except Exception:  # the hint is a courtesy; never hide the error
        return ""


def _stopped(err, watch) -> int:
    """Ctrl-C: "interrupted", exit 130; SIGTERM: "terminated", exit 143; SIGHUP (the terminal
    closed): "hung up", exit 129 (128 + the signal, as a shell reports a command the signal
    killed)."""
    import signal

    if watch.signum == signal.SIGHUP:
        message, code = "newsbeam: hung up (SIGHUP); what was written stays, the next run resumes", 129
    elif watch.terminated:
        message, code = "newsbeam: terminated (SIGTERM); what was written stays, the next run resumes", 143
    else:
        message, code = "newsbeam: interrupted", 130
    try:
        err.print(message)
    except OSError:  # the terminal that hung up is gone
        pass
    return code


# Flags naming a file, directory or URL: an empty value (a script's unset variable) is a mistake.
# It was taken as "not given", so `--es-url $ES` with ES unset wrote into the embedded server and
# `--config $CONF` ran on the shipped defaults, silently.
_NON_EMPTY = ("config", "feeds", "es_url", "archive_dir", "data_dir", "input_dir", "output", "input")


def _empty_flag(args: argparse.Namespace) -> str | None:
    for dest in _NON_EMPTY:
        value = getattr(args, dest, None)
        if value is not None and not value.strip():
            return "--" + dest.replace("_", "-")
    return None


def _summary_of_refusal(args, exc: Exception) -> None:
    """``--summary-json`` of a command refused for its configuration (exit 2): ``status: failed``
    and the message, not the 'ended before it wrote its summary' written at its start."""
    path = getattr(args, "summary_json", None)
    if not path:
        return
    from newsbeam.pipeline.report import write_started_summary

    try:
        write_started_summary(path, args.command, error=str(exc))
    except OSError:  # the refusal is what the operator must see
        pass


def _stdout_gone() -> bool:
    """Whether standard output is a pipe whose reader has closed it (``| head``).  Its output is
    then sent to /dev/null, so the interpreter's last flush does not complain either; a
    ``BrokenPipeError`` of anything else (a socket) is not this."""
    import select

    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        gone = any(event & select.POLLERR for _fd, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no real file behind stdout (a test's capture)
        return False
    if gone:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    return gone


def main(argv: list[str] | None = None) -> int:
    from newsbeam.pipeline.memory import limit_malloc_arenas

    limit_malloc_arenas()  # before any thread starts (pipeline/memory.py)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "beam_args", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    _configure_logging(args.verbose)  # before Beam is imported: it logs at import time
    empty = _empty_flag(args)
    if empty:
        _console(stderr=True).print(f"newsbeam {args.command}: {empty}: expected a value, got an empty one")
        return 2
    if hasattr(args, "log_format"):  # run, reextract: --log-format, --quiet, --summary-json
        from newsbeam.pipeline.logs import use_log_format
        from newsbeam.pipeline.report import check_summary_path, write_started_summary

        try:
            use_log_format(args.log_format, args.verbose)
            check_summary_path(args.summary_json)
            write_started_summary(args.summary_json, args.command)
        except ValueError as exc:
            _console(stderr=True).print(f"newsbeam {args.command}: {exc}", markup=False)
            return 2
        except OSError as exc:  # the checks above passed: a full disk or an I/O error, not usage
            _console(stderr=True).print(
                f"newsbeam {args.command}: --summary-json: cannot write {args.summary_json}: "
                f"{exc.strerror or exc}; nothing was run",
                markup=False,
            )
            return 1
        if args.quiet:
            logging.getLogger("newsbeam").setLevel(logging.WARNING)

    from newsbeam.config.settings import ConfigError
    from newsbeam.connectors.embedded import EmbeddedError
    from newsbeam.connectors.es import EsUnavailable
    from newsbeam.pipeline.lifecycle import InterruptWatch
    from newsbeam.pipeline.options import BadBeamOption, UnknownFlags

    if getattr(args, "beam_args", False):
        from newsbeam.pipeline.run import RunFailed
    else:  # commands that build no pipeline start without importing Beam (status answers in < 1 s)

        class RunFailed(Exception):
            pass

    err = _console(stderr=True)
    watch = InterruptWatch()
    try:
        with watch:
            return args.func(args, rest)
    except (ConfigError, UsageError) as exc:
        err.print(f"newsbeam: {exc}", markup=False)
        _summary_of_refusal(args, exc)
        return 2
    except UnknownFlags as exc:
        err.print(
            f"newsbeam {args.command}: unrecognized arguments: {exc} (neither a newsbeam flag nor a Beam "
            "pipeline option; see newsbeam {args.command} --help)".replace("{args.command}", args.command),
            markup=False,
        )
        return 2
    except (RunFailed, EsUnavailable, EmbeddedError) as exc:
        if watch.fired:
            return _stopped(err, watch)
        err.print(f"newsbeam: {exc}{_hint(args, exc)}", markup=False)
        return 1
    except BadBeamOption as exc:
        err.print(f"newsbeam {args.command}: {exc}", markup=False)
        return 2
    except KeyboardInterrupt:
        return _stopped(err, watch)
    except Exception as exc:  # a bug, or a failure nobody classified: one line, exit 1
        if watch.fired or "KeyboardInterrupt" in f"{type(exc).__name__} {exc}":  # wrapped by Beam
            return _stopped(err, watch)
        if isinstance(exc, BrokenPipeError) and _stdout_gone():
            # `newsbeam search --json | head -3`: the reader closed the pipe.  No message, exit 1,
            # as the tables' console (rich) does when the same happens to them.
            return 1
        if args.verbose:
            raise
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        err.print(
            f"newsbeam {args.command}: unexpected error: {type(exc).__name__}: {first} "
            "(run again with -v for the full traceback)",
            markup=False,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
