"""Shared fixtures and settings for the test suite.

* Hypothesis is deterministic: the default profile ``ci`` derandomizes
  every property test (its examples derive from the test itself) and sets
  no deadline (no wall-clock limits in tests).  ``pytest
  --hypothesis-profile=explore`` draws fresh examples instead.
* Compiled code of the whole session goes to a temporary cache directory
  (``SYMDIFF_CACHE_DIR``, inherited by subprocesses), never to the user's
  ``~/.cache``; :func:`cache_dir` gives a test a fresh, empty one.
* Soak and scaling tests are marked ``slow`` (registered in pyproject.toml):
  ``pytest -m "not slow"`` is the quick run, plain ``pytest`` runs them all.
* :func:`fake_dot` puts a stand-in for Graphviz's ``dot`` on PATH, so the
  code that runs ``dot`` is tested where Graphviz is not installed (CI).
* JAX is hidden from the test process (importing it raises ImportError),
  as on CI, where it is not installed: JAX starts threads when imported, and a
  later ``fork()`` in the same process (the scaling runs, the fork tests)
  could deadlock.  Its accuracy column is tested in a subprocess
  (``tests/test_compare.py``), where it is installed.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import json
import math
import os
import stat
import sys
import zlib
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import settings

import symdiff as sd
from symdiff.core.node import Node


class _HideJax(importlib.abc.MetaPathFinder):
    """Importing jax raises ImportError in this process (see the module
    docstring).  A finder rather than ``sys.modules["jax"] = None``:
    SciPy looks jax up in sys.modules and fails on a None entry."""

    def find_spec(self, name, path=None, target=None):
        if name == "jax" or name.startswith("jax."):
            raise ImportError("jax is hidden from the test process (tests/conftest.py)")
        return None


if "jax" not in sys.modules:
    sys.meta_path.insert(0, _HideJax())

settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None)
settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def _session_cache_dir(tmp_path_factory):
    """One temporary compile cache for the session (subprocesses inherit it)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SYMDIFF_CACHE_DIR", str(tmp_path_factory.mktemp("symdiff-cache")))
        yield


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh, empty compile cache directory for one test (disk and memory),
    with caching enabled whatever the environment says."""
    from compiler import cache

    d = tmp_path / "cache"
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(d))
    monkeypatch.delenv("SYMDIFF_CACHE", raising=False)
    cache.clear_memory()
    yield d
    cache.clear_memory()


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A numpy generator seeded from the test's id: the same numbers on
    every run and in any test order, different numbers for each test."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@contextlib.contextmanager
def _at_default_recursion_limit():
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


@pytest.fixture
def default_recursion_limit():
    """A context manager running its block at CPython's default recursion
    limit (1000) whatever the runner set, so that a deep test proves the
    code under test does not recurse: ``with default_recursion_limit(): ...``."""
    return _at_default_recursion_limit


@pytest.fixture(scope="session")
def sin_chain() -> Node:
    """sin(sin(...sin(x))), 10^5 deep, built once for the session's deep tests."""
    e = sd.symbol("x")
    for _ in range(100_000):
        e = sd.sin(e)
    return e


class Lecture(NamedTuple):
    """The lectures' running example with its closed-form value and gradient."""

    f: Node            # exp(x z) + x z / log(x) + sin(log(x)) / (x z)
    point: dict        # x = 2, z = 3
    value: float
    gradient: list     # [df/dx, df/dz] at the point


@pytest.fixture(scope="session")
def lecture() -> Lecture:
    """``f = e^{xz} + xz/ln x + sin(ln x)/(xz)`` at x = 2, z = 3, with its
    value and gradient worked out by hand."""
    x, z = sd.symbols("x z")
    f = sd.exp(x * z) + x * z / sd.log(x) + sd.sin(sd.log(x)) / (x * z)
    l2, e6 = math.log(2), math.exp(6)
    value = e6 + 6 / l2 + math.sin(l2) / 6
    dx = 3 * e6 + 3 / l2 - 3 / l2 ** 2 + math.cos(l2) / 12 - math.sin(l2) / 12
    dz = 2 * e6 + 2 / l2 - math.sin(l2) / 18
    return Lecture(f, {"x": 2.0, "z": 3.0}, value, [dx, dz])


# A stand-in for Graphviz's dot: logs its arguments and input (one JSON line
# a call), then writes the start of a PNG or SVG file to ``-o``; exits 1
# with a message instead when FAKE_DOT_FAIL is set.
_FAKE_DOT = r"""#!@PYTHON@
import json, os, sys
args = sys.argv[1:]
with open(@LOG@, "a") as log:
    log.write(json.dumps({"argv": args, "stdin": sys.stdin.read()}) + "\n")
if os.environ.get("FAKE_DOT_FAIL"):
    sys.stderr.write("Error: <stdin>: syntax error in line 1 near 'x'\n")
    sys.exit(1)
fmt = [a[2:] for a in args if a.startswith("-T")][0]
data = (b"\x89PNG\r\n\x1a\n" + bytes(24) if fmt == "png" else
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>\n')
with open(args[args.index("-o") + 1], "wb") as out:
    out.write(data)
"""


class FakeDot(NamedTuple):
    """What :func:`fake_dot` gives a test: the stand-in's path and its log."""

    path: str
    log: str

    def calls(self) -> list[dict]:
        """One ``{"argv": [...], "stdin": text}`` per run of the stand-in."""
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(line) for line in f]


@pytest.fixture
def fake_dot(tmp_path, monkeypatch) -> FakeDot:
    """An executable ``dot`` first on PATH for this test (real Graphviz or
    not): a Python script that records every call (:meth:`FakeDot.calls`)
    and writes a PNG signature or an ``<svg`` header to the ``-o`` file,
    or fails like dot on bad input when ``FAKE_DOT_FAIL`` is set."""
    if os.name == "nt":
        pytest.skip("the stand-in dot is a #! script")
    bindir = tmp_path / "fake-graphviz"
    bindir.mkdir()
    exe = bindir / "dot"
    log = tmp_path / "fake-dot-calls.jsonl"
    exe.write_text(_FAKE_DOT.replace("@PYTHON@", sys.executable).replace("@LOG@", repr(str(log))))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", str(bindir) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.delenv("FAKE_DOT_FAIL", raising=False)
    return FakeDot(str(exe), str(log))
