"""``rm-stein --proposal marginal`` (``sampler.estimators.stein_marginal``): the Stein gradient
with the dense first layer's noise drawn through ``X E^T`` and its unseen part replaced by its
conditional mean (Rao-Blackwell).

One Robbins-Monro iteration with ``a_1 = 1`` is ``x_k - tau beta G_1``, linear in the Stein
estimate, so on a small network (``test_proposals.small_network``: a rank-deficient minibatch):

* its mean over updates is the literal pairs' within 4.5 standard errors, its first-layer
  deviation from the centre lies in the span of the minibatch's rows exactly (the literal
  one's does not), and its spread is smaller; the first layer's sum without its ``1 / sigma``
  fails the same mean test;
* its reported variance matches the spread over updates; with the first layer's squares
  divided by ``sigma`` instead of ``sigma^2`` it does not.

The same update on 1, 2 and 3 ranks: ``test_rank_count``; the flag's checks below.
"""

from __future__ import annotations

import pytest
import torch

from sampler.cli.main import main
from sampler.estimators import StepKey
from sampler.estimators.robbins_monro import RobbinsMonro
from sampler.estimators.stein_marginal import MarginalStein
from sampler.models import streams
from sampler.mpi import SerialComm
from sampler.schedules import parse_schedule
from tests.estimators.test_layerwise import z_scores
from tests.estimators.test_proposals import small_network
from tests.estimators.test_residual_mean import first_layer_deviation
from tests.helpers.standard_error_check import agrees, ratio_and_tolerance

ONE = parse_schedule("1", "--rm-step")  # a_1 = 1: the target is x_k - tau beta G_1


class NoFirstScale(MarginalStein):
    """Wrong: the first layer's summed gradient not divided by sigma."""

    def moments(self, sums, samples):
        mean, square = super().moments(sums, samples)
        first = self.marginal.layer.weight
        mean[first] *= self.marginal.sigma
        return mean, square


class SquaresOverSigma(MarginalStein):
    """Wrong: the first layer's squared gradients divided by sigma, not sigma^2."""

    def moments(self, sums, samples):
        mean, square = super().moments(sums, samples)
        square[self.marginal.layer.weight] *= self.marginal.sigma
        return mean, square


def one_iteration(proposal: str, repetitions: int, scheme=None, samples: int = 16):
    """Targets ``[R, d]`` (float64) and reported variances of ``repetitions`` updates."""
    model, problem, center, tau = small_network()
    estimator = RobbinsMonro(samples, 1, ONE, 2.0, stein=True, proposal=proposal)
    if scheme is not None:
        estimator._marginal = scheme
    out = [
        estimator.step(StepKey(3, k), {}, center, tau, problem, SerialComm())
        for k in range(repetitions)
    ]
    targets = torch.stack([t.double() for t, _, _ in out])
    return targets, [info.target_variance for _, _, info in out]


def test_marginal_stein_keeps_the_literal_mean_with_less_spread():
    repetitions = 400
    literal, _ = one_iteration("antithetic", repetitions)
    marginal, _ = one_iteration("marginal", repetitions)
    z_mean, _ = z_scores(marginal, literal)
    assert z_mean < 4.5
    deviation, unseen, layer = first_layer_deviation(marginal)
    assert (deviation @ unseen).abs().max() < 1e-5  # float32 targets: in the span exactly
    literal_deviation, _, _ = first_layer_deviation(literal)
    assert (literal_deviation @ unseen).abs().max() > 0.1
    first = layer.weight
    assert marginal[:, first].var(0).sum() < 0.7 * literal[:, first].var(0).sum()
    wrong, _ = one_iteration("marginal", repetitions, NoFirstScale())
    z_wrong, _ = z_scores(wrong, literal)
    assert z_wrong > 4.5


def test_marginal_stein_reports_the_variance_of_its_spread():
    targets, variances = one_iteration("marginal", 300)
    assert agrees(list(targets), variances), ratio_and_tolerance(list(targets), variances)
    targets, variances = one_iteration("marginal", 300, SquaresOverSigma())
    assert not agrees(list(targets), variances)


def brute_force_moments(stein: MarginalStein, key, j, x, samples, problem):
    """Each pair's Rao-Blackwellised estimate built whole (``E = G^T Q^T`` in the first layer,
    the full forward at ``x ± s e``) from the same streams: its mean and mean square ``[d]``."""
    m = stein.marginal
    q, _ = torch.linalg.qr(problem.batch.inputs.reshape(problem.batch_size, -1).double().T)
    scale = torch.cat([torch.full((m.layer.weight.stop,), m.sigma), m.rest_scale])
    estimates = []
    for pair in range(samples):
        generator = streams.torch_generator(
            key.seed, streams.RM_MARGINAL_NOISE, key.step, j * samples + pair
        )
        gauss = torch.empty(m.batch, m.width).normal_(generator=generator)
        rest = torch.empty(m.dim).normal_(generator=generator)
        seen = gauss.double().T @ q.T  # [h, n]: the first layer's noise the minibatch sees
        e = torch.cat([seen.flatten(), rest.double()])
        points = torch.stack([x.double() + scale * e, x.double() - scale * e]).to(x.dtype)
        plus, minus = problem.losses(points).double()
        estimates.append((plus - minus) / 2 * e / scale)
    estimates = torch.stack(estimates)
    return estimates.mean(0), (estimates * estimates).mean(0)


class UndoubledPairs(MarginalStein):
    """Wrong: the pair products without the doubled off-diagonal (``l < l'`` counted once)."""

    def prepare(self, key, center, tau, problem):
        super().prepare(key, center, tau, problem)
        once = (self.low != self.high).to(self.marginal.pairs.dtype) + 1.0
        self.marginal.pairs = self.marginal.pairs / once[:, None]


@pytest.mark.parametrize("scheme", [MarginalStein, UndoubledPairs])
def test_moments_are_the_pairs_estimates_built_whole(scheme):
    """The sums and their moments equal the per-pair Rao-Blackwellised estimates built whole,
    coordinate by coordinate (squares included: their pooled sum above sees only the pair
    products' diagonal); the undoubled pair products are refused."""
    model, problem, center, tau = small_network()
    stein, key, samples = scheme(), StepKey(4, 2), 6
    stein.prepare(key, center, tau, problem)
    x = center + 0.05 * torch.randn(center.shape, generator=torch.Generator().manual_seed(1))
    sums = stein.local_sums(key, 1, list(range(samples)), x, samples, problem)
    mean, square = stein.moments(sums, samples)
    whole_mean, whole_square = brute_force_moments(stein, key, 1, x, samples, problem)
    assert (mean - whole_mean).abs().max() <= 1e-4 * whole_mean.abs().max()
    close = (square - whole_square).abs().max() <= 1e-4 * whole_square.abs().max()
    assert close == (scheme is MarginalStein)


def test_auto_is_marginal_on_a_dense_network():
    _, problem, _, _ = small_network()
    assert RobbinsMonro(4, 2, ONE, stein=True, proposal="auto").scheme(problem) is not None
    assert RobbinsMonro(4, 2, ONE, stein=True).scheme(problem) is None  # the default: literal
    with pytest.raises(ValueError, match="--proposal marginal: rm-stein's"):
        RobbinsMonro(4, 2, ONE, proposal="marginal")
    with pytest.raises(ValueError, match="--proposal: must be one of"):
        RobbinsMonro(4, 2, ONE, stein=True, proposal="literal")


def train(out, batch: int = 8, estimator: str = "rm-stein") -> int:
    return main(
        [
            *("train", "--data", "gaussian-mixture", "--gm-dim", "30"),
            *("--batch-size", str(batch), "--estimator", estimator, "--proposal", "marginal"),
            *("--rm-samples", "4", "--rm-iterations", "3", "--steps", "3", "--eval-every", "0"),
            *("--quiet", "--out", str(out)),
        ]
    )


def test_the_flag_trains_and_is_refused_where_it_cannot_apply(tmp_path, capsys):
    assert train(tmp_path / "marginal") == 0
    assert '"proposal": "marginal"' in (tmp_path / "marginal" / "config.json").read_text()
    capsys.readouterr()
    # a minibatch as large as the input leaves nothing to marginalise
    assert train(tmp_path / "wide", batch=40) != 0
    assert "--proposal marginal: needs a minibatch smaller" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # rm draws its points literally
        train(tmp_path / "rm", estimator="rm")
    assert "--proposal: an option of --estimator is/rm-stein" in capsys.readouterr().err
