"""One seed, the same update on 1, 2 or 3 ranks (threads standing in for MPI ranks): noise is
drawn per block/chain index, never per rank, and combined by float64 sums."""

from __future__ import annotations

import pytest
import torch

from sampler.estimators import StepKey
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.estimators.robbins_monro import RobbinsMonro
from sampler.estimators.sgld import SGLD
from sampler.estimators.temperature import Temperature
from sampler.models.data.gaussian_mixture import make_gaussian_mixture
from sampler.models.zoo import build_mlp
from sampler.problem import Problem
from sampler.schedules import parse_schedule
from tests.helpers.quadratic import QuadraticProblem
from tests.helpers.thread_comm import run_on_ranks

AUTO = Temperature(None, 1000.0)

ESTIMATORS = {
    "is": lambda: ImportanceSampling(samples=50, beta=1.0, block_size=8),
    "sgld": lambda: SGLD(chains=3, steps=7, eps=parse_schedule("harmonic:1,100", "--sgld-eps")),
    "rm": lambda: RobbinsMonro(7, 4, parse_schedule("power:1,1", "--rm-step")),
    "rm-stein": lambda: RobbinsMonro(7, 4, parse_schedule("power:1,0.7", "--rm-step"), stein=True),
    # the first layer marginalised: the pairs' sums and squares merged as the literal ones
    "rm-stein-marginal": lambda: RobbinsMonro(
        7, 4, parse_schedule("power:1,0.7", "--rm-step"), stein=True, proposal="marginal"
    ),
    # the engine's own beta: chosen from sums over all ranks, the same on any number of them
    "is-auto": lambda: ImportanceSampling(50, Temperature(None, 0.3), 8),
    "is-auto-two-pass": lambda: ImportanceSampling(50, Temperature(None, 0.3), 8, "two-pass"),
    "sgld-auto": lambda: SGLD(3, 7, parse_schedule("harmonic:1,100", "--sgld-eps"), AUTO),
    # the default: the gradient average, auto = the summed loss (beta = batch size)
    "sgld-gradient-summed": lambda: SGLD(
        3, 7, parse_schedule("harmonic:1,100", "--sgld-eps"), Temperature(None), "gradient"
    ),
    # the proposal schemes (--proposal): noise per block, the marginal residual per update
    "is-antithetic": lambda: ImportanceSampling(50, 1.0, 8, proposal="antithetic"),
    "is-marginal": lambda: ImportanceSampling(50, 1.0, 8, proposal="marginal"),
    "is-marginal-auto": lambda: ImportanceSampling(
        50, Temperature(None, 0.3), 8, "grid", "marginal"
    ),
    # the control variate's plain row and cross sums: merged like the weighted ones
    "is-control-variate": lambda: ImportanceSampling(
        50, Temperature(None, 0.3), 8, control_variate="proposal-mean"
    ),
    "is-marginal-control-variate": lambda: ImportanceSampling(
        50, Temperature(None, 0.3), 8, "grid", "marginal", control_variate="proposal-mean"
    ),
}


def network_problem(dim: int = 5, batch: int = 20):
    data = make_gaussian_mixture(dim=dim, train_size=60, test_size=10, data_seed=1)
    model = build_mlp(data.input_shape, data.num_classes, widths=(4,))
    return model, Problem(model, data.minibatch(0, 0, batch))


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_same_update_on_one_two_three_ranks(name):
    # the marginalised scheme needs a minibatch smaller than the input
    model, problem = network_problem(30, 8) if "marginal" in name else network_problem()
    center = model.init_params(3)
    tau = torch.full((model.num_params,), 0.02)
    tau[: model.layers["fc0"].stop] = 0.05  # per-layer tau

    def two_steps(comm):
        estimator = ESTIMATORS[name]()
        state = estimator.init(center)
        x = center
        for step in range(2):
            x, state, _ = estimator.step(StepKey(5, step), state, x, tau, problem, comm)
        return x, state

    results = [run_on_ranks(size, two_steps) for size in (1, 2, 3)]
    reference, reference_state = results[0][0]
    for per_rank in results[1:]:
        for target, state in per_rank:
            assert torch.allclose(target, reference, rtol=1e-5, atol=1e-6)
            if name.startswith("sgld"):
                assert torch.allclose(state["chains"], reference_state["chains"], atol=1e-6)
            if name.endswith(("auto", "two-pass")):
                assert state["beta"] == pytest.approx(reference_state["beta"], rel=1e-5)


def test_thread_comm_sums_in_float64():
    problem = QuadraticProblem(torch.ones(2), torch.zeros(2))
    assert problem.num_params == 2
    totals = run_on_ranks(3, lambda comm: comm.allreduce_sum(torch.tensor([float(comm.rank)])))
    assert all(t.dtype == torch.float64 and float(t[0]) == 3.0 for t in totals)


@pytest.mark.parametrize("proposal", ["layerwise", "layerwise-size"])
def test_layerwise_update_on_one_two_three_ranks(proposal):
    """A CNN, one layer per update (a convolution from the inputs, one from reused activations,
    a dense block marginalised given them): the same three updates on 1, 2, 3 ranks."""
    from sampler.models.cnn import tiny_conv_net
    from sampler.models.data.synthetic_images import make_synthetic_images

    data = make_synthetic_images(1, 28, 28, classes=3, train_size=20, test_size=4, data_seed=2)
    center = tiny_conv_net(data.input_shape, 3, channels=(2, 3)).init_params(3)
    tau = torch.full((center.shape[0],), 0.02)

    def three_steps(comm):
        # a model per rank, as MPI's processes have (functional_call swaps a module's tensors)
        model = tiny_conv_net(data.input_shape, 3, channels=(2, 3))
        problem = Problem(model, data.minibatch(0, 0, 8))
        estimator = ImportanceSampling(50, Temperature(None, 0.3), 8, proposal=proposal)
        state, x = estimator.init(center), center
        for step in range(3):
            x, state, _ = estimator.step(StepKey(5, step), state, x, tau, problem, comm)
        return x

    results = [run_on_ranks(size, three_steps) for size in (1, 2, 3)]
    reference = results[0][0]
    assert not torch.equal(reference, center)
    for per_rank in results[1:]:
        for target in per_rank:
            assert torch.allclose(target, reference, rtol=1e-5, atol=1e-6)
