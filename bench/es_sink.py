"""Benchmark: WriteToElasticsearch (in a Beam pipeline on the DirectRunner)
against a plain ``helpers.streaming_bulk`` loop over the same documents, in
the same run, into the embedded server (started here on a free port).

    python bench/es_sink.py [--docs N] [--repeats R] [--sweep 100,250,500,1000,2000]

Documents are article-shaped (title, body, urls, source, published) built
from the dedup benchmark's article texts
(``$NEWSBEAM_BENCH_DATA/dedup/data/synthetic_smoke.jsonl``), cycled with
distinct URLs up to ``--docs``.  Two comparisons, each the same operation
on both sides: ``index`` (plain replace) and ``upsert`` (the sink's scripted
upsert; streaming_bulk sends the same update bodies).  Every run writes into
fresh indices; both sides read the same JSON-lines input file (the sink
through ``ReadFromText``, the loop with ``open``); times are the median of ``--repeats`` runs, the two sides
alternating.  The sink's time is the whole pipeline (graph construction,
``Create``, batching, bulk requests), so it carries Beam's fixed overhead.
The same pipeline with a no-op in place of the sink is timed too, so the
sink's own throughput (pipeline time minus that) is printed beside it.
Then a batch-size sweep of the sink (``max_docs``) picks the default.
Fails (exit 2) saying where to get the data when it is absent.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _data_file() -> Path:
    from benchdata import data_root

    root = data_root()
    return root / "dedup" / "data" / "synthetic_smoke.jsonl"


def load_documents(path: Path, n: int) -> list[tuple[str, dict, str]]:
    from newsbeam.transforms.model import doc_id_for_url

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    docs = []
    for i in range(n):
        row = rows[i % len(rows)]
        url = f"https://bench.example/{i // len(rows)}/{row['id']}"
        text = row.get("text") or ""
        docs.append(
            (
                doc_id_for_url(url),
                {
                    "url": url,
                    "canonical_url": url,
                    "urls": [url],
                    "title": row.get("title") or text[:80],
                    "body": text,
                    "published": "2020-06-27T10:00:00Z",
                    "@timestamp": "2020-06-27T10:00:00Z",
                    "source": {"domain": "bench.example", "name": "Bench"},
                    "language": "en",
                },
                url,
            )
        )
    return docs


def write_input(path: Path, index: str, docs, op: str) -> Path:
    """The documents as dead-letter-format JSON lines: the input of both sides."""
    from newsbeam.connectors.es_sink import IndexAction

    with open(path, "w", encoding="utf-8") as out:
        for doc_id, source, url in docs:
            out.write(IndexAction(index, doc_id, source, url=url, op=op).to_json() + "\n")
    return path


def run_streaming_bulk(client, path: Path, op: str, chunk_size: int) -> float:
    from elasticsearch import helpers

    from newsbeam.connectors.es_sink import IndexAction, bulk_lines

    def actions():
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                row = json.loads(line)
                index, doc_id, source = row["index"], row["id"], row["source"]
                if op == "index":
                    yield {"_op_type": "index", "_index": index, "_id": doc_id, "_source": source}
                else:
                    # The very body the sink sends (its script's params change with the sink: a
                    # copy of them here once lacked one, and every item failed).
                    header, body = bulk_lines(IndexAction(index, doc_id, source, op="upsert")).splitlines()
                    meta = json.loads(header)["update"]
                    yield {
                        "_op_type": "update",
                        "_index": meta["_index"],
                        "_id": meta["_id"],
                        "retry_on_conflict": meta["retry_on_conflict"],
                        **json.loads(body),
                    }

    started = time.perf_counter()
    count = sum(1 for _ in open(path, encoding="utf-8"))
    ok = sum(
        1
        for success, _item in helpers.streaming_bulk(
            client, actions(), chunk_size=chunk_size, raise_on_error=False, max_retries=3
        )
        if success
    )
    elapsed = time.perf_counter() - started
    if ok != count:
        raise SystemExit(f"streaming_bulk wrote {ok} of {count} documents")
    return elapsed


def run_empty(path: Path) -> float:
    """The same pipeline with a no-op instead of the sink: Beam's own cost."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from newsbeam.connectors.es_sink import IndexAction

    started = time.perf_counter()
    p = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    _ = p | beam.io.ReadFromText(str(path)) | beam.Map(IndexAction.from_json) | beam.Map(lambda a: None)
    p.run().wait_until_finish()
    return time.perf_counter() - started


def run_sink(settings, path: Path, max_docs: int) -> float:
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    from newsbeam.connectors.es_sink import IndexAction, WriteToElasticsearch

    count = sum(1 for _ in open(path, encoding="utf-8"))
    started = time.perf_counter()
    p = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    _ = (
        p
        | beam.io.ReadFromText(str(path))
        | beam.Map(IndexAction.from_json)
        | WriteToElasticsearch(settings, max_docs=max_docs)
    )
    result = p.run()
    result.wait_until_finish()
    elapsed = time.perf_counter() - started
    written = result.metrics().query(MetricsFilter().with_name("written"))["counters"]
    total = sum(c.committed for c in written)
    if total != count:
        raise SystemExit(f"the sink wrote {total} of {count} documents")
    return elapsed


def fresh_index(client, name: str) -> str:
    client.options(ignore_status=404).indices.delete(index=name)
    client.indices.create(index=name, mappings={"dynamic": "false"}, settings={"number_of_shards": 1})
    return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=20000, help="documents written per run (default 20000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per side, median taken (default 3)")
    parser.add_argument("--chunk", type=int, default=250, help="streaming_bulk chunk_size and sink max_docs")
    parser.add_argument("--sweep", default="100,250,500,1000,2000", help="sink max_docs values to sweep")
    args = parser.parse_args(argv)

    data = _data_file()
    if not data.exists():
        from benchdata import missing

        return missing("bench/es_sink.py", "dedup", data)
    sys.path.insert(0, str(REPO))
    import logging

    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    from newsbeam.config.settings import ElasticsearchSettings
    from newsbeam.connectors.embedded import EmbeddedServer, free_port
    from newsbeam.connectors.es import connect

    docs = load_documents(data, args.docs)
    mb = sum(len(json.dumps(source)) for _i, source, _u in docs) / 1e6
    with tempfile.TemporaryDirectory(prefix="newsbeam-bench-") as state:
        server = EmbeddedServer(port=free_port(), root=Path(state))
        server.start(timeout=60)
        try:
            settings = ElasticsearchSettings(url=server.url, index_prefix="bench", max_retries=3)
            client = connect(settings)
            print(f"{len(docs)} documents, {mb:.1f} MB of JSON, embedded server at {server.url}")
            print(
                f"{'op':<8}{'streaming_bulk docs/s':>24}{'sink docs/s':>14}{'ratio':>8}"
                f"{'beam-only s':>13}{'sink minus beam docs/s':>24}{'ratio':>8}"
            )
            for op in ("index", "upsert"):
                base_t, sink_t, empty_t = [], [], []
                for r in range(args.repeats):
                    sides = ["base", "sink"] if r % 2 == 0 else ["sink", "base"]
                    for side in sides:
                        index = fresh_index(client, f"bench-{op}-{side}-{r}")
                        path = write_input(Path(state) / f"{index}.jsonl", index, docs, op)
                        if side == "base":
                            base_t.append(run_streaming_bulk(client, path, op, args.chunk))
                        else:
                            sink_t.append(run_sink(settings, path, args.chunk))
                            empty_t.append(run_empty(path))
                        client.indices.delete(index=index)
                base_rate = len(docs) / statistics.median(base_t)
                sink_rate = len(docs) / statistics.median(sink_t)
                beam_s = statistics.median(empty_t)
                net_rate = len(docs) / max(1e-9, statistics.median(sink_t) - beam_s)
                print(
                    f"{op:<8}{base_rate:>24.0f}{sink_rate:>14.0f}{sink_rate / base_rate:>8.2f}"
                    f"{beam_s:>13.2f}{net_rate:>24.0f}{net_rate / base_rate:>8.2f}"
                )
            print(f"\nsink batch-size sweep (docs/s, median of {args.repeats}):")
            print(f"{'max_docs':>10}{'index':>10}{'upsert':>10}")
            for size in [int(s) for s in args.sweep.split(",") if s]:
                rates = []
                for op in ("index", "upsert"):
                    times = []
                    for r in range(args.repeats):
                        index = fresh_index(client, f"bench-sweep-{op}-{size}-{r}")
                        path = write_input(Path(state) / f"{index}.jsonl", index, docs, op)
                        times.append(run_sink(settings, path, size))
                        client.indices.delete(index=index)
                    rates.append(len(docs) / statistics.median(times))
                print(f"{size:>10}{rates[0]:>10.0f}{rates[1]:>10.0f}")
            client.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
