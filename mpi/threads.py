"""How many intra-op threads a process gives torch: one, unless told otherwise.

Parallelism comes from ranks (``mpirun -n R``), not from threads: the estimators' noise draw,
which dominates an importance-sampling update, is single-threaded in torch anyway, and a
process whose threads outnumber the cores free to it stalls at every barrier of a parallel
kernel (measured with ``scripts/bench_threads.py``, see the docs on GPUs and threads: with
torch's default of one thread per core, a 2-core machine with one core busy elsewhere made an
SGLD update of the ``mlp`` many times slower than one thread did). The rule, in order:

* ``requested > 0`` (``--threads N``, ``threads=N`` in the Python API): N threads;
* ``OMP_NUM_THREADS`` set: torch already follows it, left alone;
* otherwise one thread.

TensorFlow's pools follow torch's count (``models.keras.runtime``).
"""

from __future__ import annotations

import os

import torch

VARIABLE = "OMP_NUM_THREADS"


def chosen_threads(requested: int = 0) -> int:
    """The thread count the rule gives (without setting it)."""
    if requested > 0:
        return requested
    if os.environ.get(VARIABLE, "").strip():
        return torch.get_num_threads()
    return 1


def set_threads(requested: int = 0) -> int:
    """Apply the rule to this process; returns the thread count in force."""
    threads = chosen_threads(requested)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()
