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
glibc fixes its arena limit the first time a thread needs a new arena.  A
``MALLOC_ARENA_MAX`` set in the environment wins (glibc reads it itself);
other C libraries are left alone.
"""

from __future__ import annotations

import os
import sys

__all__ = ["MALLOC_ARENAS", "limit_malloc_arenas"]

#: malloc arenas per process (glibc)
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt parameter, <malloc.h>


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap this process's glibc malloc arenas at ``arenas``; True when done
    (False: not glibc, or ``MALLOC_ARENA_MAX`` is set)."""
    if not sys.platform.startswith("linux") or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_ARENA_MAX, arenas))
