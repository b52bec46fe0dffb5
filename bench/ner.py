"""Benchmark: entity tagging inside Beam against bare spaCy, and NER's share of CPU.

    python bench/ner.py [--data DIR] [--copies N] [--batch-size B] [--model NAME]

Texts: the seed wire story plus the human-labelled article bodies of the
extraction benchmark (``<data>/extraction/ground_truth.jsonl``), ``--copies``
times over.  In one run, side by side, it measures:

1. bare ``nlp.pipe`` over the texts (the same NER-only pipeline, the same
   chunking and normalization, via ``tag_texts``) and ``TagEntities`` on the
   DirectRunner (in-memory, one worker) over the same texts as ``Article``s;
   both include loading the model once, as a worker does.  Figures are
   articles per CPU second of this process (per core: the runner is
   single-threaded here) and per wall second; the ratio Beam/bare is the
   figure of merit (target >= 0.9).
2. the project's extraction leaf (``extract_article``, trafilatura) on the
   corresponding HTML pages (``<data>/extraction/html/<id>.html``) against NER
   on the extracted bodies of those pages: CPU ms per article each, and NER's
   share of the two.
3. ``entities_from_cluster`` on the same bodies with their own entities (the
   cost a syndicated copy pays instead of NER).

The data directory defaults to ``$NEWSBEAM_BENCH_DATA`` or
``<repo>/.bench-data``; without it the script fails (exit 2) saying where to get it
(bench/benchdata.py).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
SEED = REPO / "tests" / "fixtures" / "seed" / "wire-story.txt"


def _default_data() -> pathlib.Path:
    from benchdata import data_root

    return data_root()


def _load_texts(data: pathlib.Path) -> list[tuple[str, str]]:
    rows = [
        json.loads(line)
        for line in (data / "extraction" / "ground_truth.jsonl").read_text("utf-8").splitlines()
        if line.strip()
    ]
    texts = [(row["id"], row["articleBody"]) for row in rows if row.get("articleBody")]
    if SEED.exists():
        texts.insert(0, ("seed", SEED.read_text("utf-8")))
    return texts


def _clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    cpu, wall = _clock()
    return cpu - start[0], wall - start[1]


def bench_bare(model: str, texts: list[str], batch_size: int) -> tuple[float, float, list]:
    from newsbeam.transforms.entities import _load_pipeline, tag_texts

    start = _clock()
    nlp = _load_pipeline(model).nlp
    tagged = tag_texts(nlp, texts, batch_size=batch_size)
    cpu, wall = _since(start)
    return cpu, wall, tagged


def bench_beam(model: str, texts: list[str], batch_size: int) -> tuple[float, float, int]:
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    from newsbeam.transforms.entities import TagEntities
    from newsbeam.transforms.model import Article

    articles = [
        Article(
            id=str(i),
            url=f"https://bench.example/{i}",
            canonical_url=f"https://bench.example/{i}",
            urls=(),
            title=None,
            body=text,
            language="en",
        )
        for i, text in enumerate(texts)
    ]
    options = PipelineOptions(
        flags=[], runner="DirectRunner", direct_num_workers=1, direct_running_mode="in_memory"
    )
    start = _clock()
    pipeline = beam.Pipeline(options=options)
    _ = pipeline | beam.Create(articles, reshuffle=False) | TagEntities(model=model, batch_size=batch_size)
    result = pipeline.run()
    result.wait_until_finish()
    cpu, wall = _since(start)
    tagged = result.metrics().query(MetricsFilter().with_name("tagged"))["counters"]
    return cpu, wall, sum(c.committed for c in tagged)


def bench_extraction(data: pathlib.Path, ids: list[str]) -> list[tuple[float, str]]:
    from newsbeam.transforms.extraction import extract_article

    out = []
    for doc_id in ids:
        path = data / "extraction" / "html" / f"{doc_id}.html"
        if not path.exists():
            continue
        html = path.read_bytes()
        start = time.process_time()
        result = extract_article(html, None)
        out.append((time.process_time() - start, result.body))
    return out


def main(argv: list[str] | None = None) -> int:
    from newsbeam.config.settings import NerSettings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        type=pathlib.Path,
        default=_default_data(),
        help="data root holding extraction/ (default: %(default)s)",
    )
    parser.add_argument("--copies", type=int, default=2, help="times over the texts (default 2)")
    # The shipped ner.batch_size: a benchmark's figures hold for the defaults (it was 32 against
    # the shipped 8, the fastest of bench/throughput.py --ner-batch-sweep).
    parser.add_argument(
        "--batch-size",
        type=int,
        default=NerSettings().batch_size,
        help="articles per nlp.pipe call (default: ner.batch_size, %(default)s)",
    )
    parser.add_argument("--model", default=None, help="ner.model (default: resolved)")
    parser.add_argument("--extraction-pages", type=int, default=60, help="pages for part 2")
    args = parser.parse_args(argv)

    if not (args.data / "extraction" / "ground_truth.jsonl").exists():
        from benchdata import missing

        return missing("bench/ner.py", "extraction", args.data / "extraction")
    try:
        from newsbeam.transforms.entities import ModelUnavailableError, resolve_model_name

        model = resolve_model_name(args.model)
    except (ImportError, ModelUnavailableError) as err:
        print(f"FAIL bench/ner.py: {err}", file=sys.stderr)
        return 1

    base = _load_texts(args.data)
    texts = [text for _, text in base] * args.copies
    words = sum(len(t.split()) for t in texts)
    print(
        f"model {model}; {len(texts)} articles ({len(base)} texts x {args.copies}), "
        f"{words / len(texts):.0f} words on average; batch size {args.batch_size}"
    )

    # Warm the interpreter's imports once so neither side pays them.
    bench_bare(model, texts[:2], args.batch_size)
    bench_beam(model, texts[:2], args.batch_size)

    # Interleave to spread drift from other load on the machine over both sides.
    bare_runs, beam_runs = [], []
    for _ in range(2):
        cpu, wall, _ = bench_bare(model, texts, args.batch_size)
        bare_runs.append((cpu, wall))
        cpu, wall, count = bench_beam(model, texts, args.batch_size)
        assert count == len(texts), (count, len(texts))
        beam_runs.append((cpu, wall))
    bare_cpu = min(r[0] for r in bare_runs)
    beam_cpu = min(r[0] for r in beam_runs)
    bare_wall = min(r[1] for r in bare_runs)
    beam_wall = min(r[1] for r in beam_runs)
    n = len(texts)
    print("\n1. NER throughput (best of 2, model load included once)")
    print(
        f"   bare nlp.pipe      : {n / bare_cpu:7.1f} articles/CPU-s   {n / bare_wall:7.1f} articles/s wall"
    )
    print(
        f"   TagEntities (Beam) : {n / beam_cpu:7.1f} articles/CPU-s   {n / beam_wall:7.1f} articles/s wall"
    )
    print(
        f"   ratio Beam/bare    : {bare_cpu / beam_cpu:7.3f} (CPU)          "
        f"{bare_wall / beam_wall:7.3f} (wall)   target >= 0.9"
    )
    print(f"   NER CPU per article: {1000 * bare_cpu / n:.1f} ms bare, {1000 * beam_cpu / n:.1f} ms in Beam")

    ids = [doc_id for doc_id, _ in base if doc_id != "seed"][: args.extraction_pages]
    extracted = bench_extraction(args.data, ids)
    bodies = [body for _, body in extracted if body]
    extraction_ms = [1000 * cpu for cpu, _ in extracted]
    from newsbeam.transforms.entities import _load_pipeline, entities_from_cluster, tag_texts

    nlp = _load_pipeline(model).nlp
    ner_ms, reuse_ms = [], []
    for body in bodies:
        start = time.process_time()
        (tagged,) = tag_texts(nlp, [body])
        ner_ms.append(1000 * (time.process_time() - start))
        start = time.process_time()
        entities_from_cluster(body, tagged)
        reuse_ms.append(1000 * (time.process_time() - start))
    ext_mean, ner_mean = statistics.fmean(extraction_ms), statistics.fmean(ner_ms)
    print(
        f"\n2. Per-article CPU on {len(extracted)} extraction-benchmark pages "
        f"({len(bodies)} with a body), one article at a time"
    )
    print(
        f"   extraction (extract_article/trafilatura): mean {ext_mean:6.1f} ms, "
        f"median {statistics.median(extraction_ms):6.1f} ms"
    )
    print(
        f"   NER on the extracted body               : mean {ner_mean:6.1f} ms, "
        f"median {statistics.median(ner_ms):6.1f} ms"
    )
    print(
        f"   NER share of extraction+NER CPU: {ner_mean / (ext_mean + ner_mean):.1%}; "
        f"NER/extraction = {ner_mean / ext_mean:.2f}x"
    )
    reuse_mean = statistics.fmean(reuse_ms)
    print(
        f"\n3. A copy taking its cluster's entities (entities_from_cluster): mean {reuse_mean:.2f} ms"
        f" per article, {ner_mean / reuse_mean:.0f}x cheaper than tagging it"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
