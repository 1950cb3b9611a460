"""The sizes of ``sampler reproduce``: the full reproduction and ``--quick``.

Full: two seeds of every experiment (three for the cheap equal-gradient baselines), the paper's
500 updates for Table 6.1 and Figs. 6.1 and 6.3, 300 for the warm start and the tau sweeps,
J = 10^4 and 10^5 IS samples over two ranks for 500 updates (10^5 and the ESS-fraction row at
10^4: seed 0 alone). Quick: one
seed and a few dozen updates of the same experiments, a smoke test of the whole pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    """The sizes that differ between the full reproduction and ``--quick``. An experiment
    beyond the paper's picks its own sizes from ``smoke_test`` and ``seeds``."""

    smoke_test: bool  # --quick: an experiment picks its smallest sizes
    seeds: tuple[int, ...]
    table_steps: int  # Table 6.1 / Fig. 6.1 / Fig. 6.3
    eval_every: int
    warm_sgd: int  # Fig. 6.2: SGD updates before the switch ...
    warm_total: int  # ... and the updates in all
    sweep_steps: int  # Fig. 6.4 / 6.5 on the linear network
    taus: tuple[float, ...]
    many_samples: tuple[int, ...]  # IS over ranks
    many_steps: int
    many_ranks: int
    gradient_budget: int  # Entropy-SGD / Replicated-SGD / SGD at equal gradient evaluations
    baseline_seeds: tuple[int, ...]
    timing_steps: int  # Table 6.2: updates per timed run (the first one is dropped)

    @staticmethod
    def full() -> Scale:
        return Scale(
            smoke_test=False,
            seeds=(0, 1),
            table_steps=500,
            eval_every=25,
            warm_sgd=100,
            warm_total=300,
            sweep_steps=300,
            taus=(0.001, 0.003, 0.01, 0.03, 0.1),
            many_samples=(10_000, 100_000),
            many_steps=500,
            many_ranks=2,
            gradient_budget=3000,
            baseline_seeds=(0, 1, 2),
            timing_steps=8,
        )

    @staticmethod
    def quick() -> Scale:
        return Scale(
            smoke_test=True,
            seeds=(0,),
            table_steps=40,
            eval_every=10,
            warm_sgd=20,
            warm_total=40,
            sweep_steps=40,
            taus=(0.003, 0.01, 0.03),
            many_samples=(10_000,),
            many_steps=20,
            many_ranks=2,
            gradient_budget=300,
            baseline_seeds=(0,),
            timing_steps=4,
        )
