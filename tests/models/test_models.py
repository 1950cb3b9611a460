"""The model interface: batched evaluation equals the loop, gradients, parameter counts."""

from __future__ import annotations

import pytest
import torch

from sampler.models import MODELS, Batch, Model
from sampler.models.dense import DenseNet
from sampler.models.streams import torch_generator
from sampler.models.torch_module import TorchModuleModel


def random_batch(shape, n=8, classes=10, seed=0):
    g = torch_generator(seed, 99)
    return Batch(torch.rand(n, *shape, generator=g), torch.randint(0, classes, (n,), generator=g))


def perturbed(model, k=5, scale=0.1, seed=1):
    g = torch_generator(seed, 98)
    center = model.init_params(seed)
    return center + scale * torch.randn(k, model.num_params, generator=g)


def loop_losses(model, params, batch):
    return torch.stack([model.losses(p.unsqueeze(0), batch)[0] for p in params])


@pytest.mark.parametrize("name,count", [("linear", 7850), ("mlp", 159010)])
def test_paper_networks_have_the_paper_parameter_counts(name, count):
    model = MODELS[name]((1, 28, 28), 10)
    assert isinstance(model, Model)
    assert model.num_params == count
    layers = list(model.layers.values())
    assert layers[0].start == 0 and layers[-1].stop == count
    assert all(a.stop == b.start for a, b in zip(layers, layers[1:]))


@pytest.mark.parametrize("name", ["linear", "mlp"])
def test_batched_losses_equal_the_loop(name):
    """The paper's dense nets; tests/models/test_zoo.py covers every model of the zoo."""
    model = MODELS[name]((1, 28, 28), 10)
    batch = random_batch((1, 28, 28))
    params = perturbed(model)
    torch.testing.assert_close(model.losses(params, batch), loop_losses(model, params, batch))


def without_global_rng(build):
    """nn.Module constructors initialise from torch's global generator: isolate that draw."""
    with torch.random.fork_rng():
        return build()


def small_module():
    return without_global_rng(
        lambda: torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(12, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3)
        )
    )


def test_dense_net_equals_the_torch_module_adapter():
    dense = DenseNet(12, (7,), 3, activation="tanh")
    adapter = TorchModuleModel(small_module())
    assert dense.num_params == adapter.num_params
    batch = random_batch((12,), classes=3)
    params = perturbed(dense)
    torch.testing.assert_close(dense.losses(params, batch), adapter.losses(params, batch))
    torch.testing.assert_close(
        dense.predict(params[0], batch.inputs), adapter.predict(params[0], batch.inputs)
    )


def test_adapter_vmap_equals_its_loop():
    batched = TorchModuleModel(small_module())
    looped = TorchModuleModel(small_module(), force_loop=True)
    assert batched.batched and not looped.batched
    batch = random_batch((12,), classes=3)
    params = perturbed(batched)
    torch.testing.assert_close(batched.losses(params, batch), looped.losses(params, batch))


def test_module_with_running_statistics_needs_an_explicit_choice():
    module = without_global_rng(
        lambda: torch.nn.Sequential(
            torch.nn.Linear(12, 6), torch.nn.BatchNorm1d(6), torch.nn.ReLU(), torch.nn.Linear(6, 3)
        )
    )
    with pytest.raises(ValueError, match="buffers='eval'"):
        TorchModuleModel(module)
    model = TorchModuleModel(module, buffers="eval")
    assert module.training, "the caller's module must not be changed"
    batch = random_batch((12,), classes=3)
    params = perturbed(model, k=3)
    torch.testing.assert_close(model.losses(params, batch), loop_losses(model, params, batch))
    # equal to the module itself in evaluation mode, with these parameters loaded
    reference = without_global_rng(lambda: __import__("copy").deepcopy(module)).eval()
    torch.nn.utils.vector_to_parameters(params[1], reference.parameters())
    expected = torch.nn.functional.cross_entropy(reference(batch.inputs), batch.targets)
    torch.testing.assert_close(model.losses(params[1:2], batch)[0], expected)


@pytest.mark.parametrize("model", [DenseNet(12, (7, 5), 3), TorchModuleModel(small_module())])
def test_batched_gradients_equal_single_vector_autograd(model):
    batch = random_batch((12,), classes=3)
    params = perturbed(model, k=4)
    losses, grads = model.loss_and_grad(params, batch)
    for p, loss, grad in zip(params, losses, grads):
        leaf = p.clone().requires_grad_(True)
        value = model._losses(leaf.unsqueeze(0), batch)[0]
        value.backward()
        torch.testing.assert_close(loss, value.detach())
        torch.testing.assert_close(grad, leaf.grad)


def test_initialisation_is_a_pure_function_of_the_seed():
    model = MODELS["mlp"]((1, 28, 28), 10)
    assert torch.equal(model.init_params(3), model.init_params(3))
    assert not torch.equal(model.init_params(3), model.init_params(4))
    first = model.init_params(0)[model.layers["fc0"]]
    assert first.abs().max() <= 1 / 28 + 1e-7  # U(-1/sqrt(784), 1/sqrt(784))


def test_bad_shapes_are_rejected():
    model = MODELS["linear"]((1, 28, 28), 10)
    with pytest.raises(ValueError, match=r"params must have shape \[K, 7850\]"):
        model.losses(torch.zeros(7850), random_batch((1, 28, 28)))


@pytest.mark.parametrize("value", ["1e-40", "1e-320", "1e-45"])
def test_a_positive_option_below_float32s_smallest_normal_is_refused(value):
    from sampler.models.options import Option, OptionError, parse_options, within

    options = {"delta": Option("float", 0.25, "variance", check=within(0, 1e6, False))}
    with pytest.raises(OptionError, match=r"option delta must be .*smallest normal.*1e-"):
        parse_options("data set gaussian-mixture", options, {"delta": value})
    smallest = torch.finfo(torch.float32).tiny
    assert parse_options("data set", options, {"delta": str(smallest)}) == {"delta": smallest}
    closed = {"x": Option("float", 0.0, "x", check=within(0, 1))}  # 0 allowed: so is 1e-40
    assert parse_options("method", closed, {"x": value}) == {"x": float(value)}
