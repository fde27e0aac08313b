"""The part of a compiled module ``symdiff compile --emit llvm`` shows by
default: the kernel's own functions, without the library code pasted into
every module (symdiff's vectorizable math ``symdiff.v*``, the matrix
product loops ``N__gemm.*``) or the Python-only entries (``N__py``,
``N__bound``).  ``--all`` prints the module as compiled."""

from __future__ import annotations

import re

__all__ = ["kernel_ir"]

_DEFINE = re.compile(r'define\b[^@]*@"?([^"(\s]+)"?\(')
_DECLARE = re.compile(r'declare\b[^@]*@"?([^"(\s]+)"?\(')
_GLOBAL = re.compile(r'@"?([^"\s=]+)"?\s*=')


def _is_helper(symbol: str, name: str) -> bool:
    """Whether the function ``symbol`` of kernel ``name``'s module is
    library code rather than the kernel itself."""
    return (symbol.startswith("symdiff.") or symbol.startswith(f"{name}__gemm")
            or symbol in (f"{name}__py", f"{name}__bound"))


def kernel_ir(text: str, name: str) -> str:
    """The LLVM IR module ``text`` of kernel ``name`` with only the
    kernel's functions, the declarations and globals they use and a final
    comment saying what was left out (the result is for reading: the
    helpers it calls are not defined in it)."""
    blocks: list[tuple[str | None, list[str]]] = []     # (defined symbol or None, lines)
    lines = text.splitlines()
    k = 0
    while k < len(lines):
        m = _DEFINE.match(lines[k])
        if m:
            end = k
            while end < len(lines) and lines[end] != "}":
                end += 1
            blocks.append((m.group(1), lines[k:end + 1]))
            k = end + 1
        else:
            blocks.append((None, [lines[k]]))
            k += 1
    kept = [(sym, body) for sym, body in blocks if sym is None or not _is_helper(sym, name)]
    hidden = [sym for sym, _ in blocks if sym is not None and _is_helper(sym, name)]
    used = "\n".join("\n".join(body) for sym, body in kept if sym is not None)
    out: list[str] = []
    for sym, body in kept:
        line = body[0]
        if sym is None:
            if line.startswith("!") or line.startswith("attributes "):
                continue               # loop metadata and attribute groups
            decl = _DECLARE.match(line) or (_GLOBAL.match(line) if line.startswith("@")
                                           else None)
            if decl and f"@{decl.group(1)}" not in used and \
                    f'@"{decl.group(1)}"' not in used:
                continue               # declared for a helper that is not shown
        out.extend(body)
    text = "\n".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
    if hidden:
        text += (f"\n\n; not shown: {len(hidden)} helper function"
                 f"{'s' if len(hidden) != 1 else ''} ({', '.join(hidden)});"
                 "\n; --all prints the whole module")
    return text + "\n"
