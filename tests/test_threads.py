"""The thread-count rule shared by ``batch()`` and tensor kernels:
``SYMDIFF_NUM_THREADS``, else ``OMP_NUM_THREADS``, else all cores; bad
values are errors naming the variable; results never depend on it."""

from __future__ import annotations

import os

import numpy as np
import pytest

import symdiff as sd
from compiler.threads import default_threads


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("SYMDIFF_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    return monkeypatch


def test_default_is_all_cores(clean_env):
    assert default_threads() == (os.cpu_count() or 1)


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
    X = np.random.default_rng(7).uniform(0.5, 2.0, (50_000, 2))
    clean_env.setenv("SYMDIFF_NUM_THREADS", "1")
    one = fn.batch(X)
    clean_env.setenv("SYMDIFF_NUM_THREADS", "3")
    three = fn.batch(X)
    np.testing.assert_array_equal(one, three)
    np.testing.assert_allclose(one[123], fn(X[123]), rtol=4e-16)
    clean_env.setenv("SYMDIFF_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="SYMDIFF_NUM_THREADS='many'"):
        fn.batch(X)
