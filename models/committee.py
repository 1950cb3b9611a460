"""The committee machine: one hidden layer of K sign units and a majority vote (Baldassi et al.,
"Shaping the learning landscape in neural networks around wide flat minima", PNAS 2020;
Engel & Van den Broeck, "Statistical Mechanics of Learning", ch. 12).

Hidden unit ``u`` sees the input block ``xi_u`` (tree-like: N/K disjoint inputs each) or the whole
input (fully connected); its field is normalised per unit, ``h_u = w_u . xi_u / |w_u|``. The
output is ``sigma = sign(sum_u sign(h_u))`` (second-layer weights fixed to 1, K odd so there is
no tie). Training loss: ``(1/B) sum_mu f_omega(y_mu s_mu)`` with ``f_omega`` the cross-entropy of
``models.margin_loss`` and ``s = (1/sqrt K) sum_u act(h_u)``, where ``act = tanh(beta h)`` in
``loss_and_grad`` (gradient methods) and the exact ``sign`` in ``losses`` (gradient-free
estimators) and ``predict`` unless ``sign_losses=false``. ``beta`` (steepness) and ``omega``
(loss scale) are plain attributes a schedule may grow between steps.
K weight vectors: one GEMM (fully connected) or one batched product over units (tree).
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


class Committee(AutogradModel):
    def __init__(
        self,
        in_features: int,
        num_classes: int = 2,
        hidden: int = 5,
        tree: bool = True,
        beta: float = 2.0,
        omega: float = 5.0,
        sign_losses: bool = True,
    ) -> None:
        check_binary("committee", num_classes)
        if hidden < 1 or hidden % 2 == 0:
            raise ValueError(f"--model committee: hidden must be odd (majority vote), got {hidden}")
        if tree and in_features % hidden:
            raise ValueError(
                f"--model committee: a tree committee needs the input size {in_features} to be "
                f"a multiple of hidden={hidden} (or set tree=false)"
            )
        if beta <= 0 or omega <= 0:
            raise ValueError(
                f"--model committee: beta and omega must be positive ({beta}, {omega})"
            )
        self.hidden, self.tree = hidden, tree
        self.fan_in = in_features // hidden if tree else in_features
        self.num_params = hidden * self.fan_in
        self.layers = {
            f"unit{u}": slice(u * self.fan_in, (u + 1) * self.fan_in) for u in range(hidden)
        }
        self.beta, self.omega, self.sign_losses = beta, omega, sign_losses

    def init_params(self, seed: int) -> torch.Tensor:
        return torch.randn(self.num_params, generator=streams.torch_generator(seed, streams.INIT))

    def fields(self, params: torch.Tensor, inputs: torch.Tensor, each: bool = False):
        """``params: [K, d], inputs: [B, ...] -> h: [K, B, hidden]`` normalised per unit; with
        ``each``, ``inputs: [K, B, ...]``, network k on ``inputs[k]``."""
        k, n = params.shape[0], self.fan_in
        b = inputs.shape[1] if each else inputs.shape[0]
        weights = params.reshape(k, self.hidden, n)
        if each and self.tree:
            blocks = inputs.reshape(k, b, self.hidden, n)
            h = torch.einsum("kbun,kun->kbu", blocks, weights)
        elif each:
            h = torch.bmm(inputs.reshape(k, b, n), weights.transpose(1, 2))
        elif self.tree:
            blocks = inputs.reshape(b, self.hidden, n).transpose(0, 1)  # [hidden, B, n]
            h = torch.bmm(blocks, weights.permute(1, 2, 0)).permute(2, 1, 0)  # [K, B, hidden]
        else:
            h = (inputs.reshape(b, n) @ weights.reshape(k * self.hidden, n).T).view(
                b, k, self.hidden
            )
            h = h.transpose(0, 1)
        return h / weights.norm(dim=2).unsqueeze(1)

    def outputs(self, params, inputs, smooth: bool, each: bool = False) -> torch.Tensor:
        """``-> s: [K, B]``, ``(1/sqrt K) sum_u act(h_u)``."""
        h = self.fields(params, inputs, each)
        act = torch.tanh(self.beta * h) if smooth else torch.sign(h)
        return act.sum(dim=2) / math.sqrt(self.hidden)

    def loss_from_logits(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return mean_margin_loss(logits[..., 1] - logits[..., 0], targets, self.omega)

    def _loss(self, params: torch.Tensor, batch: Batch, smooth: bool) -> torch.Tensor:
        s = self.outputs(params, batch.inputs, smooth)
        return mean_margin_loss(s, batch.targets, self.omega)

    def _losses(self, params: torch.Tensor, batch: Batch) -> torch.Tensor:
        """The smooth (tanh) loss that ``loss_and_grad`` differentiates."""
        return self._loss(params, batch, smooth=True)

    def _losses_each(self, params: torch.Tensor, batch: Batch) -> torch.Tensor:
        s = self.outputs(params, batch.inputs, smooth=True, each=True)
        return mean_margin_loss(s, batch.targets, self.omega)

    def loss_and_grad_each(self, params: torch.Tensor, batch: Batch):
        """``params: [K, d]``, ``batch``: inputs ``[K, B, ...]``, targets ``[K, B]``."""
        check_params(params, self.num_params)
        return loss_and_grad_by_autograd(self._losses_each, params, batch)

    def losses(self, params: torch.Tensor, batch: Batch) -> torch.Tensor:
        check_params(params, self.num_params)
        with torch.no_grad():
            return self._loss(params, batch, smooth=not self.sign_losses)

    def predict(self, params: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Logits of the majority vote ``sign(sum_u sign(h_u))``."""
        with torch.no_grad():
            h = self.fields(params.unsqueeze(0), inputs)[0]
            return margin_logits(torch.sign(h).sum(dim=1) / math.sqrt(self.hidden))
