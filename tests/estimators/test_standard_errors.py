"""The Monte Carlo standard error each estimator reports for its target agrees with the spread
of the target over repeated updates on a quadratic loss (where q is Gaussian).

The test statistic pools the coordinates: ``sum_i Var_emp(m_i) / sum_i mean(SE_i^2)``, whose
relative Monte Carlo error with R repetitions of d coordinates is about ``sqrt(2 / (R d))``
(chi-square); the tolerance is 4.5 of those. A deliberately wrong variant of each error estimate
fails the same test, so the test has power.
"""

from __future__ import annotations

import math

import pytest
import torch

from sampler.estimators import StepKey
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.estimators.robbins_monro import RobbinsMonro
from sampler.estimators.sgld import SGLD
from sampler.schedules import parse_schedule
from sampler.scheme.mc_error import error_record
from tests.helpers.quadratic import QuadraticProblem
from tests.helpers.standard_error_check import (
    CENTER,
    COMM,
    CURVATURE,
    MINIMUM,
    agrees,
    ratio_and_tolerance,
    repeated_updates,
)


def test_importance_sampling_error_matches_the_spread_over_updates():
    problem = QuadraticProblem(CURVATURE, MINIMUM, allow_grad=False)
    tau = torch.tensor(0.5, dtype=torch.float64)
    estimator = ImportanceSampling(samples=400, beta=1.0, block_size=40)
    targets, variances, infos = repeated_updates(estimator, 7, tau, problem, 300)
    ess = [info.ess for info in infos]
    assert agrees(targets, variances), ratio_and_tolerance(targets, variances)
    # the rule of thumb SE^2 = tau / ESS ignores that q is narrower than the proposal: refused
    naive = [torch.full_like(CENTER, float(tau) / e) for e in ess]
    assert not agrees(targets, naive)


def test_importance_sampling_error_needs_two_blocks():
    problem = QuadraticProblem(CURVATURE, MINIMUM, allow_grad=False)
    estimator = ImportanceSampling(samples=40, beta=1.0, block_size=40)
    _, _, info = estimator.step(StepKey(0, 0), {}, CENTER, torch.tensor(0.5), problem, COMM)
    assert torch.isnan(info.target_variance).all()


@pytest.mark.parametrize("average", ["position", "gradient"])
def test_sgld_batch_means_error_matches_the_spread_over_updates(average):
    problem = QuadraticProblem(CURVATURE, MINIMUM)
    tau = torch.tensor(0.5, dtype=torch.float64)
    eps = parse_schedule("0.02", "--sgld-eps")
    estimator = SGLD(chains=4, steps=3000, eps=eps, average=average)
    state = estimator.init(CENTER)
    targets, variances = [], []
    for step in range(45):  # the same center each update: after burn-in a stationary sequence
        target, state, info = estimator.step(StepKey(3, step), state, CENTER, tau, problem, COMM)
        if step >= 5:
            targets.append(target)
            variances.append(info.target_variance)
    assert agrees(targets, variances), ratio_and_tolerance(targets, variances)
    # treating the chain's steps as independent draws underestimates the error: refused
    precision = CURVATURE + 1 / tau
    iid = [(1 / precision) / (4 * 3000) for _ in targets]
    assert not agrees(targets, iid)


def test_robbins_monro_error_matches_the_spread_over_updates():
    """Small ``tau beta A`` (0.015 at most): the propagation of the gradient noise through the
    iterations assumes the Jacobian of ``h`` is near the identity."""
    problem = QuadraticProblem(CURVATURE, MINIMUM)
    tau = torch.tensor(0.005, dtype=torch.float64)
    step_size = parse_schedule("power:1,0.7", "--rm-step")
    for stein in (False, True):
        estimator = RobbinsMonro(8, 20, step_size, stein=stein)
        targets, variances, _ = repeated_updates(estimator, 1, tau, problem, 300)
        assert agrees(targets, variances), (stein, ratio_and_tolerance(targets, variances))
        # the noise of the last iteration alone (not propagated through the earlier ones):
        # a_J^2 tau^2 Var(grad f(z)) / M with Var(grad f(z)) = A^2 tau on the quadratic
        last_step = step_size(19)
        last = [last_step**2 * float(tau) ** 3 * CURVATURE**2 / 8 for _ in targets]
        assert not agrees(targets, last)


def test_error_record_per_layer_and_effective_temperature():
    params = torch.zeros(6)
    target = torch.tensor([0.1, -0.1, 0.0, 0.2, 0.2, 0.2])
    variance = torch.tensor([1e-4, 1e-4, 1e-4, 4e-4, 4e-4, 4e-4], dtype=torch.float64)
    layers = {"a": slice(0, 3), "b": slice(3, 6)}
    record = error_record(params, target, variance, 0.01, 0.01, 2.0, layers)
    assert math.isclose(record["mc_se_a"], 0.01) and math.isclose(record["mc_se_b"], 0.02)
    assert math.isclose(record["step_rms_b"], 0.2, rel_tol=1e-6)
    # beta_eff = 1 / mean(eta SE^2 / (2 beta tau^2)): layer a 0.0025, layer b 0.01
    assert math.isclose(record["beta_eff"], 1 / ((0.0025 + 0.01) / 2), rel_tol=1e-9)
    # with eta = 0.01 and tau = 0.01, beta_eff = 2 beta tau / SE^2 for a single SE
    uniform = error_record(params, target, torch.full((6,), 1e-4), 0.01, 0.01, 1.0, None)
    assert math.isclose(uniform["beta_eff"], 200.0, rel_tol=1e-6)


def test_importance_sampling_error_does_not_vanish_when_one_sample_dominates():
    """At a huge beta one proposal holds nearly all the weight: batch means see no spread, but
    the estimate is about one proposal, so its error is at least of order tau / ESS."""
    problem = QuadraticProblem(CURVATURE, MINIMUM, allow_grad=False)
    estimator = ImportanceSampling(samples=400, beta=1e4, block_size=40)
    _, _, info = estimator.step(StepKey(0, 0), {}, CENTER, torch.tensor(0.5), problem, COMM)
    assert info.ess < 2
    assert torch.all(info.target_variance >= 0.5 / info.ess * (1 - 1e-9))
