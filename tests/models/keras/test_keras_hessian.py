"""The Keras adapter's Hessian-vector products: equal to torch's double backward of the same
network, and with a regularizer's curvature in them."""

from __future__ import annotations

import pytest
import torch

from sampler.models.streams import torch_generator

pytest.importorskip("tensorflow")

from sampler.models.keras.model import KerasModel  # noqa: E402
from tests.helpers import keras_factories  # noqa: E402
from tests.helpers.keras_comparison import image_batch, perturbed, to_torch_layout  # noqa: E402

TINY_SHAPES = [(12, 6), (6,), (6, 3), (3,)]


@pytest.mark.parametrize("xla", [False, True])
def test_hessian_vector_products_equal_the_torch_networks(keras, xla):
    """Keras' forward-over-backward products of the tanh 12-6-3 network equal torch's double
    backward of the same network (the zoo's DenseNet) with equal weights, and so do the top
    eigenvalues that ``sampler flatness`` reports."""
    from sampler.flatness.hessian import hessian_vector_product
    from sampler.flatness.report import differentiable_loss, has_hessian, hessian_report
    from sampler.models.dense import DenseNet

    model = KerasModel(keras_factories.tiny_mlp((12,), 3), xla=xla)
    torch_model = DenseNet(12, (6,), 3, activation="tanh")
    assert has_hessian(model) and model.num_params == torch_model.num_params
    batch = image_batch((12,), n=16, classes=3)
    params = perturbed(model, k=1, scale=0.5)
    same = to_torch_layout(params, TINY_SHAPES)[0]
    vectors = torch.randn(2, model.num_params, generator=torch_generator(3, 95))
    product = model.hessian_vector_product(params[0], batch)
    torch_product = hessian_vector_product(differentiable_loss(torch_model, batch), same)
    for vector in vectors:
        found = to_torch_layout(product(vector).unsqueeze(0), TINY_SHAPES)[0]
        expected = torch_product(to_torch_layout(vector.unsqueeze(0), TINY_SHAPES)[0])
        torch.testing.assert_close(
            found, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max())
        )
    keras_top = hessian_report(model, batch, params[0], 3, seed=0)["eigenvalues"]
    torch_top = hessian_report(torch_model, batch, same, 3, seed=0)["eigenvalues"]
    assert keras_top == pytest.approx(torch_top, rel=1e-3, abs=1e-5)


def test_hessian_vector_products_include_the_regularizer(keras):
    """An L2 kernel regularizer of strength s adds 2 s to the Hessian on that kernel's
    coordinates (the L1 activity term has no curvature): H(s) v - H(0) v = 2 s v there, 0
    elsewhere."""
    strong = KerasModel(keras_factories.regularised_mlp((12,), 3, strength=100.0), xla=False)
    plain = KerasModel(keras_factories.regularised_mlp((12,), 3, strength=0.0), xla=False)
    batch = image_batch((12,), classes=3)
    params = perturbed(strong, k=1, scale=0.5)[0]
    vector = torch.randn(strong.num_params, generator=torch_generator(4, 95))
    difference = strong.hessian_vector_product(params, batch)(vector)
    difference -= plain.hessian_vector_product(params, batch)(vector)
    kernel = slice(0, 12 * 6)
    expected = torch.zeros_like(vector)
    expected[kernel] = 200.0 * vector[kernel]
    torch.testing.assert_close(difference, expected, rtol=1e-5, atol=1e-3)
