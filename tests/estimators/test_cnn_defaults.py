"""The defaults on models with convolutions (issue 21) and the pieces they rest on.

* ``models.convolution.has_convolution``: the zoo's CNNs have convolutions, ``mlp`` and
  ``linear`` have none.
* ``--proposal auto`` is ``layerwise-size`` on a CNN and stays ``marginal`` / ``antithetic``
  elsewhere; ``--tau-scale auto`` is ``init-variance`` with the default tau meaning ``CONV_TAU``
  times each layer's initial variance on a CNN, and absolute (no scales) elsewhere.
* ``--beta auto`` (the default) aims at the ESS fraction ``CONV_ESS_FRACTION`` of J on a CNN
  and ``ESS_FRACTION`` elsewhere; a given ``auto:TARGET`` wins on either, and the update's
  chosen beta has its ESS nearest that target.
* ``--lr anneal`` averages a layer-wise update's Monte Carlo error over the perturbed block:
  ``B_k`` equals the one of the block's coordinates on their own, and the diluted mean over all
  coordinates (zeros off the block) would keep the full step longer.
* ``layerwise-pairs``: the block's proposals come in antithetic pairs, and the target is the
  closed-form mean of the block's tilted measure on a coupled quadratic (4.5 standard errors);
  the pairs leave the other layers at the centre.
"""

from __future__ import annotations

import math

import torch

from sampler.estimators import StepKey
from sampler.estimators.importance_sampling import (
    CONV_ESS_FRACTION,
    ESS_FRACTION,
    ImportanceSampling,
)
from sampler.estimators.layerwise import LayerWisePaired, block_of
from sampler.estimators.temperature import Temperature
from sampler.models import model_spec
from sampler.models.convolution import has_convolution
from sampler.mpi import SerialComm
from sampler.problem import Problem
from sampler.scheme.annealing import AnnealedStep
from sampler.scheme.tau_scale import CONV_TAU, DEFAULT_TAU, layer_scales, layer_variances
from tests.estimators.test_layerwise import CoupledQuadratic, images
from tests.estimators.test_proposals import with_scheme

COMM = SerialComm()


def built(name: str):
    return model_spec(name)((1, 28, 28), 10)


def test_the_zoo_cnns_have_convolutions_and_the_dense_nets_none():
    assert has_convolution(built("tiny-conv")) and has_convolution(built("small-conv"))
    assert not has_convolution(built("mlp")) and not has_convolution(built("linear"))
    assert not has_convolution(object())


def test_auto_proposal_is_layerwise_on_a_cnn_only():
    estimator = ImportanceSampling(16, 1.0, 8, proposal="auto")
    cnn = Problem(built("tiny-conv"), images(4))
    assert estimator.scheme(cnn).name == "layerwise-size"
    mlp = built("mlp")
    assert estimator.scheme(Problem(mlp, images(4))).name == "marginal"
    wide = images(800, (1, 28, 28))  # the minibatch as wide as the input: no marginal
    assert estimator.scheme(Problem(mlp, wide)).name == "antithetic"


def test_auto_beta_targets_a_lower_ess_on_a_cnn_unless_a_target_is_given():
    cnn, mlp = Problem(built("tiny-conv"), images(4)), Problem(built("mlp"), images(4))
    bare = ImportanceSampling(16, Temperature(None, None), 8, proposal="auto")
    assert bare.ess_target(cnn) == CONV_ESS_FRACTION and bare.ess_target(mlp) == ESS_FRACTION
    assert CONV_ESS_FRACTION != ESS_FRACTION
    given = ImportanceSampling(16, Temperature(None, 0.5), 8, proposal="auto")
    assert given.ess_target(cnn) == 0.5 and given.ess_target(mlp) == 0.5
    counted = ImportanceSampling(16, Temperature(None, 4.0), 8, proposal="auto")
    assert counted.ess_target(cnn) == 0.25 and counted.ess_target(mlp) == 0.25  # 4 of 16
    assert ImportanceSampling(16, 1.0, 8).ess_target(cnn) is None  # a fixed beta


def test_auto_beta_on_a_cnn_picks_the_grid_beta_nearest_its_target():
    problem = Problem(built("tiny-conv"), images(4))
    center = problem.model.init_params(0)
    tau = torch.full_like(center, 0.1)
    for target, expected in ((None, CONV_ESS_FRACTION), (ESS_FRACTION, ESS_FRACTION)):
        estimator = ImportanceSampling(400, Temperature(None, target), 100, proposal="auto")
        state, logs = {}, []
        for step in range(10):  # the grid walks beta towards the target, then stays near it
            _, state, info = estimator.step(StepKey(0, step), state, center, tau, problem, COMM)
            logs.append(math.log(info.ess / 400))
        settled = sum(logs[5:]) / 5  # the mean log ESS fraction of the last five updates
        other = ESS_FRACTION if expected == CONV_ESS_FRACTION else CONV_ESS_FRACTION
        assert abs(settled - math.log(expected)) < abs(settled - math.log(other)), logs


def test_auto_tau_scale_is_init_variance_in_units_of_the_default_tau_on_a_cnn():
    cnn, mlp = built("tiny-conv"), built("mlp")
    scales = layer_scales("auto", cnn, 3)
    variances = layer_variances(cnn.layers, cnn.init_params(3))
    assert scales == {k: CONV_TAU / DEFAULT_TAU * v for k, v in variances.items()}
    for layer, v in variances.items():  # the default --tau gives CONV_TAU times v_l
        assert math.isclose(DEFAULT_TAU * scales[layer], CONV_TAU * v, rel_tol=1e-12)
    assert layer_scales("auto", mlp, 3) is None and layer_scales("absolute", cnn, 3) is None


def test_annealing_averages_over_the_perturbed_block():
    d, block = 100, slice(10, 30)
    generator = torch.Generator().manual_seed(0)
    variance = torch.zeros(d, dtype=torch.float64)
    variance[block] = torch.rand(20, generator=generator, dtype=torch.float64) * 1e-4
    tau = torch.full((d,), 0.01, dtype=torch.float64)
    step = AnnealedStep(5.0)
    k, beta = 400, 3.0
    on_block = step.ratio(k, variance[block], tau[block], tau[block], beta)
    assert on_block < 1.0  # the block's error dominates at update k
    assert step.ratio(k, variance, tau, tau, beta, block) == on_block
    diluted = step.ratio(k, variance, tau, tau, beta)  # the zeros off the block counted
    assert math.isclose(diluted, min(1.0, on_block * d / 20), rel_tol=1e-9)


class Recording(LayerWisePaired):
    """``layerwise-pairs`` (cyclic, to fix the block) keeping its last draw."""

    by_size = False

    def draw(self, key, blocks, block_size, center):
        self.drawn = super().draw(key, blocks, block_size, center)
        return self.drawn


class WrongScalePairs(Recording):
    """Wrong: the pairs perturbed by tau instead of sqrt(tau)."""

    def prepare(self, key, center, tau, problem):
        super().prepare(key, center, tau, problem)
        self.scale = self.scale * self.scale


def paired_z_scores(scheme_class, step: int):
    problem = CoupledQuadratic()
    center = torch.tensor([0.2, 0.4, -0.3, 0.5], dtype=torch.float64)
    tau, beta, repetitions = 0.5, 2.0, 40
    part = problem.layers[block_of(problem, step)]
    targets = []
    for seed in range(repetitions):
        scheme = scheme_class()
        estimator = with_scheme(ImportanceSampling(400, beta, 50, proposal="x"), scheme)
        key = StepKey(seed, step)
        targets.append(estimator.step(key, {}, center, torch.tensor(tau), problem, COMM)[0])
        points = scheme.drawn.points - center[part]
        torch.testing.assert_close(points[:25], -points[25:50])  # pairs within a block
    targets = torch.stack(targets).double()
    truth = problem.block_mean(center, tau, beta, part)
    z = (targets.mean(0) - truth) / (targets.std(0) / math.sqrt(repetitions)).clamp_min(1e-12)
    off = torch.ones(4, dtype=torch.bool)
    off[part] = False
    assert torch.equal(targets[:, off], center[off].expand(repetitions, -1))
    return z


def test_layerwise_pairs_are_antithetic_and_target_the_block_tilted_mean():
    for step in (0, 1):
        z = paired_z_scores(Recording, step)
        assert z.abs().max() < 4.5, z.tolist()
        wrong = paired_z_scores(WrongScalePairs, step)
        assert wrong.abs().max() > 4.5, wrong.tolist()
