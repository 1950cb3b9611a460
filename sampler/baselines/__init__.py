"""Backprop baselines that run through the same loop as the sampling estimators: a plain dict
registry for ``--baseline``, each entry declaring its own options.

``sgd`` minimises the loss; ``esgd`` (Entropy-SGD) and ``rsgd`` (Replicated-SGD) the local
entropy by backprop (Pittorino et al. 2021); ``pla`` and ``plea`` Musso's partial local average
and partial local entropy (Musso 2021); ``es`` OpenAI evolution strategies (Salimans et al.
2017), gradient-free; ``evotorch:NAME`` EvoTorch's searchers (with the optional extra).
"""

from sampler.baselines import esgd, evolution_strategies, evotorch_bridge, partial_local, rsgd, sgd
from sampler.baselines.base import BaselineSpec, RunContext
from sampler.baselines.sgd import SGDTrainer

BASELINES: dict[str, BaselineSpec] = {
    "sgd": sgd.SPEC,
    "esgd": esgd.SPEC,
    "rsgd": rsgd.SPEC,
    "pla": partial_local.PLA_SPEC,
    "plea": partial_local.PLEA_SPEC,
    "es": evolution_strategies.SPEC,
}
if evotorch_bridge.installed():  # the optional extra: evotorch:PGPE, SNES, CEM, CMAES
    BASELINES.update(evotorch_bridge.SPECS)

__all__ = ["BASELINES", "BaselineSpec", "RunContext", "SGDTrainer"]
