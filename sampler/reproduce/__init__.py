"""``sampler reproduce`` (``scripts/reproduce.py``): the numerical experiments of García Trillos,
Kaplan and Sanz-Alonso, "Variational characterizations of local entropy and heat
regularization in deep learning" (Entropy 21(5):511, 2019; arXiv 1901.10082), Section 6, and a
few beyond it, regenerated from scratch into ``docs/results.md`` with its PNG plots.

* ``experiments``: what is run, as plain ``sampler train`` command lines (full and ``--quick``);
* ``paper``: the paper's printed numbers (Tables 6.1 and 6.2);
* ``launch``: the runs, a few at a time, resumable (a finished run is kept, a cut one resumed);
* ``timing``: seconds per update of each method, measured alone (Table 6.2);
* ``figures`` and ``report``: the plots and the Markdown page.
"""
