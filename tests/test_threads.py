"""The thread-count rule shared by ``batch()`` and tensor kernels:
``SYMDIFF_NUM_THREADS``, else ``OMP_NUM_THREADS``, else all cores bound
the count; within that, a batch's default count follows its work (rows x
operations); bad values are errors naming the variable; results never
depend on the count."""

from __future__ import annotations

import os

import numpy as np
import pytest

import symdiff as sd
from compiler.threads import WORK_PER_THREAD, available_cores, default_threads, threads_for_work


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("SYMDIFF_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    return monkeypatch


def test_default_is_all_cores(clean_env):
    assert default_threads() == available_cores()
    assert 1 <= available_cores() <= (os.cpu_count() or 1)


def test_symdiff_variable_wins_over_omp(clean_env):
    clean_env.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == 3
    clean_env.setenv("SYMDIFF_NUM_THREADS", " 5 ")
    assert default_threads() == 5


@pytest.mark.parametrize("value, message", [
    ("two", "SYMDIFF_NUM_THREADS='two' is not a thread count"),
    ("0", "SYMDIFF_NUM_THREADS='0': the thread count must be >= 1"),
])
def test_bad_values_name_the_variable(clean_env, value, message):
    clean_env.setenv("SYMDIFF_NUM_THREADS", value)
    with pytest.raises(ValueError) as err:
        default_threads()
    assert str(err.value) == message


def test_batch_follows_the_variable_and_keeps_its_bits(clean_env):
    x, z = sd.symbols("x z")
    f = sd.exp(x * z) + sd.sin(x) / z
    fn = sd.compile([f, *sd.grad(f)], [x, z])
    # Enough rows that the work rule asks for more than one thread (so the
    # variable is read): rows x (ops + inputs + outputs) >= 2 units a thread.
    rows = 2 * WORK_PER_THREAD // (fn.compile_info["n_ops"] + 2 + 3) + 64
    X = np.random.default_rng(7).uniform(0.5, 2.0, (rows, 2))
    clean_env.setenv("SYMDIFF_NUM_THREADS", "1")
    one = fn.batch(X)
    clean_env.setenv("SYMDIFF_NUM_THREADS", "3")
    three = fn.batch(X)
    np.testing.assert_array_equal(one, three)
    np.testing.assert_allclose(one[123], fn(X[123]), rtol=4e-16)
    clean_env.setenv("SYMDIFF_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="SYMDIFF_NUM_THREADS='many'"):
        fn.batch(X)


@pytest.mark.parametrize("work, cap, want", [
    (0, 8, 1),
    (2 * WORK_PER_THREAD - 1, 8, 1),       # below two threads' worth: one
    (2 * WORK_PER_THREAD, 8, 2),
    (5 * WORK_PER_THREAD + 7, 8, 5),
    (50 * WORK_PER_THREAD, 8, 8),          # capped
    (50 * WORK_PER_THREAD, 1, 1),
])
def test_threads_for_work(work, cap, want):
    assert threads_for_work(work, cap) == want


def test_batch_thread_count_follows_the_work(clean_env):
    x, z = sd.symbols("x z")
    fn = sd.compile([x * z + 1.0], [x, z])
    per_row = fn.compile_info["n_ops"] + 2 + 1      # ops + inputs + outputs
    assert per_row == 5
    clean_env.setenv("SYMDIFF_NUM_THREADS", "4")
    small = 2 * WORK_PER_THREAD // per_row - 1
    assert fn.batch_threads(small) == 1
    assert fn.batch_threads(small + 1) == 2
    assert fn.batch_threads(10 * WORK_PER_THREAD // per_row) == 4   # the variable caps
    clean_env.setenv("SYMDIFF_NUM_THREADS", "bad")
    assert fn.batch_threads(small) == 1    # small batches never read the variable
    with pytest.raises(ValueError, match="SYMDIFF_NUM_THREADS='bad'"):
        fn.batch_threads(small + 1)
    # An explicit count is used as given, at most one thread per 64 rows.
    assert fn.batch_threads(1000, threads=3) == 3
    assert fn.batch_threads(100, threads=8) == 2
    with pytest.raises(ValueError, match="threads must be >= 1"):
        fn.batch_threads(100, threads=0)
