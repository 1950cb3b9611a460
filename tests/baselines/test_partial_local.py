"""Musso's PLA and PLEA: the expected losses against their closed forms on a quadratic (within
Monte Carlo error, and a wrong perturbation law rejected), R = 0 equals SGD bit for bit, the
perturbations stay on the chosen layers."""

from __future__ import annotations

import math

import pytest
import torch

from sampler.baselines import BASELINES, RunContext
from sampler.baselines.partial_local import perturbations
from sampler.cli.main import main
from sampler.config.method_options import method, resolve
from sampler.models.zoo import build_mlp
from tests.helpers.quadratic import QuadraticProblem, mean_and_standard_error

CURVATURE = torch.tensor([4.0, 1.0])
MINIMUM = torch.tensor([0.2, -0.1])
CENTER = torch.zeros(2)
RADIUS, COUNT, DRAWS = 1.0, 3, 1000


def trainer(name: str, radius: float = RADIUS):
    values = resolve(method("is", name), {"radius": radius, "perturbations": COUNT}, steps=1)
    return BASELINES[name].build(values, RunContext(seed=7))


def uniform_mean_of_exp(radius: float) -> float:
    """``E_U exp(-f(x + U))``, U uniform in [-radius, radius]^2: a product of erf integrals."""
    total = 1.0
    for a, delta in zip(CURVATURE.tolist(), (CENTER - MINIMUM).tolist()):
        s = math.sqrt(a / 2)
        integral = math.sqrt(math.pi / (2 * a)) * (
            math.erf(s * (delta + radius)) - math.erf(s * (delta - radius))
        )
        total *= integral / (2 * radius)
    return total


def quadratic_loss() -> float:
    return float(0.5 * (CURVATURE * (CENTER - MINIMUM) ** 2).sum())


def draws(name: str):
    """``DRAWS`` independent updates' (loss, gradient) at ``CENTER`` (a fresh draw per step)."""
    built, problem = trainer(name), QuadraticProblem(CURVATURE, MINIMUM)
    return [built.loss_and_grad(step, CENTER, problem) for step in range(DRAWS)]


def expected_plea_mean_exp(radius: float) -> float:
    """``E exp(-PLEA) = (1/(1+y)) [exp(-f(x)) + y E_U exp(-f(x + U))]``."""
    return (math.exp(-quadratic_loss()) + COUNT * uniform_mean_of_exp(radius)) / (1 + COUNT)


def test_plea_loss_matches_its_closed_form_and_a_wrong_radius_does_not():
    values = [torch.tensor([math.exp(-loss)], dtype=torch.float64) for loss, _ in draws("plea")]
    mean, se = mean_and_standard_error(values)
    assert abs(float(mean) - expected_plea_mean_exp(RADIUS)) <= 5 * float(se)
    # the law of a deliberately wrong variant (the cube of side R instead of 2R) is rejected
    assert abs(float(mean) - expected_plea_mean_exp(RADIUS / 2)) > 5 * float(se)


def test_pla_loss_and_gradient_match_their_closed_forms():
    """``E PLA = f(x) + (y/(1+y)) sum_i A_i R^2 / 6`` and ``E grad PLA = grad f(x)``."""
    results = draws("pla")
    mean, se = mean_and_standard_error([torch.tensor([loss]) for loss, _ in results])
    extra = COUNT / (1 + COUNT) * float(CURVATURE.sum()) * RADIUS**2 / 6
    assert abs(float(mean) - (quadratic_loss() + extra)) <= 5 * float(se)
    assert abs(float(mean) - (quadratic_loss() + extra / 4)) > 5 * float(se)  # R/2: rejected
    grad_mean, grad_se = mean_and_standard_error([grad for _, grad in results])
    assert torch.all((grad_mean - CURVATURE * (CENTER - MINIMUM)).abs() <= 5 * grad_se)


def test_perturbations_stay_on_the_chosen_layers():
    model = build_mlp((6,), 3, widths=(4,))
    values = resolve(method("is", "pla"), {"layers": "fc1", "perturbations": 5}, steps=1)
    built = BASELINES["pla"].build(values, RunContext(seed=1, model=model))
    noise = perturbations(1, 0, 5, 0.1, built.slices, model.init_params(0))
    fc1 = model.layers["fc1"]
    assert noise.shape == (5, model.num_params) and bool((noise[:, : fc1.start] == 0).all())
    assert bool((noise[:, fc1].abs() <= 0.1).all()) and bool((noise[:, fc1] != 0).all())


@pytest.mark.parametrize("name", ["pla", "plea"])
def test_zero_radius_is_sgd_bit_for_bit(tmp_path, name):
    data = ["--data", "gaussian-mixture", "--gm-dim", "6", "--gm-train", "200", "--gm-test", "50"]
    common = ["train", *data, "--model", "mlp", "--steps", "5", "--lr", "0.1", "--quiet"]
    assert main([*common, "--baseline", "sgd", "--out", str(tmp_path / "sgd")]) == 0
    flags = ["--baseline", name, "--radius", "0", "--out", str(tmp_path / name)]
    assert main([*common, *flags]) == 0
    load = lambda path: torch.load(path / "checkpoint.pt", weights_only=False)["params"]  # noqa: E731
    assert torch.equal(load(tmp_path / "sgd"), load(tmp_path / name))
