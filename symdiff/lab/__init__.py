"""symdiff.lab: measurements and pictures behind ``symdiff compare``.

* :mod:`symdiff.lab.methods`: every gradient method on one expression at one
  point, against a 40-digit reference (``compare_methods``);
* :mod:`symdiff.lab.scaling`: gradient cost against n on the built-in
  models, each measurement in a time-capped child process (``scaling``);
* :mod:`symdiff.lab.fd_sweep`: finite-difference error against the step;
* :mod:`symdiff.lab.timing`: the median-of-repeats timer they share;
* :mod:`symdiff.lab.models`: the built-in example models;
* :mod:`symdiff.lab.names`: the method and model names the command line
  lists (constants only, cheap to import);
* :mod:`symdiff.lab.plots`: drawing the scaling and step-sweep results.

The lab measures and reports; it never prints or draws progress (long runs
take a callback, which the command line renders).
"""
