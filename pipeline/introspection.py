"""Beam's DoFn introspection, computed once per DoFn instead of a dozen times.

``apache_beam.transforms.userstate.get_dofn_specs(dofn)`` finds a DoFn's state and timer
specs by wrapping every method ``dir(dofn)`` lists (some thirty, most inherited from ``DoFn``)
and reading each one's signature.  Beam calls it for every ParDo at construction, again when
the graph is translated (``to_runner_api``), again in the DirectRunner's checks and once more
per bundle processor: about 14 times per DoFn, 1,200 times for one wave of ``newsbeam run``
(some 90 ParDos).  Profiled on a four-run integration test (``tests/integration/
test_feed_reruns.py``), those calls were 150,000 ``inspect.signature`` calls, about a fifth of
the process's CPU; every ``newsbeam run`` wave and every ``newsbeam stream`` cycle builds and
translates a new graph, so each one paid it.

``install()`` memoizes the function per DoFn instance (by identity, dropped when the instance is:
a finished pipeline's DoFns are not kept alive).  The answer depends only on the instance's methods and their
default arguments, which are fixed once the instance exists (Beam's own wrappers that assign
``self.process`` do so in ``__init__``).  Measured side by side
(``bench/graph_build.py``: the demo graph built and translated, interleaved, CPU time): median
0.63x and 0.70x of Beam's own in two runs; a four-run integration test used 28 s -> 22 s of CPU.
A call that raises (a DoFn with duplicate parameters) is not remembered, so it
raises every time as before; each caller gets its own copy of the sets.
"""

from __future__ import annotations

import threading
import weakref

__all__ = ["install"]

_LOCK = threading.Lock()
_installed = False


def _memoized(real):
    memo: dict[int, tuple] = {}  # by identity: DoFns that compare equal may differ in methods

    def get_dofn_specs(dofn):
        key = id(dofn)
        found = memo.get(key)
        if found is None:
            found = real(dofn)
            try:
                weakref.finalize(dofn, memo.pop, key, None)
            except TypeError:  # not weakly referenceable: not remembered
                return found
            memo[key] = found
        state_specs, timer_specs = found
        return set(state_specs), set(timer_specs)

    get_dofn_specs.__wrapped__ = real
    get_dofn_specs.__doc__ = real.__doc__
    return get_dofn_specs


def install() -> None:
    """Memoize ``get_dofn_specs`` where Beam looks it up (idempotent, thread-safe).  A Beam
    without the function (a future release) is left as it is."""
    global _installed
    with _LOCK:
        if _installed:
            return
        from apache_beam.transforms import userstate

        real = getattr(userstate, "get_dofn_specs", None)
        if real is None:
            return
        memoized = _memoized(real)
        userstate.get_dofn_specs = memoized
        # The DirectRunner's evaluators imported the name itself.
        try:
            from apache_beam.runners.direct import transform_evaluator
        except ImportError:
            transform_evaluator = None
        if getattr(transform_evaluator, "get_dofn_specs", None) is real:
            transform_evaluator.get_dofn_specs = memoized
        _installed = True
