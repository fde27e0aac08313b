"""Helpers shared by the example scripts (not an example itself).

* :func:`ensure_symdiff` makes ``import symdiff`` work when a script is run
  from a checkout that was not ``pip install``-ed;
* :func:`digits_split` loads scikit-learn's 8x8 digits (shipped with
  scikit-learn, no download) and splits them stratified with a fixed seed;
* :func:`progress` is a tqdm bar when tqdm is installed, else a plain counter;
* :func:`table` formats aligned text tables.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np


def ensure_symdiff() -> None:
    """Put the checkout's root on ``sys.path`` if ``symdiff`` is not importable.

    ``python examples/x.py`` puts ``examples/`` first on the path, not the
    repository root, so an uninstalled checkout would fail to import.
    """
    try:
        import symdiff  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def digits_split(test_size: float = 0.25, seed: int = 0):
    """The 1,797 8x8 digit images as ``(X_train, X_test, y_train, y_test)``.

    Pixels are scaled from 0..16 to [0, 1], which keeps the logits of a
    freshly initialised model small (the log-sum-exp in the losses is not
    shifted by the max).  The split is stratified by label with a fixed
    seed, so every run and the tests see the same held-out set.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    X = data.data.astype(float) / 16.0
    return train_test_split(X, data.target, test_size=test_size, stratify=data.target,
                            random_state=seed)


def one_hot(labels, n_classes: int):
    """Rows of the identity: ``one_hot([2], 4) == [[0, 0, 1, 0]]``."""
    import numpy as np

    out = np.zeros((len(labels), n_classes))
    out[np.arange(len(labels)), labels] = 1.0
    return out


class _PlainProgress:
    """A counter rewritten in place on a terminal (what is left of tqdm
    when tqdm is missing); silent when stderr is not a terminal, so logs
    and captured test output stay clean."""

    def __init__(self, total: int, desc: str):
        self.total, self.desc, self.n = total, desc, 0
        self.enabled = sys.stderr.isatty()

    def update(self, k: int = 1) -> None:
        """Count ``k`` finished steps."""
        self.n += k
        if self.enabled:
            sys.stderr.write(f"\r{self.desc} {self.n}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        """Erase the counter line."""
        if self.enabled:
            sys.stderr.write("\r" + " " * (len(self.desc) + 24) + "\r")
            sys.stderr.flush()


def progress(total: int, desc: str):
    """A progress bar with ``update(k)`` and ``close()``: tqdm on stderr if
    installed (disabled when stderr is not a terminal), else a counter."""
    try:
        from tqdm import tqdm
    except ImportError:
        return _PlainProgress(total, desc)
    return tqdm(total=total, desc=desc, leave=False, disable=None, unit="batch")


def table(header, rows, right=None) -> str:
    """An aligned text table; columns whose index is in ``right`` (default:
    all but the first) are right-aligned."""
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(header))]
    right = set(range(1, len(header))) if right is None else set(right)

    def line(r):
        return "  ".join(c.rjust(w) if k in right else c.ljust(w)
                         for k, (c, w) in enumerate(zip(r, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


class Stopwatch:
    """``with Stopwatch() as t: ...`` then ``t.seconds``."""

    def __enter__(self):
        self.seconds = 0.0
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._t0
        return False


def per_sample_rows(cache: dict, n_cols: int, *blocks):
    """The (B, n_cols) input matrix of a per-sample kernel: ``blocks`` laid
    side by side (a 1-D block, such as the parameters, is repeated on every
    row; a 2-D block gives each row its own values).  Buffers are reused per
    batch size through ``cache`` so training allocates nothing per step."""
    B = next(len(b) for b in blocks if np.ndim(b) == 2)
    buf = cache.get(B)
    if buf is None:
        buf = cache[B] = np.empty((B, n_cols))
    col = 0
    for b in blocks:
        width = np.shape(b)[-1]
        buf[:, col:col + width] = b
        col += width
    return buf

