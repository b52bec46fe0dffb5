"""Beam's DaskRunner, rebuilt on a plain Dask task graph for newsbeam's pipeline.

Beam's ``apache_beam.runners.dask.dask_runner.DaskRunner`` (2.77) translates
the graph to ``dask.bag`` operations, but:

* a ``ParDo`` with tagged outputs (``with_outputs``) hands every output,
  whatever its tag, to every consumer: the feed stage's ``FeedStatus``
  records would reach the URL stage;
* only the bag of the *last* transform is computed, so a branch that does
  not lead to it (the failures sink, the feed-status sink) never runs;
* what a ``DoFn`` emits in ``finish_bundle`` is dropped;
* a ``DoFn`` whose output several transforms read runs once per reader
  (dask fuses the bag operations into each of them): the feeds of a run
  were polled twenty times;
* ``beam.Create`` puts up to 128 elements in one partition, so a run's few
  feeds, and every stage after them, run as one task on one worker;
* side inputs given as arguments reach the ``DoFn`` as ``AsList``/... objects;
* it reports no metrics (``metrics()`` raises ``NotImplementedError``).

This runner keeps Beam's overrides (``Create``, ``GroupByKey``, ``Flatten``,
``Reshuffle``) and builds the task graph itself, one task per partition and
stage, each computed once:

* a stage task runs one bundle of a ``ParDo`` and of the ParDos fused
  into it (one that alone reads an output of the stage, without side
  inputs, gets each element as it is emitted, as on Beam's other runners:
  no task and no transfer between workers for the steps between two
  shuffles)
  and returns the outputs no step of the stage reads, by step and tag
  (``finish_bundle`` included), with the bundle's Beam metrics;
* ``GroupByKey`` and ``Reshuffle`` are shuffles by a stable hash of the key
  (Beam's deterministic coder, not the per-process ``hash``);
* every stage has as many partitions as the cluster has worker threads
  (``--dask_npartitions`` to choose), ``Create`` included;
* a worker process keeps a ``DoFn`` instance once set up and reuses it for
  the next bundle of the same stage (Beam's contract: ``setup`` once per
  instance, one bundle at a time), so models and clients are loaded once
  per worker process, not once per task; instances of earlier runs are
  torn down when a later run's bundles arrive;
* every ``PCollection`` no transform consumes is computed (only a count
  comes back to the client), and the run's metrics are merged from every
  bundle into ``result.metrics()`` (counters, distributions, gauges, as
  attempted values: a bundle dask retried counts twice).

``--runner DaskRunner`` selects it (``pipeline/runners.py``); options are
Beam's ``DaskOptions`` (``--dask_client_address``, ...).
"""

from __future__ import annotations

import contextlib
import threading
import uuid
import zlib

from apache_beam import pvalue
from apache_beam.metrics.metric import MetricResults
from apache_beam.pipeline import PipelineVisitor
from apache_beam.runners.common import Receiver
from apache_beam.runners.dask import dask_runner as _beam_dask
from apache_beam.runners.dask import overrides as _ov
from apache_beam.runners.dask import transform_evaluator as _te
from apache_beam.transforms.sideinputs import SideInputMap

__all__ = ["DaskRunner", "local_cluster"]

_MAIN = "__main__"
_METRICS = "__newsbeam_metrics__"


class _Box:
    """An opaque value in a task (dask looks into tuples, lists and dicts of a
    task for keys and tasks of its own)."""

    def __init__(self, value):
        self.value = value


class _Receiver(Receiver):
    def __init__(self, tag, receivers: _Receivers):
        self._tag = tag
        self._receivers = receivers

    def receive(self, windowed_value):
        route = self._receivers.routes.get(self._tag)
        if route is not None:
            route(windowed_value)
        else:
            self._receivers.outputs.setdefault(self._tag, []).append(windowed_value.value)


class _Receivers(dict):
    """Receivers by tag, writing into ``outputs`` (a new dict for each bundle)
    or, for a tag in ``routes``, handing each value to the next DoFn of the
    fused stage."""

    def __init__(self):
        super().__init__()
        self.outputs: dict = {}
        self.routes: dict = {}

    def __missing__(self, key):
        receiver = self[key] = _Receiver(_MAIN if key is None else key, self)
        return receiver


class _Step:
    """One ParDo of a fused stage: what its DoFn needs besides its input."""

    def __init__(self, run, token, fn, window_fn, side_specs, args, kwargs, label):
        self.run = run
        self.token = token
        self.fn = fn
        self.window_fn = window_fn
        self.side_specs = side_specs
        self.args = args
        self.kwargs = kwargs
        self.label = label


class _Instance:
    """A set-up DoFn with its invoker and receivers."""

    def __init__(self, step: _Step, side_values):
        from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, _OutputHandler
        from apache_beam.transforms.core import DoFn

        side_inputs = [
            SideInputMap(view_class, view_options, _te.DaskBagWindowedIterator(values, mapping_fn))
            for (view_class, view_options, mapping_fn), values in zip(step.side_specs, side_values)
        ] or None
        self.receivers = receivers = _Receivers()
        self.invoker = DoFnInvoker.create_invoker(
            DoFnSignature(step.fn),
            _OutputHandler(
                window_fn=step.window_fn,
                main_receivers=receivers[None],
                tagged_receivers=receivers,
                per_element_output_counter=None,
                output_batch_converter=None,
                process_yields_batches=False,
                process_batch_yields_elements=False,
            ),
            context=DoFnContext(step.label, state=None),
            side_inputs=side_inputs,
            input_args=step.args,
            input_kwargs=step.kwargs,
            user_state_context=None,
            bundle_finalizer_param=DoFn.BundleFinalizerParam(),
        )
        self.invoker.invoke_setup()


class _Pool:
    """This worker process's set-up DoFn instances: idle ones by step token,
    for the runs seen most recently; those of older runs are torn down."""

    KEEP_RUNS = 2

    def __init__(self):
        self._lock = threading.Lock()
        self._idle: dict[str, list[_Instance]] = {}
        self._runs: list[str] = []  # most recent last
        self._run_of: dict[str, str] = {}

    def take(self, step: _Step, side_values) -> _Instance:
        stale: list[_Instance] = []
        with self._lock:
            if step.run not in self._runs:
                self._runs.append(step.run)
                for old in self._runs[: -self.KEEP_RUNS]:
                    for token in [t for t, r in self._run_of.items() if r == old]:
                        stale.extend(self._idle.pop(token, []))
                        del self._run_of[token]
                self._runs = self._runs[-self.KEEP_RUNS :]
            self._run_of[step.token] = step.run
            idle = self._idle.get(step.token)
            instance = idle.pop() if idle else None
        for old_instance in stale:
            with contextlib.suppress(Exception):
                old_instance.invoker.invoke_teardown()
        return instance or _Instance(step, side_values)

    def give_back(self, step: _Step, instance: _Instance) -> None:
        with self._lock:
            if step.run in self._runs:
                self._idle.setdefault(step.token, []).append(instance)
                return
        instance.invoker.invoke_teardown()


_POOL = _Pool()


def _metric_updates(container) -> list:
    """A bundle's metrics as plain tuples: (kind, step, namespace, name, value)."""
    cumulative = container.get_cumulative()
    out = []
    for kind, values in (
        ("counters", cumulative.counters),
        ("distributions", cumulative.distributions),
        ("gauges", cumulative.gauges),
    ):
        for key, value in values.items():
            out.append((kind, key.step, key.metric.namespace, key.metric.name, value))
    return out


class _Fused:
    """ParDos run in one task per partition, each feeding the next as Beam's
    runners fuse them: ``links`` maps (step, tag) to the step that reads it."""

    def __init__(self, name: str):
        self.name = name
        self.steps: list[_Step] = []
        self.links: dict = {}
        self.side_keys: list = []
        self.inputs: list = []  # partition keys of the first step's input


def _run_stage(fused: _Box, items, *side_values):
    """One partition through a fused stage: {(step, tag): [values]} for every
    output no step of the stage reads (``finish_bundle`` included), and the
    bundle's metrics under ``_METRICS``.  ``side_values``: each step's side
    inputs' elements, in order."""
    from apache_beam.metrics.execution import MetricsContainer
    from apache_beam.runners.worker import statesampler
    from apache_beam.utils.counters import CounterFactory

    fused = fused.value
    steps = fused.steps
    sides, at = [], 0
    for step in steps:
        sides.append(side_values[at : at + len(step.side_specs)])
        at += len(step.side_specs)
    # A new tracker per bundle: a tracker keeps the first container it was
    # given for a (step, state), which would take the next bundles' metrics.
    previous = statesampler.get_current_tracker()
    tracker = statesampler.StateSampler("", CounterFactory())
    statesampler.set_current_tracker(tracker)
    containers = [MetricsContainer(step.label) for step in steps]
    states = [
        tracker.scoped_state(step.label, "process", metrics_container=container)
        for step, container in zip(steps, containers)
    ]
    instances: list[_Instance] = []

    def forward(j):
        invoker, state = None, states[j]

        def receive(windowed_value):
            nonlocal invoker
            invoker = invoker or instances[j].invoker
            with state:
                invoker.invoke_process(windowed_value)

        return receive

    try:
        for k, step in enumerate(steps):
            with states[k]:
                instances.append(_POOL.take(step, sides[k]))
        for k, instance in enumerate(instances):
            instance.receivers.outputs = {}
            instance.receivers.routes = {tag: forward(j) for (kk, tag), j in fused.links.items() if kk == k}
        for k in reversed(range(len(steps))):
            with states[k]:
                instances[k].invoker.invoke_start_bundle()
        with states[0]:
            invoker, window_fn = instances[0].invoker, steps[0].window_fn
            for item in items:
                invoker.invoke_process(_te.get_windowed_value(item, window_fn))
        for k in range(len(steps)):
            with states[k]:
                instances[k].invoker.invoke_finish_bundle()
    except BaseException:
        # A failed bundle's instances are not reused (dask may retry the task).
        for instance in instances:
            with contextlib.suppress(Exception):
                instance.invoker.invoke_teardown()
        raise
    finally:
        statesampler.set_current_tracker(previous)
    result: dict = {}
    for k, (step, instance) in enumerate(zip(steps, instances)):
        for tag, values in instance.receivers.outputs.items():
            result[(k, tag)] = values
        instance.receivers.outputs, instance.receivers.routes = {}, {}
        _POOL.give_back(step, instance)
    result[_METRICS] = [update for container in containers for update in _metric_updates(container)]
    return result


def _output(outputs: dict, tag) -> list:
    return outputs.get(tag, [])


def _items(box: _Box) -> list:
    return box.value


def _concat(parts: list) -> list:
    return [item for part in parts for item in part]


def _stable_hash(key) -> int:
    from apache_beam.coders.coders import FastPrimitivesCoder

    return zlib.crc32(FastPrimitivesCoder().encode(key))


def _split_by_key(items, parts: int) -> list[list]:
    out: list[list] = [[] for _ in range(parts)]
    for item in items:
        out[_stable_hash(item[0]) % parts].append(item)
    return out


def _split_round_robin(items, parts: int, offset: int) -> list[list]:
    out: list[list] = [[] for _ in range(parts)]
    for i, item in enumerate(items):
        out[(i + offset) % parts].append(item)
    return out


def _pick(parts: list, index: int) -> list:
    return parts[index]


def _group(pieces: list) -> list:
    """One shuffle partition: (key, [values]) per key, as Beam's translation."""
    groups: dict = {}
    for piece in pieces:
        for key, value in piece:
            groups.setdefault(key, []).append(_te.defenestrate(value))
    return list(groups.items())


def _merge_metrics(parts: list) -> list:
    return [update for part in parts for update in part]


class _DaskMetrics(MetricResults):
    """The metrics of every bundle of a run, merged by step and name."""

    def __init__(self, updates: list):
        from apache_beam.metrics.execution import MetricKey
        from apache_beam.metrics.metricbase import MetricName

        merged: dict = {"counters": {}, "distributions": {}, "gauges": {}}
        for kind, step, namespace, name, value in updates:
            key = MetricKey(step, MetricName(namespace, name))
            table = merged[kind]
            if key in table:
                table[key] = table[key] + value if kind == "counters" else table[key].combine(value)
            else:
                table[key] = value
        self._merged = merged

    def query(self, filter=None):
        from apache_beam.metrics.cells import DistributionResult, GaugeResult
        from apache_beam.metrics.execution import MetricResult

        def results(kind, wrap):
            return [
                MetricResult(key, wrap(value), wrap(value))
                for key, value in self._merged[kind].items()
                if self.matches(filter, key)
            ]

        return {
            self.COUNTERS: results("counters", lambda v: v),
            self.DISTRIBUTIONS: results("distributions", DistributionResult),
            self.GAUGES: results("gauges", GaugeResult),
            self.STRINGSETS: [],
            self.BOUNDED_TRIES: [],
        }


class _Readers(PipelineVisitor):
    """How many transforms read each PCollection (as main or side input)."""

    def __init__(self):
        self.readers: dict = {}

    def visit_transform(self, node) -> None:
        for pcoll in [*node.inputs, *(si.pvalue for si in node.side_inputs)]:
            if not isinstance(pcoll, pvalue.PBegin):
                self.readers[pcoll] = self.readers.get(pcoll, 0) + 1


class _Graph(PipelineVisitor):
    """Builds the run's task graph: each PCollection is a list of partition keys."""

    def __init__(self, partitions: int, create_partition_size: int | None):
        self.partitions = max(1, partitions)
        self.create_partition_size = create_partition_size
        self.run = uuid.uuid4().hex[:12]
        self.dsk: dict = {}
        self.parts: dict = {}  # PCollection → [key]
        self.consumed: set = set()
        self.order: list = []
        self.metric_keys: list = []
        self.produced: dict = {}  # PCollection → (fused stage, step, tag) that computes it
        self.readers: dict = {}  # PCollection → how many transforms read it (main or side input)
        self._n = 0

    def _name(self, kind: str, label: str) -> str:
        self._n += 1
        return f"{kind}-{label}-{self.run}-{self._n}"

    def visit_transform(self, node) -> None:
        import apache_beam as beam

        transform = node.transform
        inputs = [i for i in node.inputs if not isinstance(i, pvalue.PBegin)]
        self.consumed.update(inputs)
        for si in node.side_inputs:
            self.consumed.add(si.pvalue)
        in_parts = [key for pcoll in inputs for key in self.parts[pcoll]]
        label = node.full_label
        if isinstance(transform, _ov._GroupAlsoByWindow):
            # After the shuffle, values are grouped already (global windows, as Beam's runner).
            outputs = {None: in_parts}
        elif isinstance(transform, beam.ParDo):
            outputs = self._pardo(node, in_parts)
        elif isinstance(transform, _ov._Create):
            outputs = {None: self._create(transform.values, label)}
        elif isinstance(transform, _ov._GroupByKeyOnly):
            outputs = {None: self._shuffle(in_parts, label, by_key=True)}
        elif isinstance(transform, _ov._Reshuffle):
            outputs = {None: self._shuffle(in_parts, label, by_key=False)}
        elif isinstance(transform, _ov._Flatten) or len(inputs) == 1:
            outputs = {None: in_parts}
        else:
            raise NotImplementedError(
                f"the Dask runner cannot run {label!r} ({type(transform).__name__}): no translation for it"
            )
        for tag, pcoll in node.outputs.items():
            self.parts[pcoll] = outputs[tag] if tag in outputs else outputs[None]
            self.order.append(pcoll)

    def _create(self, values, label: str) -> list:
        values = list(values)
        size = self.create_partition_size
        count = -(-len(values) // size) if size else min(self.partitions, len(values))
        count = max(1, count)
        name = self._name("create", label)
        keys = []
        for i in range(count):
            self.dsk[(name, i)] = (_items, _Box(values[i::count]))
            keys.append((name, i))
        return keys

    def _shuffle(self, in_parts: list, label: str, by_key: bool) -> list:
        out = self.partitions
        split, pick, group = (self._name(kind, label) for kind in ("split", "pick", "group"))
        for i, key in enumerate(in_parts):
            if by_key:
                self.dsk[(split, i)] = (_split_by_key, key, out)
            else:
                self.dsk[(split, i)] = (_split_round_robin, key, out, i)
            for j in range(out):
                self.dsk[(pick, i, j)] = (_pick, (split, i), j)
        keys = []
        for j in range(out):
            pieces = [(pick, i, j) for i in range(len(in_parts))]
            self.dsk[(group, j)] = (_group, pieces) if by_key else (_concat, pieces)
            keys.append((group, j))
        return keys

    def _pardo(self, node, in_parts: list) -> dict:
        transform = node.transform
        # With placeholders where side inputs go (raw_side_inputs has the AsList… objects).
        args, kwargs = transform.args, transform.kwargs
        main_input = next(iter(node.main_inputs.values()))
        window_fn = main_input.windowing.windowfn if hasattr(main_input, "windowing") else None
        side_keys = []
        specs = []
        for si in node.side_inputs:
            specs.append((type(si), si._view_options(), si._window_mapping_fn))
            side_name = self._name("side", node.full_label)
            self.dsk[side_name] = (_concat, list(self.parts[si.pvalue]))
            side_keys.append(side_name)
        step = _Step(
            self.run,
            self._name("step", node.full_label),
            transform.fn,
            window_fn,
            specs,
            list(args),
            kwargs,
            node.full_label,
        )
        source = self.produced.get(main_input)
        if source is not None and self.readers.get(main_input) == 1 and not specs:
            # The only reader of another stage's output: runs in that stage's task
            # (not with side inputs, which might come from that stage).
            fused, k, tag = source
            for key in self.parts[main_input]:
                del self.dsk[key]
            fused.links[(k, tag)] = len(fused.steps)
        else:
            fused = _Fused(self._name("stage", node.full_label))
            fused.inputs = list(in_parts)
            metrics = self._name("metrics", node.full_label)
            for i in range(len(in_parts)):
                self.dsk[(metrics, i)] = (_output, (fused.name, i), _METRICS)
                self.metric_keys.append((metrics, i))
        fused.steps.append(step)
        fused.side_keys.extend(side_keys)
        box = _Box(fused)
        for i, key in enumerate(fused.inputs):
            self.dsk[(fused.name, i)] = (_run_stage, box, key, *fused.side_keys)
        index = len(fused.steps) - 1
        outputs = {}
        for tag in node.outputs:
            out_name = self._name("out", f"{node.full_label}.{tag}")
            result_tag = (index, _MAIN if tag is None else tag)
            keys = []
            for i in range(len(fused.inputs)):
                self.dsk[(out_name, i)] = (_output, (fused.name, i), result_tag)
                keys.append((out_name, i))
            outputs[tag] = keys
            self.produced[node.outputs[tag]] = (fused, *result_tag)
        return outputs

    def finish(self) -> tuple[list, str]:
        """Keys to compute: a count per partition of every unconsumed
        PCollection, and the merged metrics (last)."""
        targets = []
        seen = set()
        for pcoll in self.order:
            if pcoll in self.consumed:
                continue
            for key in self.parts[pcoll]:
                if key in seen:
                    continue
                seen.add(key)
                count = self._name("count", "leaf")
                self.dsk[count] = (len, key)
                targets.append(count)
        metrics = self._name("metrics", "all")
        self.dsk[metrics] = (_merge_metrics, list(self.metric_keys))
        return targets, metrics


class _Result(_beam_dask.DaskRunnerResult):
    """The run's futures (the last: its merged metrics); closes the client
    once the run has ended (Beam's leaves it open)."""

    def wait_until_finish(self, duration=None):
        try:
            state = super().wait_until_finish(duration)
        except BaseException:
            self.client.close()
            raise
        if duration is None or self._state in ("DONE", "FAILED", "CANCELLED"):
            self._metrics = _DaskMetrics(self.futures[-1].result())
            self.client.close()
        return state

    def metrics(self):
        metrics = getattr(self, "_metrics", None)
        if metrics is None:
            raise RuntimeError("the run's metrics are known once it has finished (wait_until_finish)")
        return metrics


class DaskRunner(_beam_dask.DaskRunner):
    """Executes a pipeline on a Dask distributed cluster (see the module doc)."""

    def run_pipeline(self, pipeline, options):
        import dask.distributed as ddist
        from apache_beam.runners.dask.overrides import dask_overrides

        dask_options = options.view_as(_beam_dask.DaskOptions).get_all_options(
            drop_default=True, current_only=True
        )
        bag_kwargs = _beam_dask.DaskOptions._extract_bag_kwargs(dask_options)
        try:
            client = ddist.Client(**dask_options)
        except OSError as exc:  # was "unexpected error: OSError: Timed out trying to connect ..."
            from newsbeam.pipeline.run import RunFailed

            address = dask_options.get("address") or "the local cluster"
            raise RunFailed(
                f"cannot reach the Dask scheduler at {address} (--dask_client_address): {exc}; "
                "nothing was fetched in this wave"
            ) from None
        try:
            partitions = bag_kwargs.get("npartitions") or sum(client.nthreads().values())
            pipeline.replace_all(dask_overrides())
            graph = _Graph(partitions, bag_kwargs.get("partition_size"))
            readers = _Readers()
            pipeline.visit(readers)
            graph.readers = readers.readers
            pipeline.visit(graph)
            targets, metrics = graph.finish()
            futures = client.get(graph.dsk, [*targets, metrics], sync=False)
        except BaseException:
            client.close()
            raise
        return _Result(client, futures)


@contextlib.contextmanager
def local_cluster(workers: int = 2, threads: int = 1, work_dir: str | None = None, timeout: float = 60):
    """A ``dask scheduler`` and ``workers`` worker processes on 127.0.0.1 (for
    tests and benchmarks); yields the scheduler address.  Every process is
    stopped (its whole process group) on exit, also after an error."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import tempfile
    import time
    from pathlib import Path

    from distributed import Client

    def stop(proc):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                return
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=10)
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                continue

    dask = str(Path(sys.executable).with_name("dask"))
    # Worker processes are daemons by default, and daemons may not start
    # processes of their own (multiprocessing, used by some libraries newsbeam loads).
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    with tempfile.TemporaryDirectory(prefix="newsbeam-dask-", dir=work_dir) as tmp:
        scheduler_file = Path(tmp) / "scheduler.json"
        log_path = Path(tmp) / "dask.log"
        procs: list = []
        with log_path.open("wb") as log:

            def start(cmd):
                procs.append(
                    subprocess.Popen(
                        cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
                    )
                )

            try:
                start(
                    [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
                    + ["--scheduler-file", str(scheduler_file)]
                )
                deadline = time.monotonic() + timeout
                while not scheduler_file.exists():
                    if procs[0].poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"dask scheduler did not start: {log_path.read_text()[-2000:]}")
                    time.sleep(0.1)
                address = json.loads(scheduler_file.read_text())["address"]
                start(
                    [dask, "worker", address, "--nworkers", str(workers), "--nthreads", str(threads)]
                    + ["--host", "127.0.0.1", "--no-dashboard", "--local-directory", tmp]
                )
                with Client(address, timeout=timeout) as client:
                    client.wait_for_workers(workers, timeout=timeout)
                yield address
            finally:
                for proc in reversed(procs):
                    stop(proc)
