"""Threads for compiled code: how many, and the one pool of worker threads
that ``batch()`` and tensor kernels share.

Both are capped by :func:`default_threads`.  Tensor kernels split their
products into row blocks, one per thread up to the cap and the rows
(:mod:`compiler.tensor.function`).  How many threads a scalar batch runs
on (:func:`threads_for_work`): the cap is
``threads=`` when the caller gives it, else :func:`default_threads`
(``SYMDIFF_NUM_THREADS``, else ``OMP_NUM_THREADS``, else the cores this
process may run on); within the cap, one thread per :data:`WORK_PER_THREAD`
units of work (rows x operations per row), and a single thread below twice
that.  Handing a block to a worker costs tens of microseconds (a queue, a
wake-up, and on a loaded machine a wait for a core), so a thread must have
about half a millisecond of work to pay for itself.  The machine's load is
not consulted: the count must not change from one call to the next.

The pool (:func:`run_parallel`) grows and never shrinks or shuts down, so a
caller can never submit to a pool another caller has retired; after
``fork()`` the child starts with no pool (the parent's worker threads do not
exist in the child) and fresh locks.
"""

from __future__ import annotations

import os
import queue
import threading
from concurrent.futures import Future

__all__ = ["default_threads", "available_cores", "threads_for_work", "WORK_PER_THREAD",
           "run_parallel", "shared_pool"]

#: Work (rows x (operations + inputs + outputs) per row, see
#: :func:`threads_for_work`) that pays for one more thread: about 0.5 ms
#: on one core (README's single-thread batch table: the lecture gradient,
#: 100,000 rows x 26 units in 0.64 ms; per-sample softmax, 1,797 rows x
#: 3,356 units in 1.57 ms: ~0.25 ns a unit).  With other work running,
#: 2 threads were slower than one on every one of those batches, so a
#: batch gets a second thread only from 4 M units (2 ms of work) on.
WORK_PER_THREAD = 2_000_000


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS
    reports it, else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads() -> int:
    """The most threads compiled loops use when the caller does not say:
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
    return available_cores()


def threads_for_work(work: int, cap: int, *, per_thread: int = WORK_PER_THREAD) -> int:
    """Threads for ``work`` units (rows x operations per row): 1 below
    ``2 * per_thread``, else ``work // per_thread``, at most ``cap``.

    Deterministic (no clock, no load average): the same batch always gets
    the same count, and the results never depend on it anyway."""
    if cap < 1:
        raise ValueError(f"threads must be >= 1, got {cap}")
    if work < 2 * per_thread:
        return 1
    return max(1, min(cap, work // per_thread))


def _work_loop(jobs: "queue.SimpleQueue") -> None:
    # A worker: run jobs until the interpreter exits (daemon thread).
    while True:
        fut, fn, args = jobs.get()
        if not fut.set_running_or_notify_cancel():
            continue
        try:
            fut.set_result(fn(*args))
        except BaseException as e:  # handed to the waiting caller, never lost
            fut.set_exception(e)
        # Do not keep the finished job (its arrays, its future) alive until
        # the next one arrives.
        del fut, fn, args


class _WorkerPool:
    """Worker threads reading one job queue.  Grows on request and never
    shrinks or shuts down: concurrent callers may hold it at any time."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._grow_lock = threading.Lock()

    @property
    def workers(self) -> int:
        """Worker threads started so far."""
        return len(self._threads)

    def ensure(self, workers: int) -> "_WorkerPool":
        """Start threads until there are at least ``workers``."""
        if len(self._threads) < workers:
            with self._grow_lock:
                while len(self._threads) < workers:
                    t = threading.Thread(target=_work_loop, args=(self._jobs,), daemon=True,
                                         name=f"symdiff-{len(self._threads)}")
                    t.start()
                    self._threads.append(t)
        return self

    def submit(self, fn, *args) -> Future:
        """Queue ``fn(*args)``; its future holds the result or exception."""
        fut: Future = Future()
        self._jobs.put((fut, fn, args))
        return fut


_POOL: _WorkerPool | None = None
_POOL_LOCK = threading.Lock()


def shared_pool(workers: int) -> _WorkerPool:
    """The process's worker pool, grown to at least ``workers`` threads.

    The calling thread does a share of every parallel job itself, so a call
    on n threads asks for n - 1 workers.  Jobs never submit to the pool from
    inside it (no nesting, hence no deadlock)."""
    global _POOL
    pool = _POOL
    if pool is None:
        with _POOL_LOCK:
            if _POOL is None:
                _POOL = _WorkerPool()
            pool = _POOL
    return pool.ensure(workers)


def run_parallel(fn, arg_lists: list) -> None:
    """``fn(*args)`` for every ``args`` in ``arg_lists``: the first on the
    calling thread, the others on the shared pool; returns when all are
    done and re-raises the first exception.  ``fn`` should release the GIL
    (a ctypes foreign function does)."""
    if not arg_lists:
        return
    if len(arg_lists) == 1:
        fn(*arg_lists[0])
        return
    pool = shared_pool(len(arg_lists) - 1)
    futs = [pool.submit(fn, *args) for args in arg_lists[1:]]
    try:
        fn(*arg_lists[0])
    finally:
        # Wait for every block even if ours failed: they write the caller's
        # output buffer, which must not be released while they run.
        errors = []
        for f in futs:
            e = f.exception()
            if e is not None:
                errors.append(e)
    if errors:
        raise errors[0]


def _after_fork_in_child() -> None:
    # The parent's workers do not exist in the child, and a lock another
    # parent thread held at fork() stays held forever: start over.
    global _POOL, _POOL_LOCK
    _POOL = None
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
