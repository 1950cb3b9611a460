"""The outer optimizers against torch.optim fed with the same gradients g_k."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch

from sampler.mpi import SerialComm
from sampler.schedules import parse_schedule
from sampler.scheme.optimizers import make_optimizer
from sampler.scheme.tau import TauSchedule
from sampler.scheme.two_step import TwoStepTrainer


def gradients(count: int, d: int = 5) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    return [torch.randn(d, generator=generator, dtype=torch.float64) for _ in range(count)]


@pytest.mark.parametrize(
    "name, reference",
    [
        ("sgd", lambda p: torch.optim.SGD(p, lr=0.1)),
        ("momentum", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
        ("nesterov", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)),
        ("adam", lambda p: torch.optim.Adam(p, lr=0.1, betas=(0.9, 0.999), eps=1e-8)),
    ],
)
def test_matches_torch_optim(name, reference):
    start = torch.linspace(-1, 1, 5, dtype=torch.float64)
    optimizer = make_optimizer(name, momentum=0.9 if name != "sgd" else 0.0)
    params, state = start.clone(), optimizer.init(start)
    leaf = start.clone().requires_grad_(True)
    torch_optimizer = reference([leaf])
    for g in gradients(6):
        params, state = optimizer.update(params, g, 0.1, state)
        leaf.grad = g.clone()
        torch_optimizer.step()
    assert torch.allclose(params, leaf.detach(), rtol=1e-10, atol=1e-12)


def test_per_coordinate_step():
    optimizer = make_optimizer("sgd")
    eta = torch.tensor([1.0, 0.5])
    params, _ = optimizer.update(torch.zeros(2), torch.ones(2), eta, {})
    assert torch.equal(params, torch.tensor([-1.0, -0.5]))


def test_unknown_optimizer():
    with pytest.raises(ValueError, match="--optimizer"):
        make_optimizer("rmsprop")


def test_two_step_default_is_x_equals_m_and_explicit_eta_tau_agrees():
    class Info(NamedTuple):
        loss_evals: int = 0
        grad_evals: int = 0

    class Halfway:
        objective = "local-entropy"

        def init(self, center):
            return {}

        def step(self, key, state, center, tau, problem, comm):
            return center / 2, state, Info()

    params = torch.tensor([1.0, -2.0])
    default = TwoStepTrainer(Halfway(), TauSchedule("0.25"), None, 0)
    new, _, record = default.step(0, params, default.init(params), None, SerialComm())
    assert torch.equal(new, params / 2) and record["tau"] == 0.25
    explicit = TwoStepTrainer(Halfway(), TauSchedule("0.25"), parse_schedule("0.25", "--lr"), 0)
    new, _, record = explicit.step(0, params, explicit.init(params), None, SerialComm())
    assert torch.allclose(new, params / 2) and record["lr"] == 0.25
    adam = TwoStepTrainer(Halfway(), TauSchedule("0.25"), None, 0, make_optimizer("adam"))
    state = adam.init(params)
    new, state, _ = adam.step(0, params, state, None, SerialComm())
    assert torch.allclose(new, params - 0.25 * torch.sign(params)) and state["outer"]["t"] == 1


@pytest.mark.parametrize(
    "name, momentum, step",
    [("sgd", 0.0, 0.2), ("momentum", 0.5, 0.4), ("nesterov", 0.75, 0.8), ("adam", 0.9, None)],
)
def test_the_step_as_a_langevin_step_size(name, momentum, step):
    """What the Monte Carlo error criterion reads (sampler.scheme.mc_error): eta, over
    1 - mu with momentum, none for Adam."""
    langevin = make_optimizer(name, momentum).langevin_step(0.2)
    assert langevin == (None if step is None else pytest.approx(step))


def test_adam_without_momentum_takes_beta1_of_0_9():
    assert make_optimizer("adam", 0.0).beta1 == 0.9 and make_optimizer("adam", 0.5).beta1 == 0.5
