"""ES's sigma on each layer's scale (``--baseline es --tau-scale init-variance``): every layer's
perturbations have variance ``sigma^2 v_l`` (``v_l`` its initial variance; within 4.5 standard
errors, the absolute sigma rejected), and the raw estimate with a per-coordinate sigma is still
the gradient of the smoothed quadratic (a variant dividing by the scalar sigma rejected)."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from sampler.baselines import BASELINES, RunContext
from sampler.baselines.evolution_strategies import EvolutionStrategies
from sampler.cli.main import main
from sampler.config.method_options import method, resolve
from sampler.estimators.base import StepKey
from sampler.models.data.gaussian_mixture import make_gaussian_mixture
from sampler.models.zoo import build_mlp
from sampler.mpi import SerialComm
from sampler.problem import Problem
from sampler.scheme.tau_scale import layer_variances
from tests.helpers.quadratic import QuadraticProblem, mean_and_standard_error

COMM = SerialComm()
SIGMA = 0.5


class Recording(Problem):
    """A network's problem that keeps what each population's forward pass is given: the
    first-layer products ``u (W ± s_1 E_i)^T`` and the other coordinates."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def losses_from_input_products(self, products, points):
        self.seen.append((products.clone(), points.clone()))
        return super().losses_from_input_products(products, points)


def perturbations(scale: str, updates: int = 20) -> tuple[torch.Tensor, dict, object]:
    """``[pairs, d]``: the ``+`` steps ``s e_i`` of ``updates`` updates of a small mlp, the
    first layer's read from its products with the minibatch's first input ``u``:
    ``(u (W + s_1 E_i)^T - u W^T) / |u| ~ N(0, s_1^2)`` for each hidden unit."""
    data = make_gaussian_mixture(dim=6, train_size=60, test_size=10, data_seed=1)
    model = build_mlp(data.input_shape, data.num_classes, widths=(5,))
    given = {"population": 40, "block_size": 10, "sigma": SIGMA, "tau_scale": scale}
    values = resolve(method("is", "es"), given, steps=1)
    built = BASELINES["es"].build(values, RunContext(seed=2, model=model))
    params = model.init_params(2)
    batch = data.minibatch(0, 0, 12)
    problem = Recording(model, batch, partial(data.minibatch, 0, 0, 12))
    for step in range(updates):
        built.estimate(StepKey(2, step), params, problem, COMM)
    first = model.input_layer
    u = batch.inputs.reshape(12, -1)[0].to(params.dtype)
    base = u @ params[first.weight].view(first.n_out, first.n_in).T
    rows = []
    for products, points in problem.seen:
        half = products.shape[0] // 2
        weight = (products[:half, 0] - base) / u.norm()  # [pairs, h]
        rest = points[:half] - params[first.weight.stop :]
        rows.append((weight, rest))
    weights = torch.cat([w for w, _ in rows]).double()
    rest = torch.cat([r for _, r in rows]).double()
    return weights, rest, layer_variances(model.layers, params), model


@pytest.mark.parametrize("scale, right", [("init-variance", True), ("absolute", False)])
def test_each_layer_is_perturbed_on_its_initial_scale(scale, right):
    """Per layer, the mean square of the perturbations' entries against ``sigma^2 v_l`` (its
    standard error from the squares' sample variance; the ``-`` steps mirror the ``+`` ones and
    are left out; one input row, the entries independent)."""
    weights, rest, variances, model = perturbations(scale)
    cut = model.input_layer.weight.stop
    within = []
    for name, part in model.layers.items():
        entries = [rest[:, max(part.start, cut) - cut : part.stop - cut].flatten()]
        if part.start < cut:  # the first layer: its weight (from the products) and its bias
            entries.append(weights.flatten())
        squares = torch.cat(entries) ** 2
        se = float(squares.std() / squares.numel() ** 0.5)
        within.append(abs(float(squares.mean()) - SIGMA**2 * variances[name]) <= 4.5 * se)
    assert all(within) == right, (scale, within)
    assert all(v < 0.2 for v in variances.values())  # the layers' scales differ from sigma


class ScalarSigma(EvolutionStrategies):
    """A deliberately wrong variant: per-coordinate perturbations, the sum divided by the mean
    sigma instead of each coordinate's."""

    def estimate(self, key, params, problem, comm):
        gradient, losses = super().estimate(key, params, problem, comm)
        return gradient * self.sigma.to(gradient.device) / self.sigma.mean(), losses


def test_the_raw_estimate_with_a_sigma_per_coordinate_is_the_smoothed_gradient():
    curvature = torch.tensor([1.0, 3.0, 0.5, 2.0])
    minimum = torch.tensor([0.4, -0.3, 0.2, 0.0])
    center = torch.tensor([0.1, 0.2, -0.3, 0.3])
    sigma = torch.tensor([0.05, 0.4, 0.1, 0.8], dtype=torch.float64)
    problem = QuadraticProblem(curvature, minimum, allow_grad=False)
    lr = resolve(method("is", "es"), {}, steps=1)["lr"]
    exact = (curvature * (center - minimum)).double()
    for kind, right in ((EvolutionStrategies, True), (ScalarSigma, False)):
        built = kind(20, sigma, lr, fitness="raw", block_size=10, seed=3)
        rows = [built.estimate(StepKey(3, k), center, problem, COMM)[0] for k in range(300)]
        mean, se = mean_and_standard_error(rows)
        assert bool(torch.all((mean - exact).abs() <= 4.5 * se)) == right, (kind, mean, se)


def test_init_variance_without_a_model_is_one_line_naming_the_flag():
    values = resolve(method("is", "es"), {"tau_scale": "init-variance"}, steps=1)
    with pytest.raises(Exception, match="--tau-scale init-variance: needs the model"):
        BASELINES["es"].build(values, RunContext(seed=0))


def test_a_run_with_init_variance_trains_through_the_cli(tmp_path):
    common = ["--data", "gaussian-mixture", "--gm-dim", "6", "--gm-train", "200"]
    flags = ["--baseline", "es", "--population", "8", "--block-size", "4", "--sigma", "0.5"]
    out = tmp_path / "run"
    argv = ["train", *common, *flags, "--tau-scale", "init-variance", "--steps", "3"]
    assert main([*argv, "--eval-every", "0", "--quiet", "--out", str(out)]) == 0
    assert "init-variance" in (out / "config.json").read_text()
