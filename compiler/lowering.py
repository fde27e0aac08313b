"""Lowering one op-table primitive to LLVM IR text: the :class:`Emitter`.

Each instruction of a :class:`~symdiff.core.program.Program` is lowered as
its op table entry's ``lowering`` says (:meth:`Emitter.op`):

* :class:`~symdiff.core.ops.Instruction`: one IR instruction (``fadd`` ...);
* :class:`~symdiff.core.ops.Intrinsic`: an LLVM intrinsic (``llvm.exp.f64``);
* :class:`~symdiff.core.ops.Libm`: a call of the C math library;
* :class:`~symdiff.core.ops.Hook`: the op's own short IR sequence, written
  against the :class:`Emitter` below (``pow`` lowers ``x^2`` to ``x*x`` and
  ``x^-1`` to ``1/x``, the only powers that stay one correctly rounded
  operation; ``max``/``min`` call ``llvm.maximumnum``/``llvm.minimumnum``,
  IEEE 754-2019 maximumNumber/minimumNumber; sigmoid and softplus call
  ``em.op("exp", ...)``);

and, with vector math on, intrinsic and libm calls of the functions
:mod:`compiler.vecmath` implements become calls of its straight-line,
vectorizable versions instead (:class:`ModuleState` decides, per module,
whether their definitions are pasted in or only declared).

Why text and not ``llvmlite.ir`` objects: building and printing an
``llvmlite.ir`` module costs 15-30 us per instruction on this machine
(about 3 s for a 100,000-op gradient, a third of the compile-time budget),
while formatting the same instructions as strings costs about 1 us.  The
emitter API that the op table's lowering hooks see is unchanged; values are
simply IR operand strings (``%t12`` or a hex double literal).
:mod:`compiler.vecmath` still builds its functions with ``llvmlite.ir``; their
printed definitions are pasted into our modules (see :func:`vecmath_text`).
"""

from __future__ import annotations

import functools
import struct

from symdiff.core.ops import OPS, Hook, Instruction, Intrinsic, Libm

from . import vecmath

__all__ = ["Emitter", "ModuleState", "fmt_double", "vecmath_ops", "vecmath_text",
           "LIBM_ATTRS"]

# Comparison predicates of Emitter.fcmp (all of LLVM's except true/false).
_FCMP_PREDS = frozenset({"oeq", "ogt", "oge", "olt", "ole", "one", "ord", "uno",
                         "ueq", "ugt", "uge", "ult", "ule", "une"})

#: Attributes for libm declarations: we never read errno, so calls may be
#: hoisted, CSE'd and deleted like the intrinsics.
LIBM_ATTRS = "nounwind willreturn memory(none)"

_PACK_D = struct.Struct("<d")
_PACK_Q = struct.Struct("<Q")


def fmt_double(v: float) -> str:
    """A double as an exact LLVM IR literal (hex bit pattern: keeps -0.0,
    infinities and NaN payloads)."""
    return "0x%016X" % _PACK_Q.unpack(_PACK_D.pack(float(v)))[0]


def vecmath_ops() -> frozenset:
    """Ops of the table whose lowering :mod:`compiler.vecmath` can replace
    with a vectorizable implementation: the intrinsic or libm ops it
    implements, and hooks that call one of them."""
    out = set()
    for name, op in OPS.items():
        low = op.lowering
        if isinstance(low, (Intrinsic, Libm)) and name in vecmath.SUPPORTED:
            out.add(name)
        elif isinstance(low, Hook) and any(c in vecmath.SUPPORTED for c in low.calls):
            out.add(name)
    return frozenset(out)


_VECMATH_CACHE: dict = {}


@functools.lru_cache(maxsize=None)
def _host_fma() -> bool:
    # Asking LLVM for the host's features costs ~0.25 ms: once per process.
    return vecmath.host_has_fma()


def vecmath_text(name: str, *, exported: bool = False) -> tuple[str, str, dict]:
    """(symbol, definition text, {decl symbol: decl text}) of the vecmath
    function for math ``name``: ``internal alwaysinline`` as
    :func:`compiler.vecmath.define_vecmath` makes it, or with ``exported``
    an ordinary external function (the runtime object other modules link
    against).  ``llvm.fma`` where the host has it.  Printed once per process
    and reused (building it through ``llvmlite.ir`` costs ~1-5 ms)."""
    key = (name, exported)
    hit = _VECMATH_CACHE.get(key)
    if hit is not None:
        return hit
    import llvmlite.ir as ir

    mod = ir.Module(name="vecmath_" + name)
    fns = vecmath.define_vecmath(mod, [name], use_fma=_host_fma())
    fn = fns[name]
    if exported:
        fn.linkage = ""
        fn.attributes.discard("alwaysinline")
    defs, decls = [], {}
    for g in mod.global_values:
        if isinstance(g, ir.Function) and g.is_declaration:
            decls[g.name] = str(g).strip()
        else:
            defs.append(str(g).strip())
    hit = (fn.name, "\n\n".join(defs), decls)
    _VECMATH_CACHE[key] = hit
    return hit


class ModuleState:
    """Declarations and helper definitions shared by all functions of a module.

    ``vector_math``: lower the math :mod:`compiler.vecmath` implements to
    its functions.  ``define_vecmath``: paste their definitions into this
    module (True) or only declare them, to be linked from a separately
    compiled runtime object (False; see :mod:`compiler.runtime`).
    ``vec_used`` lists the vecmath functions the module calls, in order.
    """

    def __init__(self, vector_math: bool, *, define_vecmath: bool = True):
        self.decls: dict[str, str] = {}
        self.extra_defs: list[str] = []
        self.vec_names = vecmath.SUPPORTED if vector_math else frozenset()
        self.define_vecmath = define_vecmath
        self.vec_used: dict[str, str] = {}

    def declare(self, symbol: str, arity: int, attrs: str) -> str:
        """Declare ``double @symbol(double, ...)`` once; returns the symbol."""
        if symbol not in self.decls:
            params = ", ".join(["double"] * arity)
            self.decls[symbol] = f'declare double @"{symbol}"({params}) {attrs}'
        return symbol

    def vecmath(self, name: str) -> str:
        """The symbol of vecmath's ``name``, defined or declared on first use."""
        sym = self.vec_used.get(name)
        if sym is None:
            if self.define_vecmath:
                sym, text, decls = vecmath_text(name)
                for s, d in decls.items():
                    self.decls.setdefault(s, d)
                self.extra_defs.append(text)
            else:
                sym = vecmath.vecmath_symbol(name)
                # Same attributes as libm: pure functions of their argument.
                self.declare(sym, 1, LIBM_ATTRS)
            self.vec_used[name] = sym
        return sym


class Emitter:
    """Builds the body of one LLVM function as text.

    This is the object the op table's lowering hooks receive.  Values are
    IR operand strings: an SSA name such as ``%t7`` or a hex double literal.
    """

    def __init__(self, state: ModuleState, fast_math: bool):
        self._state = state
        self.lines: list[str] = []
        self._n = 0
        # "fast" on every float instruction only when the user opted in.
        self._ff = "fast " if fast_math else ""

    # -- values ------------------------------------------------------------
    def tmp(self) -> str:
        """A fresh SSA name."""
        self._n += 1
        return f"%t{self._n}"

    def const(self, value: float) -> str:
        """The double constant ``value`` (exact bit pattern)."""
        return fmt_double(value)

    # -- arithmetic --------------------------------------------------------
    def _bin(self, opcode: str, a: str, b: str) -> str:
        self._n += 1
        r = f"%t{self._n}"
        self.lines.append(f"  {r} = {opcode} {self._ff}double {a}, {b}")
        return r

    def fadd(self, a: str, b: str) -> str:
        """a + b."""
        return self._bin("fadd", a, b)

    def fsub(self, a: str, b: str) -> str:
        """a - b."""
        return self._bin("fsub", a, b)

    def fmul(self, a: str, b: str) -> str:
        """a * b."""
        return self._bin("fmul", a, b)

    def fdiv(self, a: str, b: str) -> str:
        """a / b."""
        return self._bin("fdiv", a, b)

    def _unary(self, opcode: str, a: str) -> str:
        self._n += 1
        r = f"%t{self._n}"
        self.lines.append(f"  {r} = {opcode} {self._ff}double {a}")
        return r

    def fneg(self, a: str) -> str:
        """-a (flips the sign bit, also of 0.0 and NaN, like numpy.negative)."""
        return self._unary("fneg", a)

    def fcmp(self, pred: str, a: str, b: str) -> str:
        """Compare two doubles; ``pred`` is an LLVM predicate (``'olt'``,
        ``'uno'``...).  Returns an ``i1`` value for :meth:`select`."""
        if pred not in _FCMP_PREDS:
            raise ValueError(f"unknown fcmp predicate {pred!r}")
        r = self.tmp()
        self.lines.append(f"  {r} = fcmp {self._ff}{pred} double {a}, {b}")
        return r

    def select(self, cond: str, a: str, b: str) -> str:
        """``a`` if the i1 ``cond`` is true else ``b``."""
        r = self.tmp()
        self.lines.append(f"  {r} = select i1 {cond}, double {a}, double {b}")
        return r

    def op(self, name: str, *args: str) -> str:
        """Lower the op-table primitive ``name`` on operands ``args`` (what
        lowering hooks call for the math they need)."""
        opdef = OPS.get(name)
        if opdef is None:
            raise ValueError(f"unknown op {name!r}")
        if not opdef.check_arity(len(args)):
            raise ValueError(f"op {name!r} applied to {len(args)} arguments")
        low = opdef.lowering
        if isinstance(low, Instruction):
            # One IR instruction; its arity says which form (fneg is unary).
            if len(args) == 1:
                return self._unary(low.opcode, args[0])
            return self._bin(low.opcode, *args)
        if isinstance(low, (Intrinsic, Libm)):
            if name in self._state.vec_names:
                return self.call(self._state.vecmath(name), *args)
            if isinstance(low, Intrinsic):
                return self.intrinsic(low.name, *args)
            return self.libm(low.name, *args)
        if isinstance(low, Hook):
            return low.fn(self, *args)
        raise ValueError(f"op {name!r} has no LLVM lowering ({low!r})")

    def binary_prefixes(self) -> dict[str, str]:
        """{op name: instruction prefix} for the table's ops lowered to one
        binary instruction (``"fadd double "``; operands follow).  The
        kernels' loop formats these inline: they are most of a gradient, and
        going through :meth:`op` per instruction made emission 3x slower."""
        return {name: f"{op.lowering.opcode} {self._ff}double "
                for name, op in OPS.items()
                if isinstance(op.lowering, Instruction) and op.arity == 2}

    def const_value(self, operand: str):
        """The float value of a constant operand, or ``None`` for an SSA
        value (lets ``pow``'s hook unroll constant integer exponents)."""
        if operand.startswith("0x"):
            return _PACK_D.unpack(_PACK_Q.pack(int(operand, 16)))[0]
        return None

    def call(self, symbol: str, *args: str) -> str:
        """Call a declared ``double(double, ...)`` function."""
        r = self.tmp()
        params = ", ".join(f"double {a}" for a in args)
        self.lines.append(f'  {r} = call {self._ff}double @"{symbol}"({params})')
        return r

    def libm(self, symbol: str, *args: str) -> str:
        """Call the C math library function ``symbol`` (declared on demand)."""
        self._state.declare(symbol, len(args), LIBM_ATTRS)
        return self.call(symbol, *args)

    def intrinsic(self, symbol: str, *args: str) -> str:
        """Call an LLVM intrinsic by full name (``llvm.foo.f64``)."""
        self._state.declare(symbol, len(args), "")
        return self.call(symbol, *args)

    # -- memory (used by the kernel templates, not by lowering hooks) -------
    def load(self, base: str, index: str) -> str:
        """double at ``base[index]`` (index an i64 operand)."""
        self._n += 2
        p, r = f"%t{self._n - 1}", f"%t{self._n}"
        self.lines.append(f"  {p} = getelementptr inbounds double, ptr {base}, i64 {index}\n"
                          f"  {r} = load double, ptr {p}, align 8")
        return r

    def store(self, value: str, base: str, index: int | str) -> None:
        """``base[index] = value``."""
        p = self.tmp()
        self.lines.append(f"  {p} = getelementptr inbounds double, ptr {base}, i64 {index}\n"
                          f"  store double {value}, ptr {p}, align 8")

