"""Which names a compiled kernel may have.

A kernel's name becomes a symbol of its object code and of the C header
written for it, so a bad name breaks things far from where it was chosen:
a kernel named ``pow`` that computes ``x^7`` calls ``pow``, i.e. itself,
forever; a shared library exporting ``pow`` replaces the C library's for
every program that links it; ``tan`` clashes with the module's own
declaration of libm's ``tan``; ``int`` makes a header no C compiler
accepts.  :func:`check_kernel_name` refuses all of these with a message
that says why.

Refused: anything but an ASCII C identifier; C and C++ keywords (headers
are included from both); identifiers C or C++ reserve (``_X...``,
anything containing ``__``, which symdiff also uses for the internal
symbols it derives from the name: ``N__rows``, ``N__dgemm``); the
functions of the C math library, the C library functions and BLAS
routines compiled modules call, and any other symbol this process already
resolves (libc, libm, ...), because a kernel of that name would shadow it.
"""

from __future__ import annotations

import ctypes
import functools
import re

__all__ = ["C_KEYWORDS", "LIBM_FUNCTIONS", "LIBC_FUNCTIONS", "check_kernel_name"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

#: Keywords of C (C89 to C23) and C++ (the header is included from both).
C_KEYWORDS = frozenset("""
    auto break case char const continue default do double else enum extern float for goto
    if inline int long register restrict return short signed sizeof static struct switch
    typedef union unsigned void volatile while _Alignas _Alignof _Atomic _Bool _Complex
    _Generic _Imaginary _Noreturn _Static_assert _Thread_local alignas alignof bool
    constexpr false nullptr static_assert thread_local true typeof typeof_unqual
    and and_eq asm bitand bitor catch char8_t char16_t char32_t class co_await co_return
    co_yield compl concept const_cast consteval constinit decltype delete dynamic_cast
    explicit export friend mutable namespace new noexcept not not_eq operator or or_eq
    private protected public reinterpret_cast requires static_cast template this throw try
    typeid typename using virtual wchar_t xor xor_eq
""".split())

_MATH_BASE = """
    acos acosh asin asinh atan atan2 atanh cbrt ceil copysign cos cosh erf erfc exp exp2
    exp10 expm1 fabs fdim floor fma fmax fmin fmod frexp hypot ilogb ldexp lgamma llrint
    llround log log10 log1p log2 logb lrint lround modf nan nearbyint nextafter nexttoward
    pow remainder remquo rint round scalbln scalbn sin sinh sqrt tan tanh tgamma trunc
    gamma j0 j1 jn y0 y1 yn sincos pow10 drem significand finite isinf isnan signbit
""".split()

#: The C math library's functions, with their float (``f``) and long double
#: (``l``) variants: the ones compiled code calls (``tan``, ``pow`` through
#: ``llvm.pow.f64``, ...) and every other a C program might call.
LIBM_FUNCTIONS = frozenset(n + s for n in _MATH_BASE for s in ("", "f", "l"))

#: C library functions and BLAS routines compiled modules declare or that
#: LLVM emits calls to (``memset`` for zeroing buffers), plus the ones any
#: C program uses.  Exporting one of these from a shared library would
#: replace the real one in every program that links it.
LIBC_FUNCTIONS = frozenset("""
    malloc free calloc realloc aligned_alloc posix_memalign memcpy memmove memset memcmp
    memchr strlen strcmp strncmp strcpy strncpy strcat strchr strstr abort exit atexit
    printf fprintf sprintf snprintf puts putchar getchar fopen fclose fread fwrite fflush
    open close read write signal raise qsort bsearch abs labs llabs div rand srand time
    clock errno main dgemm_ dgemv_ sgemm_ dgemm dgemv cblas_dgemm cblas_dgemv
""".split())


@functools.lru_cache(maxsize=1)
def _process():
    # The symbols of this process and the libraries it has loaded (libc,
    # libm, Python): dlsym(RTLD_DEFAULT, name).
    return ctypes.CDLL(None)


def _resolves_in_process(name: str) -> bool:
    try:
        return hasattr(_process(), name)
    except OSError:       # no dynamic loader to ask (a static build)
        return False


def check_kernel_name(name) -> str:
    """``name`` if a compiled kernel may be called that, else a ValueError
    that says what is wrong with it (see the module docstring)."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(f"name must be a C identifier (letters, digits and _, not starting "
                         f"with a digit), got {name!r}")
    if name in C_KEYWORDS:
        raise ValueError(f"name {name!r} is a C/C++ keyword; the C header could not "
                         "declare it")
    if name.startswith("_") or "__" in name:
        raise ValueError(f"name {name!r} is reserved: C and C++ reserve names that start "
                         "with '_' or contain '__' (symdiff derives its internal symbols "
                         "as NAME__...)")
    if name in LIBM_FUNCTIONS or name in LIBC_FUNCTIONS or _resolves_in_process(name):
        what = "C math library" if name in LIBM_FUNCTIONS else "C library"
        raise ValueError(f"name {name!r} is a {what} function, which a kernel of that name "
                         f"would shadow; choose another name, such as {name}_fn")
    return name
