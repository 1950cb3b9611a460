"""Fully connected networks evaluated for K parameter vectors with hand-batched layers.

``logits = W_L act(... act(W_1 u + b_1) ...) + b_L``. For K parameter vectors every layer is one
batched product ``baddbmm(b, H [K, B, n_in], W^T [K, n_in, n_out])``, reading the weights in
place from the ``[K, d]`` block (the minibatch is broadcast, not copied). Measured on 2 CPU
cores for the 784-200-10 first layer with K = 100, B = 20: 8 ms, against 38 ms for stacking
the K weight matrices into one ``[K * n_out, n_in]`` GEMM operand (which needs a copy, since the
K rows of a ``[K, d]`` block are ``d`` apart). The same products take one minibatch per network,
``H [K, B, n_in]`` (``loss_and_grad_each``). The paper's networks (García Trillos, Kaplan,
Sanz-Alonso, section 6): ``linear`` 784-10 (7,850 parameters) and ``mlp`` 784-200-10
(159,010 parameters).
Initialisation is PyTorch's ``nn.Linear`` default, ``U(-1/sqrt(n_in), 1/sqrt(n_in))``, drawn
from a counter-based stream of the seed.

The network sees its first layer's weight ``W_1`` only through the products ``u W_1^T`` of its
inputs: it declares that (``input_layer``, ``losses_from_input_products``, the optional
capability of ``models.interface.InputLayer``), which the marginalised importance sampling of
``sampler.estimators.marginal`` uses.
"""

from __future__ import annotations

import math

import torch

from sampler.models import streams
from sampler.models.interface import (
    AutogradModel,
    Batch,
    InputLayer,
    check_params,
    loss_and_grad_by_autograd,
    mean_cross_entropy,
)

ACTIVATIONS = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}


class DenseNet(AutogradModel):
    """``in_features -> widths... -> num_classes``; layer ``fc{i}`` is its weight (row-major
    ``[n_out, n_in]``) followed by its bias."""

    def __init__(
        self,
        in_features: int,
        widths: tuple[int, ...],
        num_classes: int,
        activation: str = "relu",
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.activation = ACTIVATIONS[activation]
        sizes = [in_features, *widths, num_classes]
        self._dense: list[tuple[int, int, slice, slice]] = []
        self.layers: dict[str, slice] = {}
        offset = 0
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            weight = slice(offset, offset + n_in * n_out)
            bias = slice(weight.stop, weight.stop + n_out)
            self._dense.append((n_in, n_out, weight, bias))
            self.layers[f"fc{i}"] = slice(offset, bias.stop)
            offset = bias.stop
        self.num_params = offset
        self.in_features = in_features

    def init_params(self, seed: int) -> torch.Tensor:
        generator = streams.torch_generator(seed, streams.INIT)
        params = torch.empty(self.num_params)
        for n_in, _, weight, bias in self._dense:
            bound = 1.0 / math.sqrt(n_in)
            params[weight.start : bias.stop].uniform_(-bound, bound, generator=generator)
        return params

    def logits(self, params: torch.Tensor, inputs: torch.Tensor, each: bool = False):
        """``params: [K, d], inputs: [B, ...] -> [K, B, C]``; with ``each``, ``inputs:
        [K, B, ...]``, network k on ``inputs[k]`` (the same batched products)."""
        k = params.shape[0]
        if each:
            hidden = inputs.reshape(k, inputs.shape[1], -1)
        else:
            hidden = inputs.reshape(inputs.shape[0], -1).expand(k, -1, -1)  # no copy
        for i, (n_in, n_out, weight, bias) in enumerate(self._dense):
            w = params[:, weight].view(k, n_out, n_in)
            z = torch.baddbmm(params[:, bias].unsqueeze(1), hidden, w.transpose(1, 2))
            hidden = self.activation(z) if i < len(self._dense) - 1 else z
        return hidden

    @property
    def input_layer(self) -> InputLayer:
        n_in, n_out, weight, _ = self._dense[0]
        return InputLayer(weight, n_in, n_out)

    def losses_from_input_products(
        self, products: torch.Tensor, rest: torch.Tensor, batch: Batch
    ) -> torch.Tensor:
        """``products: [K, B, n_out]`` (each network's ``u W_1^T``, without the bias), ``rest:
        [K, d - n_in n_out]`` (the vector after ``W_1``) ``-> [K]``; no autograd graph."""
        offset = self._dense[0][2].stop
        k = products.shape[0]
        with torch.no_grad():
            hidden = products + rest[:, self._shifted(self._dense[0][3], offset)].unsqueeze(1)
            for n_in, n_out, weight, bias in self._dense[1:]:
                hidden = self.activation(hidden)
                w = rest[:, self._shifted(weight, offset)].view(k, n_out, n_in)
                b = rest[:, self._shifted(bias, offset)].unsqueeze(1)
                hidden = torch.baddbmm(b, hidden, w.transpose(1, 2))
            return mean_cross_entropy(hidden, batch.targets)

    @staticmethod
    def _shifted(part: slice, offset: int) -> slice:
        return slice(part.start - offset, part.stop - offset)

    def state_dict(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        """``params: [d]`` as ``fc{i}.weight [n_out, n_in]`` and ``fc{i}.bias [n_out]``: the
        layout of ``nn.Linear`` (views of ``params``)."""
        tensors = {}
        for i, (n_in, n_out, weight, bias) in enumerate(self._dense):
            tensors[f"fc{i}.weight"] = params[weight].view(n_out, n_in)
            tensors[f"fc{i}.bias"] = params[bias]
        return tensors

    def _losses(self, params: torch.Tensor, batch: Batch) -> torch.Tensor:
        return mean_cross_entropy(self.logits(params, batch.inputs), batch.targets)

    def _losses_each(self, params: torch.Tensor, batch: Batch) -> torch.Tensor:
        return mean_cross_entropy(self.logits(params, batch.inputs, each=True), batch.targets)

    def loss_and_grad_each(self, params: torch.Tensor, batch: Batch):
        """``params: [K, d]``, ``batch``: inputs ``[K, B, ...]``, targets ``[K, B]``."""
        check_params(params, self.num_params)
        return loss_and_grad_by_autograd(self._losses_each, params, batch)

    def predict(self, params: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.logits(params.unsqueeze(0), inputs)[0]
