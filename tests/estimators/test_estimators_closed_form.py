"""Each estimator's target against its closed form on a quadratic loss, within Monte Carlo error.

``is`` and ``sgld``: the local-entropy target ``E_q[X]``; ``rm`` and ``rm-stein``: the root of
``x - x_k + tau E_{N(x,tau)} grad f``. Tolerances are 5 standard errors computed from the
replicates (plus, for Robbins-Monro, the computed deterministic transient after J iterations).
tau is a per-coordinate vector (as per-layer tau makes it) unless a test says otherwise. The
tests run on ``SAMPLER_TEST_DEVICE`` (the CPU unless set; ``scripts/gpu_check.py`` sets it to the
GPU): a GPU's generators give other draws than the CPU's, so the two devices are compared through
the same closed forms, within the same standard errors.
"""

from __future__ import annotations

import pytest
import torch

from sampler.estimators import StepKey
from sampler.estimators import sgld as sgld_module
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.estimators.robbins_monro import RobbinsMonro
from sampler.estimators.sgld import SGLD
from sampler.mpi import SerialComm
from sampler.schedules import parse_schedule
from tests.helpers.device_under_test import DEVICE
from tests.helpers.quadratic import QuadraticProblem, mean_and_standard_error

A = torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64, device=DEVICE)
DIAG = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64, device=DEVICE)
CENTER = torch.tensor([0.3, 0.2, -0.4], dtype=torch.float64, device=DEVICE)
TAU_VECTOR = torch.tensor([0.5, 0.2, 0.1], dtype=torch.float64, device=DEVICE)
COMM = SerialComm()


def problem() -> QuadraticProblem:
    return QuadraticProblem(DIAG, A)


@pytest.mark.parametrize("tau", [torch.tensor(0.3, dtype=torch.float64, device=DEVICE), TAU_VECTOR])
@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_importance_sampling_matches_tilted_mean(tau, beta):
    estimator = ImportanceSampling(samples=2000, beta=beta, block_size=500)
    targets = [
        estimator.step(StepKey(seed, 0), {}, CENTER, tau, problem(), COMM)[0] for seed in range(20)
    ]
    mean, se = mean_and_standard_error(targets)
    truth = problem().tilted_mean(CENTER, tau, beta)
    assert torch.all((mean - truth).abs() <= 5 * se), (mean, truth, se)


def sgld_targets(estimator: SGLD, updates: int = 25, seed: int = 0) -> list[torch.Tensor]:
    """Targets of ``updates`` updates at the same center (a stationary sequence once the
    chains are burnt in: the first three are dropped)."""
    state = estimator.init(CENTER)
    targets = []
    for step in range(updates):
        target, state, info = estimator.step(
            StepKey(seed, step), state, CENTER, TAU_VECTOR, problem(), COMM
        )
        targets.append(target)
    assert info.grad_evals == estimator.chains * estimator.steps
    assert state["chains"].shape == (estimator.chains, 3)
    return targets[3:]


@pytest.mark.parametrize("average", ["position", "gradient"])
@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_sgld_matches_tilted_mean_with_warm_started_chains(beta, average):
    eps = parse_schedule("harmonic:1,10", "--sgld-eps")
    estimator = SGLD(chains=4, steps=1000, eps=eps, beta=beta, average=average)
    mean, se = mean_and_standard_error(sgld_targets(estimator))
    truth = problem().tilted_mean(CENTER, TAU_VECTOR, beta)
    assert torch.all((mean - truth).abs() <= 5 * se), (mean, truth, se)


def test_sgld_gradient_form_is_less_noisy_and_a_wrong_form_misses_the_mean(monkeypatch):
    """``x - tau beta grad f`` has ``(tau beta a)^2`` (0.16 to 0.25 here) times the variance of
    the position average; the same form without ``tau`` (``x - beta grad f``) misses the
    tilted mean by many standard errors."""
    eps = parse_schedule("harmonic:1,10", "--sgld-eps")
    spreads = {}
    for average in ("position", "gradient"):
        estimator = SGLD(chains=4, steps=1000, eps=eps, beta=1.0, average=average)
        spreads[average] = torch.stack(sgld_targets(estimator, seed=5)).var(dim=0)
    ratio = spreads["gradient"] / spreads["position"]
    # both forms come from the same chains, so their ratio is sharp (within 10% over seeds)
    expected = (TAU_VECTOR * 1.0 * DIAG) ** 2
    assert torch.allclose(ratio, expected, rtol=0.25), (ratio, expected)

    def without_tau(center, grad, tau, beta, out):
        return torch.add(center, grad, alpha=-beta, out=out)

    monkeypatch.setattr(sgld_module, "gradient_form", without_tau)
    wrong = SGLD(chains=4, steps=1000, eps=eps, beta=1.0, average="gradient")
    mean, se = mean_and_standard_error(sgld_targets(wrong))
    truth = problem().tilted_mean(CENTER, TAU_VECTOR, 1.0)
    assert torch.any((mean - truth).abs() > 5 * se), (mean, truth, se)


def test_sgld_chains_sample_the_tilted_measure_with_the_right_spread():
    """The chain positions, not only their average: with a constant eps the Euler-Maruyama
    chain on the Gaussian q has stationary variance ``1 / (P (1 - eps P / 4))`` per coordinate
    (``P = beta A + 1/tau``), so a wrong noise scale or a dropped beta shows here."""
    eps, beta, chains = 0.01, 2.0, 2000
    estimator = SGLD(
        chains=chains, steps=300, eps=parse_schedule(str(eps), "--sgld-eps"), beta=beta
    )
    state = estimator.init(CENTER)
    for step in range(2):  # 600 steps: the slowest coordinate relaxes by exp(-9)
        _, state, _ = estimator.step(StepKey(4, step), state, CENTER, TAU_VECTOR, problem(), COMM)
    precision = beta * DIAG + 1 / TAU_VECTOR
    variance = 1 / (precision * (1 - eps * precision / 4))
    sample_variance = state["chains"].var(dim=0)
    se = variance * (2 / (chains - 1)) ** 0.5
    assert torch.all((sample_variance - variance).abs() <= 5 * se), (sample_variance, variance)
    mean_se = (variance / chains).sqrt()
    truth = problem().tilted_mean(CENTER, TAU_VECTOR, beta)
    assert torch.all((state["chains"].mean(dim=0) - truth).abs() <= 5 * mean_se)


def noise_free_robbins_monro(iterations: int, step, tau, root, beta=1.0) -> torch.Tensor:
    """The expected RM output for a quadratic (the iteration is affine): its distance to the
    root is the deterministic transient left after J iterations."""
    x = CENTER.clone()
    for j in range(iterations):
        x = x - step(j) * (x - CENTER + tau * beta * DIAG * (x - A))
    return (x - root).abs()


@pytest.mark.parametrize("beta", [1.0, 2.0])
@pytest.mark.parametrize("stein", [False, True], ids=["rm", "rm-stein"])
def test_robbins_monro_matches_heat_root(stein, beta):
    step = parse_schedule("power:1,1", "--rm-step")
    estimator = RobbinsMonro(samples=20, iterations=40, step_size=step, beta=beta, stein=stein)
    targets = []
    for seed in range(20):
        target, _, info = estimator.step(StepKey(seed, 3), {}, CENTER, TAU_VECTOR, problem(), COMM)
        targets.append(target)
    assert info.grad_evals + info.loss_evals == (2 if stein else 1) * 20 * 40
    mean, se = mean_and_standard_error(targets)
    root = problem().heat_root(CENTER, TAU_VECTOR, beta)
    transient = noise_free_robbins_monro(40, step, TAU_VECTOR, root, beta)
    assert torch.all(transient < 5e-3)  # J^-(1 + tau lambda) decay
    assert torch.all((mean - root).abs() <= 5 * se + transient), (mean, root, se)


class CosineProblem:
    """``f(x) = sum_i c_i cos(2 x_i)``: non-convex, ``E_{N(x,tau)} grad_i f = -2 c_i sin(2 x_i)
    exp(-2 tau_i)`` in closed form."""

    c = torch.tensor([1.0, -0.7, 0.4], dtype=torch.float64, device=DEVICE)
    loss_evals = grad_evals = 0

    def losses(self, params):
        return (self.c * torch.cos(2 * params)).sum(dim=1)

    def loss_and_grad(self, params):
        return self.losses(params), -2 * self.c * torch.sin(2 * params)

    def heat_gradient(self, x, tau):
        return -2 * self.c * torch.sin(2 * x) * torch.exp(-2 * tau)


def test_gradient_free_heat_step_agrees_with_gradient_step():
    """One RM iteration with a_1 = 1 is ``x_k - tau G``: both forms estimate ``E grad f``."""
    step = parse_schedule("1", "--rm-step")
    truth = CENTER - TAU_VECTOR * CosineProblem().heat_gradient(CENTER, TAU_VECTOR)
    means = []
    for stein in (False, True):
        estimator = RobbinsMonro(samples=200, iterations=1, step_size=step, stein=stein)
        targets = [
            estimator.step(StepKey(seed, 0), {}, CENTER, TAU_VECTOR, CosineProblem(), COMM)[0]
            for seed in range(30)
        ]
        mean, se = mean_and_standard_error(targets)
        assert torch.all((mean - truth).abs() <= 5 * se), (stein, mean, truth, se)
        means.append((mean, se))
    (m1, s1), (m2, s2) = means
    assert torch.all((m1 - m2).abs() <= 5 * torch.sqrt(s1**2 + s2**2))


def test_sgld_chain_state_is_the_last_chain_position():
    """Warm start: the state after an update holds where each chain stopped, and the next
    update continues from there."""
    estimator = SGLD(chains=2, steps=5, eps=parse_schedule("0.01", "--sgld-eps"))
    state = estimator.init(CENTER)
    key = StepKey(1, 0)
    _, after_one, _ = estimator.step(key, state, CENTER, TAU_VECTOR, problem(), COMM)
    _, last, _, _ = estimator.run_chains(
        key, state["chains"], [0, 1], CENTER, TAU_VECTOR, problem(), 1.0
    )
    assert torch.allclose(after_one["chains"], last)
    assert not torch.allclose(after_one["chains"], state["chains"])
    _, from_state, _, _ = estimator.run_chains(
        StepKey(1, 1), after_one["chains"], [0, 1], CENTER, TAU_VECTOR, problem(), 1.0
    )
    _, after_two, _ = estimator.step(StepKey(1, 1), after_one, CENTER, TAU_VECTOR, problem(), COMM)
    assert torch.allclose(after_two["chains"], from_state)
