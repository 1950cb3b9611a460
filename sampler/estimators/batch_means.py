"""Batch-means variance of a weighted time average along Markov chains (SGLD).

A chain's output is ``m = sum_j eps_j x^{j+1} / E``, ``E = sum_j eps_j``. Its ``L`` steps are cut
into ``n`` contiguous batches (``n = min(BATCHES, L)``) with sums ``S_b = sum_{j in b} eps_j
x^{j+1}`` and weights ``E_b``; batches much longer than the chain's correlation time are nearly
independent, and the ratio estimator's variance (Flegal and Jones, "Batch means and spectral
variance estimators in Markov chain Monte Carlo", 2010, in its weighted form) is::

    Var(m) ≈ n / (n - 1) * sum_b (S_b - m E_b)^2 / E^2
           = n / (n - 1) * (Q - 2 m P + m^2 R) / E^2,

``Q = sum_b S_b^2``, ``P = sum_b E_b S_b``, ``R = sum_b E_b^2``, kept as running sums (float64),
so the per-step cost is that of the plain average. Within a batch the terms ``eps_j x^{j+1}``
are summed in ``x``'s own dtype (one in-place pass per step, no float64 conversion: on the
``mlp`` the float64 path cost 10% of an SGLD update) and moved into the float64 batch sum every
``CHUNK`` steps, so the rounding of a partial sum stays that of ``CHUNK`` float32 additions
(relative error about ``sqrt(CHUNK) 6e-8``) whatever the chain length. With fewer than two
batches it is NaN. The variance is underestimated when a batch is not long compared with the
correlation time (for SGLD on ``q_{x,tau}``: about ``2 tau / eps`` steps in the directions that
the loss leaves flat).
"""

from __future__ import annotations

import math

import torch

BATCHES = 10
CHUNK = 50  # steps summed in x's dtype before they join the float64 sums


class BatchMeans:
    def __init__(self, shape, steps: int, device) -> None:
        self.count = min(BATCHES, steps)
        self.steps = steps
        zeros = lambda: torch.zeros(shape, dtype=torch.float64, device=device)  # noqa: E731
        self.current, self.total, self.q, self.p = zeros(), zeros(), zeros(), zeros()
        self.partial: torch.Tensor | None = None  # the last steps' sum, in x's dtype
        self.in_partial = 0
        self.current_weight = self.weight = self.r = 0.0
        self.batch = 0

    def add(self, step: int, x: torch.Tensor, weight: float) -> None:
        """``x^{step+1}`` with its weight ``eps_step``; steps arrive in order 0..L-1."""
        batch = step * self.count // self.steps
        if batch != self.batch:
            self._close()
            self.batch = batch
        if self.partial is None:
            self.partial = torch.zeros_like(x)
        self.partial.add_(x, alpha=weight)
        self.in_partial += 1
        if self.in_partial == CHUNK:
            self._flush()
        self.current_weight += weight

    def _flush(self) -> None:
        if self.in_partial:
            self.current.add_(self.partial.to(torch.float64))
            self.partial.zero_()
            self.in_partial = 0

    def _close(self) -> None:
        self._flush()
        sums, weight = self.current, self.current_weight
        self.total.add_(sums)
        self.q.addcmul_(sums, sums)
        self.p.add_(sums, alpha=weight)
        self.r += weight * weight
        self.weight += weight
        self.current.zero_()
        self.current_weight = 0.0

    def finish(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(m, Var(m))`` per coordinate, float64."""
        self._close()
        mean = self.total / self.weight
        if self.count < 2:
            return mean, torch.full_like(mean, math.nan)
        spread = (self.q - 2 * mean * self.p + mean * mean * self.r).clamp_min_(0.0)
        return mean, spread * (self.count / (self.count - 1)) / (self.weight * self.weight)
