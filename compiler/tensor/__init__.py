"""compiler.tensor: tensor programs -> fused loops and BLAS calls -> native kernels.

``plan`` decides which values get a buffer and in which steps they are
computed, ``codegen`` writes the LLVM IR of those steps, ``blas`` finds the
dgemm/dgemv entry points, ``function`` wraps a kernel as a Python callable
over numpy arrays (:class:`~compiler.tensor.function.TensorFunction`), and
``aot`` writes shared libraries and C headers.  ``compiler.compile`` sends
tensor expressions here.
"""
