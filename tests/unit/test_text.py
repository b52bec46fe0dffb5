"""What newsbeam prints: no credentials, no terminal control, no Rich markup (issue 15 items 4, 5)."""

from __future__ import annotations

import io
import logging

from newsbeam.pipeline.cli import main
from newsbeam.pipeline.text import SafeConsole, SafeFormatter, for_terminal, mask_secrets, strip_control


def test_mask_secrets_in_urls_keys_and_headers(monkeypatch):
    monkeypatch.setenv("ES_API_KEY", "c2VjcmV0LWFwaS1rZXk=")
    text = mask_secrets(
        "GET https://elastic:hunter22@es.example:9243/x api_key=abc123def password: 'p4ss' "
        "Authorization: ApiKey Zm9vOmJhcmJhemJheg== and c2VjcmV0LWFwaS1rZXk= again"
    )
    for secret in ("hunter22", "abc123def", "p4ss", "Zm9vOmJhcmJhemJheg==", "c2VjcmV0LWFwaS1rZXk="):
        assert secret not in text
    assert "https://***@es.example:9243/x" in text


def test_strip_control_removes_escape_sequences_and_controls():
    hostile = "Title\x1b[2J\x1b]8;;http://evil\x07link\x1b]8;;\x07\x9b31m\x07\x08 end\u202e\r\nnext"
    assert strip_control(hostile) == "Titlelink end\nnext"
    assert strip_control("a\nb", keep_newlines=False) == "a b"
    assert strip_control("tab\tkept") == "tab\tkept"


def test_for_terminal_escapes_rich_markup():
    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, width=200).print(for_terminal("[bold red]Breaking[/] \x1b[31mnews", markup=True))
    assert buffer.getvalue().strip() == "[bold red]Breaking[/] news"


def test_safe_console_prints_strings_as_plain_text():
    buffer = io.StringIO()
    console = SafeConsole(file=buffer, width=200, force_terminal=True, color_system=None)
    console.print("[link=http://evil]click[/link] \x1b]52;c;ZWNobyBoaQ==\x07 http://u:pw12@h/")
    assert buffer.getvalue().strip() == "[link=http://evil]click[/link]  http://***@h/"


def test_safe_formatter_masks_and_strips():
    record = logging.LogRecord("newsbeam", logging.WARNING, __file__, 1, "feed %s: %s", None, None)
    record.args = ("https://bob:sekrit9@feeds.example/rss", "bad\x1b[2Jtitle")
    line = SafeFormatter("%(levelname)s %(message)s").format(record)
    assert line == "WARNING feed https://***@feeds.example/rss: badtitle"


def test_config_error_never_prints_the_password(monkeypatch, capsys):
    monkeypatch.setenv("ES_URL", "http://elastic:Very5ecret@localhost:notaport")
    assert main(["search", "x"]) == 2
    err = capsys.readouterr().err
    assert "elasticsearch.url" in err
    assert "Very5ecret" not in err


def test_config_error_on_a_secret_key_shows_no_value(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("elasticsearch:\n  password: [Sup3rSecret, x]\n")
    assert main(["search", "x", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "elasticsearch.password" in err
    assert "Sup3rSecret" not in err
