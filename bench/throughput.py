"""End-to-end throughput: ``newsbeam run`` with the shipped defaults against a
plain sequential script and against the machine's per-article CPU limit.

The corpus is built from the ScrapingHub article-extraction benchmark pages
(181 HTML files, public: https://github.com/scrapinghub/article-extraction-benchmark,
folder ``html/``), read from ``--data`` (default ``$NEWSBEAM_BENCH_DATA/extraction/html``).
For N articles: the pages in turn, each reuse after the first with a share of
its words replaced (so every article is its own story), about 15% of them
syndicated copies of another outlet's article, spread over ``--hosts``
outlets (default 40) on loopback host names 127.0.0.2, 127.0.0.3, ... each
with its own RSS feed and robots.txt.  One run times, side by side:

* ``newsbeam run`` as a user runs it: shipped defaults (politeness on:
  ``fetch.host_delay`` 1 s, robots.txt), plus ``--allow-private-hosts``
  since the outlets are on loopback; into the embedded server (or ``ES_URL``);
* ``bench/sequential_pipeline.py``: feedparser → requests → trafilatura →
  MinHash → spaCy → bulk in one loop, no Beam, no delay;
* the limit: per-article CPU of newsbeam's extraction and entity tagging
  in a tight loop, over the usable cores.

One JSON line per N: articles/s of both, ratio to the limit, speedup over
the sequential script, per-stage share of newsbeam's CPU per article, peak
RSS of newsbeam's whole process tree, and the gaps between two requests to
one host.  ``--plot FILE.png`` draws articles/s against N (needs the
``bench`` extra: ``pip install -e '.[bench]'``).

    python bench/throughput.py                      # N = 300
    python bench/throughput.py --n 300,2000 --plot bench/throughput.png

Profiling: ``--newsbeam-only`` times ``newsbeam run`` alone; ``--timeline FILE``
appends its process tree's CPU and RSS per process every 0.25 s, the outlets'
request times and its log; ``--newsbeam-arg=FLAG`` passes one more argument
to ``newsbeam run`` (then the figures are not the defaults').
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COPY_SHARE = 0.15
SAMPLE = 120  # articles timed in the tight loop
_WORD = re.compile(r"[A-Za-z]{3,}")
_SERVER_PIDS: list[int] = []  # the embedded server's process group (its CPU is not newsbeam's)


def _default_data() -> Path:
    from benchdata import data_root

    return data_root() / "extraction" / "html"


# -- corpus ------------------------------------------------------------------


def _clean_identity(tree) -> None:
    """Drop the original site's canonical URL, which would make every variant one article."""
    for element in tree.xpath(
        '//link[@rel="canonical"] | //meta[@property="og:url"] | //meta[@name="twitter:url"]'
    ):
        element.getparent().remove(element)


def _vary(html: str, rng: random.Random, vocabulary: list[str]) -> bytes:
    """The page with ~40% of its words replaced: another story, same layout and length."""
    import lxml.html

    tree = lxml.html.fromstring(html)
    _clean_identity(tree)

    def swap(text: str | None) -> str | None:
        if not text:
            return text
        return _WORD.sub(lambda m: rng.choice(vocabulary) if rng.random() < 0.4 else m.group(0), text)

    for element in tree.iter():
        if not isinstance(element.tag, str) or element.tag in ("script", "style"):
            element.tail = swap(element.tail)
            continue
        element.text = swap(element.text)
        element.tail = swap(element.tail)
    return lxml.html.tostring(tree, encoding="utf-8", doctype="<!DOCTYPE html>")


def _plain(html: str) -> bytes:
    import lxml.html

    tree = lxml.html.fromstring(html)
    _clean_identity(tree)
    return lxml.html.tostring(tree, encoding="utf-8", doctype="<!DOCTYPE html>")


def build_corpus(data: Path, n: int, hosts: int, seed: int = 9):
    """[(host index, path, title, html bytes, is_copy)] for n articles."""
    files = sorted(data.glob("*.html"))
    if not files:
        raise SystemExit(f"no *.html pages under {data}")
    sources = [f.read_text(encoding="utf-8", errors="replace") for f in files]
    vocabulary = sorted({w for s in sources[:40] for w in _WORD.findall(s) if w.islower()})
    rng = random.Random(seed)
    copies = round(n * COPY_SHARE)
    articles = []
    for i in range(n - copies):
        source = sources[i % len(sources)]
        body = (
            _plain(source)
            if i < len(sources)
            else _vary(source, random.Random(seed * 100_003 + i), vocabulary)
        )
        articles.append([i % hosts, f"/news/{i:05d}.html", f"Article {i}", body, False])
    for j in range(copies):
        host, _path, title, body, _ = rng.choice(articles[: n - copies])
        other = (host + 1 + rng.randrange(hosts - 1)) % hosts
        articles.append([other, f"/wire/{j:05d}.html", title, body, True])
    rng.shuffle(articles)
    return [tuple(a) for a in articles]


def _rss(base: str, items) -> bytes:
    now = time.time()
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
        f"<title>Outlet {escape(base)}</title><link>{escape(base)}/</link><description>bench</description>",
    ]
    for k, (path, title) in enumerate(items):
        published = format_datetime(_utc(now - 60 * (k + 1)))
        parts.append(
            f"<item><title>{escape(title)}</title><link>{escape(base + path)}</link>"
            f"<guid>{escape(base + path)}</guid><pubDate>{published}</pubDate></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def _utc(ts: float):
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.timezone.utc)


class Outlets:
    """One loopback HTTP server per outlet (127.0.0.2, ...), recording the
    time of every request by host and by phase."""

    def __init__(self, corpus, hosts: int, latency: float = 0.0):
        self.latency = latency
        self.phase = "setup"
        self.log: list[tuple[str, str, str, float]] = []  # (phase, host, path, time)
        self._lock = threading.Lock()
        self._servers = []
        self._routes: list[dict[str, tuple[str, bytes]]] = []
        for h in range(hosts):
            server = ThreadingHTTPServer((f"127.0.0.{2 + h}", 0), self._handler(h))
            server.daemon_threads = True
            self._servers.append(server)
            self._routes.append({"/robots.txt": ("text/plain", b"User-agent: *\nAllow: /\n")})
        by_host: dict[int, list] = {}
        for host, path, title, body, _copy in corpus:
            self._routes[host][path] = ("text/html; charset=utf-8", body)
            by_host.setdefault(host, []).append((path, title))
        for h in range(hosts):
            self._routes[h]["/feed.xml"] = ("application/rss+xml", _rss(self.base(h), by_host.get(h, [])))
        for server in self._servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def base(self, h: int) -> str:
        address = self._servers[h].server_address
        return f"http://{address[0]}:{address[1]}"

    @property
    def feeds(self) -> list[str]:
        return [self.base(h) + "/feed.xml" for h in range(len(self._servers))]

    def _handler(self, h: int):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):
                pass

            def do_GET(self):
                with outer._lock:
                    outer.log.append((outer.phase, str(h), self.path, time.monotonic()))
                if outer.latency:
                    time.sleep(outer.latency)
                route = outer._routes[h].get(self.path)
                status, (ctype, body) = (200, route) if route else (404, ("text/plain", b"not found"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def gaps(self, phase: str, fetch_only: bool) -> tuple[float | None, float | None]:
        """(smallest, largest) gap in seconds between two consecutive requests to one host."""
        times: dict[str, list[float]] = {}
        for ph, host, path, at in self.log:
            if ph == phase and not (fetch_only and path == "/feed.xml"):
                times.setdefault(host, []).append(at)
        gaps = [b - a for ts in times.values() for a, b in zip(sorted(ts), sorted(ts)[1:])]
        return (min(gaps), max(gaps)) if gaps else (None, None)

    def close(self):
        for server in self._servers:
            server.shutdown()
            server.server_close()


# -- measuring a process tree ----------------------------------------------------


def _kind(p) -> str:
    """A short name for one process of the tree: what it runs."""
    try:
        cmdline = " ".join(p.cmdline())
    except Exception:
        return "?"
    from processes import process_kind

    return process_kind(cmdline)


def _server_processes() -> list:
    """The embedded server's processes (outside newsbeam's tree), or none with ``ES_URL``."""
    import psutil

    procs = []
    for pid in _SERVER_PIDS:
        try:
            root = psutil.Process(pid)
            procs.extend([root, *root.children(recursive=True)])
        except psutil.Error:
            continue
    return procs


def server_cpu() -> float:
    """CPU seconds the embedded server has used so far (0 with ``ES_URL``)."""
    import psutil

    total = 0.0
    for p in _server_processes():
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def run_measured(cmd: list[str], env: dict[str, str], timeline: list | None = None) -> dict:
    """Run ``cmd``; wall seconds, CPU seconds of it and its reaped children, peak RSS of the tree.
    ``timeline``: gets one (seconds since start, pid, kind, CPU seconds, RSS bytes) per process per sample,
    the embedded server's processes included (kind ``es-server``, not in the figures), and the whole
    machine's busy CPU seconds (pid 0, kind ``machine``: what other programs took)."""
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0, 0]  # sum of RSS, sum of PSS (shared pages counted once)
    cpu_seen: dict[int, float] = {}  # pid -> last CPU seconds sampled (for processes nobody reaps)
    kinds: dict[int, str] = {}
    stop = threading.Event()

    def sample():
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            rss = pss = 0
            now = time.monotonic() - started
            for p in tree:
                try:
                    times = p.cpu_times()
                    cpu_seen[p.pid] = times.user + times.system
                    info = p.memory_full_info()
                    rss += info.rss
                    pss += getattr(info, "pss", info.rss)
                    if timeline is not None:
                        if p.pid not in kinds:
                            kinds[p.pid] = _kind(p)
                        timeline.append((round(now, 2), p.pid, kinds[p.pid], cpu_seen[p.pid], info.rss))
                except psutil.Error:
                    pass
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            if timeline is not None:
                busy = psutil.cpu_times()  # the whole machine: how much of the idle others took
                timeline.append((round(now, 2), 0, "machine", busy.user + busy.nice + busy.system, 0))
                for p in _server_processes():
                    try:
                        times = p.cpu_times()
                        timeline.append((round(now, 2), p.pid, "es-server", times.user + times.system,
                                         p.memory_info().rss))  # fmt: skip
                    except psutil.Error:
                        pass
            stop.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Reaped descendants count in RUSAGE_CHILDREN; the samples cover any that were not.
    cpu = max((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), sum(cpu_seen.values()))
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd[:3])} failed with exit {proc.returncode}:\n{err[-3000:]}")
    return {
        "started": started,
        "wall": wall,
        "cpu": cpu,
        "peak_rss": peak[0],
        "peak_pss": peak[1],
        "stdout": out,
        "stderr": err,
    }


# -- the per-article CPU limit ---------------------------------------------------


def tight_loop(corpus, model: str, batch_size: int) -> dict:
    """CPU seconds per article of extraction, MinHash and NER, one process, no I/O."""
    from newsbeam.transforms.entities import _load_pipeline, tag_texts
    from newsbeam.transforms.extraction import extract_article
    from newsbeam.transforms.similarity import DedupConfig, fingerprint

    sample = corpus[:SAMPLE]
    nlp = _load_pipeline(model).nlp
    tag_texts(nlp, ["Warm-up text about Paris and Joe Biden."])
    # Warm the extractor up too (its modules and the language identifier's model load
    # on first use, about 0.6 s): the loop times each stage's steady state.
    _h, path, _t, body, _c = corpus[-1]
    extract_article(body, f"http://127.0.0.9{path}")
    t0 = time.process_time()
    bodies = [extract_article(body, f"http://127.0.0.9{path}").body for _h, path, _t, body, _c in sample]
    t1 = time.process_time()
    config = DedupConfig()
    for text in bodies:
        fingerprint(text, config)
    t2 = time.process_time()
    kept = [b for b in bodies if b]
    tag_texts(nlp, kept, batch_size=batch_size)
    t3 = time.process_time()
    copies = [b for b, (*_, is_copy) in zip(bodies, sample) if b and is_copy]
    t4 = time.process_time()
    tag_texts(nlp, copies, batch_size=batch_size)
    t5 = time.process_time()
    count = len(sample)
    return {
        "extract": (t1 - t0) / count,
        "minhash": (t2 - t1) / count,
        "ner": (t3 - t2) / count,
        "ner_copies": (t5 - t4) / count,  # NER CPU spent on copies, per article of the sample
    }


def ner_batch_sweep(corpus, model: str, sizes=(1, 8, 32, 64, 128)) -> dict[int, float]:
    """NER CPU seconds per article for each nlp.pipe batch size."""
    from newsbeam.transforms.entities import _load_pipeline, tag_texts
    from newsbeam.transforms.extraction import extract_article

    nlp = _load_pipeline(model).nlp
    bodies = [extract_article(b, f"http://127.0.0.9{p}").body for _h, p, _t, b, _c in corpus[:SAMPLE]]
    bodies = [b for b in bodies if b]
    tag_texts(nlp, bodies[:4])
    result = {}
    for size in sizes:
        t0 = time.process_time()
        tag_texts(nlp, bodies, batch_size=size)
        result[size] = (time.process_time() - t0) / len(bodies)
    return result


def fetch_sweep(hosts: int = 40, pages: int = 5, latency: float = 0.3, caps=(4, 8, 16, 32)) -> dict:
    """Seconds for FetchPages alone (shipped politeness) over ``hosts`` loopback
    outlets answering after ``latency`` seconds, for each ``fetch.max_connections``."""
    import apache_beam as beam

    from newsbeam.config.settings import FetchSettings
    from newsbeam.connectors.fetch import FetchPages
    from newsbeam.pipeline.options import beam_options
    from newsbeam.transforms.model import FeedEntry

    corpus = [(h, f"/p{k}.html", "t", b"<html><body><p>x</p></body></html>", False)
              for h in range(hosts) for k in range(pages)]  # fmt: skip
    outlets = Outlets(corpus, hosts, latency=latency)
    result = {}
    try:
        entries = [
            FeedEntry(feed_url=outlets.base(h) + "/feed.xml", feed_name="F", link=outlets.base(h) + path,
                      url=outlets.base(h) + path)
            for h, path, *_ in corpus
        ]  # fmt: skip
        for cap in caps:
            settings = FetchSettings(allow_private_hosts=True, max_connections=cap)
            started = time.monotonic()
            with beam.Pipeline(options=beam_options(["--direct_running_mode=in_memory"])) as p:
                _ = p | beam.Create(entries) | FetchPages(settings)
            result[cap] = round(time.monotonic() - started, 2)
    finally:
        outlets.close()
    return result


# -- one N ---------------------------------------------------------------------------


@contextlib.contextmanager
def bench_elasticsearch(workdir: Path):
    """The Elasticsearch URL a benchmark writes to: ``ES_URL`` when set, else an
    embedded server under ``workdir``, stopped on the way out."""
    es_url = os.environ.get("ES_URL")
    if es_url:
        yield es_url
        return
    from newsbeam.connectors.embedded import EmbeddedServer, free_port

    server = EmbeddedServer(port=free_port(), root=workdir / "es")
    server.start(timeout=120)
    recorded = server.recorded()
    _SERVER_PIDS[:] = [recorded[0]] if recorded else []
    try:
        yield server.url
    finally:
        _SERVER_PIDS.clear()
        server.stop()


def _es_count(url: str, index: str) -> int:
    from elasticsearch import Elasticsearch

    es = Elasticsearch(url, request_timeout=60)
    try:
        es.indices.refresh(index=index)
        return int(es.count(index=index)["count"])
    finally:
        es.close()


def bench_one(n: int, args, es_url: str, workdir: Path) -> dict:
    import yaml

    from newsbeam.config.settings import FetchSettings
    from newsbeam.pipeline.options import usable_cores
    from newsbeam.transforms.entities import resolve_model_name

    model = resolve_model_name(None)
    corpus = build_corpus(args.data, n, args.hosts)
    outlets = Outlets(corpus, args.hosts)
    try:
        feeds = outlets.feeds
        config = workdir / f"newsbeam-{n}.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "feeds": [{"url": url, "name": f"Outlet {k}"} for k, url in enumerate(feeds)],
                    "elasticsearch": {"index_prefix": f"bench-tp-{n}-{int(time.time())}"},
                }
            ),
            encoding="utf-8",
        )
        prefix = yaml.safe_load(config.read_text())["elasticsearch"]["index_prefix"]
        env = dict(os.environ, ES_URL=es_url, NEWSBEAM_STATE_DIR=str(workdir / f"state-{n}"))
        outlets.phase = "newsbeam"
        timeline: list | None = [] if args.timeline else None
        summary_file = workdir / f"summary-{n}.json"
        load_before = os.getloadavg()[0]
        server_before = server_cpu()
        nb = run_measured(
            [str(BIN / "newsbeam"), "run", "--config", str(config), "--allow-private-hosts",
             "--summary-json", str(summary_file), *args.newsbeam_args],
            env,
            timeline,
        )  # fmt: skip
        nb_load = (load_before, os.getloadavg()[0])
        nb_server_cpu = server_cpu() - server_before
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
        if args.timeline:
            _write_timeline(args.timeline, n, nb["started"], timeline, outlets.log, nb["stderr"])
        nb_articles = _es_count(es_url, f"{prefix}-articles")
        if args.newsbeam_only:
            gap_min, gap_max = outlets.gaps("newsbeam", fetch_only=True)
            return {
                "n": n,
                "newsbeam_only": True,
                "articles": nb_articles,
                "wall_s": round(nb["wall"], 2),
                "cpu_s": round(nb["cpu"], 2),
                "peak_rss_mb": round(nb["peak_rss"] / 1e6, 1),
                "peak_pss_mb": round(nb["peak_pss"] / 1e6, 1),
                "es_server_cpu_s": round(nb_server_cpu, 2),
                "load_average_1min": [round(v, 2) for v in nb_load],
                "fetch_gap_min_s": gap_min,
                "fetch_gap_max_s": gap_max,
            }

        feeds_file = workdir / f"feeds-{n}.json"
        feeds_file.write_text(json.dumps(feeds), encoding="utf-8")
        outlets.phase = "sequential"
        load_before = os.getloadavg()[0]
        seq = run_measured(
            [sys.executable, str(REPO / "bench" / "sequential_pipeline.py"), str(feeds_file), es_url,
             f"{prefix}-sequential", model],
            env,
        )  # fmt: skip
        seq_articles = json.loads(seq["stdout"].strip().splitlines()[-1])["articles"]
        seq_load = (load_before, os.getloadavg()[0])
    finally:
        outlets.close()

    outlets.phase = "done"
    cores = usable_cores()
    loop = tight_loop(corpus, model, args.ner_batch)
    per_article_limit = loop["extract"] + loop["ner"]
    limit_rate = cores / per_article_limit
    nb_rate = nb_articles / nb["wall"]
    seq_rate = seq_articles / seq["wall"]
    nb_cpu_per_article = nb["cpu"] / max(1, nb_articles)
    host_delay = FetchSettings().host_delay
    entities = summary.get("entities") or {}
    tagged = entities.get("tagged") or 0
    reused = entities.get("reused_chunks") or 0
    fetch_min, fetch_max = outlets.gaps("newsbeam", fetch_only=True)
    all_min, _ = outlets.gaps("newsbeam", fetch_only=False)
    return {
        "n": n,
        "hosts": args.hosts,
        "copies": sum(1 for *_, c in corpus if c),
        "cores": cores,
        "newsbeam": {
            "articles": nb_articles,
            "wall_s": round(nb["wall"], 2),
            "cpu_s": round(nb["cpu"], 2),
            "articles_per_s": round(nb_rate, 3),
            "cpu_s_per_article": round(nb_cpu_per_article, 4),
            "peak_rss_mb": round(nb["peak_rss"] / 1e6, 1),
            "peak_pss_mb": round(nb["peak_pss"] / 1e6, 1),
            "cores_used": round(nb["cpu"] / nb["wall"], 2),
            "load_average_1min": [round(v, 2) for v in nb_load],
            # the embedded server's CPU during newsbeam's run (outside its tree; 0 with ES_URL)
            "es_server_cpu_s": round(nb_server_cpu, 2),
        },
        "sequential": {
            "articles": seq_articles,
            "wall_s": round(seq["wall"], 2),
            "cpu_s": round(seq["cpu"], 2),
            "articles_per_s": round(seq_rate, 3),
            "peak_rss_mb": round(seq["peak_rss"] / 1e6, 1),
            "cores_used": round(seq["cpu"] / seq["wall"], 2),
            "load_average_1min": [round(v, 2) for v in seq_load],
        },
        "limit_articles_per_s": round(limit_rate, 3),
        "ratio_to_limit": round(nb_rate / limit_rate, 3),
        "speedup_over_sequential": round(nb_rate / seq_rate, 3),
        "cpu_share_per_article": {
            "extract": round(loop["extract"] / nb_cpu_per_article, 3),
            "minhash": round(loop["minhash"] / nb_cpu_per_article, 3),
            "ner": round(loop["ner"] / nb_cpu_per_article, 3),
            "other": round(1 - (loop["extract"] + loop["minhash"] + loop["ner"]) / nb_cpu_per_article, 3),
        },
        # CPU of the limit's work (extraction + NER) over newsbeam's CPU per article:
        # 1.0 would mean no overhead at all; the wall-time ratio also depends on the
        # share of the 2 cores the run got on a shared machine (cores_used).
        "cpu_efficiency": round(per_article_limit / nb_cpu_per_article, 3),
        "ner_reuse_for_copies_saves_at_most": round(loop["ner_copies"] / nb_cpu_per_article, 3),
        # measured: chunks whose spans came from an exact copy tagged before in the same worker
        "ner_reused_chunks": reused,
        "ner_tagged": tagged,
        "ner_reuse_saved_share": round(reused / tagged * loop["ner"] / nb_cpu_per_article, 3)
        if tagged
        else 0.0,
        "host_delay_s": host_delay,
        "fetch_gap_min_s": None if fetch_min is None else round(fetch_min, 3),
        "fetch_gap_max_s": None if fetch_max is None else round(fetch_max, 3),
        "polite": fetch_min is not None and fetch_min >= host_delay,
        "any_request_gap_min_s": None if all_min is None else round(all_min, 3),
    }


def _write_timeline(path: Path, n: int, t0: float, timeline: list, requests: list, stderr: str) -> None:
    """The process tree's CPU use over time, for profiling: one JSON line per N with the
    samples, the outlets' request times and newsbeam's log."""
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps({
            "n": n,
            "t0_monotonic": t0,
            "samples": timeline,
            "requests": [(h, p, round(at - t0, 3)) for phase, h, p, at in requests if phase == "newsbeam"],
            "stderr": stderr[-200_000:],
        }) + "\n")  # fmt: skip


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = sorted(results, key=lambda r: r["n"])
    ns = [r["n"] for r in results]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ns, [r["newsbeam"]["articles_per_s"] for r in results], "o-", label="newsbeam run (defaults)")
    ax.plot(ns, [r["sequential"]["articles_per_s"] for r in results], "s-", label="sequential script")
    ax.plot(ns, [r["limit_articles_per_s"] for r in results], "k--", label="per-article CPU limit")
    ax.set_xlabel("articles (N)")
    ax.set_ylabel("articles/s")
    ax.set_ylim(bottom=0)
    ax.set_title(f"newsbeam throughput, {results[0]['hosts']} loopback outlets, {results[0]['cores']} cores")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=_default_data(),
                    help="folder of the ScrapingHub benchmark's html/ pages "
                    "(default $NEWSBEAM_BENCH_DATA/extraction/html)")  # fmt: skip
    ap.add_argument("--n", default="300", help="articles, or a comma-separated list (default 300)")
    ap.add_argument("--hosts", type=int, default=40, help="loopback outlets, 127.0.0.2 upwards (default 40)")
    ap.add_argument(
        "--ner-batch", type=int, default=None, help="nlp.pipe batch for the limit (default ner.batch_size)"
    )
    ap.add_argument("--ner-batch-sweep", action="store_true", help="only time NER per batch size and exit")
    ap.add_argument(
        "--fetch-sweep", action="store_true", help="only time fetching per fetch.max_connections and exit"
    )
    ap.add_argument("--plot", type=Path, help="write a PNG of articles/s against N")
    ap.add_argument(
        "--newsbeam-arg", dest="newsbeam_args", action="append", default=[],
        help="one more argument for newsbeam run (repeatable; e.g. a Beam flag); "
        "figures with any are not the defaults'",
    )  # fmt: skip
    ap.add_argument("--newsbeam-only", action="store_true", help="time newsbeam run alone (profiling)")
    ap.add_argument(
        "--timeline", type=Path, help="append newsbeam's per-process CPU samples here (profiling)"
    )
    ap.add_argument("--output", type=Path, help="also append the JSON lines to this file")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        from benchdata import missing

        return missing("bench/throughput.py", "extraction", args.data)
    try:
        sizes = [int(v) for v in args.n.split(",")]
    except ValueError:
        ap.error(f"--n: expected a number or a comma-separated list of numbers, got {args.n!r}")
    if any(n < 10 for n in sizes) or not 2 <= args.hosts <= 250:
        ap.error("--n must be at least 10 and --hosts from 2 to 250")
    from newsbeam.config.settings import NerSettings

    if args.ner_batch is None:
        args.ner_batch = NerSettings().batch_size
    import logging

    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    if args.ner_batch_sweep:
        from newsbeam.transforms.entities import resolve_model_name

        sweep = ner_batch_sweep(build_corpus(args.data, SAMPLE, args.hosts), resolve_model_name(None))
        print(json.dumps({"ner_cpu_s_per_article_by_batch": {k: round(v, 4) for k, v in sweep.items()}}))
        return 0

    if args.fetch_sweep:
        print(json.dumps({"fetch_s_by_max_connections": fetch_sweep(args.hosts)}))
        return 0

    results = []
    with tempfile.TemporaryDirectory(prefix="newsbeam-throughput-") as tmp:
        workdir = Path(tmp)
        with bench_elasticsearch(workdir) as es_url:
            for n in sizes:
                result = bench_one(n, args, es_url, workdir)
                results.append(result)
                line = json.dumps(result)
                print(line, flush=True)
                if args.output:
                    with args.output.open("a", encoding="utf-8") as out:
                        out.write(line + "\n")
    if len(results) > 1 and args.newsbeam_only:
        small, large = results[0], results[-1]
        print(json.dumps({
            "from_n": small["n"],
            "to_n": large["n"],
            "newsbeam_only": True,
            "cpu_per_article_growth": round(
                (large["cpu_s"] / large["articles"]) / (small["cpu_s"] / small["articles"]), 3),
            "wall_per_article_growth": round(
                (large["wall_s"] / large["articles"]) / (small["wall_s"] / small["articles"]), 3),
        }))  # fmt: skip
    elif len(results) > 1:
        small, large = results[0], results[-1]
        growth = large["newsbeam"]["cpu_s_per_article"] / small["newsbeam"]["cpu_s_per_article"]

        def wall_per_article(result, side):
            return result[side]["wall_s"] / result[side]["articles"]

        nb_wall = wall_per_article(large, "newsbeam") / wall_per_article(small, "newsbeam")
        seq_wall = wall_per_article(large, "sequential") / wall_per_article(small, "sequential")
        print(
            json.dumps(
                {
                    "from_n": small["n"],
                    "to_n": large["n"],
                    # newsbeam's per-article cost at the larger N over the smaller (target <= 1.1)
                    "cpu_per_article_growth": round(growth, 3),
                    "wall_per_article_growth": round(nb_wall, 3),
                    # the same for the sequential script: how much the machine's load moved
                    "sequential_wall_per_article_growth": round(seq_wall, 3),
                }
            )
        )
    if args.plot:
        plot(results, args.plot)
        print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
