"""The Keras adapter: the same network in Keras and in torch gives the same losses, gradients and
predictions; batched equals the loop; non-trainable state refused or run in inference mode;
layers, initialisation, losses, and tensors crossing between the two libraries."""

from __future__ import annotations

import math

import pytest
import torch

from sampler.models import MODELS, Batch, Model
from sampler.models.keras import runtime
from sampler.models.streams import torch_generator

tf = pytest.importorskip("tensorflow")

from sampler.models.keras.model import KerasModel  # noqa: E402
from tests.helpers import keras_factories  # noqa: E402

MLP_SHAPES = [(784, 200), (200,), (200, 10), (10,)]  # Keras' Dense kernels are [n_in, n_out]


@pytest.fixture(scope="module")
def keras():
    return keras_factories.keras_module()


@pytest.fixture(scope="module")
def keras_mlp(keras):
    from sampler.models.keras import examples as keras_examples

    return keras_examples.mlp((28, 28, 1), 10)


def image_batch(shape=(1, 28, 28), n=8, classes=10, seed=0) -> Batch:
    g = torch_generator(seed, 97)
    return Batch(torch.rand(n, *shape, generator=g), torch.randint(0, classes, (n,), generator=g))


def perturbed(model, k=5, scale=0.05, seed=1) -> torch.Tensor:
    g = torch_generator(seed, 96)
    return model.init_params(seed) + scale * torch.randn(k, model.num_params, generator=g)


def to_torch_layout(flat: torch.Tensor, shapes) -> torch.Tensor:
    """``[K, d]`` in Keras' variable layout -> the torch DenseNet's (kernels transposed)."""
    parts, offset = [], 0
    for shape in shapes:
        block = flat[:, offset : offset + math.prod(shape)]
        offset += math.prod(shape)
        if len(shape) == 2:
            block = block.reshape(-1, *shape).transpose(1, 2).reshape(flat.shape[0], -1)
        parts.append(block)
    return torch.cat(parts, dim=1)


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


def test_tensors_cross_without_a_copy_when_aligned():
    block = torch.arange(12.0).reshape(3, 4)
    assert runtime.shares_memory(block)
    assert not runtime.shares_memory(block[1:2])  # 16 bytes in: TF would abort
    for tensor in (block, block[1:2], block.t()):
        crossed = runtime.to_tensorflow(tensor)
        assert (crossed.numpy() == tensor.numpy()).all()
    back = runtime.to_torch(tf.constant([[1.0, 2.0]]), torch.device("cpu"))
    assert back.tolist() == [[1.0, 2.0]]


def test_tensorflow_threads_follow_torch():
    runtime.configure()
    threads = torch.get_num_threads()
    assert tf.config.threading.get_intra_op_parallelism_threads() == threads
    assert tf.config.threading.get_inter_op_parallelism_threads() == threads
