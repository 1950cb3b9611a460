"""How evolution strategies (``sampler.baselines.evolution_strategies``) draws and sums its
population of antithetic pairs ``x ± sigma e_i`` (``--proposal``), block by block.

Both schemes give ``e_i ~ N(0, I_d)`` (the pairs ``x ± s e_i``, ``s`` sigma or per coordinate
under ``--tau-scale init-variance``) and hand back, per block, the sums the estimate needs of
the pair weights ``c_i = u_i^+ - u_i^-``; ``finish`` turns the merged sums into
``sum_i c_i e_i [d]`` (float64):

* ``antithetic``: the engine's antithetic proposals (``sampler.estimators.proposals.Antithetic``
  with ``tau = sigma^2``): block ``b`` draws its ``rows / 2`` vectors ``e_i`` from
  ``(seed, IS_NOISE, step, b)``; the block's sum is ``sum_i c_i e_i``.
* ``marginal``: the dense first layer marginalised as in ``sampler.estimators.marginal``
  (``X^T = Q R``): the loss sees the first weight's noise ``E_i [h, n]`` only through
  ``X E_i^T = R^T G_i``, ``G_i [B, h]`` standard normal, so a pair draws ``G_i`` and the rest of
  its vector (``B h + d - n h`` numbers instead of ``d``: 6,210 instead of 159,010 on the
  ``mlp``) from ``(seed, IS_MARGINAL_NOISE, step, b)``, and, the weights depending on ``E_i``
  through ``G_i`` alone, the first layer's sum has in law
  ``sum_i c_i E_i = (sum_i c_i G_i)^T Q^T + sqrt(sum_i c_i^2) Z (I - Q Q^T)``, ``Z [h, n]``
  from ``(seed, IS_RESIDUAL, step, 0)`` on every rank: exactly the law of ``antithetic``'s
  estimate, by other random numbers. It needs a dense first layer and a minibatch smaller than
  its inputs (``auto`` picks it then, else ``antithetic``).
"""

from __future__ import annotations

import torch

from sampler.estimators.marginal import Marginal
from sampler.estimators.proposals import Antithetic
from sampler.models import streams

SCHEMES = ("auto", "antithetic", "marginal")


def variance(sigma, params: torch.Tensor) -> torch.Tensor:
    """The proposals' ``tau = sigma^2``: a number, or per coordinate for a ``[d]`` ``sigma``."""
    if isinstance(sigma, torch.Tensor):
        return (sigma.to(torch.float64) ** 2).to(params.dtype)
    return torch.tensor(sigma * sigma, dtype=params.dtype, device=params.device)


class AntitheticPairs:
    name = "antithetic"

    def __init__(self) -> None:
        self.proposal = Antithetic()

    def prepare(self, key, params: torch.Tensor, sigma, problem) -> None:
        tau = variance(sigma, params)
        self.proposal.prepare(key, params, tau, problem)
        self.problem, self.width = problem, params.shape[0]

    def evaluate(self, key, block: tuple[int, int], block_size: int, params: torch.Tensor):
        """``(losses [rows] float64 on the host, what the block's sum needs)``."""
        drawn = self.proposal.draw(key, [block], block_size, params)
        return self.proposal.losses(drawn, self.problem).cpu(), drawn.noise.clone()

    def block_sum(self, kept: torch.Tensor, pair_weights: torch.Tensor) -> torch.Tensor:
        return (pair_weights.to(kept.dtype) @ kept).to(torch.float64)

    def finish(self, key, total: torch.Tensor) -> torch.Tensor:
        return total


class MarginalPairs:
    name = "marginal"

    def __init__(self) -> None:
        self.marginal = Marginal()

    def prepare(self, key, params: torch.Tensor, sigma, problem) -> None:
        tau = variance(sigma, params)
        self.marginal.prepare(key, params, tau, problem)
        m, self.problem = self.marginal, problem
        self.first = m.batch * m.width  # numbers of G_i
        self.width = self.first + m.dim + 1  # [sum c G, sum c rest, sum c^2]

    def evaluate(self, key, block: tuple[int, int], block_size: int, params: torch.Tensor):
        m, (index, rows) = self.marginal, block
        half = rows // 2
        generator = streams.torch_generator(
            key.seed, streams.IS_MARGINAL_NOISE, key.step, index, params.device
        )
        gauss = torch.empty(half, m.batch, m.width, dtype=params.dtype, device=params.device)
        gauss.normal_(generator=generator)
        rest = torch.empty(half, m.dim, dtype=params.dtype, device=params.device)
        rest.normal_(generator=generator)
        products, points = m.pair_inputs(gauss, rest)
        losses = self.problem.losses_from_input_products(products, points)
        return losses.to(torch.float64).cpu(), (gauss.reshape(half, -1), rest)

    def block_sum(self, kept, pair_weights: torch.Tensor) -> torch.Tensor:
        gauss, rest = kept
        c = pair_weights.to(gauss.dtype)
        square = (pair_weights.to(torch.float64) ** 2).sum().reshape(1)
        parts = [(c @ gauss).to(torch.float64), (c @ rest).to(torch.float64), square]
        return torch.cat([part.to(gauss.device) for part in parts])

    def finish(self, key, total: torch.Tensor) -> torch.Tensor:
        m = self.marginal
        s = total[: self.first].view(m.batch, m.width)
        basis = m.basis64.to(total.device)
        first = s.T @ basis + total[-1].sqrt() * m.residual(key, total.device)
        return torch.cat([first.flatten(), total[self.first : -1]])


def build_pairs(name: str):
    return MarginalPairs() if name == "marginal" else AntitheticPairs()
