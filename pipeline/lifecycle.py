"""A run's life around the pipeline: the embedded server it needs, Ctrl-C, and
the exit status when every feed failed.

* ``embedded_default(settings)``: the Elasticsearch URL is the embedded
  server's default (``http://127.0.0.1:<embedded.port>`` or localhost).
* ``ensure_embedded(settings, say)``: ``newsbeam run`` starts the embedded
  server itself when the URL is that default and nothing answers there, so a
  cron line works after a reboot; any other URL is never started.
* ``unreachable_hint(settings)``: the sentence that names ``newsbeam es
  start`` when the embedded server is what was meant and it is not running.
* ``check_own_server(server)``: ``newsbeam demo`` refuses a server on its port
  that this state directory did not start (another checkout's, another
  program): it would mix its articles with theirs.
* ``InterruptWatch``: remembers that SIGINT arrived, so an interrupt wrapped
  by Beam into another exception still exits 130 with ``interrupted``.
* ``stop_signal()``: the name of the signal (``SIGINT``/``SIGTERM``/``SIGHUP``) that stopped the command,
  or None; what the run summary of an interrupted run records.
* ``all_feeds_failed(summary)``: the error when every polled feed failed (exit 1 for cron).
"""

from __future__ import annotations

import signal
from typing import Any
from urllib.parse import urlsplit

from newsbeam.connectors.embedded import EmbeddedError, EmbeddedServer

__all__ = [
    "InterruptWatch",
    "all_feeds_failed",
    "check_own_server",
    "embedded_default",
    "ensure_embedded",
    "stop_signal",
    "unreachable_hint",
]

_LOCAL = {"127.0.0.1", "localhost", "::1"}


def embedded_default(settings) -> bool:
    es = settings.elasticsearch
    if es.cloud_id or not es.url:
        return False
    parts = urlsplit(es.url)
    return (
        parts.scheme == "http"
        and (parts.hostname or "") in _LOCAL
        and (parts.port or 80) == settings.embedded.port
        and parts.path in ("", "/")
    )


def _server(settings) -> EmbeddedServer:
    return EmbeddedServer(port=settings.embedded.port, data_dir=settings.embedded.data_dir)


def unreachable_hint(settings, during_run: bool = False) -> str:
    """'' or a hint naming ``newsbeam es start`` for the embedded default URL; ``during_run``:
    the server answered when the run started and went away in the middle (stopped, killed, out
    of memory), which the operator learns from its log, and the next run starts it again."""
    if not embedded_default(settings):
        return ""
    server = _server(settings)
    recorded = server.recorded()
    if during_run and recorded is None:
        return (
            f" (the embedded server of this state directory stopped during the run: see {server.log_file}; "
            "the next newsbeam run starts it again, or start it with `newsbeam es start"
            + ("" if settings.embedded.port == 9200 else f" --port {settings.embedded.port}")
            + "`)"
        )
    if recorded is not None and recorded[1] not in (None, server.port):
        # "runs but does not answer" sent the operator to a log with nothing wrong in it.
        other = recorded[1]
        return (
            f" (the embedded server of this state directory runs on port {other}, not {server.port}: "
            f"give --es-url http://127.0.0.1:{other} or set embedded.port: {other})"
        )
    if recorded is not None:
        return f" (the embedded server runs but does not answer; see {server.log_file})"
    port = "" if settings.embedded.port == 9200 else f" --port {settings.embedded.port}"
    return f" (the embedded server is not running: start it with `newsbeam es start{port}`)"


def ensure_embedded(settings, say) -> None:
    """Start the embedded server when the URL is its default and nothing answers."""
    if not embedded_default(settings):
        return
    server = _server(settings)
    if server.answers():
        return
    say(
        f"starting the embedded Elasticsearch-compatible server on port {server.port} "
        f"(data: {server.data_dir}; stop it with newsbeam es stop) ..."
    )
    server.start(timeout=settings.embedded.start_timeout)


def check_own_server(server: EmbeddedServer) -> None:
    """Raise ``EmbeddedError`` when something answers on ``server.port`` that
    this state directory did not start."""
    if not server.answers():
        return
    recorded = server.recorded()
    if recorded is not None and recorded[1] in (None, server.port):
        return
    raise EmbeddedError(
        f"another Elasticsearch server already answers on port {server.port} (not the embedded server "
        f"of this state directory, {server.root}); the demo will not write into it. Give another port "
        "(newsbeam demo --port N), stop that server, or set ES_URL to write into it on purpose"
    )


def all_feeds_failed(summary) -> str | None:
    """ "every feed failed (N of M)" when every polled feed failed (the run exits 1 and
    its summary says so), else None.  A feed held back (its last poll answered 410 Gone, or
    asked to wait with ``Retry-After``) counts as failed: a feeds file of removed feeds still
    exits 1 on the runs that skip them."""
    held = summary.get("news.feeds/held")
    polled = summary.get("news.feeds/polled") + held
    failed = summary.get("news.feeds/failed") + held
    return f"every feed failed ({failed} of {polled})" if failed > 0 and failed >= polled else None


_STOPPED_BY: list[str] = []  # the signal of the InterruptWatch that fired last (one at most)


def stop_signal() -> str | None:
    """``"SIGINT"`` or ``"SIGTERM"`` once the command's ``InterruptWatch`` caught it, else None."""
    return _STOPPED_BY[0] if _STOPPED_BY else None


class InterruptWatch:
    """Context manager: SIGINT raises KeyboardInterrupt as usual and sets ``fired``; so does
    SIGTERM (a scheduler or ``kill`` stopping the command), which sets ``terminated`` too, and
    SIGHUP (the terminal or ssh session of a run started by hand closed), so the command stops
    the same orderly way (its worker processes and children stopped, its lease released, the
    stop recorded) instead of dying at once; ``signum`` is the signal.  ``newsbeam stream``
    installs its own handlers inside (it finishes the cycle in flight)."""

    _SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self):
        self.fired = False
        self.terminated = False
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum, frame):
        self.fired = True
        self.terminated = self.terminated or signum == signal.SIGTERM
        self.signum = self.signum or signum
        if not _STOPPED_BY:
            _STOPPED_BY.append(signal.Signals(signum).name)
        raise KeyboardInterrupt

    def __enter__(self):
        _STOPPED_BY.clear()  # main() may run more than once in a process (tests)
        try:
            for signum in self._SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handler)
        except ValueError:  # not the main thread (tests calling main() from a thread)
            self._previous = {}
        return self

    def __exit__(self, *exc):
        _STOPPED_BY.clear()  # the command is over: a later run in this process was not stopped
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        return False
