"""Gaussian (relaxed) belief propagation for the tree committee machine with continuous weights
on the sphere of each hidden unit, at a fixed overlap with a reference: the local entropy of
Baldassi, Pittorino and Zecchina, "Shaping the learning landscape in neural networks around wide
flat minima" (PNAS 117(1), 2020), Eq. 15 (the volume of the solutions with the spherical
constraint ``sum_i w_{l i}^2 = n`` per hidden unit), section "The Existence of WFM" (the
normalised local entropy ``V_1 = V - G_S``: the log of the fraction of the configurations at
that distance which are solutions) and section "BP and fBP" (BP messages encoded by their mean
and variance). The SI's equations are not in our copy of the paper: the messages below are
derived here, in the standard relaxed-BP form (Krzakala et al., ref. 25 of the paper; Braunstein
and Zecchina, ref. 10), and tested (``tests/flatness/test_continuous_bp.py``). Serves the
local-entropy probe (``sampler.flatness.continuous_bp``) and continuous-weight fBP
(``sampler.baselines.continuous_focusing``).

Measure. Unit l owns the block of n = N/K weights ``w_l`` and its reference block ``r_l``
(rescaled to ``|r_l|^2 = n``). The constraints ``|w_l|^2 = n`` and ``r_l . w_l = n q`` are
imposed by the Lagrange multipliers (a_l, b_l) of the prior ``exp(-a_l w^2/2 + b_l r_i w)``
(equivalence of ensembles at large n); with ``F(a, b)`` the Bethe free entropy,

    log Vol(q) = min_{a, b} F(a, b) + sum_l (a_l n / 2 - b_l n q),

reached where the BP marginals satisfy both constraints: (a_l, b_l) are refitted after every
sweep (for fixed a, b is linear in the overlap constraint; a by bisection on the norm). With no
patterns, ``log Vol(q) = (N/2) (1 + log 2 pi (1 - q^2))`` (the paper's G_S with 1 - q1 = 1 - q^2),
and the normalised local entropy is ``(log Vol_solutions(q) - log Vol_all(q)) / N`` at the
distance ``d = (1 - q) / 2 = |w - r|^2 / (4N)`` (for ±1 vectors: the Hamming fraction, the
binary probe's axis).

Messages. Factor mu -> w_i (unit l): ``psi(w) ∝ exp(A w - B w^2 / 2)``. Variable -> factor: the
Gaussian of precision ``a_l + sum_{nu != mu} B`` and linear term ``b_l r_i + sum_{nu != mu} A``
(mean m, variance v). The field of unit l without w_i is Gaussian, mean ``M = sum_{j != i} xi_j
m_j``, variance ``V = sum_{j != i} v_j``; the other units are positive with probability
``p_k = Phi(M_k / sqrt V_k)``, giving ``A_+`` and ``A_-`` (P(correct | unit l positive /
negative), ``sampler.baselines.belief_propagation.correct_given_unit``). Then

    Z(M) = A_- + (A_+ - A_-) Phi(M / sqrt V),   psi(w) = Z(M + xi_i w),
    g = d log Z / dM = r / sqrt V,  r = (A_+ - A_-) phi(x) / Z,  x = M / sqrt V,
    g' = d^2 log Z / dM^2 = -(r / V)(x + r),   A = xi_i g,  B = -g'

(second order in ``xi_i w / sqrt V``, O(n^-1/2)). Bethe free entropy::

    F = sum_mu log Z_mu + sum_i log Z_i - sum_{i mu} log Z_{i mu},
    Z_mu = P(correct) under the product of Gaussian unit fields,
    log Z_i = (1/2) log(2 pi / P_i) + L_i^2 / (2 P_i)   (P_i, L_i: total precision, linear term),
    log Z_{i mu} = log E_{N(m, v)} exp(A w - B w^2 / 2).
"""

from __future__ import annotations

import math

import torch

from sampler.baselines.belief_propagation import (
    TINY,
    correct_given_unit,
    count_distribution,
    gaussian_tail,
)

FLOOR = 1e-9  # the smallest precision / variance a division sees


class ContinuousCommitteeBP:
    """Gaussian BP on the patterns ``xi [P, N]`` (±1) and labels ``y [P]`` (±1) of a tree
    committee of ``units`` blocks (odd K; K = 1 is the perceptron) around ``reference [N]``."""

    def __init__(self, xi: torch.Tensor, y: torch.Tensor, units: int, reference: torch.Tensor):
        p, n_all = xi.shape
        if units % 2 == 0 or n_all % units:
            raise ValueError(
                f"continuous BP needs an odd number of units that divides the inputs, got "
                f"K={units}, N={n_all}"
            )
        self.k, self.n = units, n_all // units
        self.xi = xi.double().reshape(p, units, self.n)
        self.y = y.double()
        r = reference.double().reshape(units, self.n)
        self.r = r * (self.n / (r * r).sum(-1, keepdim=True).clamp_min(FLOOR)).sqrt()

    def cavity(self, a_msg, b_msg, a, b):
        """``(m, v) [P, K, n]``: the variable -> factor means and variances."""
        precision = (a.unsqueeze(-1) + b_msg.sum(0) - b_msg).clamp_min(FLOOR)
        linear = b.unsqueeze(-1) * self.r + a_msg.sum(0) - a_msg
        return linear / precision, 1 / precision

    def unit_fields(self, m, v):
        """``(M, V) [P, K]`` of every unit's whole field and ``p = P(h > 0)``."""
        mean, var = (self.xi * m).sum(-1), v.sum(-1).clamp_min(FLOOR)
        return mean, var, gaussian_tail(mean / var.sqrt())

    def update(self, a_msg, b_msg, a, b):
        """The new factor messages ``(A, B) [P, K, n]`` (undamped)."""
        m, v = self.cavity(a_msg, b_msg, a, b)
        mean, var, p = self.unit_fields(m, v)
        a_plus, a_minus = (t.unsqueeze(-1) for t in correct_given_unit(p, self.y, self.k))
        cav_var = (var.unsqueeze(-1) - v).clamp_min(FLOOR)
        x = (mean.unsqueeze(-1) - self.xi * m) / cav_var.sqrt()
        delta = a_plus - a_minus
        z = (a_minus + delta * gaussian_tail(x)).clamp_min(TINY)
        r = delta * torch.exp(-x * x / 2) / math.sqrt(2 * math.pi) / z
        g = r / cav_var.sqrt()
        g_prime = -(r / cav_var) * (x + r)
        return self.xi * g, -g_prime

    def fit(self, a_msg, b_msg, q: float, steps: int = 64):
        """``(a, b) [K]``: the multipliers whose marginals have ``|w_l|^2 = n`` and
        ``r_l . w_l = n q`` for the factor fields summed over the patterns."""
        sum_a, sum_b = a_msg.sum(0), b_msg.sum(0)
        low = (-sum_b.min(-1).values).clamp_min(0.0) + 1e-12
        n = self.n

        def at(a):
            precision = a.unsqueeze(-1) + sum_b
            rr = (self.r * self.r / precision).sum(-1)
            b = (n * q - (self.r * sum_a / precision).sum(-1)) / rr
            mean = (b.unsqueeze(-1) * self.r + sum_a) / precision
            return b, (mean * mean + 1 / precision).sum(-1)

        lo, hi = torch.full_like(low, math.log(1e-12)), torch.full_like(low, 60.0)
        for _ in range(steps):  # bisection on log(a - low): the norm decreases with a
            mid = (lo + hi) / 2
            _, norm = at(low + mid.exp())
            lo, hi = torch.where(norm > n, mid, lo), torch.where(norm > n, hi, mid)
        a = low + ((lo + hi) / 2).exp()
        return a, at(a)[0]

    def marginals(self, a_msg, b_msg, a, b):
        precision = a.unsqueeze(-1) + b_msg.sum(0)
        return (b.unsqueeze(-1) * self.r + a_msg.sum(0)) / precision, 1 / precision

    def free_entropy(self, a_msg, b_msg, a, b) -> float:
        """The Bethe free entropy F (natural log, not divided by N)."""
        m, v = self.cavity(a_msg, b_msg, a, b)
        _, _, p = self.unit_fields(m, v)
        above = count_distribution(p)[:, (self.k + 1) // 2 :].sum(-1)
        law = torch.where(self.y > 0, above, 1 - above)
        precision = (a.unsqueeze(-1) + b_msg.sum(0)).clamp_min(FLOOR)
        linear = b.unsqueeze(-1) * self.r + a_msg.sum(0)
        z_i = 0.5 * torch.log(2 * math.pi / precision) + linear * linear / (2 * precision)
        inner = 1 / v + b_msg
        z_edge = -0.5 * torch.log1p(b_msg * v) + 0.5 * ((m / v + a_msg) ** 2 / inner - m * m / v)
        return float(law.clamp_min(TINY).log().sum() + z_i.sum() - z_edge.sum())

    def errors(self, w: torch.Tensor) -> int:
        h = (self.xi * w.double().reshape(self.k, self.n)).sum(-1)
        return int((self.y * torch.sign(h).sum(-1) <= 0).sum())


def sphere_log_volume(n_all: int, q: float) -> float:
    """``log Vol`` of the configurations at overlap q on the spheres, all of them solutions."""
    return 0.5 * n_all * (1 + math.log(2 * math.pi * (1 - q * q)))
