"""The single-layer binary perceptron (Baldassi, Pittorino, Zecchina, PNAS 2020; Gardner's
storage problem): ``sigma(xi) = sign(w . xi)``, weights ``w`` in R^N, labels ``y = ±1``.

Loss of a minibatch: ``(1/B) sum_mu f_gamma(y_mu s_mu)`` with ``f_gamma`` the cross-entropy of
``models.margin_loss`` and the normalised margin ``s_mu = w . xi_mu / |w|`` (spherical
normalisation: the loss depends only on the direction of ``w``; equivalently ``|w| = sqrt(N)``
and ``s = w . xi / sqrt(N)``), or ``s_mu = w . xi_mu / sqrt(N)`` with ``normalize=false``.
The error count is the number of patterns with ``y s <= 0``. K weight vectors are evaluated as
one matrix product ``X [B, N] @ W^T [N, K]``. Initialisation: ``w ~ N(0, I)`` (uniform direction).
"""

from __future__ import annotations

import math

import torch

from sampler.models import streams
from sampler.models.interface import (
    AutogradModel,
    Batch,
    check_params,
    loss_and_grad_by_autograd,
)
from sampler.models.margin_loss import check_binary, margin_logits, mean_margin_loss


class Perceptron(AutogradModel):
    def __init__(
        self, in_features: int, num_classes: int = 2, normalize: bool = True, gamma: float = 5.0
    ) -> None:
        check_binary("perceptron", num_classes)
        if gamma <= 0:
            raise ValueError(f"--model perceptron: gamma must be positive, got {gamma}")
        self.num_params = in_features
        self.layers = {"w": slice(0, in_features)}
        self.normalize = normalize
        self.gamma = gamma  # may be changed between steps (a growing-gamma schedule)

    def init_params(self, seed: int) -> torch.Tensor:
        return torch.randn(self.num_params, generator=streams.torch_generator(seed, streams.INIT))

    def outputs(self, params: torch.Tensor, inputs: torch.Tensor, each: bool = False):
        """``params: [K, N], inputs: [B, ...] -> s: [K, B]``; with ``each``, ``inputs:
        [K, B, ...]``, network k on ``inputs[k]`` (one batched product)."""
        if each:
            k, b = inputs.shape[:2]
            s = torch.bmm(inputs.reshape(k, b, -1), params.unsqueeze(2)).squeeze(2)
        else:
            s = (inputs.reshape(inputs.shape[0], -1) @ params.T).T
        if self.normalize:
            return s / params.norm(dim=1, keepdim=True)
        return s / math.sqrt(self.num_params)

    def loss_from_logits(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``logits: [K, B, 2] -> [K]`` (``s = logit_1 - logit_0``)."""
        return mean_margin_loss(logits[..., 1] - logits[..., 0], targets, self.gamma)

    def _losses(self, params: torch.Tensor, batch: Batch) -> torch.Tensor:
        return mean_margin_loss(self.outputs(params, batch.inputs), batch.targets, self.gamma)

    def _losses_each(self, params: torch.Tensor, batch: Batch) -> torch.Tensor:
        s = self.outputs(params, batch.inputs, each=True)
        return mean_margin_loss(s, batch.targets, self.gamma)

    def loss_and_grad_each(self, params: torch.Tensor, batch: Batch):
        """``params: [K, N]``, ``batch``: inputs ``[K, B, ...]``, targets ``[K, B]``."""
        check_params(params, self.num_params)
        return loss_and_grad_by_autograd(self._losses_each, params, batch)

    def predict(self, params: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return margin_logits(self.outputs(params.unsqueeze(0), inputs)[0])
