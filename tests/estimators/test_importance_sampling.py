"""The IS estimator against closed forms, in log space, with failing samples, without gradients."""

from __future__ import annotations

import math

import pytest
import torch

from sampler.estimators import ESTIMATORS, StepKey
from sampler.estimators.importance_sampling import ImportanceSampling, NoFiniteSampleError
from sampler.models import streams
from sampler.mpi import SerialComm
from tests.helpers.importance_quadratic import CURVATURE, MINIMUM, PartlyBrokenProblem
from tests.helpers.quadratic import QuadraticProblem


def run_is(problem, center, tau, seed=0, step=0, samples=2000, beta=1.0, block=128):
    estimator = ImportanceSampling(samples, beta, block)
    state = estimator.init(center)
    return estimator.step(
        StepKey(seed, step), state, center, torch.as_tensor(tau), problem, SerialComm()
    )


def test_registry_lists_is_as_gradient_free():
    assert ESTIMATORS["is"].objective == "local-entropy"
    assert not ESTIMATORS["is"].needs_gradients


@pytest.mark.parametrize("beta", [1.0, 3.0])
def test_target_matches_gaussian_tilted_mean_within_monte_carlo_error(beta):
    problem = QuadraticProblem(CURVATURE, MINIMUM, allow_grad=False)
    center = torch.tensor([0.1, 0.2, -0.3, 0.4, 0.0])
    tau = 0.5
    exact = problem.tilted_mean(center, tau, beta)
    estimates = torch.stack(
        [run_is(problem, center, tau, seed=s, beta=beta)[0].double() for s in range(20)]
    )
    mean = estimates.mean(0)
    standard_error = estimates.std(0) / math.sqrt(estimates.shape[0])
    z = (mean - exact) / standard_error
    assert z.abs().max() < 4.5, f"z-scores {z.tolist()}"
    # the spread itself is that of an IS estimate with the reported ESS: var_q / ESS
    _, _, info = run_is(problem, center, tau, beta=beta)
    variance_q = 1.0 / (beta * torch.tensor(CURVATURE, dtype=torch.float64) + 1.0 / tau)
    predicted = (variance_q / info.ess).sqrt()
    ratio = estimates.std(0) / predicted
    assert ((ratio > 0.4) & (ratio < 2.5)).all(), ratio.tolist()


def test_per_coordinate_tau_vector():
    problem = QuadraticProblem(CURVATURE, MINIMUM, allow_grad=False)
    center = torch.zeros(5)
    tau = torch.tensor([0.1, 0.2, 0.5, 1.0, 0.05])
    exact = problem.tilted_mean(center, tau)
    estimates = torch.stack([run_is(problem, center, tau, seed=s)[0].double() for s in range(16)])
    z = (estimates.mean(0) - exact) / (estimates.std(0) / 4.0)
    assert z.abs().max() < 4.5, z.tolist()


def test_free_energy_estimate_matches_closed_form():
    """F_tau(x) = -log E_{N(x,tau)} exp(-beta f): for the quadratic a Gaussian integral."""
    problem = QuadraticProblem(CURVATURE, MINIMUM, allow_grad=False)
    center, tau = torch.tensor([0.1, 0.2, -0.3, 0.4, 0.0]), 0.5
    a = torch.tensor(CURVATURE, dtype=torch.float64)
    diff = center.double() - torch.tensor(MINIMUM, dtype=torch.float64)
    exact = float((0.5 * a * diff * diff / (1 + tau * a)).sum() + 0.5 * torch.log1p(tau * a).sum())
    values = [run_is(problem, center, tau, seed=s)[2].free_energy for s in range(10)]
    mean = sum(values) / len(values)
    spread = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    assert abs(mean - exact) < 4.5 * spread / len(values) ** 0.5 + 1e-3


def manual_loop_estimate(problem, center, tau, seed, step, samples, block, beta=1.0):
    """The plain algorithm: draw every proposal, evaluate one at a time, weight, average."""
    points = []
    for b in range(math.ceil(samples / block)):
        rows = min(block, samples - b * block)
        g = streams.torch_generator(seed, streams.IS_NOISE, step, b)
        noise = torch.empty(block, center.numel())[:rows].normal_(generator=g)
        points.append(center + math.sqrt(tau) * noise)
    points = torch.cat(points)
    log_w = torch.stack([-beta * problem.losses(p[None])[0].double() for p in points])
    log_w = torch.where(torch.isfinite(log_w), log_w, -math.inf)
    w = torch.softmax(log_w, 0)
    return (w[:, None] * points.double()).sum(0), w


def test_streaming_blocks_equal_the_plain_loop():
    problem = QuadraticProblem(CURVATURE, MINIMUM)
    center, tau = torch.tensor([0.1, 0.2, -0.3, 0.4, 0.0]), 0.3
    target, _, info = run_is(problem, center, tau, seed=7, step=3, samples=1000, block=64)
    expected, w = manual_loop_estimate(problem, center, tau, 7, 3, 1000, 64)
    torch.testing.assert_close(target.double(), expected, rtol=0, atol=1e-6)
    assert info.ess == pytest.approx(float(1 / (w * w).sum()), rel=1e-9)
    assert info.max_weight == pytest.approx(float(w.max()), rel=1e-9)
    assert info.loss_evals == 1000 and info.grad_evals == 0


@pytest.mark.parametrize("offset", [1e4, -1e4])
def test_huge_losses_are_handled_in_log_space(offset):
    shifted = QuadraticProblem(CURVATURE, MINIMUM, offset=offset)
    plain = QuadraticProblem(CURVATURE, MINIMUM)
    center = torch.zeros(5)
    a, _, info_a = run_is(shifted, center, 0.5, samples=500)
    b, _, info_b = run_is(plain, center, 0.5, samples=500)
    assert torch.isfinite(a).all()
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    # losses are float32: 1e4 carries ~1e-3 absolute resolution
    assert info_a.free_energy == pytest.approx(info_b.free_energy + offset, abs=5e-3)


def test_extremely_steep_loss_puts_all_weight_on_the_best_sample():
    steep = QuadraticProblem([1e4] * 5, MINIMUM)
    center = torch.zeros(5)
    target, _, info = run_is(steep, center, 0.5, samples=300, block=100)
    assert torch.isfinite(target).all()
    assert info.ess == pytest.approx(1.0, abs=1e-3)
    assert info.max_weight == pytest.approx(1.0, abs=1e-3)


def test_non_finite_losses_get_weight_zero():
    problem = PartlyBrokenProblem(CURVATURE, MINIMUM)
    center, tau = torch.zeros(5), 0.8
    target, _, info = run_is(problem, center, tau, seed=1, samples=600, block=100)
    expected, w = manual_loop_estimate(problem, center, tau, 1, 0, 600, 100)
    assert info.failed_samples == int((w == 0).sum()) > 100
    torch.testing.assert_close(target.double(), expected, rtol=0, atol=1e-6)
    assert torch.isfinite(target).all()


def test_all_samples_failing_is_a_clear_error():
    class AllNaN(QuadraticProblem):
        def losses(self, params):
            return torch.full((params.shape[0],), torch.nan)

    with pytest.raises(NoFiniteSampleError, match="all 200 importance samples"):
        run_is(AllNaN(CURVATURE, MINIMUM), torch.zeros(5), 0.1, samples=200)


def test_same_key_same_target_other_step_other_target():
    problem = QuadraticProblem(CURVATURE, MINIMUM)
    a = run_is(problem, torch.zeros(5), 0.2, seed=5, step=2, samples=300)[0]
    b = run_is(problem, torch.zeros(5), 0.2, seed=5, step=2, samples=300)[0]
    c = run_is(problem, torch.zeros(5), 0.2, seed=5, step=3, samples=300)[0]
    assert torch.equal(a, b) and not torch.equal(a, c)
