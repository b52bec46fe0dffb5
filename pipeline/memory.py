"""How newsbeam's own processes use the C allocator.

glibc's malloc gives threads that allocate at the same time their own
*arenas* (up to 8 per core), and memory freed in an arena mostly stays with
the process: ``malloc_trim`` returns little of it, since each arena keeps the
chunks still in use scattered over its pages.  A batch run's driver moves
every wave's data between stages on gRPC's threads, and a worker fetches
pages on a pool of threads; with an arena per thread, each wave left the
driver about 40 MB larger (190 MB in wave 1, 300 MB and more in wave 4 of a
2,000-article run, ``bench/throughput.py --timeline``), though no Python
object survived the wave (counted with ``gc`` and ``tracemalloc`` between
waves).  With two arenas the driver stayed near 200 MB through the run and
the CPU time of the run did not change.

``limit_malloc_arenas`` is called first thing by the ``newsbeam`` command and
by each worker process (``pipeline/worker.py``), before any thread starts:
glibc fixes its arena limit the first time a thread needs a new arena.

``map_large_blocks`` fixes glibc's mmap threshold (by default it rises to the
size of the largest block freed, up to 32 MB, after which large blocks come
from the arenas and stay there when freed): blocks from 256 kB up get a
mapping of their own, returned to the system when freed.  Only where few
large blocks are made: the driver of a multi-process run
(``pipeline/local_runner.py``), which only moves the waves' data (about 25 MB
less at N = 2000), and the sandbox children (transforms/sandbox_child.py:
pages and their parse trees, about 10 MB less each).  Not in the workers:
spaCy's tagger allocates and frees arrays of 0.2–2 MB per batch, and mapping
each one anew cost 11% more CPU for NER (``nlp.pipe`` over 270 articles:
1.8 million page faults instead of 0.6).

Settings in the environment (``MALLOC_ARENA_MAX``, ``MALLOC_MMAP_THRESHOLD_``)
win, since glibc reads them itself; other C libraries are left alone.
"""

from __future__ import annotations

import os
import sys

__all__ = ["MALLOC_ARENAS", "MMAP_THRESHOLD", "limit_malloc_arenas", "map_large_blocks"]

#: malloc arenas per process (glibc)
MALLOC_ARENAS = 2
#: bytes from which ``map_large_blocks`` gives a block its own mapping
MMAP_THRESHOLD = 256 * 1024
_M_ARENA_MAX = -8  # mallopt parameters, <malloc.h>
_M_MMAP_THRESHOLD = -3


def _mallopt(param: int, value: int, env: str) -> bool:
    if not sys.platform.startswith("linux") or os.environ.get(env):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(param, value))


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap this process's glibc malloc arenas at ``arenas``; True when done
    (False: not glibc, or ``MALLOC_ARENA_MAX`` is set)."""
    return _mallopt(_M_ARENA_MAX, arenas, "MALLOC_ARENA_MAX")


def map_large_blocks(threshold: int = MMAP_THRESHOLD) -> bool:
    """Blocks of ``threshold`` bytes and more get their own mapping from now on
    (glibc); True when done (False: not glibc, or ``MALLOC_MMAP_THRESHOLD_`` is set)."""
    return _mallopt(_M_MMAP_THRESHOLD, threshold, "MALLOC_MMAP_THRESHOLD_")
