"""``--stable`` for ``symdiff diff`` and ``symdiff compile``: rewrite f into
numerically stable forms, differentiate, rewrite the derivatives too, and
report what was rewritten (:func:`symdiff.core.stabilize.stabilize`)."""

from __future__ import annotations

import sys

__all__ = ["stabilize_expressions", "stabilize_derivatives", "print_rewrites", "rewrite_json",
           "refuse_tensor_stable"]


def refuse_tensor_stable() -> None:
    """The UsageError of ``--stable`` on a tensor program (the Python API
    stabilizes those; the command line's printing of rewrites is scalar)."""
    from symdiff.cli.common import UsageError

    raise UsageError("--stable: the command line rewrites scalar programs only; for a "
                     "tensor program use sd.stabilize or sd.compile(..., stable=True)")


def stabilize_expressions(f):
    """``f`` (a node or a list of nodes) rewritten, and the rewrites."""
    from symdiff.core.stabilize import stabilize

    out, rewrites = stabilize(f)
    return out, list(rewrites)


def stabilize_derivatives(g, H):
    """The gradient list ``g`` and the Hessian rows ``H`` (or None)
    rewritten, with the rewrites.  The rewrite keeps shared nodes shared,
    so H stays exactly symmetric."""
    from symdiff.core.stabilize import stabilize

    flat = list(g) + ([h for row in H for h in row] if H is not None else [])
    out, rewrites = stabilize(flat)
    g2 = out[:len(g)]
    H2 = None
    if H is not None:
        n = len(H[0]) if H else 0
        rest = out[len(g):]
        H2 = [rest[i * n:(i + 1) * n] for i in range(len(H))]
    return g2, H2, list(rewrites)


def print_rewrites(rewrites, file=None) -> None:
    """One comment line per rewrite (``# rule: before -> after``), then a
    blank line; nothing when there were none but a note saying so."""
    from symdiff.text.infix import to_string

    out = file or sys.stdout
    if not rewrites:
        print("# --stable: nothing to rewrite", file=out)
        print(file=out)
        return
    seen = set()
    for r in rewrites:
        line = f"# {r.rule}: {to_string(r.before)} -> {to_string(r.after)}"
        if line not in seen:        # f's rewrite often recurs in its derivatives
            seen.add(line)
            print(line, file=out)
    print(file=out)


def rewrite_json(r) -> dict:
    """A rewrite as a JSON object."""
    from symdiff.text.infix import to_string

    return {"rule": r.rule, "before": to_string(r.before), "after": to_string(r.after),
            "why": r.why}
