"""The Keras adapter as a model: its layers, its seeded initialisation, non-trainable state refused
or run in inference mode, no random operation in its graphs, the losses of compiled models and
plain loss functions, and the models it refuses."""

from __future__ import annotations

import math

import pytest
import torch

tf = pytest.importorskip("tensorflow")

from sampler.models.keras.model import KerasModel  # noqa: E402
from tests.helpers import keras_factories  # noqa: E402
from tests.helpers.keras_comparison import image_batch, perturbed  # noqa: E402


def test_layers_are_keras_layer_names(keras_mlp):
    model = KerasModel(keras_mlp)
    assert list(model.layers) == ["hidden0", "logits"]
    assert model.layers["hidden0"] == slice(0, 784 * 200 + 200)
    assert model.layers["logits"] == slice(784 * 200 + 200, 159_010)


def test_initialisation_is_a_pure_function_of_the_seed(keras_mlp):
    model = KerasModel(keras_mlp)
    before = [v.numpy().copy() for v in keras_mlp.trainable_variables]
    first = model.init_params(3)
    assert torch.equal(first, model.init_params(3))
    assert not torch.equal(first, model.init_params(4))
    assert first[model.layers["hidden0"]].abs().max() <= 1 / 28 + 1e-7  # U(+-1/sqrt(784))
    assert first[model.layers["logits"]].abs().max() <= 1 / math.sqrt(200) + 1e-7
    for variable, old in zip(keras_mlp.trainable_variables, before):  # the model is not touched
        assert (variable.numpy() == old).all()


def test_non_trainable_state_is_refused_or_run_in_inference_mode(keras):
    for network in (keras_factories.with_batch_norm(), keras_factories.with_dropout((12,), 3)):
        with pytest.raises(ValueError, match="inference=True"):
            KerasModel(network)
    network = keras_factories.with_batch_norm()
    model = KerasModel(network, inference=True, xla=False)
    batch = image_batch((12,), classes=3)
    params = perturbed(model, k=3)
    torch.testing.assert_close(
        model.losses(params, batch),
        KerasModel(network, inference=True, vmap=False, xla=False).losses(params, batch),
    )
    offset = 0
    for variable in network.trainable_variables:
        size = math.prod(variable.shape)
        variable.assign(params[2, offset : offset + size].reshape(tuple(variable.shape)).numpy())
        offset += size
    outputs = network(batch.inputs.numpy(), training=False)  # stored statistics, frozen
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        batch.targets.numpy(), outputs
    )
    torch.testing.assert_close(model.losses(params[2:], batch)[0], torch.tensor(float(expected)))


def test_no_random_operation_in_any_graph(keras):
    """Dropout in inference mode is not in the graph; nothing draws from a TensorFlow or Keras
    generator (so no global random state is used)."""
    model = KerasModel(keras_factories.with_dropout((12,), 3), inference=True, xla=False)
    batch = image_batch((12,), classes=3)
    params = perturbed(model, k=2)
    model.losses(params, batch)
    model.loss_and_grad(params, batch)
    model.predict(params[0], batch.inputs)
    assert len(model._graphs) == 3
    for function in model._graphs.values():
        for concrete in function._list_all_concrete_functions():
            names = {op.type for op in concrete.graph.get_operations()}
            for inner in concrete.graph._functions.values():
                names |= {node.op for node in inner.definition.node_def}
            assert not {n for n in names if "Random" in n or "Rng" in n}, names


def test_losses_of_a_compiled_model_and_of_its_predictions(keras):
    """A softmax output compiled with the sparse cross-entropy: the training loss and the
    evaluation's ``loss_from_logits`` of ``predict``'s outputs agree."""
    model = KerasModel(keras_factories.softmax_compiled((12,), 3), xla=False)
    batch = image_batch((12,), classes=3)
    params = perturbed(model, k=2)
    outputs = model.predict(params[1], batch.inputs)
    torch.testing.assert_close(outputs.sum(dim=1), torch.ones(8))  # probabilities
    torch.testing.assert_close(
        model.loss_from_logits(outputs.unsqueeze(0), batch.targets), model.losses(params, batch)[1:]
    )
    expected = torch.nn.functional.nll_loss(outputs.log(), batch.targets)
    torch.testing.assert_close(model.losses(params, batch)[1], expected)


def test_a_plain_loss_function_is_averaged_over_the_minibatch(keras):
    def squared(targets, outputs):  # per example [B]
        return tf.reduce_sum(tf.square(outputs), axis=-1) + 0.0 * tf.cast(targets, tf.float32)

    network = keras_factories.tiny_mlp((12,), 3)
    model = KerasModel(network, squared, xla=False)
    batch = image_batch((12,), classes=3)
    params = perturbed(model, k=2)
    outputs = model.predict(params[0], batch.inputs)
    torch.testing.assert_close(model.losses(params, batch)[0], outputs.square().sum(1).mean())


def test_bad_models_are_refused(keras):
    with pytest.raises(TypeError, match="needs a keras.Model, got Identity"):
        KerasModel(torch.nn.Identity())
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no trainable weights: build it first"):
        KerasModel(unbuilt)
    with pytest.raises(TypeError, match="one loss of one output"):
        KerasModel(keras_factories.tiny_mlp(), loss=["a", "b"])
    with pytest.raises(ValueError, match=r"params must have shape \[K, 123\]"):
        KerasModel(keras_factories.tiny_mlp()).losses(torch.zeros(123), image_batch((1, 4, 4)))
