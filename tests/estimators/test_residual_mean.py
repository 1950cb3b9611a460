"""``--residual mean``: a marginalised dense layer's noise outside the rows of its input,
``sqrt(sum w^2) Z (I - Q Q^T)``, replaced by its conditional mean given the weights, zero
(``sampler.estimators.marginal``). Rao-Blackwell: the same expectation as the literal update,
less variance; the tilted measure's mean in those directions is the centre's.

* On a small network (``test_proposals.small_network``: a rank-deficient minibatch) the targets'
  mean is the literal update's within 4.5 standard errors, their first-layer deviation from the
  centre lies in the span of the minibatch (rows of ``X``) exactly, and their spread is smaller;
  dropping the in-span part as well fails the mean test.
* The reported variance (the in-span batch means only) matches the spread over updates; the
  sampled residual's variance added to it (what ``--residual sample`` reports) does not.
* A layer-wise update's dense block (``sampler.estimators.dense_block``) keeps the literal
  layer-wise mean the same way.
* Where nothing is marginalised (``literal``, ``antithetic``) the setting changes nothing.
"""

from __future__ import annotations

import pytest
import torch

from sampler.estimators import StepKey
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.estimators.layerwise import LayerWise
from sampler.estimators.marginal import Marginal
from sampler.mpi import SerialComm
from tests.estimators.test_layerwise import repeated, small_cnn, z_scores
from tests.estimators.test_proposals import repeated_targets, small_network
from tests.helpers.standard_error_check import agrees, ratio_and_tolerance


def mean_residual(samples, beta, block, proposal):
    return ImportanceSampling(samples, beta, block, proposal=proposal, residual="mean")


class NoSpanEither(Marginal):
    """Wrong: the first layer's in-span deviation dropped too (its target the centre)."""

    def __init__(self):
        super().__init__("mean")

    def finish(self, key, estimate, center, tau, comm):
        target, variance = super().finish(key, estimate, center, tau, comm)
        target[self.layer.weight] = self.weight64.reshape(-1).to(target)
        return target, variance


def first_layer_deviation(targets: torch.Tensor):
    """The targets' first-layer weights minus the centre's ``[R, h, n]`` and the projection
    ``I - Q Q^T`` onto what the minibatch does not see."""
    model, problem, center, _ = small_network()
    layer = model.input_layer
    weight = center[layer.weight].double().view(layer.n_out, layer.n_in)
    deviation = targets[:, layer.weight].view(-1, layer.n_out, layer.n_in) - weight
    basis, _ = torch.linalg.qr(problem.batch.inputs.reshape(5, -1).double().T)
    return deviation, torch.eye(layer.n_in, dtype=torch.float64) - basis @ basis.T, layer


def test_mean_residual_keeps_the_literal_mean_with_less_spread():
    repetitions = 400
    literal, _ = repeated_targets(None, "literal", repetitions)
    mean, _ = repeated_targets(None, "marginal", repetitions, build=mean_residual)
    z_mean, _ = z_scores(mean, literal)
    assert z_mean < 4.5
    deviation, unseen, layer = first_layer_deviation(mean)
    assert (deviation @ unseen).abs().max() < 1e-5  # float32 targets: in the span exactly
    literal_deviation, _, _ = first_layer_deviation(literal)
    assert (literal_deviation @ unseen).abs().max() > 0.1  # the literal update's are not
    first = layer.weight
    assert mean[:, first].var(0).sum() < 0.7 * literal[:, first].var(0).sum()
    wrong, _ = repeated_targets(NoSpanEither(), "marginal", repetitions, build=mean_residual)
    z_wrong, _ = z_scores(wrong, literal)
    assert z_wrong > 4.5


def test_mean_residual_reports_the_variance_of_its_spread():
    settings = dict(samples=200, block=20, beta=1.0)
    targets, variances = repeated_targets(None, "marginal", 200, build=mean_residual, **settings)
    assert agrees(list(targets), variances), ratio_and_tolerance(list(targets), variances)
    _, sampled = repeated_targets(None, "marginal", 200, **settings)  # + the residual's variance
    assert not agrees(list(targets), sampled)


def test_a_dense_block_with_the_mean_residual_keeps_the_literal_layerwise_mean():
    model = small_cnn()
    part = model.layers["fc1"]  # step 1: the dense block, marginalised given the conv's output
    tau = torch.full((model.num_params,), 0.3)
    masked = torch.zeros(model.num_params)
    masked[part] = 0.3
    literal = repeated("literal", masked, 1)
    mean = repeated("layerwise", tau, 1, scheme=LayerWise("mean"))
    z_mean, _ = z_scores(mean[:, part], literal[:, part])
    assert z_mean < 4.5
    assert mean[:, part].var(0).sum() < literal[:, part].var(0).sum()


@pytest.mark.parametrize("proposal", ["literal", "antithetic"])
def test_the_residual_changes_nothing_where_nothing_is_marginalised(proposal):
    model, problem, center, tau = small_network()
    for step in range(3):
        key = StepKey(4, step)
        updates = [
            ImportanceSampling(32, 2.0, 8, proposal=proposal, residual=residual).step(
                key, {}, center, tau, problem, SerialComm()
            )
            for residual in ("sample", "mean")
        ]
        (sample, _, sample_info), (mean, _, mean_info) = updates
        assert torch.equal(sample, mean)
        assert torch.equal(sample_info.target_variance, mean_info.target_variance)
