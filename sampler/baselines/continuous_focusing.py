"""Focusing BP with continuous weights (``--baseline fbp --bp-weights continuous``): the 2020
paper's fBP, Baldassi, Pittorino and Zecchina, "Shaping the learning landscape in neural networks
around wide flat minima" (PNAS 117(1), 2020, section "BP and fBP" and Materials and Methods: y =
10, coupling 0.5 to 30 over 30 exponential stages of at most 200 iterations), whose SI equations
are not in our copy: the focusing interaction below is derived here, as the Gaussian analogue of
the binary one of Baldassi et al. (PNAS 2016, Eq. 13; ``sampler.baselines.focusing_bp``).

The BP is ``sampler.baselines.gaussian_bp`` (messages as means and variances, each hidden unit
on its sphere ``|w_l|^2 = n`` by a Lagrange multiplier ``a_l`` refitted after every sweep), with no
reference. The y replicas of each weight are coupled to a center by ``exp(-gamma (w_a - c)^2 /
2)``; summed out, the y - 1 other replicas, each seeing the patterns' field (precision ``P_i = a_l
+ sum_mu B``, linear term ``L_i = sum_mu A``), give the center a Gaussian of precision ``P_c =
(y - 1) gamma P_i / (gamma + P_i)`` and linear term ``L_c = (y - 1) gamma L_i / (gamma + P_i)``,
and the center gives w_i the focusing field

    B_f = gamma P_c / (gamma + P_c),   A_f = gamma L_c / (gamma + P_c),

(one replica: none; gamma -> infinity: ``(y - 1)`` times the patterns' field, the marginal raised
to the power y), recomputed at every iteration. The run's parameters are the marginal means (real
weights); a stage stops when no mean moves more than ``--bp-tol``, the run when the means
classify every pattern, as the binary fBP.
"""

from __future__ import annotations

import math

import torch

from sampler.baselines.gaussian_bp import FLOOR, ContinuousCommitteeBP


def focusing_field(sum_a, sum_b, a, gamma: float, replicas: int):
    """``(A_f, B_f) [K, n]`` above, for the pattern fields ``sum_a, sum_b [K, n]`` and the
    multipliers ``a [K]``."""
    p = (a.unsqueeze(-1) + sum_b).clamp_min(FLOOR)
    p_c = (replicas - 1) * gamma * p / (gamma + p)
    l_c = (replicas - 1) * gamma * sum_a / (gamma + p)
    return gamma * l_c / (gamma + p_c), gamma * p_c / (gamma + p_c)


class FocusedGaussianBP(ContinuousCommitteeBP):
    """Gaussian BP on the spheres with an external field ``self.field = (A_f, B_f)``."""

    def __init__(self, xi: torch.Tensor, y: torch.Tensor, units: int):
        super().__init__(xi, y, units, torch.ones(xi.shape[1], dtype=torch.float64))
        self.r = torch.zeros_like(self.r)  # no reference: b = 0
        self.field = (torch.zeros_like(self.r), torch.zeros_like(self.r))

    def cavity(self, a_msg, b_msg, a, b):
        f_a, f_b = self.field
        precision = (a.unsqueeze(-1) + f_b + b_msg.sum(0) - b_msg).clamp_min(FLOOR)
        return (f_a + a_msg.sum(0) - a_msg) / precision, 1 / precision

    def marginals(self, a_msg, b_msg, a, b):
        f_a, f_b = self.field
        precision = a.unsqueeze(-1) + f_b + b_msg.sum(0)
        return (f_a + a_msg.sum(0)) / precision, 1 / precision

    def fit_norm(self, a_msg, b_msg, steps: int = 64) -> torch.Tensor:
        """``a [K]``: the marginals' ``sum_i <w_i^2> = n`` per unit (bisection on log a)."""
        sum_a, sum_b = a_msg.sum(0) + self.field[0], b_msg.sum(0) + self.field[1]
        low = (-sum_b.min(-1).values).clamp_min(0.0) + 1e-12
        lo, hi = torch.full_like(low, math.log(1e-12)), torch.full_like(low, 60.0)
        for _ in range(steps):
            mid = (lo + hi) / 2
            p = (low + mid.exp()).unsqueeze(-1) + sum_b
            norm = ((sum_a / p) ** 2 + 1 / p).sum(-1)
            lo, hi = torch.where(norm > self.n, mid, lo), torch.where(norm > self.n, hi, mid)
        return low + ((lo + hi) / 2).exp()


def stage(bp: FocusedGaussianBP, state: dict, gamma: float, values: dict):
    """One annealing stage: ``(state, iterations, converged, means [N])``."""
    a_msg, b_msg, a = state["messages"], state["precisions"], state["multipliers"]
    zero = torch.zeros_like(a)
    old = None
    used, converged = values["bp_iterations"], False
    for it in range(1, values["bp_iterations"] + 1):
        bp.field = focusing_field(a_msg.sum(0), b_msg.sum(0), a, gamma, values["replicas"])
        a = bp.fit_norm(a_msg, b_msg)
        new_a, new_b = bp.update(a_msg, b_msg, a, zero)
        d = values["damping"]
        a_msg, b_msg = d * a_msg + (1 - d) * new_a, d * b_msg + (1 - d) * new_b
        means = bp.marginals(a_msg, b_msg, a, zero)[0]
        moved = math.inf if old is None else float((means - old).abs().max())
        old = means
        if not math.isfinite(float(means.abs().max())):
            used = it
            break
        if moved < values["bp_tol"]:
            used, converged = it, True
            break
    state = dict(state, messages=a_msg, precisions=b_msg, multipliers=a)
    return state, used, converged, old.reshape(-1)


def initial_state(bp: FocusedGaussianBP, generator: torch.Generator) -> dict:
    """Small random linear messages (standard deviation 0.01), no precisions, a = 1."""
    a_msg = 0.01 * torch.randn(bp.xi.shape, generator=generator, dtype=torch.float64)
    return {
        "messages": a_msg,
        "precisions": torch.zeros_like(a_msg),
        "multipliers": torch.ones(bp.k, dtype=torch.float64),
        "unconverged": [],
    }
