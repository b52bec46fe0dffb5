"""``--log-format json``: one JSON object per log line on stderr, for log
shippers (Filebeat, journald, Cloud Logging).

Fields: ``@timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``message``
and, for an exception, ``error`` (its type and first line; the traceback
only with ``-v``).  Messages pass through ``redact`` so URL user info
(``user:pass@``) never reaches a log; the pipeline logs no article bodies
and nothing per element at INFO (counters carry those figures).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from newsbeam.connectors.es import redact

__all__ = ["LOG_FORMATS", "JsonFormatter", "json_logs", "use_log_format"]

_FORMAT = {"current": "text"}


def json_logs() -> bool:
    """Whether ``--log-format json`` is in force: then the command's own messages to the operator
    (the failure that explains exit 1, "every feed failed", ...) are JSON log records too, or a log
    shipper parsing every line of stderr would drop exactly those."""
    return _FORMAT["current"] == "json"


LOG_FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    def __init__(self, tracebacks: bool = False):
        super().__init__()
        self._tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "@timestamp": datetime.fromtimestamp(record.created, timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%S.%f"
            )[:-3]
            + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            first = (str(exc).splitlines() or [""])[0]
            entry["error"] = redact(f"{type(exc).__name__}: {first}")
            if self._tracebacks:
                entry["traceback"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=True)


def use_log_format(log_format: str, verbose: bool = False) -> None:
    """Switch the root handlers (installed by the CLI) to ``log_format``."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"--log-format: expected one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    _FORMAT["current"] = log_format
    if log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter(tracebacks=verbose))
