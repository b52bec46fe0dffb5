"""The CLI contract: exit codes and messages, no tracebacks for user mistakes."""

import os
from pathlib import Path

import pytest

from newsbeam.pipeline.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_unknown_beam_flag_is_refused(capsys, tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - url: https://example.org/rss\n")
    code, _out, err = run(capsys, "run", "--feeds", str(feeds), "--runer=FlinkRunner")
    assert code == 2
    assert "--runer=FlinkRunner" in err
    assert "Traceback" not in err


def test_unknown_flag_of_other_commands_is_refused(capsys):
    with pytest.raises(SystemExit) as info:
        main(["search", "x", "--bogus"])
    assert info.value.code == 2
    assert "--bogus" in capsys.readouterr().err


def test_bad_config_value_names_the_key(capsys, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("fetch:\n  max_redirects: lots\n")
    code, _out, err = run(capsys, "run", "--config", str(config))
    assert code == 2
    assert "fetch.max_redirects" in err
    assert "Traceback" not in err


def test_no_feeds_is_a_usage_error(capsys, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("fetch:\n  timeout: 3\n")
    code, _out, err = run(capsys, "run", "--config", str(config))
    assert code == 2
    assert "no feeds" in err


def test_missing_feeds_file_is_named(capsys, tmp_path):
    code, _out, err = run(capsys, "run", "--feeds", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "nope.yaml" in err


def test_help_explains_itself(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--config", "--feeds", "--es-url", "--index-prefix", "--allow-private-hosts", "ES_URL"):
        assert flag in out


def test_unreachable_elasticsearch_is_exit_1_naming_the_url(capsys, tmp_path, monkeypatch):
    from newsbeam.connectors.embedded import free_port

    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - url: https://example.org/rss\n")
    url = f"http://127.0.0.1:{free_port()}"
    code, _out, err = run(capsys, "run", "--feeds", str(feeds), "--es-url", url)
    assert code == 1
    assert url in err
    assert "Traceback" not in err


def test_the_cluster_comes_from_the_first_source_that_names_one(tmp_path, monkeypatch):
    """Flags, then the environment, then the config file (DESIGN.md): --es-url was ignored when
    ES_CLOUD_ID was set, and ES_URL when the config file had a cloud_id, since connect() prefers a
    cloud id: an operator testing with --es-url wrote to the cloud cluster."""
    from newsbeam.pipeline.cli import _settings, build_parser

    for var in [k for k in os.environ if k.startswith("ES_")]:
        monkeypatch.delenv(var)
    cloud = "prod:ZXhhbXBsZS5jb20kYWJjJGRlZg=="
    config = tmp_path / "config.yaml"
    config.write_text(f"elasticsearch:\n  cloud_id: '{cloud}'\n")

    def cluster(*argv):
        es = _settings(build_parser().parse_known_args(["search", "x", *argv])[0]).elasticsearch
        return es.url, es.cloud_id

    assert cluster("--config", str(config)) == (None, cloud)
    monkeypatch.setenv("ES_URL", "http://env:9200")
    assert cluster("--config", str(config)) == ("http://env:9200", None)
    assert cluster("--config", str(config), "--es-url", "http://flag:9200") == ("http://flag:9200", None)
    monkeypatch.delenv("ES_URL")
    monkeypatch.setenv("ES_CLOUD_ID", cloud)
    assert cluster() == (None, cloud)
    assert cluster("--es-url", "http://flag:9200") == ("http://flag:9200", None)

    # The same for credentials: ES_USERNAME/ES_PASSWORD over a config file's api_key.
    config.write_text("elasticsearch:\n  api_key: config-key\n")
    monkeypatch.setenv("ES_USERNAME", "elastic")
    monkeypatch.setenv("ES_PASSWORD", "pw")
    es = _settings(build_parser().parse_known_args(["search", "x", "--config", str(config)])[0]).elasticsearch
    assert (es.api_key, es.username) == (None, "elastic")
    monkeypatch.setenv("ES_API_KEY", "env-key")
    es = _settings(build_parser().parse_known_args(["search", "x", "--config", str(config)])[0]).elasticsearch
    assert es.api_key == "env-key"


def test_credentials_never_printed(capsys, tmp_path, monkeypatch):
    from newsbeam.connectors.embedded import free_port

    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("ES_API_KEY", "c2VjcmV0LWtleQ==")
    url = f"http://elastic:hunter2@127.0.0.1:{free_port()}"
    code, out, err = run(capsys, "search", "anything", "--es-url", url)
    assert code == 1
    assert "hunter2" not in out + err
    assert "c2VjcmV0LWtleQ==" not in out + err
    assert "127.0.0.1" in err


def test_extract_writes_one_row_per_html_file(capsys, tmp_path):
    import json

    from newsbeam.connectors.site_server import demo_site_dir

    pages = tmp_path / "pages"
    pages.mkdir()
    source = demo_site_dir() / "frontier/2020/06/28/swat-flash-floods-bridge.html"
    (pages / "floods.html").write_bytes(source.read_bytes())
    (pages / "garbage.html").write_bytes(b"\x00\x01\xff not html at all")
    (pages / "notes.txt").write_text("ignored")
    out = tmp_path / "out.jsonl"
    code, _out, err = run(capsys, "extract", "--input-dir", str(pages), "--output", str(out))
    assert code == 0, err
    rows = {row["id"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert sorted(rows) == ["floods", "garbage"]
    assert "Swat" in rows["floods"]["articleBody"]
    assert rows["floods"]["title"]
    assert "Swat" not in rows["garbage"]["articleBody"]


@pytest.mark.skipif(not hasattr(os, "symlink") or not os.path.exists("/dev/null"), reason="POSIX links")
def test_extract_gives_files_it_cannot_read_a_row_with_the_reason_and_goes_on(capsys, tmp_path, monkeypatch):
    import json

    from newsbeam.transforms import extraction

    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "a-good.html").write_bytes(
        b"<html><body><article><p>"
        + b"The council approved the riverside plan on Tuesday. " * 10
        + b"</p></article></body></html>"
    )
    (pages / "broken.html").symlink_to(tmp_path / "missing.html")
    (pages / "device.html").symlink_to("/dev/null")  # a device is never read (/dev/zero would not end)
    (pages / "folder.html").mkdir()  # not a file: no row
    (pages / "huge.html").write_bytes(b"<html>" + b"x" * 2000 + b"</html>")
    monkeypatch.setattr(extraction, "MAX_FILE_BYTES", 1000)
    out = tmp_path / "out.jsonl"
    code, _out, err = run(capsys, "extract", "--input-dir", str(pages), "--output", str(out))
    assert code == 0, err
    rows = {row["id"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert sorted(rows) == ["a-good", "broken", "device", "huge"]
    assert "riverside plan" in rows["a-good"]["articleBody"] and "error" not in rows["a-good"]
    assert (rows["broken"]["error"], rows["broken"]["detail"]) == ("unreadable", "No such file or directory")
    assert rows["device"]["error"] == "not_a_file" and rows["device"]["articleBody"] == ""
    assert (rows["huge"]["error"], rows["huge"]["detail"]) == ("too_large", "2013 bytes")
    assert "3 without a body: 1 not_a_file, 1 too_large, 1 unreadable" in err


def test_extract_to_an_output_that_cannot_be_written_is_a_usage_error(capsys, tmp_path):
    (tmp_path / "pages").mkdir()
    code, _out, err = run(
        capsys, "extract", "--input-dir", str(tmp_path / "pages"), "--output", str(tmp_path)
    )
    assert code == 2
    assert "--output" in err and "Is a directory" in err and "Traceback" not in err


def test_extract_missing_dir_is_a_usage_error(capsys, tmp_path):
    code, _out, err = run(
        capsys, "extract", "--input-dir", str(tmp_path / "nope"), "--output", str(tmp_path / "o")
    )
    assert code == 2
    assert "nope" in err


def test_dedup_groups_copies_and_keeps_every_id(capsys, tmp_path):
    import json

    seed = (Path(__file__).resolve().parents[1] / "fixtures" / "seed" / "wire-story.txt").read_text()
    paragraphs = [p for p in seed.split("\n\n") if p.strip()][2:]
    rows = [
        {"id": 7, "text": "\n\n".join(paragraphs), "date": "2020-06-27"},
        {
            "id": "trimmed",
            "text": "\n\n".join(paragraphs[: len(paragraphs) // 3 + 1]),
            "published": "2020-06-28",
        },
        {"id": "other", "text": "The city council approved a new budget for parks and libraries. " * 20},
        {"id": "empty", "text": "", "cluster": "ignored gold label"},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out.jsonl"
    code, _out, err = run(capsys, "dedup", "--input", str(src), "--output", str(out))
    assert code == 0, err
    result = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in result] == [7, "trimmed", "other", "empty"]
    labels = {str(r["id"]): r["cluster"] for r in result}
    assert labels["7"] == labels["trimmed"] == 7
    assert labels["other"] == "other"
    assert labels["empty"] == "empty"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": 1, "text": "a"}\nnot json\n', "line 2: not valid JSON"),
        ('{"text": "no id"}\n', "line 1: expected an object"),
        ('{"id": 1, "text": "a"}\n{"id": "1", "text": "b"}\n', "appears twice"),
        ('{"id": 1, "text": 5}\n', '"text" must be a string'),
        ('{"id": "a", "text": "x"}\n{"id": true, "text": "b"}\n', 'line 2: expected an object with an "id"'),
        ('{"id": 1.5, "text": "x"}\n', '"id" (a string or an integer)'),
        pytest.param(
            '{"id": 1, "text": "a"}\n{"id": 2, "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n",
            "line 2: JSON nested",
            id="nested-100000-deep",
        ),
    ],
)
def test_dedup_bad_input_names_the_line(capsys, tmp_path, content, message):
    src = tmp_path / "in.jsonl"
    src.write_text(content)
    code, _out, err = run(capsys, "dedup", "--input", str(src), "--output", str(tmp_path / "o.jsonl"))
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_dedup_gives_back_an_id_holding_a_lone_surrogate_exactly(capsys, tmp_path):
    # '"\\ud800"' is valid JSON but no text: writing it as UTF-8 stopped dedup (exit 1, output cut)
    import json

    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a\\ud800", "text": "x"}\n{"id": "b", "text": "Zürich y"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code, _out, err = run(capsys, "dedup", "--input", str(src), "--output", str(out))
    assert code == 0, err
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == ["a\ud800", "b"]


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--runner=Bogus", "--runner=Bogus"),
        ("--direct_num_workers=abc", "--direct_num_workers"),
    ],
)
def test_bad_beam_option_values_are_usage_errors(capsys, tmp_path, flag, message):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - url: https://example.org/rss\n")
    code, out, err = run(capsys, "run", "--feeds", str(feeds), flag)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len((out + err).splitlines()) < 5  # one message, not Beam's usage text


def test_unexpected_errors_are_one_line_and_exit_1(capsys, monkeypatch):
    import newsbeam.pipeline.cli as cli

    def broken(args, rest):
        raise RuntimeError("disk on fire\nsecond line")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser._subparsers._group_actions[0].choices["search"].set_defaults(func=broken)
    code, _out, err = run(capsys, "search", "x")
    assert code == 1
    assert "unexpected error: RuntimeError: disk on fire" in err
    assert "second line" not in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["0", "-5", "nan"])
def test_max_run_time_must_be_positive(capsys, tmp_path, value):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - url: https://example.org/rss\n")
    code, _out, err = run(capsys, "run", "--feeds", str(feeds), f"--max-run-time={value}")
    assert code == 2
    assert "--max-run-time" in err and "Traceback" not in err


def test_max_run_time_is_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--max-run-time" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--index-prefix", ""],
        ["search", "--index-prefix=", "harbour"],
        ["status", "--index-prefix", ""],
        ["kibana", "import", "--kibana-url", "http://127.0.0.1:9", "--index-prefix", ""],
    ],
)
def test_an_empty_index_prefix_is_a_usage_error_not_the_default(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert "--index-prefix" in err and "Traceback" not in err
    assert "news-" not in out  # nothing ran against the default indices


def test_a_bad_flag_value_is_blamed_on_the_flag_not_on_the_defaults_or_the_file(
    capsys, tmp_path, monkeypatch
):
    """``--es-url localhost:9200`` said ``defaults: elasticsearch.url ...`` (or named the config
    file), as if the shipped defaults held the mistake; an upper-case prefix showed a regex."""
    for var in [k for k in os.environ if k.startswith("ES_")]:
        monkeypatch.delenv(var)
    config = tmp_path / "config.yaml"
    config.write_text("fetch:\n  timeout: 5\n")
    code, _out, err = run(capsys, "search", "x", "--config", str(config), "--es-url", "localhost:9200")
    assert code == 2
    assert "command line / environment: elasticsearch.url (--es-url / ES_URL)" in err
    assert "defaults" not in err and "config.yaml" not in err
    code, _out, err = run(capsys, "status", "--index-prefix", "News")
    assert code == 2
    assert "--index-prefix" in err and "expected lower-case letters, digits and _.+-" in err
    assert "^[a-z0-9]" not in err
    config.write_text("fetch:\n  timeout: -1\n")  # a file's own mistake still names the file
    code, _out, err = run(capsys, "search", "x", "--config", str(config))
    assert code == 2 and f"config file {config}: fetch.timeout" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["search", "x", "--es-url", ""],
        ["run", "--feeds", "feeds.yaml", "--es-url", " "],
        ["status", "--config", ""],
        ["run", "--feeds", ""],
        ["reextract", "--archive-dir", ""],
        ["es", "status", "--data-dir", ""],
        ["extract", "--input-dir", "", "--output", "x.jsonl"],
        ["dedup", "--input", "in.jsonl", "--output", ""],
    ],
)
def test_an_empty_path_or_url_flag_is_a_usage_error_not_the_default(capsys, monkeypatch, tmp_path, argv):
    """A script's unset variable (``--es-url $ES``) was taken as the flag not given: search and run
    went to the embedded server, --config ran on the shipped defaults, --archive-dir read the
    default archive, all without a word."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path / "state"))
    code, out, err = run(capsys, *argv)
    flag = next(arg for arg, value in zip(argv, argv[1:]) if arg.startswith("--") and not value.strip())
    assert code == 2
    assert f"{flag}: expected a value, got an empty one" in err
    assert "Traceback" not in err and not out


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ("archive:\n  enabled: true\n  dir: {blocker}/archive\n", "archive.dir: cannot write into"),
        (
            "elasticsearch:\n  dead_letter_dir: {blocker}/dead\n",
            "elasticsearch.dead_letter_dir: cannot write",
        ),
        ("", "NEWSBEAM_STATE_DIR: cannot write into {blocker}/dead-letter/news"),
    ],
)
def test_a_folder_the_run_writes_into_is_checked_before_anything_is_fetched(
    capsys, tmp_path, monkeypatch, config, needle
):
    """An archive.dir under a file was an 'unexpected error: RuntimeError: OSError' (exit 1) at the
    first archived page, after every page was fetched; an unusable dead-letter folder was found only
    when Elasticsearch failed, the moment its documents had to be kept."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(blocker))
    path = tmp_path / "config.yaml"
    path.write_text(
        config.format(blocker=blocker) + "ner:\n  enabled: false\nfeeds:\n  - url: http://127.0.0.1:9/f\n"
    )
    for command in ("run", "stream"):
        code, _out, err = run(capsys, command, "--config", str(path), "--es-url", "http://127.0.0.1:9")
        assert code == 2, err
        assert needle.format(blocker=blocker) in err
        assert f"{blocker} is a file, not a directory" in err and "unexpected" not in err


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        (
            "ES_CA_CERTS",
            "/nonexistent/ca.pem",
            "elasticsearch.ca_certs (ES_CA_CERTS): Value error, expected the",
        ),
        (
            "ES_CLOUD_ID",
            "garbage",
            "elasticsearch.cloud_id (ES_CLOUD_ID): Value error, expected an Elastic Cloud",
        ),
    ],
)
def test_a_bad_ca_bundle_or_cloud_id_is_a_usage_error_naming_it(capsys, monkeypatch, variable, value, needle):
    """A missing ES_CA_CERTS file was only 'cannot reach Elasticsearch ...: TlsError' (exit 1), naming
    no file; a malformed ES_CLOUD_ID an 'unexpected error: ValueError' (exit 1)."""
    for var in [k for k in os.environ if k.startswith("ES_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv(variable, value)
    extra = ["--es-url", "https://127.0.0.1:9"] if variable == "ES_CA_CERTS" else []
    code, _out, err = run(capsys, "search", "x", *extra)
    assert code == 2, err
    assert needle in err and "unexpected" not in err and "TlsError" not in err


@pytest.mark.parametrize(("verbose", "expected"), [((), "ERROR"), (("-v",), None)])
def test_grpc_info_lines_are_quiet_unless_verbose(capsys, monkeypatch, verbose, expected):
    monkeypatch.setenv("GRPC_VERBOSITY", "unset")  # recorded, so the teardown restores the original
    monkeypatch.delenv("GRPC_VERBOSITY")
    run(capsys, *verbose, "status", "--index-prefix", "")  # any command: exits 2 after logging is set up
    assert os.environ.get("GRPC_VERBOSITY") == expected


def test_extract_names_files_that_are_not_utf8_and_counts_pages_without_text(capsys, tmp_path):
    import json

    pages = tmp_path / "pages"
    pages.mkdir()
    page = (
        b"<html><body><article><p>"
        + b"The council approved the riverside plan. " * 10
        + b"</p></article></body></html>"
    )
    (pages / "ok.html").write_bytes(page)
    (pages / os.fsdecode(b"caf\xe9.html")).write_bytes(page)  # a Latin-1 file name
    (pages / "empty.html").write_bytes(b"")
    (pages / "binary.html").write_bytes(bytes(range(256)) * 4)
    out = tmp_path / "out.jsonl"
    code, _out, err = run(capsys, "extract", "--input-dir", str(pages), "--output", str(out))
    assert code == 0, err
    rows = {row["id"]: row for row in map(json.loads, out.read_text("utf-8").splitlines())}
    assert sorted(rows) == ["binary", "caf\\xe9", "empty", "ok"]
    assert rows["caf\\xe9"]["articleBody"] == rows["ok"]["articleBody"] != ""
    assert "2 without a body: 2 no text found)" in err


def test_demo_without_spacy_is_a_usage_error_before_any_server_starts(capsys, tmp_path, monkeypatch):
    from newsbeam.connectors.embedded import EmbeddedServer
    from newsbeam.transforms import entities

    started = []
    monkeypatch.setattr(EmbeddedServer, "start", lambda self, **kw: started.append(self.port))
    monkeypatch.setattr(EmbeddedServer, "answers", lambda self: False)
    real = entities._installed
    monkeypatch.setattr(entities, "_installed", lambda module: module != "spacy" and real(module))
    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path / "state"))
    code, _out, err = run(capsys, "demo")
    assert code == 2
    assert "entity tagging needs spaCy" in err and "ner.enabled: false" in err
    assert started == []  # nothing left running


@pytest.mark.parametrize("command", ["dedup", "extract"])
@pytest.mark.parametrize("workers", ["0", "257", "-1"])
def test_offline_workers_out_of_range_is_a_usage_error(capsys, tmp_path, command, workers):
    (tmp_path / "in.jsonl").write_text('{"id": 1, "text": "a"}\n')
    where = ["--input", str(tmp_path / "in.jsonl")] if command == "dedup" else ["--input-dir", str(tmp_path)]
    out = str(tmp_path / "o.jsonl")
    code, _out, err = run(capsys, command, *where, "--output", out, "--workers", workers)
    assert code == 2
    assert f"--workers: expected a number from 1 to 256, got {workers}" in err
    assert "Traceback" not in err


def test_dedup_help_names_the_pool_threshold_of_the_code():
    from newsbeam.pipeline import cli
    from newsbeam.transforms.similarity import POOL_MIN_ROWS

    assert cli._DEDUP_POOL_MIN_ROWS == POOL_MIN_ROWS


def test_a_reader_that_closes_the_pipe_is_no_unexpected_error(monkeypatch, capsys):
    """``newsbeam search --json | head -3``: the JSON lines hit a closed pipe, and newsbeam said
    'unexpected error: BrokenPipeError ... run again with -v'; it now stops without a word, exit
    1, as its tables' console does."""
    import sys

    from newsbeam.pipeline import search

    def lines(*_args):
        for n in range(100_000):
            print(f'{{"title": "hit {n}"}}')
        return 0

    monkeypatch.setattr(search, "run_search", lines)
    read, write = os.pipe()
    os.close(read)
    saved = os.dup(1)
    try:
        with os.fdopen(write, "w", closefd=True) as broken:
            monkeypatch.setattr(sys, "stdout", broken)
            assert main(["search", "anything"]) == 1
            monkeypatch.setattr(sys, "stdout", sys.__stdout__)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    assert "unexpected error" not in capsys.readouterr().err


@pytest.mark.parametrize("command", [["search", "x"], ["es", "setup"], ["status"]])
def test_a_server_that_is_not_elasticsearch_is_named_as_such(command, capsys, tmp_path, monkeypatch):
    """``--es-url`` at another service (a web server, Kibana's port): the message was 'answered
    HTTP 200: The client noticed that the server is not Elasticsearch and we do not support this
    unknown product'."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotElasticsearch(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"hello": "world"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    monkeypatch.setenv("NEWSBEAM_STATE_DIR", str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotElasticsearch)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert main([*command, "--es-url", url]) == 1
    finally:
        server.shutdown()
        server.server_close()
    err = " ".join(capsys.readouterr().err.split())
    assert f"the server at {url} answers, but it is not Elasticsearch" in err, err
    assert "check the URL and port" in err and "HTTP 200" not in err, err


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("numpy", "ner.model: 'numpy' is an installed Python package but not a spaCy model"),
        ("./models/missing-ner", "ner.model: './models/missing-ner' is not a spaCy model directory"),
    ],
    ids=["package-not-model", "missing-directory"],
)
def test_ner_model_that_is_not_a_model_is_a_usage_error(capsys, tmp_path, model, message):
    """``ner.model: numpy`` passed the check (an installed package) and failed in the
    workers once the first article was tagged; a directory path that does not exist was
    told to ``pip install`` it."""
    config = tmp_path / "config.yaml"
    config.write_text(f"ner:\n  model: {model}\nfeeds:\n  - url: http://127.0.0.1:9/f\n")
    code, _out, err = run(capsys, "run", "--config", str(config), "--es-url", "http://127.0.0.1:9")
    assert code == 2
    assert message in err and "ner.enabled: false" in err
    assert "Traceback" not in err and "pip install" not in err
