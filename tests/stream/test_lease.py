"""The writer lease against a real Elasticsearch-API server."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from newsbeam.connectors.lease import LEASE_ID, LeaseHeld, LeaseLost, acquire_lease, lease_index

pytestmark = pytest.mark.es_client  # rerun with the 9.x client (make test-es9)


def _doc(es_client, prefix):
    return es_client.get(index=lease_index(prefix), id=LEASE_ID)["_source"]


def test_second_writer_is_refused_with_the_holder_named(es_client, index_prefix):
    lease = acquire_lease(es_client, index_prefix, "stream")
    try:
        doc = _doc(es_client, index_prefix)
        assert doc["holder"]["command"] == "stream"
        assert {"host", "pid"} <= set(doc["holder"])
        assert {"since", "renewed", "expires"} <= set(doc)
        with pytest.raises(LeaseHeld) as raised:
            acquire_lease(es_client, index_prefix, "run")
        message = str(raised.value)
        assert f"pid {doc['holder']['pid']}" in message and doc["since"] in message
        assert doc["holder"]["host"] in message and "--force" in message
    finally:
        lease.release()
    # released: the next writer gets it at once
    acquire_lease(es_client, index_prefix, "run").release()


def test_renewal_moves_expiry_and_force_takeover_makes_the_old_holder_lose(es_client, index_prefix):
    first = acquire_lease(es_client, index_prefix, "stream", ttl=30)
    before = _doc(es_client, index_prefix)["expires"]
    first.renew()
    assert _doc(es_client, index_prefix)["expires"] >= before
    second = acquire_lease(es_client, index_prefix, "run", force=True)
    assert _doc(es_client, index_prefix)["holder"]["command"] == "run"
    with pytest.raises(LeaseLost):
        first.renew()
    first.release()  # must not delete the new holder's lease
    assert _doc(es_client, index_prefix)["holder"]["command"] == "run"
    second.release()


def test_expired_lease_and_dead_local_holder_are_taken_without_force(es_client, index_prefix):
    acquire_lease(es_client, index_prefix, "stream", ttl=30)  # never released: "dies"
    # A holder of this host whose pid is gone is stale.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    index = lease_index(index_prefix)
    doc = _doc(es_client, index_prefix)
    doc["holder"]["pid"] = int(dead.stdout)
    es_client.index(index=index, id=LEASE_ID, document=doc, refresh=True)
    taken = acquire_lease(es_client, index_prefix, "run", ttl=30)
    # An expired lease from another host is taken too.
    doc = _doc(es_client, index_prefix)
    doc["holder"]["host"] = "elsewhere"
    doc["expires"] = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)).isoformat()
    es_client.index(index=index, id=LEASE_ID, document=doc, refresh=True)
    with pytest.raises(LeaseLost):
        taken.renew()
    again = acquire_lease(es_client, index_prefix, "stream")
    assert _doc(es_client, index_prefix)["holder"]["command"] == "stream"
    again.release()


def test_two_racing_writers_cannot_both_win(es_client, index_prefix):
    from concurrent.futures import ThreadPoolExecutor

    def take(_):
        try:
            return acquire_lease(es_client, index_prefix, "run")
        except LeaseHeld:
            return None

    with ThreadPoolExecutor(4) as pool:
        won = [lease for lease in pool.map(take, range(4)) if lease is not None]
    assert len(won) == 1
    won[0].release()


def test_renewal_and_release_against_a_hung_cluster_take_seconds_not_minutes(es_settings, index_prefix):
    """A cluster that stopped answering (SIGSTOP, packets dropped): each renewal and the release
    went through the client's timeout and retries (30 s, 3 tries), so a renewal outlived the lease
    and the release at the end of a stopped run waited for it, then for itself: SIGTERM took
    190 s to stop such a run.  Each is now one brief try."""
    import time

    from newsbeam.connectors.es import connect
    from tests.faults.proxy import FaultProxy, Stall

    with FaultProxy(es_settings.url) as proxy:
        client = connect(es_settings.model_copy(update={"url": proxy.url}))
        try:
            lease = acquire_lease(client, index_prefix, "run", ttl=30)
            proxy.add(Stall(seconds=300))
            started = time.monotonic()
            with pytest.raises(Exception) as raised:  # the client's ConnectionTimeout
                lease.renew()
            assert "Timeout" in type(raised.value).__name__, raised.value
            assert time.monotonic() - started < 15
            started = time.monotonic()
            lease.release()  # logs that it could not, and returns
            assert time.monotonic() - started < 15
        finally:
            client.close()
