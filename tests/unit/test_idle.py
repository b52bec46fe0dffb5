"""IdleCloser: a sandbox child is closed when idle, never while in use, and reopens."""

from __future__ import annotations

import threading
import time

import pytest

from newsbeam.transforms.idle import IdleCloser


class _Resource:
    def __init__(self):
        self.closed = 0
        self.closed_event = threading.Event()

    def close(self):
        self.closed += 1
        self.closed_event.set()


def test_closed_after_a_bundle_when_not_used_again():
    resource, cooled = _Resource(), []
    closer = IdleCloser(resource, idle=0.05, on_close=lambda: cooled.append(True))
    with closer.use() as used:
        assert used is resource
    closer.idle_from_now()
    assert resource.closed_event.wait(10)
    assert resource.closed == 1 and cooled == [True] and closer.closed_idle == 1


def test_not_closed_while_in_use_or_when_used_again():
    resource = _Resource()
    closer = IdleCloser(resource, idle=0.05)
    with closer.use():
        pass
    closer.idle_from_now()
    with closer.use():  # the next bundle started: the timer is cancelled
        time.sleep(0.2)  # longer than idle, inside use(): the timer may not close it
    assert resource.closed == 0
    closer.close()  # teardown
    assert resource.closed == 1


def test_never_used_is_not_closed_for_idleness_and_idle_must_be_positive():
    resource = _Resource()
    closer = IdleCloser(resource, idle=0.01)
    closer.idle_from_now()
    time.sleep(0.1)
    assert resource.closed == 0
    with pytest.raises(ValueError):
        IdleCloser(resource, idle=0)


def test_a_real_sandbox_restarts_after_it_was_closed_for_idleness():
    from newsbeam.transforms.extraction import ExtractionSandbox

    sandbox = ExtractionSandbox()
    closer = IdleCloser(sandbox, idle=0.05)
    html = "<html><body><article><p>" + "Words of a story. " * 40 + "</p></article></body></html>"
    try:
        with closer.use() as child:
            first = child.extract_with_limit(html, "http://example.test/a", 60)
        closer.idle_from_now()
        deadline = time.monotonic() + 10
        while closer.closed_idle == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert closer.closed_idle == 1
        with closer.use() as child:
            assert child.extract_with_limit(html, "http://example.test/a", 60).body == first.body
    finally:
        closer.close()
