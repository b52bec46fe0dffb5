"""One writer at a time: a lease document in Elasticsearch.

``newsbeam run`` and ``newsbeam stream`` hold a lease on the indices they
write (one per index prefix) for as long as they work.  The lease is one
document, ``_id`` ``writer`` in the index ``<prefix>-locks``:

    {"holder": {"host": ..., "pid": ..., "command": ...},
     "since": ISO, "renewed": ISO, "expires": ISO}

It is renewed every third of its time to live by a background thread and
deleted when its holder ends; a holder that dies stops renewing it, so it
expires and the next writer takes it.  Every change is conditional on the
document's ``_seq_no``/``_primary_term`` (or ``op_type=create`` when there
is none), so of two writers racing for the same lease exactly one wins.

A live lease held by someone else is refused with ``LeaseHeld`` naming the
holder; ``force=True`` takes it over anyway (for a lease left by a process
that is known to be gone).  A lease held by a process of this host whose pid
no longer exists is stale and taken over without ``force``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from typing import Any

from newsbeam.transforms.model import parse_instant

__all__ = ["Lease", "LeaseHeld", "LeaseLost", "acquire_lease", "lease_index", "LEASE_ID"]

_LOG = logging.getLogger(__name__)

LEASE_ID = "writer"
DEFAULT_TTL = 60.0

# Lease indices held by Lease objects of this process, so a lease this process
# left behind (its release failed: Elasticsearch was down) is known to be stale.
_ACTIVE: set[str] = set()
_ACQUIRING = threading.Lock()


class LeaseHeld(Exception):
    """Another live writer holds the lease: the message names it."""


class LeaseLost(Exception):
    """This process's lease was taken over (``--force``) or deleted."""


def lease_index(index_prefix: str) -> str:
    return f"{index_prefix}-locks"


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe_holder(doc: dict[str, Any]) -> str:
    holder = doc.get("holder") or {}
    return (
        f"{holder.get('command') or 'a writer'} on host {holder.get('host')} pid {holder.get('pid')} "
        f"since {doc.get('since')} (lease expires {doc.get('expires')} unless renewed)"
    )


def stale_reason(doc: dict[str, Any], now: dt.datetime, host: str, index: str = "") -> str | None:
    """Why an existing lease may be taken without ``force`` (pure, but for the
    pid check of this host's holders), or None when its holder is alive."""
    expires = parse_instant(doc.get("expires"))
    if expires is None or expires <= now:
        return f"expired at {doc.get('expires')}"
    holder = doc.get("holder") or {}
    if holder.get("host") == host and isinstance(holder.get("pid"), int):
        if not _pid_alive(holder["pid"]):
            return f"its holder pid {holder['pid']} on this host is gone"
        if holder["pid"] == os.getpid() and index not in _ACTIVE:
            return "this process left it behind and no longer holds it"
    return None


class Lease:
    """A held lease; ``renew`` keeps it, ``release`` gives it up.  Use
    ``start_renewing`` for the background renewal thread."""

    def __init__(self, client, index: str, doc: dict[str, Any], seq_no: int, primary_term: int, ttl: float):
        self._client = client
        self.index = index
        self.doc = doc
        self._seq_no = seq_no
        self._primary_term = primary_term
        self.ttl = ttl
        self.lost: str | None = None  # why the lease was lost, once it is
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Each renewal or release is one try of at most this long: with the client's own timeout
        # and retries (30 s, 3 tries), a cluster that hung kept a renewal going past the lease's
        # expiry, and the release at the end of a stopped run waited for it, then for its own
        # 90 s: SIGTERM took 190 s to stop a run whose cluster did not answer.
        self._request_timeout = max(1.0, min(10.0, ttl / 6))

    def renew(self) -> None:
        """Push ``renewed``/``expires`` forward; raises ``LeaseLost`` when
        someone else took the lease."""
        from elasticsearch import ApiError, ConflictError, NotFoundError

        with self._lock:
            if self.lost:
                raise LeaseLost(self.lost)
            now = _now()
            doc = {**self.doc, "renewed": _iso(now), "expires": _iso(now + dt.timedelta(seconds=self.ttl))}
            try:
                response = self._brief(self._request_timeout).index(
                    index=self.index,
                    id=LEASE_ID,
                    document=doc,
                    if_seq_no=self._seq_no,
                    if_primary_term=self._primary_term,
                    refresh=True,
                )
            except (ConflictError, NotFoundError):
                self.lost = f"the writer lease in {self.index} was taken over or removed"
                raise LeaseLost(self.lost) from None
            except ApiError:
                raise
            self.doc = doc
            self._seq_no = response["_seq_no"]
            self._primary_term = response["_primary_term"]

    def _renew_loop(self) -> None:
        from elasticsearch import ApiError, TransportError

        interval = max(1.0, self.ttl / 3)
        while not self._stop.wait(interval):
            try:
                self.renew()
            except LeaseLost as exc:
                _LOG.error("%s; this process stops writing", exc)
                return
            except (ApiError, TransportError) as exc:
                # Elasticsearch unreachable for a while: try again at the next beat.
                _LOG.warning("could not renew the writer lease (%s)", type(exc).__name__)

    def start_renewing(self) -> Lease:
        self._thread = threading.Thread(target=self._renew_loop, name="newsbeam-lease", daemon=True)
        self._thread.start()
        return self

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still ours."""
        from elasticsearch import ApiError, TransportError

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        _ACTIVE.discard(self.index)
        if not self._lock.acquire(timeout=self._request_timeout + 1):  # a renewal hangs: so would this
            _LOG.warning(
                "could not release the writer lease (Elasticsearch does not answer); it expires by itself"
            )
            self.lost = "released"
            return
        try:
            if self.lost:
                return
            try:
                self._brief(5.0).options(ignore_status=(404, 409)).delete(
                    index=self.index,
                    id=LEASE_ID,
                    if_seq_no=self._seq_no,
                    if_primary_term=self._primary_term,
                    refresh=True,
                )
            except (ApiError, TransportError) as exc:
                # one short line (the exception's text is a page of nested connection errors);
                # a holder of this host that is gone is taken over at once by the next writer
                _LOG.warning(
                    "could not release the writer lease (%s); it expires by itself", type(exc).__name__
                )
            self.lost = "released"
        finally:
            self._lock.release()

    def _brief(self, timeout: float):
        """The lease's client for one try of at most ``timeout`` seconds."""
        return self._client.options(request_timeout=timeout, max_retries=0)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _ensure_index(client, index: str) -> None:
    if not client.indices.exists(index=index):
        client.options(ignore_status=400).indices.create(
            index=index,
            settings={"number_of_shards": 1},
            mappings={
                "properties": {
                    "holder": {
                        "properties": {
                            "host": {"type": "keyword"},
                            "pid": {"type": "long"},
                            "command": {"type": "keyword"},
                        }
                    },
                    "since": {"type": "date"},
                    "renewed": {"type": "date"},
                    "expires": {"type": "date"},
                }
            },
        )


def acquire_lease(
    client, index_prefix: str, command: str, *, force: bool = False, ttl: float = DEFAULT_TTL
) -> Lease:
    """Take the writer lease of ``index_prefix`` or raise ``LeaseHeld``.

    ``client`` stays in use by the returned lease (renewals, release)."""

    index = lease_index(index_prefix)
    _ensure_index(client, index)
    with _ACQUIRING:  # one acquisition at a time in this process
        lease = _acquire(client, index, index_prefix, command, force, ttl)
        _ACTIVE.add(index)
        return lease


def _acquire(client, index: str, index_prefix: str, command: str, force: bool, ttl: float) -> Lease:
    from elasticsearch import ConflictError, NotFoundError

    host = socket.gethostname()
    for _attempt in range(3):
        now = _now()
        doc = {
            "holder": {"host": host, "pid": os.getpid(), "command": command},
            "since": _iso(now),
            "renewed": _iso(now),
            "expires": _iso(now + dt.timedelta(seconds=ttl)),
        }
        try:
            current = client.get(index=index, id=LEASE_ID)
        except NotFoundError:
            current = None
        try:
            if current is None:
                response = client.index(
                    index=index, id=LEASE_ID, document=doc, op_type="create", refresh=True
                )
            else:
                existing = current["_source"]
                reason = stale_reason(existing, now, host, index)
                if reason is None and not force:
                    raise LeaseHeld(
                        f"another writer holds the lease on the {index_prefix}-* indices: "
                        f"{describe_holder(existing)}; wait for it to end, or give --force if it is "
                        "known to be gone"
                    )
                _LOG.warning(
                    "taking over the writer lease of %s (%s)",
                    describe_holder(existing),
                    reason or "--force",
                )
                response = client.index(
                    index=index,
                    id=LEASE_ID,
                    document=doc,
                    if_seq_no=current["_seq_no"],
                    if_primary_term=current["_primary_term"],
                    refresh=True,
                )
        except ConflictError:
            continue  # someone changed the lease between our read and write: look again
        return Lease(client, index, doc, response["_seq_no"], response["_primary_term"], ttl)
    current = client.get(index=index, id=LEASE_ID)
    raise LeaseHeld(
        f"another writer holds the lease on the {index_prefix}-* indices: "
        f"{describe_holder(current['_source'])}"
    )
