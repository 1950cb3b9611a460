"""``--control-variate proposal-mean`` (``sampler.estimators.control_variate``) against closed
forms and the literal estimator, each with a deliberately wrong variant that fails the same test.

* On the quadratic (q Gaussian) the target is the tilted mean within Monte Carlo error, with a
  smaller spread than the plain self-normalised estimate's where the weights are flat, and its
  reported standard error matches the spread over updates; leaving the cross term out of the
  batch means fails that test, and centring each block on its own average (not the known mean)
  fails the mean test.
* The marginalised scheme with the control variate has the law of the literal scheme with it
  (mean and covariance along every coordinate and random directions, a singular ``X X^T``);
  the residual scaled by the plain estimate's ``sqrt(s2) / s1`` fails. Its reported variance
  matches the spread.
"""

from __future__ import annotations

import math

import torch

from sampler.estimators import StepKey
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.estimators.marginal import Marginal
from sampler.estimators.proposals import Literal
from sampler.estimators.tilted_sums import TiltedSums
from tests.estimators.test_proposals import check_same_law, repeated_targets, with_scheme
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

CV = "proposal-mean"
TAU = torch.tensor(0.5, dtype=torch.float64)


class BlockCentred(Literal):
    """Wrong: each block's points centred on the block's own average (a known mean nowhere)."""

    def draw(self, key, blocks, block_size, center):
        drawn = super().draw(key, blocks, block_size, center)
        for (_, rows), offset in zip(drawn.blocks, drawn.offsets):
            part = drawn.points[offset : offset + rows]
            part.sub_(part.mean(0) - center)
        return drawn


class NoCrossTerm(TiltedSums):
    """Wrong: the control variate's error as if the plain average were independent of ``m``."""

    def finish(self, comm, choose):
        if self.cross is not None:
            self.cross.x.zero_(), self.cross.n.zero_(), self.cross.y.zero_(), self.cross.v.zero_()
        return super().finish(comm, choose)


class PlainResidual(Marginal):
    """Wrong: the first layer's residual scaled as the plain estimate's, ``sqrt(s2) / s1``."""

    def _controlled(self, estimate, mean, rows):
        mean, _, spread = super()._controlled(estimate, mean, rows)
        return mean, estimate.s2 / estimate.s1**2, spread


def quadratic_targets(estimator, beta, repetitions=40):
    problem = QuadraticProblem(CURVATURE, MINIMUM, allow_grad=False)
    targets = [
        estimator.step(StepKey(s, 0), {}, CENTER, TAU, problem, COMM)[0] for s in range(repetitions)
    ]
    stacked = torch.stack(targets)
    truth = problem.tilted_mean(CENTER, TAU, beta)
    z = (stacked.mean(0) - truth) / (stacked.std(0) / math.sqrt(repetitions))
    return stacked, z


def test_the_target_is_the_tilted_mean_with_less_spread():
    beta = 0.2  # flat weights: the plain estimate's error is mostly the proposals' own
    controlled, z = quadratic_targets(ImportanceSampling(400, beta, 40, control_variate=CV), beta)
    assert z.abs().max() < 4.5, z.tolist()
    plain, z_plain = quadratic_targets(ImportanceSampling(400, beta, 40), beta)
    assert z_plain.abs().max() < 4.5, z_plain.tolist()
    # the variance ratio of 40 draws per coordinate: F(39, 39) is below 2.5 with p > 0.997
    assert bool((plain.var(0) > 2.5 * controlled.var(0)).all()), (plain.var(0), controlled.var(0))
    wrong = with_scheme(ImportanceSampling(400, 2.0, 4, control_variate=CV), BlockCentred())
    _, z_wrong = quadratic_targets(wrong, 2.0)
    assert z_wrong.abs().max() > 4.5, z_wrong.tolist()


def test_the_reported_error_matches_the_spread(monkeypatch):
    problem = QuadraticProblem(CURVATURE, MINIMUM, allow_grad=False)
    for beta in (0.2, 1.0):
        estimator = ImportanceSampling(400, beta, 40, control_variate=CV)
        targets, variances, _ = repeated_updates(estimator, 7, TAU, problem, 300)
        assert agrees(targets, variances), (beta, ratio_and_tolerance(targets, variances))
    monkeypatch.setattr("sampler.estimators.importance_sampling.TiltedSums", NoCrossTerm)
    estimator = ImportanceSampling(400, 0.2, 40, control_variate=CV)
    targets, wrong, _ = repeated_updates(estimator, 7, TAU, problem, 300)
    assert not agrees(targets, wrong)


def controlled_targets(scheme, name, repetitions, **kwargs):
    def build(samples, beta, block, proposal):
        return ImportanceSampling(samples, beta, block, proposal=proposal, control_variate=CV)

    return repeated_targets(scheme, name, repetitions, build=build, **kwargs)


def test_marginal_has_the_law_of_the_literal_update():
    repetitions = 400
    literal, _ = controlled_targets(None, "literal", repetitions)
    marginal, _ = controlled_targets(None, "marginal", repetitions)
    wrong, _ = controlled_targets(PlainResidual(), "marginal", repetitions)
    check_same_law(literal, marginal, wrong)


def test_marginal_error_matches_the_spread():
    targets, variances = controlled_targets(None, "marginal", 200, samples=200, block=20, beta=1.0)
    assert agrees(list(targets), variances), ratio_and_tolerance(list(targets), variances)


def test_folding_the_kept_blocks_changes_nothing(monkeypatch):
    """The first layer's cross sums are formed for the chosen beta at the end, from the kept
    blocks; folding them into every beta's sums as they come (a tiny ``KEPT_BYTES``) gives the
    same update."""
    kept, kept_variances = controlled_targets(None, "marginal", 3, samples=64, block=8, beta=1.0)
    monkeypatch.setattr("sampler.estimators.control_variate.KEPT_BYTES", 1)
    folded, folded_variances = controlled_targets(
        None, "marginal", 3, samples=64, block=8, beta=1.0
    )
    assert torch.equal(kept, folded)
    for a, b in zip(kept_variances, folded_variances):  # the cross sums enter the variance
        assert torch.allclose(a, b, rtol=1e-12, atol=0), (a - b).abs().max()
