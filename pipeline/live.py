"""Progress of a run while it works, read from Elasticsearch.

The counters of a Beam run are only complete when it ends, and with
``multi_processing`` or a remote runner the stages run in other processes,
so the live view counts what the run has *written*: articles first seen
since the run started, failures recorded since then by stage, and feeds
polled.  On a terminal (TTY) a rich table refreshes every
``interval`` seconds with each figure and its rate; otherwise nothing is
drawn and the stages' own log lines (one per N elements per worker, see
``transforms/progress.py``) show progress.  ``--quiet`` turns both off.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

__all__ = ["LiveProgress", "progress_counts"]

_LOG = logging.getLogger(__name__)


def progress_counts(client, settings, since_iso: str) -> dict[str, int]:
    """What the run wrote since ``since_iso``: one count per row of the view."""
    es = settings.elasticsearch
    counts: dict[str, int] = {}
    articles = client.count(
        index=es.articles_alias, query={"range": {"first_seen": {"gte": since_iso}}}, ignore_unavailable=True
    )
    counts["articles indexed"] = int(articles.get("count", 0))
    feeds = client.count(
        index=es.feeds_alias, query={"range": {"@timestamp": {"gte": since_iso}}}, ignore_unavailable=True
    )
    counts["feeds polled"] = int(feeds.get("count", 0))
    failures = client.search(
        index=es.failures_alias,
        size=0,
        query={"range": {"@timestamp": {"gte": since_iso}}},
        aggs={"stage": {"terms": {"field": "stage", "size": 20}}},
        ignore_unavailable=True,
    )
    for bucket in ((failures.get("aggregations") or {}).get("stage") or {}).get("buckets", []):
        counts[f"{bucket['key']} failures"] = int(bucket["doc_count"])
    return counts


class LiveProgress:
    """A context manager: draws the live table on ``console`` when it is a
    terminal and ``enabled``; a no-op otherwise."""

    def __init__(self, settings, console, enabled: bool = True, interval: float = 2.0):
        self._settings = settings
        self._console = console
        self._enabled = enabled and console.is_terminal
        self._interval = interval
        self._stop = threading.Event()
        self._thread = None
        self._started = time.monotonic()
        self._since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def _render(self, counts: dict[str, int]):
        from rich.table import Table

        elapsed = max(time.monotonic() - self._started, 1e-6)
        table = Table(title=f"newsbeam: running for {elapsed:.0f} s", show_edge=False)
        table.add_column("stage")
        table.add_column("count", justify="right")
        table.add_column("per second", justify="right")
        for name, value in counts.items():
            table.add_row(name, str(value), f"{value / elapsed:.2f}")
        return table

    def _loop(self, live) -> None:
        from newsbeam.connectors.es import connect

        client = connect(self._settings.elasticsearch, max_retries=0, request_timeout=5)
        try:
            while not self._stop.wait(self._interval):
                try:
                    live.update(self._render(progress_counts(client, self._settings, self._since)))
                except Exception as exc:  # progress is best effort: never fail the run
                    _LOG.debug("progress: %s", type(exc).__name__)
        finally:
            client.close()

    def __enter__(self):
        if not self._enabled:
            return self
        from rich.live import Live

        self._live = Live(self._render({}), console=self._console, transient=True, refresh_per_second=2)
        self._live.__enter__()
        self._thread = threading.Thread(target=self._loop, args=(self._live,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=10)
            self._live.__exit__(*exc)
        return False
