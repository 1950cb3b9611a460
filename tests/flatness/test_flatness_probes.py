"""The flatness probes against closed forms: local energy and local entropy of a quadratic
within Monte Carlo error, the top Hessian eigenvalues of a quadratic and of a small network,
and the per-layer signal of a linear model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sampler.flatness.hessian import hessian_vector_product, top_eigenvalues
from sampler.flatness.layer_signal import layer_signal, signal_record
from sampler.flatness.local_energy import local_energy
from sampler.flatness.local_entropy import local_entropy_curve
from sampler.models import Batch
from sampler.models.dense import DenseNet
from tests.helpers.quadratic import QuadraticProblem


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_local_energy_of_a_quadratic_matches_its_closed_form():
    """f(x) = 0.5 sum A_i (x_i - a_i)^2: E_z f(w + sigma z*w) - f(w) = 0.5 sigma^2 sum A_i w_i^2."""
    g = _generator(1)
    d = 20
    curvature = torch.rand(d, generator=g) * 4 + 0.5
    minimum = 2 + torch.randn(d, generator=g)
    quadratic = QuadraticProblem(curvature, minimum)
    params = minimum + 0.3 * torch.randn(d, generator=g)
    sigmas = [0.05, 0.2, 0.5]
    curve = local_energy(quadratic.losses, params, sigmas, samples=400, seed=3)
    weight = float((curvature.double() * params.double() ** 2).sum())
    for point, sigma in zip(curve, sigmas):
        exact = 0.5 * sigma**2 * weight
        assert abs(point["local_energy"] - exact) < 4 * point["standard_error"] + 1e-6
        # additive noise sigma z would give 0.5 sigma^2 sum A_i: the test tells them apart
        additive = 0.5 * sigma**2 * float(curvature.sum())
        assert abs(point["local_energy"] - additive) > 4 * point["standard_error"]


def test_local_energy_does_not_depend_on_the_chunk_size():
    """Batched evaluation equals evaluating the draws one at a time."""
    quadratic = QuadraticProblem(torch.ones(6), torch.zeros(6))
    params = torch.linspace(-1, 1, 6)
    batched = local_energy(quadratic.losses, params, [0.1, 0.3], samples=30, seed=0, chunk=25)
    one_by_one = local_energy(quadratic.losses, params, [0.1, 0.3], samples=30, seed=0, chunk=1)
    for a, b in zip(batched, one_by_one):
        assert a == pytest.approx(b, rel=1e-6)


def test_local_energy_refuses_a_single_sample():
    with pytest.raises(ValueError, match="at least 2"):
        local_energy(lambda p: p.sum(1), torch.ones(3), [0.1], samples=1, seed=0)


def _local_entropy_exact(curvature, minimum, params, tau, beta=1.0):
    """-log E_{N(x, tau)} exp(-beta f) of the quadratic (a Gaussian integral)."""
    a, m, x = curvature.double(), minimum.double(), params.double()
    shrink = 1 + beta * a * tau
    return float((0.5 * torch.log(shrink) + 0.5 * beta * a * (x - m) ** 2 / shrink).sum())


def test_local_entropy_probe_of_a_quadratic_matches_its_closed_form():
    g = _generator(2)
    d = 5
    curvature = torch.rand(d, generator=g) * 2 + 0.5
    minimum = torch.randn(d, generator=g)
    params = minimum + 0.5 * torch.randn(d, generator=g)
    quadratic = QuadraticProblem(curvature, minimum, allow_grad=False)
    taus = [0.01, 0.1, 0.5]
    curve = local_entropy_curve(quadratic, params, taus, samples=4000, seed=5, block_size=500)
    for point, tau in zip(curve, taus):
        exact = _local_entropy_exact(curvature, minimum, params, tau)
        se = point["standard_error"]
        assert 0 < point["ess"] <= 4000
        assert abs(point["free_energy"] - exact) < 4 * se + se * se  # + the bias of a log-mean
    assert quadratic.grad_evals == 0 and quadratic.loss_evals == 3 * 4000


def _quadratic_with_spectrum(eigenvalues, seed=0):
    g = _generator(seed)
    d = len(eigenvalues)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    matrix = (q * torch.tensor(eigenvalues, dtype=torch.float64)) @ q.T
    center = torch.randn(d, generator=g, dtype=torch.float64)

    def loss(x):
        diff = x.double() - center
        return (0.5 * diff @ matrix @ diff).to(x.dtype)

    return loss


def test_top_hessian_eigenvalues_of_a_quadratic_are_its_known_spectrum():
    spectrum = [7.0, 4.0, 2.5, 1.0, 0.5, 0.25, -0.5, 0.1, 0.05, 0.0, 0.3, 0.2]
    loss = _quadratic_with_spectrum(spectrum)
    result = top_eigenvalues(loss, torch.zeros(len(spectrum)), k=3, seed=0)
    assert result["eigenvalues"] == pytest.approx([7.0, 4.0, 2.5], rel=1e-4)
    assert result["matvecs"] > 0


def _tiny_net():
    model = DenseNet(4, (3,), 2, activation="tanh")
    g = _generator(4)
    batch = Batch(torch.randn(16, 4, generator=g), torch.randint(0, 2, (16,), generator=g))
    return model, batch, model.init_params(0)


def test_hessian_vector_products_of_a_network_equal_its_full_hessian():
    model, batch, params = _tiny_net()

    def loss(p):
        return model._losses(p.unsqueeze(0), batch)[0]

    full = torch.autograd.functional.hessian(loss, params)
    vector = torch.randn(params.shape[0], generator=_generator(5))
    product = hessian_vector_product(loss, params)(vector)
    torch.testing.assert_close(product, full @ vector, rtol=1e-4, atol=1e-6)
    expected = np.sort(np.linalg.eigvalsh(full.double().numpy()))[::-1][:2]
    found = top_eigenvalues(loss, params, k=2, seed=1)["eigenvalues"]
    assert found == pytest.approx(list(expected), rel=1e-3, abs=1e-5)


def test_top_eigenvalues_refuses_k_out_of_range():
    with pytest.raises(ValueError, match="number of eigenvalues"):
        top_eigenvalues(lambda x: (x * x).sum(), torch.zeros(3), k=3)


def test_signal_of_a_linear_model_equals_the_formula():
    """logits = W u + b: dE/dW = (1/B) sum_n (p_n - e_{y_n}) u_n^T, dE/db = (1/B) sum_n (p_n -
    e_{y_n}); s = mean |.| over the layer's 3 * 5 + 3 parameters."""
    model = DenseNet(5, (), 3)
    g = _generator(6)
    inputs = torch.randn(12, 5, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 3, (12,), generator=g)
    params = torch.randn(model.num_params, generator=g)
    weight, bias = params[:15].double().view(3, 5), params[15:].double()
    residual = torch.softmax(inputs @ weight.T + bias, dim=1)
    residual[torch.arange(12), targets] -= 1
    residual /= 12
    gradient = torch.cat([(residual.T @ inputs).flatten(), residual.sum(0)])
    expected = float(gradient.abs().mean())
    batch = Batch(inputs.float(), targets)
    assert signal_record(model, params, batch) == {"signal_fc0": pytest.approx(expected, rel=1e-5)}


def test_signal_is_per_layer():
    gradient = torch.tensor([1.0, -3.0, 2.0, 0.0, -4.0])
    layers = {"a": slice(0, 2), "b": slice(2, 5)}
    assert layer_signal(gradient, layers) == {"a": 2.0, "b": 2.0}
    assert math.isclose(layer_signal(gradient, {"all": slice(0, 5)})["all"], 2.0)
