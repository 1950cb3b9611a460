"""The layer-wise proposals (``--proposal layerwise``, ``sampler.estimators.layerwise``).

* Against a loop: the losses from a layer's input activations (``models.split_forward``) equal
  the losses of the full vectors, for every layer of a CNN, batched and looped.
* The law: on a coupled quadratic (``q_B`` Gaussian) the target is the closed-form mean of the
  block's tilted measure with the other coordinates fixed (within 4.5 standard errors); the
  literal update (every layer perturbed), whose block mean is a different one, fails the test.
* Against the literal update with tau zero off the block, on a small CNN, for a convolution
  (the first layer), a dense layer marginalised given its input activations
  (``sampler.estimators.dense_block``) and a dense layer evaluated from its activations: the
  mean and the covariance of the target over repeated updates agree (4.5 standard errors,
  fourth-moment errors for the variances); activations taken at a wrong point (stale
  features), a dense block without its weight residual, and noise scaled by tau instead of
  sqrt(tau) fail.
* ``layerwise-size`` draws each layer with probability proportional to its size.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import pytest
import torch
from torch import nn

from sampler.estimators import StepKey
from sampler.estimators.dense_block import DenseBlock
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.estimators.layerwise import LAYER_FLOOR, LayerWise, block_of, layer_weights
from sampler.models import Batch
from sampler.models.cnn import small_conv_net, tiny_conv_net
from sampler.models.torch_module import TorchModuleModel
from sampler.mpi import SerialComm
from sampler.problem import Problem
from tests.estimators.test_proposals import variance_z, with_scheme

COMM = SerialComm()


def images(count: int, shape=(1, 28, 28), classes: int = 10, seed: int = 0) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(count, *shape, generator=generator)
    return Batch(inputs, torch.randint(0, classes, (count,), generator=generator))


def test_losses_from_a_layer_equal_the_whole_forward():
    batch = images(6)
    for vmap in (True, False):
        model = tiny_conv_net((1, 28, 28), 10, vmap=vmap)
        center = model.init_params(0)
        assert model.split_layers == ["conv1", "conv2", "fc1"]
        generator = torch.Generator().manual_seed(1)
        for layer, part in model.layers.items():
            block = center[part] + 0.1 * torch.randn(5, part.stop - part.start, generator=generator)
            full = center.expand(5, -1).clone()
            full[:, part] = block
            below = model.layer_input(center, batch.inputs, layer)
            split = model.losses_from_layer(layer, block, center, below, batch.targets)
            torch.testing.assert_close(split, model.losses(full, batch), rtol=1e-5, atol=1e-6)


class CoupledQuadratic:
    """``f(x) = 0.5 (x - a)^T A (x - a)`` with a dense ``A``, two "layers" of two coordinates."""

    def __init__(self) -> None:
        root = torch.tensor(
            [
                [1.0, 0.6, 0.0, 0.3],
                [0.0, 1.2, 0.5, 0.0],
                [0.4, 0.0, 0.9, 0.2],
                [0.0, 0.3, 0.0, 1.1],
            ],
            dtype=torch.float64,
        )
        self.curvature = root @ root.T
        self.minimum = torch.tensor([0.3, -0.2, 0.5, 0.1], dtype=torch.float64)
        self.layers = {"a": slice(0, 2), "b": slice(2, 4)}
        self.model = self
        self.loss_evals = 0

    def losses(self, params: torch.Tensor) -> torch.Tensor:
        self.loss_evals += params.shape[0]
        diff = params.double() - self.minimum
        return (0.5 * ((diff @ self.curvature) * diff).sum(dim=1)).to(params.dtype)

    def block_mean(self, center, tau: float, beta: float, part: slice) -> torch.Tensor:
        """The mean of ``q_B``: precision ``beta A_BB + I / tau``, the rest at the centre."""
        a, x = self.curvature, center.double()
        rest = torch.ones(4, dtype=torch.bool)
        rest[part] = False
        precision = beta * a[part, part] + torch.eye(2, dtype=torch.float64) / tau
        linear = x[part] / tau + beta * a[part, part] @ self.minimum[part]
        linear -= beta * a[part][:, rest] @ (x[rest] - self.minimum[rest])
        mean = x.clone()
        mean[part] = torch.linalg.solve(precision, linear)
        return mean


def test_layerwise_target_is_the_mean_of_the_block_tilted_measure():
    problem = CoupledQuadratic()
    center = torch.tensor([0.2, 0.4, -0.3, 0.5], dtype=torch.float64)
    tau, beta, repetitions = 0.5, 2.0, 40

    def z_scores(proposal: str, step: int):
        estimator = ImportanceSampling(400, beta, 50, proposal=proposal)
        targets = torch.stack(
            [
                estimator.step(StepKey(s, step), {}, center, torch.tensor(tau), problem, COMM)[0]
                for s in range(repetitions)
            ]
        ).double()
        truth = problem.block_mean(center, tau, beta, problem.layers[block_of(problem, step)])
        error = targets.std(0) / math.sqrt(repetitions)
        return (targets.mean(0) - truth) / error.clamp_min(1e-12), targets

    for step in (0, 1):
        z, targets = z_scores("layerwise", step)
        assert z.abs().max() < 4.5, z.tolist()
        off = problem.layers[block_of(problem, step + 1)]
        assert torch.equal(targets[:, off], center[off].expand(repetitions, -1))
        wrong, _ = z_scores("literal", step)  # every layer perturbed: the full tilted mean
        assert wrong.abs().max() > 4.5, wrong.tolist()


def small_cnn() -> TorchModuleModel:
    with torch.device("meta"):
        module = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(1, 2, 3),
                relu=nn.ReLU(),
                pool=nn.MaxPool2d(2),
                flatten=nn.Flatten(),
                fc1=nn.Linear(8, 4),
                relu1=nn.ReLU(),
                fc2=nn.Linear(4, 3),
            )
        )
    return TorchModuleModel(module)


class StaleFeatures(LayerWise):
    """Wrong: the activations below the block taken at a different point (zero weights below)."""

    def layer_input(self, problem, center):
        stale = center.clone()
        stale[: self.part.start] = 0.0
        return problem.layer_input(stale, self.layer)


class WrongScale(LayerWise):
    """Wrong: the block perturbed by tau instead of sqrt(tau)."""

    def prepare(self, key, center, tau, problem):
        super().prepare(key, center, tau, problem)
        self.scale = self.scale * self.scale


class NoResidualDense(DenseBlock):
    def residual(self, key, device, rows=None):
        rows = slice(0, self.width) if rows is None else rows
        count = rows.stop - rows.start
        return torch.zeros(count, self.layer.n_in, dtype=torch.float64, device=device)


class NoResidual(LayerWise):
    """Wrong: a dense block's weight residual outside the rows of its activations dropped."""

    def __init__(self):
        super().__init__()
        self._dense = NoResidualDense()


def repeated(proposal: str, tau: torch.Tensor, step: int, scheme=None, repetitions: int = 300):
    model = small_cnn()
    problem = Problem(model, images(6, (1, 6, 6), 3, seed=4))
    center = model.init_params(2)
    estimator = ImportanceSampling(40, 8.0, 10, proposal=proposal)
    if scheme is not None:
        with_scheme(estimator, scheme)
    targets = [
        estimator.step(StepKey(s, step), {}, center, tau, problem, COMM)[0]
        for s in range(repetitions)
    ]
    return torch.stack(targets).double()


def z_scores(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """The largest |z| of the difference of the means, and of the variances along every
    coordinate and 10 random directions (fourth-moment standard errors)."""
    d = a.shape[1]
    random = torch.randn(d, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    directions = torch.cat([torch.eye(d, dtype=torch.float64), random / random.norm(dim=0)], 1)
    standard_error = ((a.var(0) + b.var(0)) / a.shape[0]).sqrt()
    mean = float(((a.mean(0) - b.mean(0)) / standard_error).abs().max())
    return mean, float(variance_z(a, b, directions).abs().max())


# step -> (the block, how it is evaluated, the wrong variants that must fail)
CASES = {
    0: ("conv", "the first layer, from the inputs", [WrongScale]),
    1: ("fc1", "dense, marginalised given the conv's activations", [StaleFeatures, NoResidual]),
    2: ("fc2", "dense with B >= n_in: split forward, not marginalised", [StaleFeatures]),
}


@pytest.mark.parametrize("step", sorted(CASES))
def test_layerwise_has_the_law_of_the_literal_update_with_tau_zero_off_the_block(step):
    layer, _, wrongs = CASES[step]
    model = small_cnn()
    assert block_of(model, step) == layer
    part = model.layers[layer]
    tau = torch.full((model.num_params,), 0.3)
    masked = torch.zeros(model.num_params)
    masked[part] = 0.3
    layerwise = repeated("layerwise", tau, step)
    literal = repeated("literal", masked, step)
    assert max(z_scores(layerwise[:, part], literal[:, part])) < 4.5
    for wrong in wrongs:
        wrong_targets = repeated("layerwise", tau, step, wrong())
        assert max(z_scores(wrong_targets[:, part], literal[:, part])) > 4.5, wrong.__name__
    off = torch.ones(model.num_params, dtype=torch.bool)
    off[part] = False
    assert torch.equal(layerwise[:, off], model.init_params(2).double()[off].expand(300, -1))


def layer_counts(model, draws: int, power: float, floor: float = 0.0) -> torch.Tensor:
    names = list(model.layers)
    counts = torch.zeros(len(names), dtype=torch.float64)
    for step in range(draws):
        counts[names.index(block_of(model, step, True, 5, power, floor))] += 1
    return counts


@pytest.mark.parametrize("power", [1.0, 0.5])  # layerwise-size, layerwise-sqrt
def test_layer_by_size_is_drawn_in_proportion_to_its_size_to_the_power(power):
    model = tiny_conv_net((1, 28, 28), 10)
    sizes = torch.tensor([p.stop - p.start for p in model.layers.values()], dtype=torch.float64)
    draws = 4000

    def z_scores(share):
        return (layer_counts(model, draws, power) / draws - share) / (
            share * (1 - share) / draws
        ).sqrt()

    assert z_scores(sizes**power / (sizes**power).sum()).abs().max() < 4.5
    other = 1.5 - power  # the other rule's shares (size and its square root differ): refused
    assert z_scores(sizes**other / (sizes**other).sum()).abs().max() > 4.5
    assert block_of(model, 7, True, 5, power) == block_of(model, 7, True, 5, power)


def test_layer_floor_gives_each_layer_its_floor_and_the_rest_by_size():
    """``layerwise-floor``: share ``f + (1 - L f) |l| / d``; the bare size law (under which
    ``conv1`` of ``small-conv`` is 0.1% of the draws) is refused by the same counts."""
    model = small_conv_net((1, 28, 28), 10)
    sizes = torch.tensor([p.stop - p.start for p in model.layers.values()], dtype=torch.float64)
    draws, floor = 4000, LAYER_FLOOR
    counts = layer_counts(model, draws, 1.0, floor) / draws

    def z_scores(share):
        return (counts - share) / (share * (1 - share) / draws).sqrt()

    share = floor + (1 - floor * len(sizes)) * sizes / sizes.sum()
    assert z_scores(share).abs().max() < 4.5
    assert z_scores(sizes / sizes.sum()).abs().max() > 4.5
    assert float(share.min()) >= floor
    assert layer_weights(model, True) == layer_weights(model, True, floor=0.0)  # the size law
    with pytest.raises(ValueError, match="layer floor"):
        layer_weights(model, True, floor=0.3)  # 4 layers x 0.3 > 1


def test_dense_block_losses_from_products_equal_the_whole_forward():
    model = tiny_conv_net((1, 28, 28), 10)
    batch = images(6)
    center = model.init_params(0)
    assert model.dense_block("fc1") == (256, 10) and model.dense_block("conv2") is None
    part = model.layers["fc1"]
    noise = torch.randn(5, part.stop - part.start, generator=torch.Generator().manual_seed(3))
    block = center[part] + 0.1 * noise
    full = center.expand(5, -1).clone()
    full[:, part] = block
    below = model.layer_input(center, batch.inputs, "fc1")
    weights = block[:, :2560].view(5, 10, 256)
    products = torch.einsum("bn,khn->kbh", below, weights)
    bias = block[:, 2560:]
    split = model.losses_from_layer_products("fc1", products, bias, center, batch.targets)
    torch.testing.assert_close(split, model.losses(full, batch), rtol=1e-5, atol=1e-6)
