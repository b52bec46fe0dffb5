"""The Dask runner's task graph, executed in this process by dask's
synchronous scheduler (no cluster): tagged outputs kept apart, each DoFn
bundle run once however many transforms read its output, grouping by a
hash that does not depend on the process, side inputs, and the Beam
metrics of every bundle merged.  tests/integration/test_dask.py runs the
whole pipeline on a real cluster."""

from __future__ import annotations

import os
import subprocess
import sys

import apache_beam as beam
import pytest

pytest.importorskip("distributed", reason="needs the dask extra: pip install -e '.[dask]'")

from apache_beam.metrics.metric import MetricsFilter

from newsbeam.pipeline import dask_runner

_CALLS: list[int] = []


class _Split(beam.DoFn):
    def process(self, n):
        _CALLS.append(n)
        beam.metrics.Metrics.counter("test", "seen").inc()
        beam.metrics.Metrics.distribution("test", "value").update(n)
        yield beam.pvalue.TaggedOutput("odd" if n % 2 else "even", n)

    def finish_bundle(self):
        from apache_beam.transforms.window import GlobalWindow
        from apache_beam.utils.windowed_value import WindowedValue

        yield WindowedValue(-1, 0, [GlobalWindow()])  # to the main output


def _graph(pipeline, partitions=3):
    from apache_beam.runners.dask.overrides import dask_overrides

    pipeline.replace_all(dask_overrides())
    readers = dask_runner._Readers()
    pipeline.visit(readers)
    graph = dask_runner._Graph(partitions, None)
    graph.readers = readers.readers
    pipeline.visit(graph)
    return graph


def _run(graph, targets, metrics, pcolls):
    """Everything in one synchronous run: the leaf counts, the metrics and each of ``pcolls``."""
    from dask.local import get_sync

    keys = [*targets, metrics, *(list(graph.parts[pcoll]) for pcoll in pcolls)]
    results = get_sync(graph.dsk, keys)
    values = [[v for part in parts for v in part] for parts in results[len(targets) + 1 :]]
    return results[len(targets)], values


def test_graph_keeps_tags_apart_runs_each_bundle_once_and_collects_metrics():
    _CALLS.clear()
    p = beam.Pipeline()
    split = p | beam.Create(range(10)) | beam.ParDo(_Split()).with_outputs("odd", "even", main="marker")
    doubled = split.even | "Double" >> beam.Map(lambda n: 2 * n)  # fused into the split's task
    also = split.even | "AlsoEven" >> beam.Map(lambda n: n)  # a second reader of the same output
    grouped = (
        split.odd
        | "Key" >> beam.Map(lambda n: (f"k{n % 3}", n))
        | beam.GroupByKey()
        | "Sort" >> beam.MapTuple(lambda k, vs: (k, sorted(vs)))
    )
    total = split.odd | "Sum" >> beam.CombineGlobally(sum)
    with_side = doubled | "Plus" >> beam.Map(lambda n, t: n + t, beam.pvalue.AsSingleton(total))
    graph = _graph(p)
    targets, metrics = graph.finish()
    updates, (even, also_even, marker, groups, plus) = _run(
        graph, targets, metrics, [split.even, also, split.marker, grouped, with_side]
    )
    assert sorted(_CALLS) == list(range(10))  # each element through the DoFn once
    assert sorted(even) == sorted(also_even) == [0, 2, 4, 6, 8]
    assert marker == [-1, -1, -1]  # finish_bundle output, one per partition
    assert sorted(groups) == [("k0", [3, 9]), ("k1", [1, 7]), ("k2", [5])]
    assert sorted(plus) == [25, 29, 33, 37, 41]

    merged = dask_runner._DaskMetrics(updates).query(MetricsFilter().with_namespace("test"))
    assert [(r.key.metric.name, r.committed) for r in merged["counters"]] == [("seen", 10)]
    dist = merged["distributions"][0].committed
    assert (dist.count, dist.sum, dist.min, dist.max) == (10, 45, 0, 9)


def test_shuffle_hash_is_the_same_in_every_process():
    keys = ["https://a.example", ("band", 3, b"x"), 42]
    here = [dask_runner._stable_hash(k) for k in keys]
    code = f"from newsbeam.pipeline import dask_runner as d; print([d._stable_hash(k) for k in {keys!r}])"
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.strip() == repr(here)
