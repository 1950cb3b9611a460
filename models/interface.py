"""The one model interface every trainer and estimator talks to.

A network is a flat parameter vector ``x`` in R^d with named layer slices. Its training loss
``f(x) = (1/B) sum_i CE(logits(x, u_i), y_i)`` (mean cross-entropy over a minibatch) is evaluated
for K parameter vectors at once, ``params: [K, d] -> [K]``, as one batched computation that must
give the same numbers as a loop over single vectors.

A model whose loss is not the cross-entropy (the binary perceptron and committee machine, which
use the ``f_gamma`` loss of Baldassi et al.) owns it: ``losses``/``loss_and_grad`` compute it, and
an optional ``loss_from_logits(logits [K, B, C], targets [B]) -> [K]`` gives the same loss from
``predict``'s logits for test-set evaluation (default: ``mean_cross_entropy``).

One minibatch per network (Replicated-SGD's replicas, each on its own minibatch stream): the
optional ``loss_and_grad_each(params [K, d], Batch(inputs [K, B, ...], targets [K, B]))`` gives
network k's loss and gradient on minibatch k as one batched computation; ``loss_and_grad_each``
below uses it where the model has it and loops over ``loss_and_grad`` where it has not (the same
numbers up to float rounding).

A dense first layer (optional): a model whose first layer is dense and reads the weight
``W_1 [n_out, n_in]`` (row-major, the first ``n_in n_out`` entries of the vector) only through
``u W_1^T`` of its flattened inputs ``u [B, n_in]`` declares ``input_layer -> InputLayer`` and
``losses_from_input_products(products [K, B, n_out], rest [K, d - n_in n_out], batch) -> [K]``
(the same losses as ``losses``, given each network's products and the rest of its vector).
``sampler.estimators.marginal`` samples those products instead of ``W_1``'s noise.

An optional ``state_dict(params [d]) -> {name: tensor}`` names the pieces of a flat vector the
way the network's own framework does (an ``nn.Module``'s ``state_dict``, ``fc0.weight`` of a
``DenseNet``); ``model_state_dict`` falls back to one flat tensor per layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

import torch


class InputLayer(NamedTuple):
    """A dense first layer: its weight ``[n_out, n_in]`` is ``params[weight]`` (starting at 0)."""

    weight: slice
    n_in: int
    n_out: int


class Batch(NamedTuple):
    """A minibatch: ``inputs: [B, ...]`` (float) and ``targets: [B]`` (int64 class indices)."""

    inputs: torch.Tensor
    targets: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        return Batch(self.inputs.to(device), self.targets.to(device))


@runtime_checkable
class Model(Protocol):
    num_params: int
    layers: Mapping[str, slice]  # layer name -> slice of the flat vector, in order, covering [0, d)

    def init_params(self, seed: int) -> torch.Tensor:
        """``-> [d]``, a pure function of ``seed``."""

    def losses(self, params: torch.Tensor, batch: Batch) -> torch.Tensor:
        """``params: [K, d] -> [K]`` mean minibatch loss of each vector; no autograd graph."""

    def loss_and_grad(
        self, params: torch.Tensor, batch: Batch
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``params: [K, d] -> ([K], [K, d])`` losses and their gradients."""

    def predict(self, params: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """``params: [d], inputs: [N, ...] -> [N, C]`` logits."""


def mean_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``logits: [K, B, C], targets: [B]`` (one minibatch for all) or ``[K, B]`` (network k's
    own) ``-> [K]`` mean cross-entropy of each of the K networks."""
    k, b, c = logits.shape
    labels = targets.reshape(k * b) if targets.dim() == 2 else targets.repeat(k)
    per_sample = torch.nn.functional.cross_entropy(
        logits.reshape(k * b, c), labels, reduction="none"
    )
    return per_sample.view(k, b).mean(dim=1)


def stack_batches(batches: Sequence[Batch]) -> Batch:
    """K minibatches of one shape ``-> Batch(inputs [K, B, ...], targets [K, B])``."""
    return Batch(
        torch.stack([b.inputs for b in batches]), torch.stack([b.targets for b in batches])
    )


def loss_and_grad_each(
    model, params: torch.Tensor, batches: Sequence[Batch]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Network k on its own minibatch ``batches[k]``: ``params: [K, d] -> ([K], [K, d])``. One
    batched call of the model's ``loss_and_grad_each`` where it has one, K > 1 and the
    minibatches have one shape; otherwise (and for one network, so that it is exactly
    ``loss_and_grad``) a loop of ``loss_and_grad`` over the K networks."""
    check_params(params, model.num_params)
    if len(batches) != params.shape[0]:
        raise ValueError(f"{params.shape[0]} networks need as many minibatches, got {len(batches)}")
    own = getattr(model, "loss_and_grad_each", None)
    shapes = {(tuple(b.inputs.shape), tuple(b.targets.shape)) for b in batches}
    if own is not None and len(batches) > 1 and len(shapes) == 1:
        return own(params, stack_batches(batches))
    pairs = [model.loss_and_grad(params[k : k + 1], b) for k, b in enumerate(batches)]
    return torch.cat([v for v, _ in pairs]), torch.cat([g for _, g in pairs])


def loss_from_logits(model, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The model's own loss of ``logits: [K, B, C]`` (its ``loss_from_logits`` hook, or the mean
    cross-entropy) ``-> [K]``."""
    hook = getattr(model, "loss_from_logits", None)
    return hook(logits, targets) if hook is not None else mean_cross_entropy(logits, targets)


def loss_and_grad_by_autograd(losses_fn, params: torch.Tensor, batch: Batch):
    """Per-vector gradients from one backward pass: the K losses are independent, so the
    gradient of their sum with respect to ``params: [K, d]`` holds each vector's own gradient."""
    with torch.enable_grad():
        leaf = params.detach().requires_grad_(True)
        values = losses_fn(leaf, batch)
        (grad,) = torch.autograd.grad(values.sum(), leaf)
    return values.detach(), grad


def model_state_dict(model, params: torch.Tensor) -> dict[str, torch.Tensor]:
    """``params: [d]`` as named tensors: the model's ``state_dict`` hook, else one flat tensor
    per layer (its slice of the vector). The tensors are copies, detached from ``params``."""
    if params.shape != (model.num_params,):
        raise ValueError(f"params must have shape [{model.num_params}], got {tuple(params.shape)}")
    hook = getattr(model, "state_dict", None)
    if hook is not None:
        return {name: tensor.detach().clone() for name, tensor in hook(params).items()}
    return {name: params[part].detach().clone() for name, part in model.layers.items()}


def check_params(params: torch.Tensor, num_params: int) -> None:
    if params.dim() != 2 or params.shape[1] != num_params:
        raise ValueError(f"params must have shape [K, {num_params}], got {tuple(params.shape)}")


class AutogradModel:
    """Base of models defined by one graph-capable ``_losses(params [K, d], batch) -> [K]``:
    ``losses`` runs it without a graph, ``loss_and_grad`` differentiates it once for all K."""

    num_params: int

    def _losses(self, params: torch.Tensor, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def losses(self, params: torch.Tensor, batch: Batch) -> torch.Tensor:
        check_params(params, self.num_params)
        with torch.no_grad():
            return self._losses(params, batch)

    def loss_and_grad(
        self, params: torch.Tensor, batch: Batch
    ) -> tuple[torch.Tensor, torch.Tensor]:
        check_params(params, self.num_params)
        return loss_and_grad_by_autograd(self._losses, params, batch)
