"""Threads for compiled code: how many (one rule for ``batch()`` and tensor
kernels alike) and the one pool of worker threads they share."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["default_threads", "shared_pool"]


def default_threads() -> int:
    """Threads for compiled loops when the caller does not say:
    ``SYMDIFF_NUM_THREADS``, else ``OMP_NUM_THREADS``, else the number of
    cores.  A value that is not a positive integer is an error naming the
    variable (a typo must not silently mean "all cores")."""
    for var in ("SYMDIFF_NUM_THREADS", "OMP_NUM_THREADS"):
        v = os.environ.get(var, "").strip()
        if v:
            try:
                n = int(v)
            except ValueError:
                raise ValueError(f"{var}={v!r} is not a thread count") from None
            if n < 1:
                raise ValueError(f"{var}={v!r}: the thread count must be >= 1")
            return n
    return os.cpu_count() or 1


_POOL = None
_POOL_LOCK = threading.Lock()


def shared_pool(workers: int) -> ThreadPoolExecutor:
    """The process's worker pool, grown to at least ``workers`` threads.

    The calling thread does a share of every parallel job itself, so a call
    on n threads asks for n - 1 workers.  Jobs never submit to the pool from
    inside it (no nesting, hence no deadlock); a larger request replaces
    the pool, whose running tasks finish before its threads exit."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < workers:
            old = _POOL
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="symdiff")
            if old is not None:
                old.shutdown(wait=False)
        return _POOL
