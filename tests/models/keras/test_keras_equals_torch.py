"""The Keras adapter against torch and against Keras itself: the same network in Keras and in
torch gives the same losses, gradients and predictions; batched equals the loop; the
regularization losses are part of the loss; channels-last images are what Keras computes."""

from __future__ import annotations

import math

import pytest
import torch

from sampler.models import MODELS, Model

tf = pytest.importorskip("tensorflow")

from sampler.models.keras.model import KerasModel  # noqa: E402
from tests.helpers import keras_factories  # noqa: E402
from tests.helpers.keras_comparison import image_batch, perturbed, to_torch_layout  # noqa: E402

MLP_SHAPES = [(784, 200), (200,), (200, 10), (10,)]  # Keras' Dense kernels are [n_in, n_out]


def test_keras_mlp_equals_the_torch_mlp(keras_mlp):
    """784-200-10 in Keras and in torch (the zoo's ``mlp``) with equal weights: equal losses,
    gradients and predictions for the same K parameter vectors, within float32 rounding."""
    keras_model = KerasModel(keras_mlp)
    torch_model = MODELS["mlp"]((1, 28, 28), 10)
    assert isinstance(keras_model, Model)
    assert keras_model.num_params == torch_model.num_params == 159_010
    batch = image_batch()
    params = perturbed(keras_model)
    same = to_torch_layout(params, MLP_SHAPES)
    torch.testing.assert_close(keras_model.losses(params, batch), torch_model.losses(same, batch))
    losses, grads = keras_model.loss_and_grad(params, batch)
    torch_losses, torch_grads = torch_model.loss_and_grad(same, batch)
    torch.testing.assert_close(losses, torch_losses)
    # float32 sums over the 8 inputs and the 200 hidden units: relative rounding ~1e-6
    scale = float(torch_grads.abs().max())
    torch.testing.assert_close(
        to_torch_layout(grads, MLP_SHAPES), torch_grads, rtol=1e-5, atol=1e-6 * scale
    )
    torch.testing.assert_close(
        keras_model.predict(params[2], batch.inputs), torch_model.predict(same[2], batch.inputs)
    )


def test_batched_equals_the_loop(keras):
    """(The XLA-compiled path is checked against torch above.)"""
    network = keras_factories.tiny_mlp((1, 12, 1), 3)
    batched = KerasModel(network, xla=False)
    looped = KerasModel(network, vmap=False, xla=False)
    assert batched.batched and not looped.batched
    batch = image_batch((1, 1, 12), classes=3)
    params = perturbed(batched, k=4, scale=0.5)
    torch.testing.assert_close(batched.losses(params, batch), looped.losses(params, batch))
    values, grads = batched.loss_and_grad(params, batch)
    loop_values, loop_grads = looped.loss_and_grad(params, batch)
    torch.testing.assert_close(values, loop_values)
    torch.testing.assert_close(grads, loop_grads, rtol=1e-5, atol=1e-6 * float(grads.abs().max()))


def _assign(network, row: torch.Tensor) -> None:
    """Sets the Keras model's own variables to the flat vector ``row: [d]``."""
    offset = 0
    for variable in network.trainable_variables:
        size = math.prod(variable.shape)
        variable.assign(row[offset : offset + size].reshape(tuple(variable.shape)).numpy())
        offset += size


@pytest.mark.parametrize("xla", [False, True])
def test_regularization_losses_are_part_of_the_loss_and_its_gradient(keras, xla):
    """A model with an L2 kernel regularizer (strength 100) and an L1 activity regularizer: the
    batched loss and gradient of each network equal the model's own ``model(x)`` loss plus
    ``sum(model.losses)`` (and its gradient by a tape around that call), and equal the loop."""
    network = keras_factories.regularised_mlp((12,), 3)
    model = KerasModel(network, xla=xla)
    looped = KerasModel(network, vmap=False, xla=False)
    batch = image_batch((12,), classes=3)
    params = perturbed(model, k=3, scale=0.5)
    values, grads = model.loss_and_grad(params, batch)
    torch.testing.assert_close(model.losses(params, batch), values)
    cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    inputs, targets = batch.inputs.numpy(), batch.targets.numpy()
    before = [v.numpy().copy() for v in network.trainable_variables]
    expected, expected_grads, penalties, data_losses = [], [], [], []
    for row in params:
        _assign(network, row)
        with tf.GradientTape() as tape:
            data_loss = cross_entropy(targets, network(inputs, training=False))
            penalty = tf.add_n(network.losses)
            loss = data_loss + penalty
        grad = tape.gradient(loss, network.trainable_variables)
        expected.append(float(loss))
        penalties.append(float(penalty))
        data_losses.append(float(data_loss))
        expected_grads.append(torch.cat([torch.from_numpy(g.numpy()).reshape(-1) for g in grad]))
    for variable, old in zip(network.trainable_variables, before):
        variable.assign(old)
    assert len(network.losses) == 2 and min(penalties) > 100  # the penalty dominates the loss
    expected, expected_grads = torch.tensor(expected), torch.stack(expected_grads)
    torch.testing.assert_close(values, expected, rtol=1e-5, atol=0)
    scale = float(expected_grads.abs().max())
    torch.testing.assert_close(grads, expected_grads, rtol=1e-5, atol=1e-6 * scale)
    loop_values, loop_grads = looped.loss_and_grad(params, batch)
    torch.testing.assert_close(values, loop_values, rtol=1e-5, atol=0)
    torch.testing.assert_close(grads, loop_grads, rtol=1e-5, atol=1e-6 * scale)
    torch.testing.assert_close(looped.losses(params, batch), loop_values)
    # the test loss of the predictions is the cross-entropy alone, without the penalty
    logits = torch.stack([model.predict(row, batch.inputs) for row in params])
    torch.testing.assert_close(
        model.loss_from_logits(logits, batch.targets), torch.tensor(data_losses)
    )


@pytest.mark.parametrize("xla", [False, True])
def test_one_minibatch_per_network_equals_the_loop(keras, xla):
    """``loss_and_grad_each`` of a conv net on [K, B, C, H, W] images (channels-last inside),
    one vectorized map, equals ``loss_and_grad`` of each network on its own minibatch, and the
    ``vmap=false`` loop."""
    from sampler.models.interface import stack_batches
    from sampler.models.keras import examples as keras_examples

    network = keras_examples.conv((8, 8, 2), 3)
    model = KerasModel(network, xla=xla)
    looped = KerasModel(network, vmap=False, xla=False)
    params = perturbed(model, k=3)
    batches = [image_batch((2, 8, 8), n=4, classes=3, seed=s) for s in range(3)]
    values, grads = model.loss_and_grad_each(params, stack_batches(batches))
    singles = [looped.loss_and_grad(params[k : k + 1], b) for k, b in enumerate(batches)]
    expected, expected_grads = (
        torch.cat([v for v, _ in singles]),
        torch.cat([g for _, g in singles]),
    )
    scale = float(expected_grads.abs().max())
    torch.testing.assert_close(values, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads, expected_grads, rtol=1e-5, atol=1e-5 * scale)
    loop_values, loop_grads = looped.loss_and_grad_each(params, stack_batches(batches))
    torch.testing.assert_close(loop_values, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loop_grads, expected_grads, rtol=1e-5, atol=1e-5 * scale)
    shared, _ = model.loss_and_grad(params, batches[0])
    assert not torch.allclose(shared[1:], values[1:], rtol=1e-3)


def test_channels_last_images_and_the_keras_model_itself(keras):
    """A conv net: the adapter's [B, C, H, W] -> [B, H, W, C] gives what Keras computes on the
    channels-last batch with the same weights assigned; batched equals the loop."""
    from sampler.models.keras import examples as keras_examples

    network = keras_examples.conv((8, 8, 2), 3)
    model = KerasModel(network, xla=False)
    batch = image_batch((2, 8, 8), classes=3)
    params = perturbed(model, k=3)
    looped = KerasModel(network, vmap=False, xla=False)
    torch.testing.assert_close(model.losses(params, batch), looped.losses(params, batch))
    offset = 0
    for variable in network.trainable_variables:
        size = math.prod(variable.shape)
        variable.assign(params[1, offset : offset + size].reshape(tuple(variable.shape)).numpy())
        offset += size
    outputs = network(batch.inputs.permute(0, 2, 3, 1).numpy(), training=False).numpy()
    torch.testing.assert_close(model.predict(params[1], batch.inputs), torch.from_numpy(outputs))
