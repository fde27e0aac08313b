"""Former home of the program, LaTeX and DOT printers, now in
:mod:`symdiff.text.program`, :mod:`symdiff.text.latex` and
:mod:`symdiff.text.dot`.  Kept so that existing imports (the CLI's among
them) keep working; new code imports from those modules or from
:mod:`symdiff`.
"""

from symdiff.text.dot import to_dot
from symdiff.text.latex import latex_symbol, to_latex
from symdiff.text.program import to_program

__all__ = ["to_program", "to_latex", "to_dot", "latex_symbol"]
