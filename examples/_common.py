"""Helpers shared by the example scripts (not an example itself).

* :func:`ensure_symdiff` makes ``import symdiff`` work when a script is run
  from a checkout that was not ``pip install``-ed;
* :func:`digits_split` loads scikit-learn's 8x8 digits (shipped with
  scikit-learn, no download) and splits them stratified with a fixed seed;
  :func:`synthetic_images` generates an MNIST-sized stand-in;
* :func:`cross_entropy` and :func:`mlp` build the lectures' models as
  tensor expressions; :func:`init_params`, :func:`minibatches` and
  :class:`Adam` train them; :func:`softmax` and :func:`one_hot` are the
  numpy pieces of the lectures' closed forms;
* :func:`progress` is a tqdm bar when tqdm is installed, else a plain counter;
  :func:`table` formats aligned text tables; :class:`Stopwatch` times a block;
  :func:`report_wall_time` ends a script's run with its total wall time.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import numpy as np

# When this module was imported: the fallback start of a script's run for
# report_wall_time() where the process's own start time is not available.
_IMPORTED = time.perf_counter()


def ensure_symdiff() -> None:
    """Put the checkout's root on ``sys.path`` if ``symdiff`` is not importable.

    ``python examples/x.py`` puts ``examples/`` first on the path, not the
    repository root, so an uninstalled checkout would fail to import.
    """
    try:
        import symdiff  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---------------------------------------------------------------------------
# data


def digits_split(test_size: float = 0.25, seed: int = 0):
    """The 1,797 8x8 digit images as ``(X_train, X_test, y_train, y_test)``.

    Pixels are scaled from 0..16 to [0, 1], which keeps the logits of a
    freshly initialised model small.  The split is stratified by label with
    a fixed seed, so every run and the tests see the same held-out set.
    Labels are int64, the dtype compiled kernels take for label inputs.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    X = data.data.astype(float) / 16.0
    y = data.target.astype(np.int64)
    return train_test_split(X, y, test_size=test_size, stratify=y, random_state=seed)


def synthetic_images(n_train: int, n_test: int, *, side: int = 28, k: int = 10,
                     styles: int = 3, latent: int = 16, noise: float = 0.35, seed: int = 0):
    """MNIST-sized synthetic data: ``(X_train, X_test, y_train, y_test)``
    with ``side * side`` pixels in [0, 1] and ``k`` classes.

    Each class is a mixture of ``styles`` Gaussian blobs in a ``latent``-
    dimensional space (as a digit has several ways of being written), so the
    classes are not linearly separable and a hidden layer earns its keep.
    A fixed random map sends the latent point to pixel space, a logistic
    squashes it into [0, 1] (pixels are intensities) and independent pixel
    noise is added.  Everything is drawn from ``seed``: the same call gives
    the same arrays in every process, and nothing is downloaded.
    """
    rng = np.random.default_rng(seed)
    d = side * side
    centres = rng.normal(0.0, 1.0, (k, styles, latent))
    # Each latent direction paints a smooth random stroke pattern: low
    # spatial frequencies, like pen strokes, rather than white noise.
    freq = rng.normal(0.0, 2.0, (latent, 2, 3))
    phase = rng.uniform(0, 2 * np.pi, (latent, 3))
    u = np.linspace(0.0, 1.0, side)
    grid_y, grid_x = np.meshgrid(u, u, indexing="ij")
    basis = np.stack([
        sum(np.cos(2 * np.pi * (freq[j, 0, t] * grid_x + freq[j, 1, t] * grid_y) + phase[j, t])
            for t in range(3)).ravel() for j in range(latent)]) / np.sqrt(3 * latent / 4)

    def draw(n):
        y = rng.integers(0, k, n).astype(np.int64)
        style = rng.integers(0, styles, n)
        z = centres[y, style] + 0.6 * rng.normal(0.0, 1.0, (n, latent))
        X = 1.0 / (1.0 + np.exp(-(z @ basis)))
        X += noise * rng.normal(0.0, 1.0, (n, d))
        np.clip(X, 0.0, 1.0, out=X)
        return X, y

    X_train, y_train = draw(n_train)
    X_test, y_test = draw(n_test)
    return X_train, X_test, y_train, y_test


def minibatches(n: int, batch_size: int, rng):
    """Index arrays of one epoch: a fresh permutation of ``range(n)`` cut
    into batches of ``batch_size`` (the last one shorter when ``batch_size``
    does not divide ``n``: the compiled kernels bind the batch dimension per
    call, so no sample is dropped)."""
    order = rng.permutation(n)
    for lo in range(0, n, batch_size):
        yield order[lo:lo + batch_size]


# ---------------------------------------------------------------------------
# models as tensor expressions


def cross_entropy(Z, y, k: int):
    """The lectures' mean softmax (cross-entropy) loss of logits ``Z``
    (m x k) with integer labels ``y``: mean over rows of
    ``logsumexp(z) - z_y``, written with I_y = onehot(y) so the labels are
    an input of the kernel rather than constants baked into it."""
    import symdiff as sd

    return sd.mean(sd.logsumexp(Z, axis=1) - sd.sum(sd.onehot(y, k) * Z, axis=1))


@dataclass
class MLP:
    """A two-layer network as tensor expressions (see :func:`mlp`)."""

    X: object                 # input rows, ("m", D)
    y: object                 # integer labels, ("m",)
    params: dict              # {"W1": (D, H), "b1": (H,), "W2": (H, K), "b2": (K,)}
    logits: object            # ("m", K)
    loss: object              # mean cross-entropy, shape ()
    activation: str

    @property
    def inputs(self) -> list:
        """Kernel inputs in calling order: X, y, then the parameters."""
        return [self.X, self.y, *self.params.values()]

    @property
    def shapes(self) -> dict:
        """Parameter shapes by name."""
        return {name: p.shape for name, p in self.params.items()}


def mlp(sizes, activation: str = "tanh") -> MLP:
    """The lectures' two-layer network in matrix form,

        A = act(X W1 + b1),  Z = A W2 + b2,  loss = cross_entropy(Z, y),

    with ``sizes = (D, H, K)``; a batch of any size m (the rows of X)."""
    import symdiff as sd

    D, H, K = sizes
    act = {"tanh": sd.tanh, "relu": sd.relu}[activation]
    X = sd.tensor("X", ("m", D))
    y = sd.tensor("y", ("m",), dtype=int)
    params = {"W1": sd.tensor("W1", (D, H)), "b1": sd.tensor("b1", (H,)),
              "W2": sd.tensor("W2", (H, K)), "b2": sd.tensor("b2", (K,))}
    A = act(X @ params["W1"] + params["b1"])
    Z = A @ params["W2"] + params["b2"]
    return MLP(X, y, params, Z, cross_entropy(Z, y, K), activation)


def init_params(shapes: dict, rng) -> dict:
    """Weights ~ N(0, 1/fan_in) (keeps tanh out of saturation and relu's
    outputs at unit scale), biases 0; a dict of float64 arrays."""
    return {name: (rng.normal(0.0, 1.0 / np.sqrt(shape[0]), shape) if len(shape) == 2
                   else np.zeros(shape)) for name, shape in shapes.items()}


def mlp_predict(params: dict, X, activation: str = "tanh"):
    """Predicted labels of the two-layer network, in numpy."""
    act = np.tanh if activation == "tanh" else (lambda a: np.maximum(a, 0.0))
    A = act(X @ params["W1"] + params["b1"])
    return np.argmax(A @ params["W2"] + params["b2"], axis=1)


class Adam:
    """Adam (Kingma & Ba) on a dict of parameter arrays, updated in place.

    The moment buffers are allocated once and updated with in-place numpy
    operations, so a step allocates nothing (it would otherwise show up in
    the large example's time per epoch)."""

    def __init__(self, params: dict, lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999,
                 eps: float = 1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.tmp = {k: np.empty_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, params: dict, grads: dict) -> None:
        """One update of every array in ``params`` with ``grads``."""
        self.t += 1
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        for k, p in params.items():
            g, m, v, t = grads[k], self.m[k], self.v[k], self.tmp[k]
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            np.multiply(g, g, out=t)
            t *= 1 - self.b2
            v += t
            # p -= lr * (m / c1) / (sqrt(v / c2) + eps)
            np.divide(v, c2, out=t)
            np.sqrt(t, out=t)
            t += self.eps
            np.divide(m, t, out=t)
            t *= self.lr / c1
            p -= t


# ---------------------------------------------------------------------------
# numpy pieces of the closed forms


def softmax(H):
    """Row-wise softmax, shifted by the row max."""
    E = np.exp(H - H.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def one_hot(labels, n_classes: int):
    """Rows of the identity: ``one_hot([2], 4) == [[0, 0, 1, 0]]`` (I_y)."""
    out = np.zeros((len(labels), n_classes))
    out[np.arange(len(labels)), labels] = 1.0
    return out


def max_rel_diff(a, b) -> float:
    """max |a - b| over max |b|: one relative error for a whole array
    (entrywise ratios blow up at entries that are zero in both)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = np.max(np.abs(b))
    return float(np.max(np.abs(a - b)) / scale) if scale > 0 else float(np.max(np.abs(a)))


# ---------------------------------------------------------------------------
# output


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


def _process_age() -> float | None:
    """Seconds since this process started (Linux /proc), or None."""
    try:
        with open("/proc/self/stat") as f:
            # Fields after the command name (which may contain spaces), from
            # field 3 on; field 22 is the start time in clock ticks after boot.
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        age = uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return age if age >= 0 else None


def report_wall_time() -> float:
    """Print the script's total wall time to stderr (``wall time 1.4 s``),
    leaving stdout, whose last line the tests and README rely on, as it
    is; returns the seconds.  Measured from the process's start where the
    system tells it (Linux: interpreter start-up and imports included, as
    ``time python examples/x.py`` would), else from the import of this
    module."""
    age = _process_age()
    seconds = age if age is not None else time.perf_counter() - _IMPORTED
    sys.stdout.flush()
    print(f"wall time {seconds:.1f} s", file=sys.stderr, flush=True)
    return seconds
