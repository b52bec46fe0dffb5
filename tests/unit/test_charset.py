"""transforms/charset.py: each step of the encoding sniffing, and the two pages a
QA probe found decoded as mojibake (case A: latin-1 bytes served as utf-8; case B:
windows-1252 bytes with no charset anywhere)."""

from __future__ import annotations

import gzip

import pytest

from newsbeam.transforms.charset import decode_html
from newsbeam.transforms.extraction import _decode, extract_article

TITLE_A = "Café crème brûlée in Zürich"
TITLE_B = "Café crème in Zürich, señor"


def _page(title: str, head: str = "") -> str:
    body = "<p>The council met on Tuesday and heard residents describe the new timetable.</p>" * 5
    return (
        f"<html><head>{head}<title>{title}</title></head>"
        f"<body><article><h1>{title}</h1>{body}</article></body></html>"
    )


def test_case_a_latin1_bytes_declared_utf8_by_http():
    decoded = decode_html(_page(TITLE_A).encode("latin-1"), "utf-8")
    assert (decoded.text, decoded.encoding, decoded.source) == (_page(TITLE_A), "cp1252", "guess")


def test_case_b_cp1252_bytes_with_no_charset():
    decoded = decode_html(_page(TITLE_B).encode("cp1252"))
    assert (decoded.text, decoded.source) == (_page(TITLE_B), "guess")


def test_case_b_through_the_extractor_of_saved_files():
    assert _decode(_page(TITLE_B).encode("cp1252")) == _page(TITLE_B)
    assert extract_article(_page(TITLE_A).encode("latin-1")).title == TITLE_A


def test_a_byte_order_mark_wins_over_every_declaration():
    content = "\ufeff".encode("utf-16-le") + _page(TITLE_A).encode("utf-16-le")
    decoded = decode_html(content, "iso-8859-1")
    assert (decoded.text, decoded.encoding, decoded.source) == (_page(TITLE_A), "utf-16-le", "bom")


def test_the_http_charset_when_the_bytes_decode_under_it():
    text = _page("Зимний сад")
    decoded = decode_html(text.encode("koi8-r"), "KOI8-R")
    assert (decoded.text, decoded.encoding, decoded.source) == (text, "koi8-r", "transport")


def test_latin1_labels_mean_windows_1252_as_in_the_encoding_standard():
    text = _page("It’s “quoted” – and dashed")
    decoded = decode_html(text.encode("cp1252"), "ISO-8859-1")
    assert (decoded.text, decoded.encoding) == (text, "cp1252")


def test_utf8_bytes_under_a_servers_latin1_default_are_utf8():
    decoded = decode_html(_page(TITLE_A).encode("utf-8"), "ISO-8859-1")
    assert (decoded.text, decoded.source) == (_page(TITLE_A), "utf-8")


@pytest.mark.parametrize(
    "head",
    [
        '<meta charset="iso-8859-2">',
        '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-2">',
    ],
)
def test_the_meta_declaration_when_http_names_none_or_a_wrong_one(head):
    text = _page("Zażółć gęślą jaźń", head)
    for transport in (None, "utf-8"):
        decoded = decode_html(text.encode("iso-8859-2"), transport)
        assert (decoded.text, decoded.encoding, decoded.source) == (text, "iso8859-2", "meta")


def test_a_meta_declaration_inside_a_comment_is_not_one():
    text = _page(TITLE_A, "<!-- <meta charset=iso-8859-2> -->")
    decoded = decode_html(text.encode("cp1252"))
    assert (decoded.text, decoded.source) == (text, "guess")


def test_a_wrong_meta_declaration_is_passed_over():
    text = _page(TITLE_A, '<meta charset="utf-8">')
    assert decode_html(text.encode("cp1252")).text == text


def test_valid_utf8_without_any_declaration():
    decoded = decode_html(_page("東京都の新しい地下鉄").encode("utf-8"))
    assert (decoded.text, decoded.source) == (_page("東京都の新しい地下鉄"), "utf-8")


@pytest.mark.parametrize(
    ("title", "encoding"),
    [
        ("Zażółć gęślą jaźń: nowy most w Łodzi otwarty dla ruchu", "cp1250"),
        ("В Москве открылась новая станция метро", "cp1251"),
        ("Νέα γέφυρα στη Θεσσαλονίκη ανοίγει για την κυκλοφορία", "iso-8859-7"),
        ("東京都、新しい地下鉄路線の建設計画を発表", "shift_jis"),
        ("北京市发布新一轮老旧小区改造计划", "gbk"),
        ("서울시, 새 지하철 노선 건설 계획 발표", "euc-kr"),
    ],
)
def test_the_guess_reads_other_code_pages_too(title, encoding):
    assert decode_html(_page(title).encode(encoding)).text == _page(title)


def test_a_pound_sign_reads_as_windows_1252_unless_the_domain_says_otherwise():
    text = _page("Council approves £5m plan for the harbour")
    assert decode_html(text.encode("cp1252")).text == text
    assert decode_html(text.encode("cp1252"), url="https://news.example.co.uk/a").text == text


def test_a_countrys_domain_is_a_hint():
    text = _page("İstanbul'da yeni metro hattı")
    assert decode_html(text.encode("cp1254"), url="https://haber.example.com.tr/a").text == text


def test_a_gzip_body_without_content_encoding_is_unpacked():
    assert decode_html(gzip.compress(_page(TITLE_A).encode("utf-8")), "utf-8").text == _page(TITLE_A)


def test_bytes_nothing_decodes_come_back_with_replacement_characters():
    decoded = decode_html(b"<p>\x81\x8d\x8f\x90\x9d</p>", "utf-8")
    assert decoded.source in ("guess", "fallback")
    assert decoded.text.startswith("<p>") and decoded.text.endswith("</p>")


def test_an_unknown_or_unsafe_label_is_ignored():
    text = _page(TITLE_A)
    assert decode_html(text.encode("utf-8"), "no-such-charset").text == text
    assert decode_html(text.encode("utf-8"), "utf-7").source == "utf-8"
