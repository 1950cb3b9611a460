"""One rank's share of an update (``sampler.bench.rank_share``): the blocks that rank owns on R
ranks, and everything an update does once per rank."""

from __future__ import annotations

import pytest
import torch

from sampler.bench.rank_share import ShareComm
from sampler.estimators import StepKey
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.estimators.temperature import Temperature
from sampler.models.data.gaussian_mixture import make_gaussian_mixture
from sampler.models.zoo import build_mlp
from sampler.mpi import SerialComm
from sampler.problem import Problem


def evaluated_blocks(comm) -> list[int]:
    data = make_gaussian_mixture(dim=30, train_size=60, test_size=10, data_seed=1)
    model = build_mlp(data.input_shape, data.num_classes, widths=(4,))
    problem = Problem(model, data.minibatch(0, 0, 8))
    estimator = ImportanceSampling(50, Temperature(None, 0.3), 8, "grid", "marginal")
    scheme = estimator.scheme(problem)
    seen, losses = [], scheme.losses

    def recorded(drawn, problem):
        seen.extend(block for block, _ in drawn.blocks)
        return losses(drawn, problem)

    scheme.losses = recorded
    center = model.init_params(0)
    estimator.step(StepKey(0, 0), {}, center, torch.tensor(0.01), problem, comm)
    return seen


@pytest.mark.parametrize("size", [2, 3])
def test_the_share_evaluates_the_blocks_rank_zero_owns(size):
    assert evaluated_blocks(SerialComm()) == list(range(7))  # 50 samples in blocks of 8
    assert evaluated_blocks(ShareComm(0, size)) == list(range(0, 7, size))


def test_the_share_refuses_the_two_pass_search():
    with pytest.raises(NotImplementedError, match="grid"):
        ShareComm(0, 2).allgather({})
