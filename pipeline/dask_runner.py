"""Beam's DaskRunner with the fixes newsbeam's graph needs.

Beam's ``apache_beam.runners.dask.dask_runner.DaskRunner`` (2.77) translates
the graph to ``dask.bag`` operations, but:

* a ``ParDo`` with tagged outputs (``with_outputs``) hands every output,
  whatever its tag, to every consumer: the feed stage's ``FeedStatus``
  records would reach the URL stage;
* only the bag of the *last* transform is computed, so a branch that does
  not lead to it (the failures sink, the feed-status sink) never runs;
* what a ``DoFn`` emits in ``finish_bundle`` is dropped.

This runner keeps Beam's translations for everything else and fixes those:
each ``ParDo`` partition returns ``(tag, value)`` pairs (``finish_bundle``
included) and each output ``PCollection`` gets the bag of its tag; every
``PCollection`` no transform consumes is computed.  ``--runner DaskRunner``
selects it (``pipeline/runners.py``); options are Beam's ``DaskOptions``
(``--dask_client_address``, ...).
"""

from __future__ import annotations

import contextlib

from apache_beam import pvalue
from apache_beam.pipeline import PipelineVisitor
from apache_beam.runners.common import Receiver
from apache_beam.runners.dask import dask_runner as _beam_dask
from apache_beam.runners.dask import transform_evaluator as _te
from apache_beam.transforms.sideinputs import SideInputMap

__all__ = ["DaskRunner", "local_cluster"]

_MAIN = "__main__"


class _Receiver(Receiver):
    def __init__(self, tag, out: list):
        self._tag = tag
        self._out = out

    def receive(self, windowed_value):
        self._out.append((self._tag, windowed_value.value))


class _Receivers(dict):
    def __init__(self, out: list):
        super().__init__()
        self.out = out

    def __missing__(self, key):
        receiver = self[key] = _Receiver(_MAIN if key is None else key, self.out)
        return receiver


def _run_bundle(items, fn, window_fn, side_specs, args, kwargs, label, *side_values):
    """One dask partition through the DoFn: ``(tag, value)`` for every output.

    ``side_values``: each side input's elements, computed by dask before this
    task runs (Beam's runner computed them inside the task, from the worker,
    which needs the whole upstream graph to be serializable there)."""
    from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, _OutputHandler
    from apache_beam.transforms.core import DoFn

    side_inputs = [
        SideInputMap(view_class, view_options, _te.DaskBagWindowedIterator(values, mapping_fn))
        for (view_class, view_options, mapping_fn), values in zip(side_specs, side_values)
    ] or None

    out: list = []
    receivers = _Receivers(out)
    invoker = DoFnInvoker.create_invoker(
        DoFnSignature(fn),
        _OutputHandler(
            window_fn=window_fn,
            main_receivers=receivers[None],
            tagged_receivers=receivers,
            per_element_output_counter=None,
            output_batch_converter=None,
            process_yields_batches=False,
            process_batch_yields_elements=False,
        ),
        context=DoFnContext(label, state=None),
        side_inputs=side_inputs,
        input_args=args,
        input_kwargs=kwargs,
        user_state_context=None,
        bundle_finalizer_param=DoFn.BundleFinalizerParam(),
    )
    invoker.invoke_setup()
    invoker.invoke_start_bundle()
    for item in items:
        invoker.invoke_process(item)
    invoker.invoke_finish_bundle()
    invoker.invoke_teardown()
    return out


class _TaggedParDo(_te.DaskBagOp):
    def apply(self, input_bag, side_inputs=None):
        transform = self.transform
        args, kwargs = transform.raw_side_inputs
        main_input = next(iter(self.applied.main_inputs.values()))
        window_fn = main_input.windowing.windowfn if hasattr(main_input, "windowing") else None
        import dask

        specs = [spec for spec, _bag in side_inputs or ()]
        values = [dask.delayed(list)(bag) for _spec, bag in side_inputs or ()]
        return input_bag.map(_te.get_windowed_value, window_fn).map_partitions(
            _run_bundle, transform.fn, window_fn, specs, list(args), kwargs, transform.label, *values
        )


class _Select:
    def __init__(self, tag):
        self.tag = tag

    def __call__(self, pair) -> bool:
        return pair[0] == self.tag


def _value(pair):
    return pair[1]


class _Visitor(PipelineVisitor):
    def __init__(self, bag_kwargs):
        self.bag_kwargs = bag_kwargs
        self.bags: dict = {}  # PCollection → bag
        self.consumed: set = set()
        self.order: list = []

    def visit_transform(self, node) -> None:
        import apache_beam as beam

        cls = node.transform.__class__
        op_class = _TaggedParDo if cls is beam.ParDo else _te.TRANSLATIONS.get(cls, _te.NoOp)
        op = op_class(node, bag_kwargs=self.bag_kwargs)
        inputs = [i for i in node.inputs if not isinstance(i, pvalue.PBegin)]
        self.consumed.update(inputs)
        bag_inputs = [self.bags[i] for i in inputs if i in self.bags]
        if not inputs:
            input_bag = None
        elif len(bag_inputs) == 1 and not isinstance(op, _te.Flatten):
            input_bag = bag_inputs[0]
        else:
            input_bag = bag_inputs
        side_inputs = None
        if node.side_inputs:
            side_inputs = []
            for si in node.side_inputs:
                self.consumed.add(si.pvalue)
                spec = (type(si), si._view_options(), si._window_mapping_fn)
                side_inputs.append((spec, self.bags[si.pvalue]))
        bag = op.apply(input_bag=input_bag, side_inputs=side_inputs)
        for tag, pcoll in node.outputs.items():
            if isinstance(op, _TaggedParDo):
                self.bags[pcoll] = bag.filter(_Select(_MAIN if tag is None else tag)).map(_value)
            else:
                self.bags[pcoll] = bag
            self.order.append(pcoll)

    def leaves(self) -> list:
        return [self.bags[p] for p in self.order if p not in self.consumed]


class _Result(_beam_dask.DaskRunnerResult):
    """Beam's result, closing the run's client once the run has ended (Beam's
    leaves it open, reconnecting to a scheduler long gone)."""

    def wait_until_finish(self, duration=None):
        try:
            state = super().wait_until_finish(duration)
        except BaseException:
            self.client.close()
            raise
        if duration is None or self._state in ("DONE", "FAILED", "CANCELLED"):
            self.client.close()
        return state


class DaskRunner(_beam_dask.DaskRunner):
    """Executes a pipeline on a Dask distributed cluster (see the module doc)."""

    def run_pipeline(self, pipeline, options):
        import dask
        import dask.distributed as ddist
        from apache_beam.runners.dask.overrides import dask_overrides

        dask_options = options.view_as(_beam_dask.DaskOptions).get_all_options(
            drop_default=True, current_only=True
        )
        bag_kwargs = _beam_dask.DaskOptions._extract_bag_kwargs(dask_options)
        client = ddist.Client(**dask_options)
        pipeline.replace_all(dask_overrides())
        visitor = _Visitor(bag_kwargs)
        pipeline.visit(visitor)
        leaves = visitor.leaves()
        futures = client.compute(list(dask.optimize(*leaves))) if leaves else []
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
