"""``rm-stein``'s Stein gradient with the dense first layer marginalised (``--proposal
marginal``): the first layer's noise drawn through the products ``X E^T`` the loss sees, and its
unseen part replaced by its conditional mean, zero (Rao-Blackwell).

Setting (``sampler.estimators.marginal``): a dense first layer ``W [h, n]`` fed by a minibatch
``X [B, n]`` with ``B < n``, ``X^T = Q R``. One antithetic pair ``x ± s e`` of
``sampler.estimators.robbins_monro`` gives the Stein estimate ``g = c e / s`` with ``c = (f(x +
s e) - f(x - s e)) / 2``. Split the first layer's rows of ``e`` as ``E = G^T Q^T + U (I - Q
Q^T)``: ``G = (E Q)^T [B, h]`` is standard normal, the loss sees ``E`` only through ``X E^T = R^T
G``, and ``U`` is independent of ``G`` and of every other draw. So ``c`` does not depend on
``U`` and::

    E[g_first | G, rest] = c G^T Q^T / sigma       (sigma^2 the first layer's tau)

has ``g``'s expectation ``E grad f`` (the heat-smoothed gradient; Stein's identity) and a
variance smaller by ``E[c^2] (1 - |q_k|^2) / sigma^2`` per coordinate ``(i, k)`` (Robert and
Casella, *Monte Carlo Statistical Methods*, 4.7; ``q_k = Q^T[:, k]``), nearly all of it where
``B << n``. It moves the first layer only within the span of the minibatch's rows, where the
minibatch loss's own gradient lies (``grad_W f = D^T X``). A pair draws ``B h + d - n h``
numbers (6,210 instead of 159,010 on the ``mlp``) and its two forwards cost ``B^2 h`` for the
first layer (the shared ``R^T G``) instead of ``2 B n h``; the other coordinates (the first
layer's bias, every later layer) are drawn and summed as the literal pairs do.

Sums of one iteration over a rank's pairs ``m`` (float64, merged by one sum reduction)::

    S = sum_m c_m G_m  [B, h]            P[i, (l, l')] = sum_m c_m^2 G_m[l, i] G_m[l', i]  (l <= l')
    r1 = sum_m c_m eps_m                 r2 = sum_m c_m^2 eps_m^2           (the rest, [d - n h])

and the moments ``robbins_monro`` reads: ``sum_m g_m = S^T Q^T / sigma`` in the first layer and
``sum_m g_m^2 = q_k^T Sigma_i q_k / sigma^2`` with ``Sigma_i = sum_m c_m^2 G_m[:, i] G_m[:,
i]^T`` (the pairs contraction of ``sampler.estimators.marginal``); ``r1 / s`` and ``r2 / s^2``
in the rest. Pair ``m`` of iteration ``j`` draws ``G_m`` then its rest from ``(seed,
RM_MARGINAL_NOISE, step, j M + m)``: one seed gives the same update on any number of ranks up
to summation order.
"""

from __future__ import annotations

import torch

from sampler.estimators.marginal import Marginal
from sampler.models import streams


class MarginalStein:
    """The Stein sums of one iteration with the first layer marginalised; ``prepare`` once per
    update (the minibatch's factorisation), ``local_sums`` and ``moments`` per iteration."""

    def __init__(self) -> None:
        self.marginal = Marginal(residual="mean")

    def prepare(self, key, center: torch.Tensor, tau: torch.Tensor, problem) -> None:
        m = self.marginal
        m.prepare(key, center, tau, problem)  # ValueError naming --proposal where it cannot
        self.inputs = problem.batch.inputs.reshape(problem.batch_size, -1).to(center.dtype)
        self.low, self.high = m.upper.to(center.device)
        self.first = m.batch * m.width
        self.pairs_size = m.width * self.low.shape[0]
        self.size = self.first + self.pairs_size + 2 * m.dim  # the sums' length

    def local_sums(self, key, j: int, owned: list[int], x: torch.Tensor, samples: int, problem):
        """``[S, P, r1, r2]`` flat float64 over the pairs ``owned`` of iteration ``j`` at the
        point ``x`` (zeros for none)."""
        m = self.marginal
        if not owned:
            return torch.zeros(self.size, dtype=torch.float64, device=x.device)
        rows = len(owned)
        gauss = torch.empty(rows, m.batch, m.width, dtype=x.dtype, device=x.device)
        rest = torch.empty(rows, m.dim, dtype=x.dtype, device=x.device)
        for row, pair in enumerate(owned):
            generator = streams.torch_generator(
                key.seed, streams.RM_MARGINAL_NOISE, key.step, j * samples + pair, x.device
            )
            gauss[row].normal_(generator=generator)
            rest[row].normal_(generator=generator)
        weight = x[m.layer.weight].view(m.width, self.inputs.shape[1])
        base = self.inputs @ weight.T  # X W^T at this iterate [B, h]
        products, points = m.pair_inputs(gauss, rest, base, x[m.layer.weight.stop :])
        values = problem.losses_from_input_products(products, points).to(torch.float64)
        c = (values[:rows] - values[rows:]) / 2  # [rows]
        gauss64 = gauss.to(torch.float64)
        rest64 = rest.to(torch.float64)
        s = c @ gauss64.view(rows, -1)
        # Sigma_i = sum_m (c_m G_m[:, i]) (c_m G_m[:, i])^T, one [B, B] product per column i
        scaled = gauss64.mul_(c[:, None, None]).permute(2, 1, 0).contiguous()  # [h, B, rows]
        sigma = torch.bmm(scaled, scaled.transpose(1, 2))  # [h, B, B]
        p = sigma[:, self.low, self.high]  # [h, pairs]: l <= l'
        r1 = c @ rest64
        r2 = (c * c) @ (rest64 * rest64)
        return torch.cat([s, p.flatten(), r1, r2])

    def moments(self, sums: torch.Tensor, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean g, mean g^2)`` ``[d]`` float64 from the merged sums of ``samples`` pairs."""
        m = self.marginal
        first, pairs = self.first, self.pairs_size
        s = sums[:first].view(m.batch, m.width)
        p = sums[first : first + pairs].view(m.width, -1)
        r1, r2 = sums[first + pairs : first + pairs + m.dim], sums[first + pairs + m.dim :]
        basis = m.basis64.to(sums.device)
        grad_first = (s.T @ basis).div_(m.sigma)  # [h, n]
        # the pair products in the centre's dtype, as the IS finish forms them (float32: half the
        # time of float64 per iteration; mean_square - mean^2 is clamped at 0 after)
        square_first = (p.to(m.pairs.dtype) @ m.pairs).to(torch.float64).div_(m.sigma**2)
        scale = m.rest_scale.to(torch.float64)
        mean = torch.cat([grad_first.flatten(), r1 / scale]).div_(samples)
        square = torch.cat([square_first.flatten(), r2 / (scale * scale)]).div_(samples)
        return mean, square
