"""The model zoo: parameter counts, batched == loop for every model, the binary models' losses,
batch-statistics BatchNorm, and option errors."""

from __future__ import annotations

import math
from collections import OrderedDict

import pytest
import torch

from sampler.models import MODELS, Batch, Model, OptionError
from sampler.models.committee import Committee
from sampler.models.interface import loss_and_grad_each, stack_batches
from sampler.models.margin_loss import f_gamma
from sampler.models.perceptron import Perceptron
from sampler.models.streams import torch_generator
from sampler.models.torch_module import TorchModuleModel

# name -> (input shape, classes, options): every model of the zoo on tiny inputs.
SMALL = {
    "linear": ((12,), 3, {}),
    "mlp": ((12,), 3, {"widths": "7,5", "activation": "tanh"}),
    "musso-mlp": ((12,), 3, {"widths": [6, 6, 6, 6]}),
    "perceptron": ((15,), 2, {}),
    "committee": ((15,), 2, {"hidden": 3}),
    "committee-fc": ((15,), 2, {"hidden": 3, "tree": "false", "sign_losses": False}),
    "small-conv": ((1, 16, 16), 3, {"hidden": 20}),
    "tiny-conv": ((1, 16, 16), 3, {"channels": "3,4"}),
    "musso-cifar": ((3, 8, 8), 3, {"dense": "16,16"}),
    "musso-stl": ((3, 8, 8), 3, {"dense": "8,8"}),
    "resnet18": ((3, 8, 8), 3, {"width": 4}),
    "resnet18-nonorm": ((3, 8, 8), 3, {"width": 4, "norm": "none"}),
    "small-conv-loop": ((1, 16, 16), 3, {"hidden": 20, "vmap": "false"}),
}


def spec_name(key: str) -> str:
    """``SMALL`` key -> model name (``resnet18-nonorm`` -> ``resnet18``)."""
    return key.removesuffix("-nonorm").removesuffix("-loop").removesuffix("-fc")


def build(key: str) -> Model:
    shape, classes, options = SMALL[key]
    return MODELS[spec_name(key)](shape, classes, **options)


def random_batch(key: str, n: int = 6, seed: int = 0) -> Batch:
    shape, classes, _ = SMALL[key]
    g = torch_generator(seed, 99)
    return Batch(torch.randn(n, *shape, generator=g), torch.randint(0, classes, (n,), generator=g))


def perturbed(model: Model, k: int = 3, scale: float = 0.1, seed: int = 1) -> torch.Tensor:
    g = torch_generator(seed, 98)
    return model.init_params(seed) + scale * torch.randn(k, model.num_params, generator=g)


def test_every_model_has_a_small_configuration():
    assert {spec_name(k) for k in SMALL} == set(MODELS)


@pytest.mark.parametrize(
    "name,count",
    [
        ("linear", 7850),
        ("mlp", 159010),
        ("musso-mlp", 4 * (784 * 784 + 784) + 7850),
        ("small-conv", 431080),
        ("tiny-conv", 5142),
        ("resnet18", 11173962),
    ],
)
def test_paper_networks_have_their_parameter_counts(name, count):
    spec = MODELS[name]
    model = spec(spec.default_shape, spec.default_classes)
    assert isinstance(model, Model) and model.num_params == count


@pytest.mark.parametrize("key", sorted(SMALL))
def test_layers_cover_the_vector_in_order(key):
    model = build(key)
    layers = list(model.layers.values())
    assert layers[0].start == 0 and layers[-1].stop == model.num_params
    assert all(a.stop == b.start for a, b in zip(layers, layers[1:]))


@pytest.mark.parametrize("key", sorted(SMALL))
def test_batched_losses_and_gradients_equal_the_loop(key):
    model = build(key)
    batch = random_batch(key)
    params = perturbed(model)
    losses = model.losses(params, batch)
    loop = torch.cat([model.losses(p.unsqueeze(0), batch) for p in params])
    torch.testing.assert_close(losses, loop, rtol=1e-5, atol=1e-5)
    values, grads = model.loss_and_grad(params, batch)
    singles = [model.loss_and_grad(p.unsqueeze(0), batch) for p in params]
    torch.testing.assert_close(values, torch.cat([s[0] for s in singles]), rtol=1e-5, atol=1e-5)
    loop_grads = torch.cat([s[1] for s in singles])
    # float32 round-off of sums grows with the gradient's magnitude (resnet18's reach 10 here)
    scale = max(1.0, float(loop_grads.abs().max()))
    torch.testing.assert_close(grads, loop_grads, rtol=1e-4, atol=1e-5 * scale)
    assert grads.abs().sum() > 0


@pytest.mark.parametrize("key", sorted(SMALL))
def test_predict_gives_logits_and_init_is_a_pure_function_of_the_seed(key):
    model = build(key)
    shape, classes, _ = SMALL[key]
    logits = model.predict(model.init_params(0), random_batch(key).inputs)
    assert logits.shape == (6, classes) and torch.isfinite(logits).all()
    assert torch.equal(model.init_params(5), model.init_params(5))
    assert not torch.equal(model.init_params(5), model.init_params(6))


def test_f_gamma_is_the_baldassi_cross_entropy_and_stable():
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)
    for gamma in (0.5, 5.0):
        direct = -x / 2 + torch.log(2 * torch.cosh(gamma * x)) / (2 * gamma)
        torch.testing.assert_close(f_gamma(x, gamma), direct)
    big = f_gamma(torch.tensor([-1e4, 1e4]), 50.0)
    torch.testing.assert_close(big, torch.tensor([1e4, 0.0]))


def test_perceptron_margin_is_normalised_and_errors_count_sign_mismatches():
    g = torch_generator(0, 97)
    x = torch.randint(0, 2, (20, 15), generator=g).float() * 2 - 1
    w = torch.randn(15, generator=g, dtype=torch.float32)
    y = (x @ w > 0).long()
    y[:3] = 1 - y[:3]  # three errors
    model = Perceptron(15, gamma=3.0)
    batch = Batch(x, y)
    s = x @ w / w.norm()
    expected = f_gamma((2 * y - 1).float() * s, 3.0).mean()
    torch.testing.assert_close(model.losses(w.unsqueeze(0), batch)[0], expected)
    torch.testing.assert_close(  # the spherical loss depends on the direction only
        model.losses(torch.stack([w, 7 * w]), batch), expected.repeat(2)
    )
    raw = Perceptron(15, normalize=False, gamma=3.0)
    raw_expected = f_gamma((2 * y - 1).float() * (x @ w) / math.sqrt(15), 3.0).mean()
    torch.testing.assert_close(raw.losses(w.unsqueeze(0), batch)[0], raw_expected)
    errors = int((model.predict(w, x).argmax(1) != y).sum())
    assert errors == 3


@pytest.mark.parametrize("tree", [True, False])
def test_committee_predicts_the_majority_vote_of_normalised_sign_units(tree):
    model = Committee(15, hidden=3, tree=tree)
    g = torch_generator(1, 97)
    x = torch.randint(0, 2, (30, 15), generator=g).float() * 2 - 1
    w = torch.randn(model.num_params, generator=g)
    units = w.view(3, -1)
    votes = []
    for u in range(3):
        block = x[:, 5 * u : 5 * u + 5] if tree else x
        votes.append(torch.sign(block @ units[u]))
    majority = torch.sign(torch.stack(votes).sum(0))
    assert torch.equal(model.predict(w, x).argmax(1), (majority > 0).long())
    assert model.num_params == (15 if tree else 45)


def test_committee_sign_losses_and_the_beta_omega_attributes():
    model = Committee(15, hidden=3)
    batch = random_batch("committee", n=40)
    params = perturbed(model, k=2)
    exact = model.losses(params, batch)
    smooth, _ = model.loss_and_grad(params, batch)
    assert not torch.allclose(exact, smooth)
    model.beta = 1e4  # a schedule growing beta: tanh(beta h) -> sign(h)
    steep, _ = model.loss_and_grad(params, batch)
    torch.testing.assert_close(steep, exact, rtol=1e-3, atol=1e-3)
    model.omega = 50.0
    assert not torch.allclose(model.losses(params, batch), exact)


def test_committee_rejects_even_units_and_uneven_blocks():
    with pytest.raises(ValueError, match="odd"):
        Committee(16, hidden=4)
    with pytest.raises(ValueError, match="multiple of hidden=3"):
        Committee(16, hidden=3)
    Committee(16, hidden=3, tree=False)


def bn_module(track: bool) -> torch.nn.Module:
    with torch.device("meta"):
        return torch.nn.Sequential(
            OrderedDict(
                conv=torch.nn.Conv2d(2, 4, 3),
                bn=torch.nn.BatchNorm2d(4, track_running_stats=track),
                relu=torch.nn.ReLU(),
                flat=torch.nn.Flatten(),
                fc=torch.nn.Linear(4 * 4 * 4, 3),
            )
        )


@pytest.mark.parametrize("key", sorted(SMALL))
def test_one_minibatch_per_network_equals_the_loop(key):
    """``loss_and_grad_each``: network k on its own minibatch k, one batched call, equals
    ``loss_and_grad`` of each network on its minibatch (every zoo model has it)."""
    model = build(key)
    assert callable(getattr(model, "loss_and_grad_each", None))
    params = perturbed(model)
    batches = [random_batch(key, seed=s) for s in range(3)]
    values, grads = model.loss_and_grad_each(params, stack_batches(batches))
    singles = [model.loss_and_grad(params[k : k + 1], b) for k, b in enumerate(batches)]
    loop_values, loop_grads = torch.cat([v for v, _ in singles]), torch.cat([g for _, g in singles])
    torch.testing.assert_close(values, loop_values, rtol=1e-5, atol=1e-5)
    scale = max(1.0, float(loop_grads.abs().max()))
    torch.testing.assert_close(grads, loop_grads, rtol=1e-4, atol=1e-5 * scale)
    # the networks do see different minibatches: the shared minibatch 0 gives other numbers
    shared, _ = model.loss_and_grad(params, batches[0])
    assert not torch.allclose(shared[1:], values[1:], rtol=1e-3, atol=1e-5)
    through, _ = loss_and_grad_each(model, params, batches)
    torch.testing.assert_close(through, values, rtol=0, atol=0)


class _WithoutEach:
    """A model of the interface without ``loss_and_grad_each``."""

    def __init__(self, model):
        self.model, self.num_params = model, model.num_params

    def loss_and_grad(self, params, batch):
        return self.model.loss_and_grad(params, batch)


def test_a_model_without_it_is_looped_and_one_network_is_loss_and_grad():
    model = build("mlp")
    params = perturbed(model)
    batches = [random_batch("mlp", seed=s) for s in range(3)]
    values, grads = loss_and_grad_each(_WithoutEach(model), params, batches)
    for k, batch in enumerate(batches):
        value, grad = model.loss_and_grad(params[k : k + 1], batch)
        assert torch.equal(values[k : k + 1], value) and torch.equal(grads[k : k + 1], grad)
    one = loss_and_grad_each(model, params[:1], batches[:1])
    assert all(map(torch.equal, one, model.loss_and_grad(params[:1], batches[0])))
    with pytest.raises(ValueError, match="3 networks need as many minibatches, got 2"):
        loss_and_grad_each(model, params, batches[:2])


def test_vmapped_batch_norm_equals_a_loop_of_train_mode_torch_networks():
    model = TorchModuleModel(bn_module(track=False))
    assert model.batched
    g = torch_generator(2, 97)
    inputs = torch.randn(5, 2, 6, 6, generator=g)
    params = model.init_params(0) + 0.3 * torch.randn(3, model.num_params, generator=g)
    batched = model.logits(params, inputs)
    for p, out in zip(params, batched):
        reference = bn_module(track=True).to_empty(device="cpu").train()
        state = {
            n: p[model._slices[i]].view(s)
            for i, (n, s) in enumerate(zip(model._names, model._shapes))
        }
        reference.load_state_dict(state, strict=False)
        reference.bn.reset_running_stats()
        with torch.no_grad():
            torch.testing.assert_close(out, reference(inputs), rtol=1e-5, atol=1e-5)


def test_vmap_option_switches_to_the_exact_loop():
    looped, batched = build("small-conv-loop"), build("small-conv")
    assert batched.batched and not looped.batched
    batch = random_batch("small-conv")
    params = perturbed(batched)
    torch.testing.assert_close(looped.losses(params, batch), batched.losses(params, batch))


def test_options_are_checked_with_one_line_errors():
    with pytest.raises(
        OptionError, match="--model committee: unknown option 'size'; accepted: hidden"
    ):
        MODELS["committee"]((15,), 2, size=3)
    with pytest.raises(OptionError, match="option hidden must be int"):
        MODELS["committee"]((15,), 2, hidden="three")
    with pytest.raises(OptionError, match="widths must be a comma-separated list"):
        MODELS["mlp"]((12,), 3, widths="7,-1")
    with pytest.raises(OptionError, match="norm must be one of batch, none"):
        MODELS["resnet18"]((3, 8, 8), 3, norm="layer")
    with pytest.raises(ValueError, match="2 classes, got 10"):
        MODELS["perceptron"]((1, 28, 28), 10)
    with pytest.raises(ValueError, match="needs images"):
        MODELS["small-conv"]((784,), 10)
    with pytest.raises(ValueError, match=r"small-conv: input \(1, 12, 12\) is too small"):
        MODELS["small-conv"]((1, 12, 12), 10)
    assert MODELS["mlp"]((12,), 3, widths=[7, 5]).num_params == 12 * 7 + 7 + 7 * 5 + 5 + 5 * 3 + 3
