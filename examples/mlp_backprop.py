"""A 64-32-10 multilayer perceptron (tanh hidden layer, softmax output) on
scikit-learn's 8x8 digits, trained with backprop that symdiff derives and
compiles.

The per-sample cross-entropy loss of the network

    a = tanh(W1 x + b1),  h = W2 a + b2,  l = log sum_j exp(h_j) - y . h

is built symbolically with inputs [W1 (32x64), b1, W2 (10x32), b2, x, y
one-hot] (2,410 parameters), differentiated by symdiff (reverse
accumulation in one shared graph: the lectures' backprop) and compiled
into one kernel returning [l, dl/dparameters].  A minibatch is one
``fn.batch`` call; Adam (written in numpy) takes the mean gradient.

The same gradient is then computed two more ways on a few samples to show
they agree: with symdiff's reverse-mode tape (:class:`symdiff.Scalar`, the
lectures' ``ag.Scalar``: the network written out scalar by scalar, then
``backward()``), and with PyTorch or JAX when one is installed (skipped
with a message otherwise).

Run: ``python examples/mlp_backprop.py [--epochs N] [--quick]``.
The last line printed is ``test accuracy: 0.NNN``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (digits_split, ensure_symdiff, one_hot, per_sample_rows,  # noqa: E402
                     progress, table)

ensure_symdiff()

import symdiff as sd  # noqa: E402

SIZES = (64, 32, 10)
D, H, K = SIZES
# Layout of the flat parameter vector: W1 row-major, b1, W2 row-major, b2.
SHAPES = {"W1": (H, D), "b1": (H,), "W2": (K, H), "b2": (K,)}
N_PARAMS = sum(int(np.prod(s)) for s in SHAPES.values())


def unpack(theta) -> dict:
    """Views W1, b1, W2, b2 of the flat parameter vector."""
    out, k = {}, 0
    for name, shape in SHAPES.items():
        n = int(np.prod(shape))
        out[name] = theta[k:k + n].reshape(shape)
        k += n
    return out


def build_loss():
    """The symbolic per-sample loss and its symbols: ``(loss, params,
    pixels, onehot)`` with params in the flat-vector layout."""
    W1, b1 = sd.matrix("W1_", H, D), sd.vector("b1_", H)
    W2, b2 = sd.matrix("W2_", K, H), sd.vector("b2_", K)
    x, y = sd.vector("x", D), sd.vector("y", K)
    a = sd.tanh(sd.dot(W1, x) + b1)
    h = sd.dot(W2, a) + b2
    loss = sd.log(sd.sum(sd.exp(h))) - sd.dot(y, h)
    params = list(W1.ravel()) + list(b1) + list(W2.ravel()) + list(b2)
    return loss, params, list(x), list(y)


def compile_gradient():
    """Compile [loss, dloss/dparams] with inputs [params, x, y]."""
    loss, params, pixels, onehot = build_loss()
    grad = sd.grad(loss, params)
    return sd.compile([loss, *grad], params + pixels + onehot, name="mlp_grad")


class BatchGradient:
    """Mean loss and gradient over a minibatch with one ``fn.batch`` call
    (parameters repeated in every row, then the sample's pixels and label)."""

    def __init__(self, fn):
        self.fn = fn
        self._buf = {}

    def __call__(self, theta, Xb, Yb):
        """(mean loss, mean gradient of length N_PARAMS) over Xb's rows."""
        buf = per_sample_rows(self._buf, self.fn.n_inputs, theta, Xb, Yb)
        out = self.fn.batch(buf)
        return out[:, 0].mean(), out[:, 1:].mean(axis=0)


def predict(theta, X):
    """Predicted labels (argmax of the output logits), in numpy."""
    p = unpack(theta)
    return np.argmax(np.tanh(X @ p["W1"].T + p["b1"]) @ p["W2"].T + p["b2"], axis=1)


def init_params(rng) -> np.ndarray:
    """Weights ~ N(0, 1/fan_in) (keeps tanh out of saturation), biases 0."""
    p = unpack(np.zeros(N_PARAMS))
    p["W1"][:] = rng.normal(0.0, 1.0 / np.sqrt(D), (H, D))
    p["W2"][:] = rng.normal(0.0, 1.0 / np.sqrt(H), (K, H))
    return np.concatenate([v.ravel() for v in p.values()])


class Adam:
    """Adam (Kingma & Ba) on a flat parameter vector, in numpy."""

    def __init__(self, n: int, lr: float = 1e-2, b1: float = 0.9, b2: float = 0.999,
                 eps: float = 1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.m, self.v, self.t = np.zeros(n), np.zeros(n), 0

    def step(self, theta, grad) -> None:
        """Update ``theta`` in place with gradient ``grad``."""
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * grad
        self.v = self.b2 * self.v + (1 - self.b2) * grad * grad
        mhat = self.m / (1 - self.b1 ** self.t)
        vhat = self.v / (1 - self.b2 ** self.t)
        theta -= self.lr * mhat / (np.sqrt(vhat) + self.eps)


# ---------------------------------------------------------------------------
# the same gradient, other ways


def tape_gradient(theta, Xb, yb):
    """Mean loss and gradient with the reverse-mode tape: every parameter a
    :class:`symdiff.Scalar` leaf, the network evaluated scalar by scalar
    (micrograd style), one ``backward()``.  Slow (tens of thousands of
    Python objects) but independent of the symbolic graph."""
    leaves = [sd.Scalar(v) for v in theta]
    it = iter(leaves)
    W1 = [[next(it) for _ in range(D)] for _ in range(H)]
    b1 = [next(it) for _ in range(H)]
    W2 = [[next(it) for _ in range(H)] for _ in range(K)]
    b2 = [next(it) for _ in range(K)]
    total = None
    for x, label in zip(Xb, yb):
        a = []
        for j in range(H):
            s = b1[j]
            for w, xi in zip(W1[j], x):
                if xi != 0.0:   # blank pixels add nothing: skip them
                    s = s + w * float(xi)
            a.append(s.tanh())
        h = []
        for k in range(K):
            s = b2[k]
            for w, aj in zip(W2[k], a):
                s = s + w * aj
            h.append(s)
        se = h[0].exp()
        for hk in h[1:]:
            se = se + hk.exp()
        loss = se.log() - h[int(label)]
        total = loss if total is None else total + loss
    mean = total / len(Xb)
    mean.backward()
    return mean.value, np.array([leaf.grad for leaf in leaves])


def torch_gradient(theta, Xb, yb):
    """Mean loss and gradient with PyTorch autograd (float64)."""
    import torch

    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    sizes = [int(np.prod(s)) for s in SHAPES.values()]
    W1, b1, W2, b2 = [p.reshape(s) for p, s in zip(torch.split(t, sizes), SHAPES.values())]
    X = torch.tensor(Xb, dtype=torch.float64)
    logits = torch.tanh(X @ W1.T + b1) @ W2.T + b2
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(yb, dtype=torch.long))
    loss.backward()
    return float(loss.detach()), t.grad.numpy().copy()


def jax_gradient(theta, Xb, yb):
    """Mean loss and gradient with ``jax.value_and_grad`` (float64)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    sizes = np.cumsum([int(np.prod(s)) for s in SHAPES.values()])[:-1]

    def loss_fn(t):
        W1, b1, W2, b2 = [p.reshape(s) for p, s in zip(jnp.split(t, sizes), SHAPES.values())]
        logits = jnp.tanh(Xb @ W1.T + b1) @ W2.T + b2
        lse = jax.scipy.special.logsumexp(logits, axis=1)
        return jnp.mean(lse - logits[jnp.arange(len(yb)), yb])

    value, g = jax.value_and_grad(loss_fn)(jnp.asarray(theta, dtype=jnp.float64))
    return float(value), np.asarray(g)


def agreement(grad_fn, theta, Xb, yb) -> dict:
    """Compare the compiled gradient with the tape's and (if installed)
    PyTorch's / JAX's on one minibatch; prints a table and returns the max
    abs differences by name (None where skipped)."""
    loss_c, g_c = grad_fn(theta, Xb, one_hot(yb, K))
    rows, diffs = [], {}
    t0 = time.perf_counter()
    loss_t, g_t = tape_gradient(theta, Xb, yb)
    tape_s = time.perf_counter() - t0
    diffs["tape"] = float(np.max(np.abs(g_t - g_c)))
    rows.append(["symdiff.Scalar tape", f"{loss_t:.15f}", f"{diffs['tape']:.2e}",
                 f"{tape_s * 1e3:.0f} ms"])
    for name, module, fn in (("PyTorch", "torch", torch_gradient),
                             ("JAX", "jax", jax_gradient)):
        try:
            # Imported before the clock starts: importing PyTorch alone
            # takes seconds and is not the gradient's cost.
            importlib.import_module(module)
        except ImportError:
            diffs[name.lower()] = None
            rows.append([name, "-", "-", f"skipped: {name} is not installed"])
            continue
        t0 = time.perf_counter()
        res = fn(theta, Xb, yb)
        secs = time.perf_counter() - t0
        diffs[name.lower()] = float(np.max(np.abs(res[1] - g_c)))
        rows.append([name, f"{res[0]:.15f}", f"{diffs[name.lower()]:.2e}",
                     f"{secs * 1e3:.0f} ms"])
    print(f"gradient of the mean loss over {len(Xb)} samples ({N_PARAMS} entries, largest "
          f"|g| = {np.max(np.abs(g_c)):.3f}); compiled symdiff loss {loss_c:.15f}:")
    print(table(["method", "loss", "max |g - g_symdiff|", "time"], rows, right={1, 2}))
    return diffs


def main(argv=None) -> dict:
    """Train and evaluate; returns the measurements (used by the tests)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=30, help="passes over the data (default 30)")
    p.add_argument("--batch-size", type=int, default=32, help="minibatch size (default 32)")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam step size (default 3e-3)")
    p.add_argument("--check-samples", type=int, default=4,
                   help="samples in the tape/PyTorch/JAX comparison (default 4)")
    p.add_argument("--seed", type=int, default=0, help="initialisation/shuffling seed")
    p.add_argument("--quick", action="store_true", help="8 epochs, 2 check samples")
    args = p.parse_args(argv)
    epochs = 8 if args.quick else args.epochs
    check_samples = 2 if args.quick else args.check_samples

    Xtr, Xte, ytr, yte = digits_split()
    Ytr = one_hot(ytr, K)
    print(f"digits: {len(Xtr)} training and {len(Xte)} test images; "
          f"MLP {'-'.join(map(str, SIZES))}, tanh hidden layer, {N_PARAMS} parameters")
    t0 = time.perf_counter()
    fn = compile_gradient()
    compile_s = time.perf_counter() - t0
    print(f"compiled {fn!r} in {compile_s:.2f} s ({fn.compile_info.get('cache')} cache)")
    grad_fn = BatchGradient(fn)

    rng = np.random.default_rng(args.seed)
    theta = init_params(rng)
    diffs = agreement(grad_fn, theta, Xtr[:check_samples], ytr[:check_samples])

    opt = Adam(N_PARAMS, lr=args.lr)
    n_batches = -(-len(Xtr) // args.batch_size)
    epoch_s = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(Xtr))
        bar = progress(n_batches, f"epoch {epoch}/{epochs}")
        t0 = time.perf_counter()
        total = 0.0
        for k in range(n_batches):
            idx = order[k * args.batch_size:(k + 1) * args.batch_size]
            loss, grad = grad_fn(theta, Xtr[idx], Ytr[idx])
            opt.step(theta, grad)
            total += loss * len(idx)
            bar.update(1)
        bar.close()
        epoch_s.append(time.perf_counter() - t0)
        print(f"epoch {epoch:3d}/{epochs}  loss {total / len(Xtr):.4f}  train accuracy "
              f"{np.mean(predict(theta, Xtr) == ytr):.3f}  {epoch_s[-1] * 1e3:.1f} ms")
    print(f"time per epoch: median {np.median(epoch_s) * 1e3:.1f} ms "
          f"({n_batches} compiled batch gradients of {args.batch_size} samples)")
    acc = float(np.mean(predict(theta, Xte) == yte))
    print(f"test accuracy: {acc:.3f}")
    return {"test_accuracy": acc, "diffs": diffs, "epoch_seconds": epoch_s,
            "compile_seconds": compile_s}


if __name__ == "__main__":
    main()
