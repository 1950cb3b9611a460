"""Belief propagation for the tree committee machine with binary weights (the perceptron is its
K = 1 case), messages as means and variances: Baldassi, Ingrosso, Lucibello, Saglietti and
Zecchina, "Unreasonable effectiveness of learning neural networks" (PNAS 2016, SI: BP for the
committee machine, focusing BP) and Baldassi, Pittorino and Zecchina (PNAS 2020, section "BP and
fBP"), written from the equations, not from their code.

Variables ``w_i = ±1`` (unit u owns the block ``i in u`` of n = N/K weights and reads the same
block of each pattern), factors: pattern mu is classified correctly, ``y_mu sum_u sign(h_u) > 0``
with ``h_u = sum_{i in u} xi_i w_i`` (n odd, so ``h_u != 0``). Messages: ``u[mu, i]``, the field
of factor mu on w_i (``psi(w) ∝ e^{u w}``), and the cavity magnetisations
``m_{i->mu} = tanh(H_i + sum_{nu != mu} u[nu, i])`` with ``H_i`` an external field. The factor
update: the cavity field of unit u without i is Gaussian, mean ``M = sum_{j != i} xi_j m_j``,
variance ``V = sum_{j != i} (1 - m_j^2)`` (``exact=True``: its exact distribution, by
convolution, for tiny instances); the other units are positive with probability
``p_v = Phi(M_v / sqrt V_v)``, their count c a Poisson-binomial. With ``T = (K - 1) / 2``,

    A_+ = P(c >= T) (y = +1) or P(c <= T - 1) (y = -1),   A_- = P(c >= T + 1) or P(c <= T),
    psi(s) = Phi_s A_+ + (1 - Phi_s) A_-,  Phi_s = P(h_u > 0 | w_i = s),
    u[mu, i] = (1/2) log(psi(+1) / psi(-1)),

damped ``u <- d u_old + (1 - d) u_new``. The Bethe free entropy (log of the number of solutions,
weighted by ``e^{sum_i H_i w_i}``)::

    F = sum_mu log Z_mu + sum_i log Z_i - sum_{i, mu} log Z_{i mu},
    Z_mu = P(correct) under the cavity product measure, Z_i = 2 cosh(H_i + sum_mu u)
    / prod_mu 2 cosh u, Z_{i mu} = (1 + m_{i->mu} tanh u) / 2.

On a tree factor graph (one pattern) with ``exact=True`` it is exact (tested against
enumeration), and so are the marginals ``m_i = tanh(H_i + sum_mu u[mu, i])``.
"""

from __future__ import annotations

import math

import torch

TINY = 1e-30  # the smallest probability a log sees (float32's range)


def gaussian_tail(x: torch.Tensor) -> torch.Tensor:
    """``Phi(x) = P(N(0, 1) <= x)``."""
    return 0.5 * torch.erfc(-x / math.sqrt(2.0))


def count_distribution(p: torch.Tensor) -> torch.Tensor:
    """``p: [..., J] -> [..., J + 1]``: the law of the number of successes of J independent
    trials (Poisson-binomial), by the convolution recursion."""
    law = torch.ones(*p.shape[:-1], 1, dtype=p.dtype)
    for j in range(p.shape[-1]):
        q = p[..., j : j + 1]
        law = torch.cat([law * (1 - q), torch.zeros_like(q)], -1) + torch.cat(
            [torch.zeros_like(q), law * q], -1
        )
    return law


def field_law(xm: torch.Tensor) -> torch.Tensor:
    """``xm: [..., n]`` (the means ``xi_j m_j`` of n ±1 terms) ``-> [..., 2n + 1]``: the exact law
    of their sum on the values ``-n, ..., n`` (odd offsets stay empty)."""
    law = torch.ones(*xm.shape[:-1], 1, dtype=xm.dtype)
    for j in range(xm.shape[-1]):
        up = (1 + xm[..., j : j + 1]) / 2
        zero = torch.zeros_like(up)
        law = torch.cat([law * (1 - up), zero, zero], -1) + torch.cat([zero, zero, law * up], -1)
    return law


def correct_given_unit(p: torch.Tensor, y: torch.Tensor, k: int):
    """``(A_+, A_-) [P, K]``: P(correct output | unit u positive / negative), the other units
    positive with probabilities ``p [P, K]`` (labels ``y [P]``, ±1; K odd)."""
    t = (k - 1) // 2
    a_plus, a_minus = torch.empty_like(p), torch.empty_like(p)
    for unit in range(k):
        law = count_distribution(torch.cat([p[:, :unit], p[:, unit + 1 :]], -1))
        cum = torch.cat([torch.zeros_like(law[:, :1]), law.cumsum(-1)], -1)  # P(c <= j - 1)
        below, up_to = cum[:, t], cum[:, t + 1]  # P(c <= T - 1), P(c <= T)
        positive = y > 0
        a_plus[:, unit] = torch.where(positive, 1 - below, below)
        a_minus[:, unit] = torch.where(positive, 1 - up_to, up_to)
    return a_plus, a_minus


class TreeCommitteeBP:
    """BP on the patterns ``xi [P, N]`` (±1) and labels ``y [P]`` (±1) of a tree committee of
    ``units`` odd-sized blocks; ``u [P, N]`` the messages, in ``dtype`` (float64; float32 is
    about ten times faster on the CPU for the Gaussian tails, and what fBP uses)."""

    def __init__(
        self,
        xi: torch.Tensor,
        y: torch.Tensor,
        units: int,
        exact: bool = False,
        dtype: torch.dtype = torch.float64,
    ):
        p, n_all = xi.shape
        if units % 2 == 0 or n_all % units or (n_all // units) % 2 == 0:
            raise ValueError(
                f"BP needs an odd number of units and an odd number of inputs per unit, got "
                f"K={units}, N={n_all}"
            )
        self.k, self.n, self.exact = units, n_all // units, exact
        self.xi = xi.to(dtype).reshape(p, units, self.n)
        self.y = y.to(dtype)

    def cavity(self, u: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``m_{i->mu}: [P, K, n]`` for messages ``u [P, N]`` and external fields ``h [N]``."""
        total = h + u.sum(0)
        return torch.tanh(total - u).reshape(-1, self.k, self.n)

    def unit_probabilities(self, m: torch.Tensor):
        """``(p [P, K], phi_plus, phi_minus [P, K, n])``: P(h_v > 0), and P(h_u > 0 | w_i = ±1)
        with w_i removed from its unit."""
        xm = self.xi * m
        if self.exact:
            return self._exact(xm)
        mean, var = xm.sum(-1), (1 - m * m).sum(-1)
        p = gaussian_tail(mean / var.clamp_min(1e-12).sqrt())
        cav_mean = mean.unsqueeze(-1) - xm
        cav_sd = (var.unsqueeze(-1) - (1 - m * m)).clamp_min(1e-12).sqrt()
        plus = gaussian_tail((cav_mean + self.xi) / cav_sd)
        minus = gaussian_tail((cav_mean - self.xi) / cav_sd)
        return p, plus, minus

    def _exact(self, xm: torch.Tensor):
        n = self.n
        values = torch.arange(-n, n + 1, dtype=xm.dtype)
        p = (field_law(xm) * (values > 0)).sum(-1)
        plus, minus = torch.empty_like(xm), torch.empty_like(xm)
        for i in range(n):
            rest = torch.cat([xm[..., :i], xm[..., i + 1 :]], -1)
            law = field_law(rest)  # values -(n-1) .. n-1
            cav = torch.arange(-(n - 1), n, dtype=xm.dtype)
            x = self.xi[..., i].unsqueeze(-1)
            plus[..., i] = (law * (cav + x > 0)).sum(-1)
            minus[..., i] = (law * (cav - x > 0)).sum(-1)
        return p, plus, minus

    def correct_given_unit(self, p: torch.Tensor):
        """``(A_+, A_-) [P, K]``: P(correct output | unit u positive / negative)."""
        return correct_given_unit(p, self.y, self.k)

    def update(self, u: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The new factor messages ``[P, N]`` (undamped)."""
        p, plus, minus = self.unit_probabilities(self.cavity(u, h))
        a_plus, a_minus = (a.unsqueeze(-1) for a in self.correct_given_unit(p))
        psi_plus = plus * a_plus + (1 - plus) * a_minus
        psi_minus = minus * a_plus + (1 - minus) * a_minus
        new = 0.5 * (psi_plus.clamp_min(TINY).log() - psi_minus.clamp_min(TINY).log())
        return new.reshape(u.shape)

    def marginals(self, u: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(h + u.sum(0))

    def free_entropy(self, u: torch.Tensor, h: torch.Tensor) -> float:
        """The Bethe free entropy F (natural log, not divided by N)."""
        m = self.cavity(u, h)
        p, _, _ = self.unit_probabilities(m)
        law = count_distribution(p)
        above = law[:, (self.k + 1) // 2 :].sum(-1)
        z_mu = torch.where(self.y > 0, above, 1 - above).clamp_min(TINY)
        total = h + u.sum(0)
        log_2cosh = lambda x: x.abs() + torch.log1p(torch.exp(-2 * x.abs()))  # noqa: E731
        z_i = log_2cosh(total) - log_2cosh(u).sum(0)
        z_edge = torch.log((1 + m.reshape(u.shape) * torch.tanh(u)) / 2)
        return float(z_mu.double().log().sum() + z_i.double().sum() - z_edge.double().sum())

    def errors(self, w: torch.Tensor) -> int:
        """Wrong outputs of the ±1 (or real) weights ``w [N]``."""
        h = (self.xi * w.to(self.xi.dtype).reshape(self.k, self.n)).sum(-1)
        return int((self.y * torch.sign(h).sum(-1) <= 0).sum())


def converge(bp: TreeCommitteeBP, u, fields, damping: float, tol: float, iterations: int):
    """Iterate ``u`` to a fixed point; ``fields(u) -> h [N]`` the external fields (recomputed each
    iteration: fBP's focusing field depends on the messages). ``-> (u, iterations, converged)``;
    converged when no message's ``tanh`` moved more than ``tol``."""
    for it in range(1, iterations + 1):
        new = damping * u + (1 - damping) * bp.update(u, fields(u))
        moved = float((torch.tanh(new) - torch.tanh(u)).abs().max()) if u.numel() else 0.0
        u = new
        if moved < tol:
            return u, it, True
    return u, iterations, False
