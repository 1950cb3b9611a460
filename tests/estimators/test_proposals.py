"""The importance-sampling proposal schemes (``--proposal``) against the literal estimator and
closed forms, each with a deliberately wrong variant that fails the same test.

* ``antithetic``: on the quadratic (q Gaussian) the target is the tilted mean within Monte Carlo
  error and its reported standard error matches the spread over updates; weighing a pair's
  ``-`` sample with its ``+`` sample's loss fails the mean test.
* ``marginal``: the same law as the literal update. Over many repetitions on a small network
  (a minibatch with a repeated and a zero image, so ``X X^T`` is singular) the mean and the
  covariance of the target (its variance along every coordinate and along random directions,
  with standard errors from the fourth moments) agree with the literal estimator's; dropping
  the residual ``sqrt(sum w^2) Z (I - Q Q^T)`` fails. Its reported variance matches the spread;
  dropping the residual's known variance fails.
"""

from __future__ import annotations

import math

import pytest
import torch

from sampler.estimators import StepKey
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.estimators.marginal import Marginal
from sampler.estimators.proposals import Antithetic
from sampler.models import Batch
from sampler.models.data.gaussian_mixture import make_gaussian_mixture
from sampler.models.zoo import build_linear, build_mlp
from sampler.mpi import SerialComm
from sampler.problem import Problem
from tests.helpers.quadratic import QuadraticProblem
from tests.helpers.standard_error_check import (
    CENTER,
    CURVATURE,
    MINIMUM,
    agrees,
    ratio_and_tolerance,
    repeated_updates,
)

COMM = SerialComm()


def with_scheme(estimator: ImportanceSampling, scheme) -> ImportanceSampling:
    estimator._proposals[estimator.proposal] = scheme
    return estimator


class SameLossPairs(Antithetic):
    """Wrong: the ``-`` sample of a pair gets the ``+`` sample's loss."""

    def losses(self, drawn, problem):
        values = super().losses(drawn, problem)
        for (_, rows), offset in zip(drawn.blocks, drawn.offsets):
            half = (rows + 1) // 2
            values[offset + half : offset + rows] = values[offset : offset + rows - half]
        return values


class NoResidual(Marginal):
    """Wrong: the first layer's residual outside the rows of X dropped."""

    def residual(self, key, device, rows=None):
        rows = slice(0, self.width) if rows is None else rows
        count = rows.stop - rows.start
        return torch.zeros(count, self.layer.n_in, dtype=torch.float64, device=device)


class NoResidualVariance(Marginal):
    """Wrong: the residual's variance left out of the reported variance."""

    def finish(self, key, estimate, center, tau, comm):
        target, variance = super().finish(key, estimate, center, tau, comm)
        first = self.layer.weight
        basis = self.basis64
        known = self.sigma**2 * (1.0 - (basis * basis).sum(dim=0)) * estimate.s2 / estimate.s1**2
        variance[first] -= known.repeat(self.width)
        return target, variance


@pytest.mark.parametrize("tau", [torch.tensor(0.5, dtype=torch.float64), CURVATURE / 6])
def test_antithetic_target_is_the_tilted_mean(tau):
    problem = QuadraticProblem(CURVATURE, MINIMUM, allow_grad=False)
    truth = problem.tilted_mean(CENTER, tau, 2.0)

    def targets(scheme):
        estimator = with_scheme(ImportanceSampling(501, 2.0, 100, proposal="antithetic"), scheme)
        return torch.stack(
            [estimator.step(StepKey(s, 0), {}, CENTER, tau, problem, COMM)[0] for s in range(30)]
        )

    right = targets(Antithetic())
    z = (right.mean(0) - truth) / (right.std(0) / math.sqrt(30))
    assert z.abs().max() < 4.5, z.tolist()
    wrong = targets(SameLossPairs())
    z = (wrong.mean(0) - truth) / (wrong.std(0) / math.sqrt(30))
    assert z.abs().max() > 4.5, z.tolist()


def test_antithetic_error_matches_the_spread_over_updates():
    problem = QuadraticProblem(CURVATURE, MINIMUM, allow_grad=False)
    tau = torch.tensor(0.5, dtype=torch.float64)
    estimator = ImportanceSampling(400, 1.0, 40, proposal="antithetic")
    targets, variances, infos = repeated_updates(estimator, 7, tau, problem, 300)
    ess = [info.ess for info in infos]
    assert agrees(targets, variances), ratio_and_tolerance(targets, variances)
    # the literal estimator's error, tau / ESS, ignores what the pairs cancel: refused
    assert not agrees(targets, [torch.full_like(CENTER, float(tau) / e) for e in ess])


def small_network(width: int = 3):
    """A 10-input network and a minibatch of 5 with a repeated and a zero image (rank 3)."""
    data = make_gaussian_mixture(dim=10, train_size=40, test_size=10, data_seed=2)
    model = build_mlp(data.input_shape, data.num_classes, widths=(width,))
    inputs = data.train_x[:5].clone()
    inputs[2] = inputs[0]
    inputs[3] = 0.0
    batch = Batch(inputs, data.train_y[:5])
    tau = torch.full((model.num_params,), 0.4)
    tau[model.layers["fc1"]] = 0.1  # per-layer tau
    return model, Problem(model, batch), model.init_params(1), tau


def repeated_targets(
    scheme, name, repetitions, samples=32, block=8, beta=2.0, build=ImportanceSampling
):
    model, problem, center, tau = small_network()
    estimator = build(samples, beta, block, proposal=name)
    if scheme is not None:
        with_scheme(estimator, scheme)
    out = [
        estimator.step(StepKey(3, k), {}, center, tau, problem, COMM) for k in range(repetitions)
    ]
    targets = torch.stack([t.double() for t, _, _ in out])
    return targets, [info.target_variance for _, _, info in out]


def variance_z(a: torch.Tensor, b: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """z-scores of the difference of the variances of ``a @ u`` and ``b @ u`` for each column
    ``u`` of ``directions``, standard errors from the fourth moments."""

    def moments(x):
        p = (x - x.mean(0)) @ directions
        variance = p.var(0)
        fourth = (p**4).mean(0)
        return variance, (fourth - variance**2).clamp_min(0) / x.shape[0]

    (va, sa), (vb, sb) = moments(a), moments(b)
    return (va - vb) / (sa + sb).sqrt()


def test_marginal_has_the_law_of_the_literal_update():
    repetitions = 400
    literal, _ = repeated_targets(None, "literal", repetitions)
    marginal, _ = repeated_targets(None, "marginal", repetitions)
    wrong, _ = repeated_targets(NoResidual(), "marginal", repetitions)
    check_same_law(literal, marginal, wrong)


def check_same_law(literal, marginal, wrong) -> None:
    """``marginal`` has ``literal``'s mean and covariance (along every coordinate and 20 random
    directions) within 4.5 standard errors; ``wrong``'s spread differs by more."""
    repetitions, d = literal.shape
    generator = torch.Generator().manual_seed(0)
    random = torch.randn(d, 20, generator=generator, dtype=torch.float64)
    directions = torch.cat([torch.eye(d, dtype=torch.float64), random / random.norm(dim=0)], 1)
    standard_error = ((literal.var(0) + marginal.var(0)) / repetitions).sqrt()
    mean_z = (marginal.mean(0) - literal.mean(0)) / standard_error
    assert mean_z.abs().max() < 4.5, mean_z.tolist()
    covariance_z = variance_z(marginal, literal, directions)
    assert covariance_z.abs().max() < 4.5, covariance_z.tolist()
    # without the residual (or with the wrong one) the first layer's spread is off
    assert variance_z(wrong, literal, directions).abs().max() > 4.5


def test_marginal_error_matches_the_spread_over_updates():
    targets, variances = repeated_targets(None, "marginal", 200, samples=200, block=20, beta=1.0)
    assert agrees(list(targets), variances), ratio_and_tolerance(list(targets), variances)
    _, wrong = repeated_targets(
        NoResidualVariance(), "marginal", 200, samples=200, block=20, beta=1.0
    )
    assert not agrees(list(targets), wrong)


def test_dense_models_give_their_losses_from_the_input_products():
    data = make_gaussian_mixture(dim=7, train_size=20, test_size=5, data_seed=0)
    batch = data.minibatch(0, 0, 6)
    for model in (
        build_linear(data.input_shape, data.num_classes),
        build_mlp(data.input_shape, data.num_classes, widths=(5, 4)),
    ):
        noise = torch.randn(4, model.num_params, generator=torch.Generator().manual_seed(1))
        params = model.init_params(0) + 0.3 * noise
        layer = model.input_layer
        weight = params[:, layer.weight].view(4, layer.n_out, layer.n_in)
        products = torch.einsum("bn,khn->kbh", batch.inputs.reshape(6, -1), weight)
        rest = params[:, layer.weight.stop :]
        torch.testing.assert_close(
            model.losses_from_input_products(products, rest, batch), model.losses(params, batch)
        )


def test_auto_is_marginal_on_a_dense_network_and_antithetic_elsewhere():
    model, problem, center, tau = small_network()
    estimator = ImportanceSampling(16, 1.0, 8, proposal="auto")
    assert estimator.scheme(problem).name == "marginal"
    assert estimator.scheme(QuadraticProblem(CURVATURE, MINIMUM)).name == "antithetic"
    wide = Problem(model, Batch(torch.zeros(12, 10), torch.zeros(12, dtype=torch.int64)))
    assert estimator.scheme(wide).name == "antithetic"  # B = 12 >= 10 inputs
    target, _, info = estimator.step(StepKey(0, 0), {}, center, tau, problem, COMM)
    assert torch.isfinite(target).all() and info.loss_evals == 16
    assert problem.loss_evals == 16


def test_marginal_two_pass_hits_the_ess_target():
    from sampler.estimators.temperature import Temperature

    model, problem, center, tau = small_network()
    estimator = ImportanceSampling(64, Temperature(None, 0.5), 16, "two-pass", "marginal")
    _, state, info = estimator.step(StepKey(1, 0), {}, center, tau, problem, COMM)
    assert info.ess == pytest.approx(32, rel=1e-6) and state["beta"] == info.beta
