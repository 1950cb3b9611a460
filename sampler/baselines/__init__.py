"""Backprop baselines that run through the same loop as the sampling estimators: a plain dict
registry for ``--baseline``, each entry declaring its own options.

``sgd`` minimises the loss; ``esgd`` (Entropy-SGD) and ``rsgd`` (Replicated-SGD) the local
entropy by backprop (Pittorino et al. 2021); ``pla`` and ``plea`` Musso's partial local average
and partial local entropy (Musso 2021); ``es`` OpenAI evolution strategies (Salimans et al.
2017), gradient-free; ``evotorch:NAME`` EvoTorch's searchers (with the optional extra); ``lal``
and ``elal`` least-action learning and its replicated (entropic) version on sign-unit committee
machines, ``fbp`` focusing belief propagation on binary-weight tree committees, ``cesgd-fast``
and ``cesgd-slow`` the paper's two settings of SGD on the cross-entropy with growing beta and
gamma (Baldassi et al., PNAS 2016 and 2020).
"""

from sampler.baselines import (
    cross_entropy_sgd,
    entropic_least_action,
    esgd,
    evolution_strategies,
    evotorch_bridge,
    focusing_bp,
    least_action,
    partial_local,
    rsgd,
    sgd,
)
from sampler.baselines.base import BaselineSpec, RunContext
from sampler.baselines.sgd import SGDTrainer

BASELINES: dict[str, BaselineSpec] = {
    "sgd": sgd.SPEC,
    "esgd": esgd.SPEC,
    "rsgd": rsgd.SPEC,
    "pla": partial_local.PLA_SPEC,
    "plea": partial_local.PLEA_SPEC,
    "es": evolution_strategies.SPEC,
    "lal": least_action.SPEC,
    "elal": entropic_least_action.SPEC,
    "fbp": focusing_bp.SPEC,
    "cesgd-fast": cross_entropy_sgd.FAST_SPEC,
    "cesgd-slow": cross_entropy_sgd.SLOW_SPEC,
}
if evotorch_bridge.installed():  # the optional extra: evotorch:PGPE, SNES, CEM, CMAES
    BASELINES.update(evotorch_bridge.SPECS)

__all__ = ["BASELINES", "BaselineSpec", "RunContext", "SGDTrainer"]
