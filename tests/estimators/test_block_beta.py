"""``--beta auto`` under the layer-wise proposals keeps one beta per block
(``sampler.estimators.importance_sampling``, "Block betas"): the grid of an update is centred on
its own block's last choice, so blocks whose losses react on scales 400 times apart each reach
the ESS target; one beta shared by the blocks (the grid following whichever block came last)
misses it on both, by more than the grid's spacing."""

from __future__ import annotations

import math

import torch

from sampler.estimators import StepKey
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.estimators.layerwise import LayerWise
from sampler.estimators.temperature import Temperature
from sampler.mpi import SerialComm

TARGET = 0.3  # --beta auto:0.3
SAMPLES = 400


class TwoScales:
    """``f(x) = 0.5 sum_i c_i (x_i - a_i)^2``, blocks ``a`` (c = 1) and ``b`` (c = 400)."""

    def __init__(self) -> None:
        self.curvature = torch.tensor([1.0, 1.0, 400.0, 400.0], dtype=torch.float64)
        self.minimum = torch.tensor([0.3, -0.2, 0.5, 0.1], dtype=torch.float64)
        self.layers = {"a": slice(0, 2), "b": slice(2, 4)}
        self.model = self

    def losses(self, params: torch.Tensor) -> torch.Tensor:
        diff = params.double() - self.minimum
        return (0.5 * (self.curvature * diff * diff).sum(dim=1)).to(params.dtype)


class SharedBeta(LayerWise):
    """Wrong: every block's grid centred on the previous update's beta, whatever its block."""

    def prepare(self, key, center, tau, problem):
        super().prepare(key, center, tau, problem)
        self.beta_key = "beta"


def ess_misses(scheme=None, updates: int = 40) -> tuple[list[float], dict]:
    """``|log(ESS / target)|`` of the last 8 of ``updates`` cyclic layer-wise updates from a
    fixed centre (the blocks alternate), and the estimator's state after them."""
    problem = TwoScales()
    estimator = ImportanceSampling(SAMPLES, Temperature(None, TARGET), 50, proposal="layerwise")
    if scheme is not None:
        estimator._proposals["layerwise"] = scheme
    center = torch.tensor([0.0, 0.1, 0.2, 0.3], dtype=torch.float64)
    tau, state, misses = torch.tensor(0.05, dtype=torch.float64), {}, []
    for step in range(updates):
        _, state, info = estimator.step(StepKey(3, step), state, center, tau, problem, SerialComm())
        misses.append(abs(math.log(info.ess / (TARGET * SAMPLES))))
    return misses[-8:], state


def test_each_block_reaches_the_ess_target_with_its_own_beta():
    misses, state = ess_misses()
    # the grid's betas are 2^(1/4) apart: the chosen one within about one step of the target
    assert max(misses) < math.log(2.0), misses
    assert state["beta:b"] < state["beta:a"] / 20  # the stiff block's beta is far smaller


def test_one_beta_shared_by_the_blocks_misses_the_target():
    misses, state = ess_misses(SharedBeta())
    assert min(misses) > math.log(2.0), misses
    assert "beta:a" not in state
