"""Names the command line lists before it runs anything: the methods of
:func:`symdiff.lab.methods.compare_methods`, the models of
:data:`symdiff.lab.models.SCALING_MODELS` and the lectures' example.  A
module of constants only, so that building the ``symdiff`` argument parser
imports neither the measurements nor the parser the models need."""

__all__ = ["METHODS", "SCALING_MODEL_NAMES", "LECTURE_EXAMPLE"]

#: Method names of :func:`symdiff.lab.methods.compare_methods`, in report order.
METHODS = ("symbolic", "compiled", "forward", "reverse", "forward_difference",
           "central_difference", "complex_step", "richardson")

#: Keys of :data:`symdiff.lab.models.SCALING_MODELS`, in order (checked
#: there when the models are built).
SCALING_MODEL_NAMES = ("prod", "rosenbrock", "chain", "mlp")

#: y = e^{xz} + xz/ln x + sin(ln x)/(xz), differentiated at x = 2, z = 3 in
#: the lectures by finite differences, symbolically and in reverse mode.
LECTURE_EXAMPLE = "exp(x*z) + x*z/log(x) + sin(log(x))/(x*z)"
