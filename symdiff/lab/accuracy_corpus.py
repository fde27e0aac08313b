"""A corpus of expressions whose naive float64 evaluation loses accuracy
(cancellation, overflow, underflow, the numerical-analysis textbook cases
and the losses of machine learning), each with a domain per variable, a
category and a one-line note.  Data only: :mod:`symdiff.lab.expr_accuracy`
measures them and ``benchmarks/bench_accuracy.py`` prints the table.

Domains are ``lo:hi`` or ``+-lo:hi`` (both signs, magnitudes in
``[lo, hi]``) per variable in the syntax of
:func:`symdiff.lab.bits.parse_domains`; points are drawn uniformly over the
float64 bit patterns in them (:func:`symdiff.lab.bits.sample_domain`), so
every binade gets the same share: ``x=-700:700`` puts nearly all points at
tiny magnitudes, where cancellations such as ``exp(x) - 1`` live.  Where
the trouble is at large magnitudes (overflow of ``exp`` past 709, a
sigmoid saturating past 37) the domain is ``x=+-1e-2:800``, whose 16
binades give a quarter of the points beyond 37.  Constants are integers or dyadic fractions, so the
expression the reference sees is exactly the one float64 code evaluates.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CorpusEntry", "CORPUS", "CATEGORIES", "corpus_entry"]


@dataclass(frozen=True)
class CorpusEntry:
    """One expression of the corpus."""

    name: str        # short identifier, unique
    text: str        # symdiff syntax (sd.parse)
    domain: str      # e.g. "x=-800:800,y=1e-300:1e300"
    category: str    # one of CATEGORIES
    note: str        # what goes wrong, and the stable form


#: Categories, in report order.
CATEGORIES = ("cancellation", "log-exp", "overflow", "underflow", "sigmoid", "norm",
              "polynomial", "inverse-hyperbolic", "ml-loss", "textbook")

_E = CorpusEntry
_WIDE = "-1e300:1e300"
_POS = "1e-300:1e300"

CORPUS: tuple[CorpusEntry, ...] = (
    # --- cancellation of nearby values
    _E("log1p", "log(1 + x)", "x=-0.5:1e300", "cancellation",
       "1 + x drops x's digits for tiny x: log1p(x)"),
    _E("expm1", "exp(x) - 1", "x=-700:700", "cancellation",
       "exp(x) ~ 1 for tiny x, the difference keeps none of x: expm1(x)"),
    _E("one_minus_exp_neg", "1 - exp(-x)", "x=-700:700", "cancellation",
       "the same cancellation mirrored: -expm1(-x)"),
    _E("expm1_over_x", "(exp(x) - 1)/x", "x=-700:700", "cancellation",
       "exprel: 0/x for tiny x; expm1(x)/x"),
    _E("log1p_over_x", "log(1 + x)/x", "x=-0.5:1e300", "cancellation",
       "log(1 + x)/x -> 1 as x -> 0, naive gives 0; log1p(x)/x"),
    _E("one_minus_cos", "(1 - cos(x))/x^2", "x=-1e4:1e4", "cancellation",
       "1 - cos x cancels for small x: 2 sin(x/2)^2 / x^2"),
    _E("cos_minus_one", "cos(x) - 1", "x=-1e4:1e4", "cancellation",
       "-2 sin(x/2)^2"),
    _E("sqrt_diff", "sqrt(x + 1) - sqrt(x)", "x=" + _POS, "cancellation",
       "two close square roots: 1/(sqrt(x + 1) + sqrt(x))"),
    _E("sqrt1p_minus_1", "sqrt(1 + x) - 1", "x=-0.5:1e300", "cancellation",
       "x/(sqrt(1 + x) + 1)"),
    _E("one_minus_sqrt1m", "1 - sqrt(1 - x)", "x=-1e300:0.5", "cancellation",
       "x/(1 + sqrt(1 - x))"),
    _E("recip_diff", "1/x - 1/(x + 1)", "x=" + _POS, "cancellation",
       "two close reciprocals: 1/(x (x + 1))"),
    _E("log_ratio", "log(x + 1) - log(x)", "x=" + _POS, "cancellation",
       "two close logarithms: log1p(1/x)"),
    _E("sqrt_hyp_minus_x", "sqrt(x^2 + 1) - x", "x=" + _WIDE, "cancellation",
       "cancels for large positive x (and x^2 overflows): 1/(hypot(1, x) + x)"),
    _E("sinh_naive", "(exp(x) - exp(-x))/2", "x=-700:700", "cancellation",
       "sinh written out: cancels for tiny x; sinh(x)"),
    _E("tanh_naive", "(exp(x) - exp(-x))/(exp(x) + exp(-x))", "x=-800:800", "cancellation",
       "tanh written out: cancels near 0, inf/inf = NaN beyond 710; tanh(x)"),
    _E("tanh_via_exp2x", "1 - 2/(exp(2*x) + 1)", "x=-800:800", "cancellation",
       "another tanh: 1 - 1 near 0; tanh(x)"),
    _E("x_minus_sin", "x - sin(x)", "x=-1e4:1e4", "cancellation",
       "x^3/6 hidden under x: no rewrite to a primitive (a series would do)"),
    _E("variance2", "(x^2 + y^2)/2 - ((x + y)/2)^2", "x=-1e10:1e10,y=-1e10:1e10",
       "cancellation", "textbook variance of two numbers: (x - y)^2/4"),
    _E("exp_diff", "exp(x) - exp(y)", "x=-700:700,y=-700:700", "cancellation",
       "close exponents cancel: exp(y) expm1(x - y)"),
    # --- log of sums of exponentials
    _E("softplus_naive", "log(1 + exp(x))", "x=+-1e-2:800", "log-exp",
       "exp overflows beyond 709, 1 + exp(x) drops it below -37: softplus(x)"),
    _E("logaddexp", "log(exp(a) + exp(b))", "a=+-1e-2:800,b=+-1e-2:800", "log-exp",
       "overflow and underflow of both terms: logsumexp(a, b)"),
    _E("logaddexp_minus_a", "log(exp(a) + exp(b)) - a", "a=+-1e-2:800,b=+-1e-2:800", "log-exp",
       "two-class cross-entropy with logits: softplus(b - a)"),
    _E("log_exp", "log(exp(x))", "x=-800:800", "log-exp",
       "exp overflows/underflows long before x does: x"),
    _E("log_expm1", "log(exp(x) - 1)", "x=" + "1e-300:800", "log-exp",
       "cancellation near 0, overflow beyond 709: x + log(-expm1(-x))"),
    _E("log1mexp", "log(1 - exp(-x))", "x=1e-300:800", "log-exp",
       "log1mexp: log(-expm1(-x)) for small x, log1p(-exp(-x)) for large"),
    _E("log_cosh", "log(cosh(x))", "x=+-1e-2:800", "log-exp",
       "cosh overflows past 710: |x| + log1p(exp(-2|x|)) - log 2"),
    _E("log_sinh", "log(sinh(x))", "x=1e-3:800", "log-exp",
       "sinh overflows past 710: x + log(-expm1(-2x)) - log 2"),
    _E("softplus_softplus", "softplus(softplus(x))", "x=+-1e-2:800", "log-exp",
       "nested primitives: accurate, the check that a rewrite keeps it so"),
    _E("softplus_naive2", "log(1 + exp(log(1 + exp(x))))", "x=+-1e-2:800", "log-exp",
       "softplus(softplus(x)) written out"),
    _E("log_sum3", "log(exp(x) + exp(2*x) + 1)", "x=+-1e-2:800", "log-exp",
       "three-term log-sum-exp"),
    _E("log1p_exp_neg_sq", "log(1 + exp(-x^2))", "x=+-1e-2:100", "log-exp",
       "softplus(-x^2): tiny x keeps 1 + 1, large x underflows"),
    # --- overflow of intermediate results
    _E("x2_over_x2p1", "x^2/(x^2 + 1)", "x=" + _WIDE, "overflow",
       "x^2 overflows: inf/inf; 1/(1 + 1/x^2)"),
    _E("x_over_sqrt", "x/sqrt(x^2 + 1)", "x=" + _WIDE, "overflow",
       "x^2 overflows: x/hypot(x, 1)"),
    _E("recip_hypot1", "1/sqrt(1 + x^2)", "x=" + _WIDE, "overflow",
       "1/hypot(1, x)"),
    _E("log_x2", "log(x^2)", "x=" + _WIDE, "overflow",
       "x^2 overflows or underflows: 2 log|x|"),
    _E("sqrt_x2", "sqrt(x^2)", "x=" + _WIDE, "overflow",
       "x^2 overflows or underflows: |x|"),
    _E("log1p_x2", "log(1 + x^2)", "x=" + _WIDE, "overflow",
       "x^2 overflows; 1 + x^2 drops tiny x^2: log1p(x^2), 2 log|x| + log1p(1/x^2)"),
    _E("log_xy", "log(x*y)", "x=" + _POS + ",y=" + _POS, "overflow",
       "the product over/underflows: log(x) + log(y)"),
    _E("sqrt_xy", "sqrt(x*y)", "x=" + _POS + ",y=" + _POS, "overflow",
       "the product over/underflows: sqrt(x) sqrt(y)"),
    _E("exp_ratio", "exp(x)/exp(y)", "x=+-1e-2:800,y=+-1e-2:800", "overflow",
       "inf/inf and 0/0: exp(x - y)"),
    _E("exp_over_1pexp", "exp(x)/(1 + exp(x))", "x=+-1e-2:800", "overflow",
       "inf/inf beyond 709: sigmoid(x)"),
    _E("softmax2", "exp(x)/(exp(x) + exp(y))", "x=+-1e-2:800,y=+-1e-2:800", "overflow",
       "two-class softmax: sigmoid(x - y)"),
    # --- underflow
    _E("exp_product", "exp(x)*exp(-x)", "x=+-1e-2:800", "underflow",
       "0*inf = NaN beyond 745: exp(x - x) = 1"),
    _E("gauss_ratio", "exp(-x^2)/exp(-y^2)", "x=+-1e-2:100,y=+-1e-2:100", "underflow",
       "0/0 for large arguments: exp(y^2 - x^2)"),
    _E("log_exp_neg_sq", "log(exp(-x^2))", "x=+-1e-2:1e3", "underflow",
       "exp underflows to 0 past 27: -x^2"),
    # --- logistic sigmoid and its derivative
    _E("sigmoid_naive", "1/(1 + exp(-x))", "x=+-1e-2:800", "sigmoid",
       "exp(-x) overflows for x < -709 (harmless: 1/inf) but the derivative is inf/inf: "
       "sigmoid(x)"),
    _E("sigmoid", "sigmoid(x)", "x=+-1e-2:800", "sigmoid",
       "the primitive; its derivative s(1 - s) loses everything for x > 37"),
    _E("sigmoid_deriv_naive", "1/(1 + exp(-x))*(1 - 1/(1 + exp(-x)))", "x=+-1e-2:800",
       "sigmoid", "s(1 - s) written out: 1 - s = 0 for x > 37; sigmoid(x) sigmoid(-x)"),
    _E("log_sigmoid", "log(1/(1 + exp(-x)))", "x=+-1e-2:800", "sigmoid",
       "log-sigmoid: -softplus(-x)"),
    _E("log_one_minus_sigmoid", "log(1 - sigmoid(x))", "x=+-1e-2:800", "sigmoid",
       "1 - s = 0 for x > 37: -softplus(x)"),
    _E("tanh", "tanh(x)", "x=+-1e-2:800", "sigmoid",
       "the primitive; its derivative 1 - tanh^2 is 0 past 19 instead of 4 exp(-2|x|)"),
    _E("one_minus_tanh2", "1 - tanh(x)^2", "x=+-1e-2:800", "sigmoid",
       "sech^2 through tanh: 1 - 1 = 0 for |x| > 19"),
    # --- norms
    _E("hypot_naive", "sqrt(x^2 + y^2)", "x=" + _WIDE + ",y=" + _WIDE, "norm",
       "squares overflow and underflow: hypot(x, y)"),
    _E("hypot3_like", "sqrt(x^2 + y^2 + 1)", "x=" + _WIDE + ",y=" + _WIDE, "norm",
       "hypot(hypot(x, y), 1)"),
    _E("normalize", "x/sqrt(x^2 + y^2)", "x=" + _WIDE + ",y=" + _WIDE, "norm",
       "cosine of the angle: x/hypot(x, y)"),
    _E("log_norm", "log(x^2 + y^2)/2", "x=" + _WIDE + ",y=" + _WIDE, "norm",
       "log|z|: log(hypot(x, y))"),
    # --- polynomials
    _E("diff_of_squares", "a^2 - b^2", "a=-1e200:1e200,b=-1e200:1e200", "polynomial",
       "a^2 overflows and the difference cancels: (a - b)(a + b)"),
    _E("removable", "(x^2 - 1)/(x - 1)", "x=-1e200:1e200", "polynomial",
       "x^2 overflows: inf/x; x + 1"),
    _E("square_minus_sq", "(x + y)^2 - x^2 - 2*x*y", "x=-1e100:1e100,y=-1e100:1e100",
       "polynomial", "y^2 under two large cancelling terms"),
    _E("rosenbrock", "(1 - x)^2 + 100*(y - x^2)^2", "x=-1e10:1e10,y=-1e10:1e10",
       "polynomial", "y - x^2 cancels along the valley"),
    _E("cube_diff", "x^3 - y^3", "x=-1e100:1e100,y=-1e100:1e100", "polynomial",
       "(x - y)(x^2 + x y + y^2)"),
    # --- inverse hyperbolic functions written out
    _E("asinh_naive", "log(x + sqrt(x^2 + 1))", "x=" + _WIDE, "inverse-hyperbolic",
       "cancels for negative x, x^2 overflows: asinh(x)"),
    _E("acosh_naive", "log(x + sqrt(x^2 - 1))", "x=1:1e300", "inverse-hyperbolic",
       "x^2 overflows: log(x) + log1p(sqrt(1 - 1/x^2)) (no acosh primitive)"),
    _E("atanh_naive", "log((1 + x)/(1 - x))/2", "x=-1:1", "inverse-hyperbolic",
       "1 + x loses tiny x: (log1p(x) - log1p(-x))/2"),
    # --- machine-learning losses
    _E("logistic_loss", "log(1 + exp(-y*z))", "y=+-0.25:4,z=+-1e-2:800", "ml-loss",
       "logistic loss with a margin: softplus(-y z)"),
    _E("bce_logits_naive", "-(t*log(sigmoid(z)) + (1 - t)*log(1 - sigmoid(z)))",
       "t=0:1,z=+-1e-2:800", "ml-loss",
       "binary cross-entropy through probabilities: t softplus(-z) + (1 - t) softplus(z)"),
    _E("bce_logits", "z - z*t + log(1 + exp(-z))", "t=0:1,z=+-1e-2:800", "ml-loss",
       "the textbook 'with logits' form still overflows for z < -709: "
       "softplus(-z) + z (1 - t)"),
    _E("bce_probs", "-(t*log(p) + (1 - t)*log(1 - p))", "t=0:1,p=1e-300:0.9990234375",
       "ml-loss", "log(1 - p) for tiny p: log1p(-p)"),
    _E("ce_two_class", "log(exp(a) + exp(b)) - b", "a=+-1e-2:800,b=+-1e-2:800", "ml-loss",
       "cross-entropy of class b: softplus(a - b)"),
    _E("gauss_nll", "log(s) + (x/s)^2/2", "x=" + _WIDE + ",s=" + _POS, "ml-loss",
       "Gaussian negative log-likelihood: (x/s)^2 overflows where x/s does not"),
    # --- textbook cases
    _E("quadratic_root", "(-b + sqrt(b^2 - 4*c))/2", "b=1:1e150,c=-1:1", "textbook",
       "the smaller root: -b + sqrt(...) cancels; 2c/(-b - sqrt(b^2 - 4c))"),
    _E("compound", "(1 + 1/x)^x", "x=1:1e30", "textbook",
       "1 + 1/x loses 1/x: exp(x log1p(1/x))"),
    _E("sinc_like", "sin(x)/x", "x=-1e4:1e4", "textbook",
       "accurate: a control case with no cancellation"),
    _E("exp_x_log_x", "x*log(x) - x", "x=" + _POS, "textbook",
       "accurate except where the two terms cancel (x near e)"),
)


def corpus_entry(name: str) -> CorpusEntry:
    """The entry called ``name`` (ValueError listing the names otherwise)."""
    for entry in CORPUS:
        if entry.name == name:
            return entry
    raise ValueError(f"no corpus entry {name!r}; known: {', '.join(e.name for e in CORPUS)}")
