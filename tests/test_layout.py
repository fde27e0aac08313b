"""The layered layout: imports only point down.

    symdiff.core            expressions, the op table, programs, differentiation
    symdiff.numeric  symdiff.text      evaluators / parser and printers (on core)
    compiler                LLVM code generation (on core only)
    symdiff.lab             comparisons, scaling, plots (on all of the above)
    symdiff.optimize        SciPy objectives from compiled kernels (on compiler)
    symdiff.cli             the command line (on everything)

An AST walk over every module checks its imports, module-level and inside
functions alike, against that order; ``symdiff/core`` never imports
llvmlite.  The few imports inside functions that point up on purpose are
listed in ``ALLOWED`` with the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Layer of each package: a module may import packages of its own layer or
# lower.  numeric and text are peers that do not import each other.
LAYERS = {
    "symdiff.core": 0,
    "symdiff.numeric": 1,
    "symdiff.text": 1,
    "compiler": 2,
    "symdiff.lab": 3,
    "symdiff.optimize": 3,
    "symdiff.cli": 4,
}
PEERS_APART = {("symdiff.numeric", "symdiff.text"), ("symdiff.text", "symdiff.numeric")}
# compiler sits on core alone (the design card: it never walks expressions).
ONLY = {"compiler": {"symdiff.core", "compiler"}}

# (importing package, imported package): why it may point up.
ALLOWED = {
    ("symdiff.core", "symdiff.text"): "Node.__repr__/__str__ print with the infix printer; "
                                      "the Jupyter hooks (Node._repr_latex_/_repr_svg_, "
                                      "core/display.py) with the LaTeX printer and to_dot",
}


def _package(module: str) -> str | None:
    for pkg in sorted(LAYERS, key=len, reverse=True):
        if module == pkg or module.startswith(pkg + "."):
            return pkg
    if module == "symdiff" or module.startswith("symdiff."):
        return "symdiff"   # the public API module itself
    return None


def _modules():
    paths = sorted((ROOT / "symdiff").rglob("*.py")) + sorted((ROOT / "compiler").rglob("*.py"))
    for path in paths:
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(module: str, path: Path):
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_pkg else 0)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield node.lineno, name
            for alias in node.names:           # from pkg import module
                yield node.lineno, f"{name}.{alias.name}"


def _violations(modules=None):
    out = []
    for module, path in (_modules() if modules is None else modules):
        src = _package(module)
        if src is None or src == "symdiff":
            continue
        for line, target in _imports(module, path):
            if src == "symdiff.core" and target.split(".")[0] == "llvmlite":
                out.append(f"{path}:{line}: core imports {target}")
                continue
            dst = _package(target)
            if dst is None or dst == src:
                continue
            if dst == "symdiff":
                # The public API module sits on core, numeric and text: only
                # lab and cli may use it.
                if target == "symdiff" and LAYERS[src] < LAYERS["symdiff.lab"]:
                    out.append(f"{path.name}:{line}: {module} imports the public "
                               "API module symdiff (import the layer module instead)")
                continue
            if (src, dst) in ALLOWED:
                continue
            if src in ONLY and dst not in ONLY[src]:
                out.append(f"{path.name}:{line}: {module} imports {target}; "
                           f"{src} may only use {sorted(ONLY[src])}")
                continue
            if LAYERS[dst] > LAYERS[src] or (src, dst) in PEERS_APART:
                out.append(f"{path.name}:{line}: {module} (layer {src}) "
                           f"imports {target} (layer {dst}), which is not below it")
    return out


def test_imports_only_point_down():
    assert _violations() == []


def test_every_module_is_in_a_layer():
    loose = [m for m, _ in _modules() if _package(m) is None]
    assert loose == []
    top = {m for m, _ in _modules() if _package(m) == "symdiff"}
    assert top == {"symdiff", "symdiff.__main__"}


@pytest.mark.parametrize("src, dst", [("symdiff.core", "symdiff.lab"),
                                      ("compiler", "symdiff.numeric"),
                                      ("symdiff.numeric", "symdiff.text")])
def test_the_rule_catches_an_upward_import(tmp_path, src, dst):
    # The checker itself must fail on a violation (module-level or inside a
    # function): check a planted module.
    planted = tmp_path / "planted.py"
    planted.write_text(f"def f():\n    from {dst} import x\n")
    found = _violations([(f"{src}.planted", planted)])
    assert found and all("planted.py:2" in v for v in found)


def test_core_never_imports_llvmlite(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("import llvmlite.binding\n")
    assert _violations([("symdiff.core.planted", planted)]) == [
        f"{planted}:1: core imports llvmlite.binding"]
