"""Text that is safe to print: no secrets, no terminal control, no Rich markup.

Whatever newsbeam prints to a terminal or a log may carry text from the
internet (titles, URLs, error messages of servers) or from the operator's
configuration (a URL with ``user:pass@``, an API key).  Three pure functions:

* ``mask_secrets`` replaces URL user info, ``password=``/``api_key=`` values,
  ``Authorization`` header values and the values of the credential
  environment variables (``ES_PASSWORD``, ``ES_API_KEY``, ``KIBANA_PASSWORD``,
  ``KIBANA_API_KEY``) with ``***``;
* ``strip_control`` removes terminal escape sequences (CSI, OSC, ...), C0/C1
  control characters (keeping newline and tab) and bidirectional overrides;
* ``for_terminal`` does both and, with ``markup=True``, escapes Rich markup so
  ``[bold]`` or ``[link=...]`` in a title prints as typed.

``SafeConsole`` is a Rich console whose ``print`` treats every string as plain
text through ``for_terminal`` (Rich renderables such as tables pass unchanged:
build their cells with ``for_terminal(..., markup=True)``).
``SafeFormatter`` is a logging formatter that masks and strips every record.

Example::

    from newsbeam.pipeline.text import for_terminal
    table.add_row(for_terminal(hit["title"], markup=True))
"""

from __future__ import annotations

import functools
import logging
import os
import re

from newsbeam.transforms.model import MASK, mask_userinfo

__all__ = ["SafeConsole", "SafeFormatter", "for_terminal", "mask_secrets", "strip_control"]

# All linear: each alternative starts at a fixed character and consumes a run of one class.
_KEY_VALUE = re.compile(
    r"(?P<key>\b(?:password|passwd|pwd|api[_-]?key|apikey|secret|token|access[_-]?token)"
    r"[\"']?\s{0,5}[:=]\s{0,5}[\"']?)(?P<value>[^\s\"',;&}]{1,1000})",
    re.IGNORECASE,
)
_AUTH_HEADER = re.compile(r"(?P<key>\b(?:ApiKey|Basic|Bearer)\s{1,5})(?P<value>[A-Za-z0-9+/=._~-]{8,1000})")
_SECRET_ENV = ("ES_PASSWORD", "ES_API_KEY", "KIBANA_PASSWORD", "KIBANA_API_KEY")

# ESC-introduced sequences: CSI (ESC [ ... final), OSC/DCS/APC/PM/SOS (ESC ] ... BEL or ESC \),
# two-character escapes; then the 8-bit CSI/OSC forms; then any other control character.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]{0,64}[ -/]{0,16}[@-~]?"
    r"|\x1b[\]PX^_][^\x07\x1b]{0,4096}(?:\x07|\x1b\\)?"
    r"|\x1b[ -~]?"
    r"|\x9b[0-?]{0,64}[ -/]{0,16}[@-~]?"
    r"|[\x9d\x90\x98\x9e\x9f][^\x07\x1b\x9c]{0,4096}(?:\x07|\x9c)?"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def mask_secrets(text: object, secrets: tuple[str | None, ...] = ()) -> str:
    """``text`` with credentials replaced by ``***`` (also each of ``secrets``)."""
    text = str(text)
    text = mask_userinfo(text)
    text = _KEY_VALUE.sub(lambda m: f"{m.group('key')}{MASK}", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group('key')}{MASK}", text)
    known = [os.environ.get(name) for name in _SECRET_ENV] + list(secrets)
    for secret in sorted({s for s in known if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def strip_control(text: object, keep_newlines: bool = True) -> str:
    """``text`` without escape sequences and control characters (tab kept;
    newlines kept unless ``keep_newlines`` is false, then they become spaces)."""
    text = _ESCAPES.sub("", str(text))
    text = text.replace("\r\n", "\n")
    if not keep_newlines:
        text = text.replace("\n", " ")
    return _CONTROLS.sub("", text)


def for_terminal(text: object, markup: bool = False, keep_newlines: bool = True) -> str:
    """Masked and stripped ``text``; with ``markup`` also escaped for Rich markup."""
    text = strip_control(mask_secrets(text), keep_newlines=keep_newlines)
    if markup:
        from rich.markup import escape

        text = escape(text)
    return text


@functools.lru_cache(maxsize=1)
def _console_class():
    from rich.console import Console
    from rich.text import Text

    class _SafeConsole(Console):
        """A Rich console that prints strings as plain, masked, stripped text."""

        def print(self, *objects, **kwargs):
            kwargs.pop("markup", None)
            safe = [Text(for_terminal(o)) if isinstance(o, str) else o for o in objects]
            return super().print(*safe, **kwargs)

    return _SafeConsole


def SafeConsole(**kwargs):
    """A ``rich.console.Console`` whose ``print`` sanitizes every string."""
    return _console_class()(**kwargs)


class SafeFormatter(logging.Formatter):
    """A logging formatter whose output has no secrets and no terminal control."""

    def format(self, record: logging.LogRecord) -> str:
        return for_terminal(super().format(record))
