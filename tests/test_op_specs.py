"""The per-op spec table of tests/op_specs.py: one row for every op of the
table, rows consistent with the table's traits, and its two independent
oracles (mpmath and SymPy) agreeing with each other."""

import mpmath
import pytest
import sympy
from op_specs import OP_SPECS, SPECS, points

from symdiff.core.ops import OPS, VARIADIC


def test_every_op_has_a_spec_row():
    # Adding an op to the table fails here until tests/op_specs.py has its row.
    assert [s.name for s in OP_SPECS] == list(SPECS)          # no duplicate rows
    assert set(SPECS) == set(OPS)


@pytest.mark.parametrize("spec", OP_SPECS, ids=lambda s: s.name)
def test_spec_row_agrees_with_the_table(spec):
    op = OPS[spec.name]
    assert op.check_arity(spec.nargs)
    assert spec.nargs == (3 if op.arity == VARIADIC else op.arity)
    # The table's sampler tags (product code draws from them too) are the spec's.
    assert tuple(op.domain) == spec.domains[:len(op.domain)]
    assert op.smooth == (spec.kink is None)
    assert spec.special, "every op needs at least one special value"
    for args, _ in spec.special:
        assert op.check_arity(len(args))


@pytest.mark.parametrize("spec", OP_SPECS, ids=lambda s: s.name)
def test_mpmath_and_sympy_oracles_agree(spec):
    syms = sympy.symbols(f"a0:{spec.nargs}", real=True)
    expr = spec.sympy(*syms)
    for pt in points(spec):
        with mpmath.workdps(30):
            want = spec.mp(*(mpmath.mpf(v) for v in pt))
        got = expr.xreplace({s: sympy.Float(v, 30) for s, v in zip(syms, pt)})
        assert abs(float(sympy.N(got, 30)) - float(want)) <= 1e-15 * max(1.0, abs(float(want))), \
            (spec.name, pt)
