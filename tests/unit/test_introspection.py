"""pipeline/introspection.py: Beam's DoFn state/timer specs computed once per DoFn, same answers."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.coders import VarIntCoder
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import userstate
from apache_beam.transforms.timeutil import TimeDomain

from newsbeam.pipeline import introspection

_COUNT = userstate.ReadModifyWriteStateSpec("count", VarIntCoder())
_FLUSH = userstate.TimerSpec("flush", TimeDomain.WATERMARK)
_COUNT_PARAM = beam.DoFn.StateParam(_COUNT)
_FLUSH_PARAM = beam.DoFn.TimerParam(_FLUSH)


class _Counting(beam.DoFn):
    COUNT, FLUSH = _COUNT, _FLUSH

    def process(self, element, count=_COUNT_PARAM, flush=_FLUSH_PARAM):
        seen = (count.read() or 0) + 1
        count.write(seen)
        yield element[0], seen

    @userstate.on_timer(_FLUSH)
    def flush(self):
        return []


class _Plain(beam.DoFn):
    def process(self, element):
        yield element


class _Duplicated(beam.DoFn):
    def process(self, element, a=_COUNT_PARAM, b=_COUNT_PARAM):
        yield element


@pytest.fixture(scope="module", autouse=True)
def _installed():
    introspection.install()


def test_the_specs_are_beams_and_beam_is_asked_once_per_dofn(monkeypatch):
    real = userstate.get_dofn_specs.__wrapped__
    assert userstate.get_dofn_specs is not real  # installed
    calls = []
    memoized = introspection._memoized(lambda dofn: calls.append(dofn) or real(dofn))
    stateful, plain = _Counting(), _Plain()
    for _ in range(5):
        assert memoized(stateful) == real(stateful) == ({_Counting.COUNT}, {_Counting.FLUSH})
        assert memoized(plain) == real(plain) == (set(), set())
    assert calls == [stateful, plain]
    memoized(stateful)[0].clear()  # a caller's copy: the memo keeps its sets
    assert memoized(stateful)[0] == {_Counting.COUNT}
    assert memoized(_Counting()) == real(stateful) and len(calls) == 3  # a new instance is asked anew


def test_an_invalid_dofn_raises_every_time():
    for _ in range(2):
        with pytest.raises(ValueError, match="duplicate"):
            userstate.get_dofn_specs(_Duplicated())


def test_a_stateful_dofn_still_runs_with_its_state():
    with TestPipeline() as p:
        counted = (
            p
            | beam.Create([("a", 1), ("a", 2), ("b", 3)])
            | beam.ParDo(_Counting())
            | beam.combiners.Count.PerKey()
        )
        assert_that(counted, equal_to([("a", 2), ("b", 1)]))


def test_install_is_idempotent():
    once = userstate.get_dofn_specs
    introspection.install()
    assert userstate.get_dofn_specs is once
    from apache_beam.runners.direct import transform_evaluator

    assert transform_evaluator.get_dofn_specs is once
