"""A local news site whose feed gains items while it runs (stream tests, soak).

``LiveSite()`` serves ``/feed.xml`` (RSS 2.0, newest first) and one page per
item at ``/a/<n>.html`` with a few hundred words of text.  ``add(n)`` publishes
``n`` more items and records when each appeared (``appeared``); an item may
be a copy of an earlier story (same text, new URL, later date), so story
clustering is exercised.  ``page_delay`` slows every page down, to keep a
cycle in flight.  Loopback only.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

__all__ = ["LiveSite"]

_WORDS = [
    *("council", "harbour", "budget", "minister", "river", "storm", "vote", "bridge", "school", "court"),
    *("hospital", "market", "railway", "energy", "festival", "museum", "police", "election", "farmers"),
    *("drought", "port", "factory", "union", "airport", "treaty", "province", "mayor", "senate", "coast"),
]


def _story_text(story: int) -> str:
    """Twelve sentences of words drawn for this story alone: two stories share
    no more than chance shingles, two copies of one story share all."""
    rng = random.Random(story)
    sentences = []
    for k in range(12):
        words = [rng.choice(_WORDS) + rng.choice(("s", "ed", "ing", "er", "")) for _ in range(14)]
        words += [
            "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(3)) for _ in range(3)
        ]
        rng.shuffle(words)
        sentences.append(f"Report {k}: the " + " ".join(words) + ".")
    return " ".join(sentences)


class LiveSite:
    def __init__(self, page_delay: float = 0.0, copy_every: int = 0):
        self.page_delay = page_delay
        self.copy_every = copy_every  # every n-th item is a copy of an earlier story (0: none)
        self.items: list[dict] = []  # {n, story, published}
        self.appeared: dict[str, float] = {}  # page URL → time.time() it entered the feed
        self.served: list[str] = []  # paths of the pages served, in order
        self._held_after: int | None = None  # pages past this many wait for release()
        self._gate = threading.Event()
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/feed.xml":
                    body, ctype = site._feed().encode(), "application/rss+xml"
                elif self.path.startswith("/a/") and self.path.endswith(".html"):
                    try:
                        n = int(self.path[3:-5])
                        item = site.items[n]
                    except (ValueError, IndexError):
                        self.send_error(404)
                        return
                    site.served.append(self.path)
                    if site._held_after is not None and len(site.served) > site._held_after:
                        site._gate.wait(120)
                    if site.page_delay:
                        time.sleep(site.page_delay)
                    body, ctype = site._page(item).encode(), "text/html; charset=utf-8"
                elif self.path == "/robots.txt":
                    body, ctype = b"User-agent: *\nAllow: /\n", "text/plain"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LiveSite:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def feed_url(self) -> str:
        return f"{self.base_url}/feed.xml"

    def url(self, n: int) -> str:
        return f"{self.base_url}/a/{n}.html"

    def hold_after(self, pages: int) -> None:
        """Answer ``pages`` more page requests, then hold the next ones until ``release()``:
        a cycle stays in flight however long a test takes meanwhile."""
        self._gate.clear()
        self._held_after = len(self.served) + pages

    def release(self) -> None:
        self._held_after = None
        self._gate.set()

    def write_config(self, tmp_path, **sections) -> Path:
        """A newsbeam config file polling this site: no retries, no delay, NER
        off, dead letters under ``tmp_path``; ``sections`` are added (e.g.
        ``run={"wave_size": 2}``)."""
        config = Path(tmp_path) / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "feeds": [{"url": self.feed_url, "name": "Live"}],
                    "elasticsearch": {"dead_letter_dir": str(Path(tmp_path) / "dead")},
                    "fetch": {"retries": 0, "timeout": 10, "host_delay": 0},
                    "ner": {"enabled": False},
                    **sections,
                }
            )
        )
        return config

    def add(self, count: int = 1) -> list[str]:
        """Publish ``count`` more items; returns their page URLs."""
        added = []
        with self._lock:
            for _ in range(count):
                n = len(self.items)
                story = n
                if self.copy_every and n and n % self.copy_every == 0:
                    story = self.items[n // 2]["story"]  # a copy of an earlier story
                published = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=n)
                self.items.append({"n": n, "story": story, "published": published})
                self.appeared[self.url(n)] = time.time()
                added.append(self.url(n))
        return added

    def stories(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for item in self.items:
            out.setdefault(item["story"], []).append(self.url(item["n"]))
        return out

    def _feed(self) -> str:
        with self._lock:
            items = list(self.items)[-200:]
        rows = "".join(
            f"<item><title>Story {i['story']} copy {i['n']}</title><link>{self.url(i['n'])}</link>"
            f"<pubDate>{i['published'].strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate></item>"
            for i in reversed(items)
        )
        return (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Live</title>'
            f"<link>{self.base_url}/</link>{rows}</channel></rss>"
        )

    def _page(self, item: dict) -> str:
        published = item["published"].isoformat()
        return (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>Story {item['story']} copy {item['n']}</title>"
            f'<meta property="article:published_time" content="{published}">'
            f"</head><body><article><h1>Story {item['story']} copy {item['n']}</h1>"
            f"<p>{_story_text(item['story'])}</p></article></body></html>"
        )
