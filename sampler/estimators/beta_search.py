"""How an ``is`` update with ``--beta auto:TARGET`` finds its inverse temperature
(``--beta-search``; ``sampler.estimators.importance_sampling``).

The effective sample size ``ESS(beta) = (sum_j w_j)^2 / sum_j w_j^2`` of the weights
``w_j = exp(-beta f_j)`` decreases with beta (``sampler.estimators.temperature``), so
``ESS(beta) = TARGET * J`` has one root:

* ``grid`` (default), in the update's one pass over the noise: the weighted sums are kept for
  the five betas ``beta_prev * 2^(i/4)``, ``i = -2..2`` (``grid_betas``; one ``[5, rows] @
  [rows, d]`` product per block instead of a ``[1, rows]`` one); the one whose ESS is closest to
  the target in log is taken (``closest_to_target``) and becomes the next grid's center. The
  estimate is then exactly the IS estimate at the chosen beta.
* ``two-pass``: the losses first, then ``ESS(beta) = TARGET * J`` solved by bisection on
  ``log beta`` over all J losses gathered from the ranks (``two_pass_beta``); the same
  counter-based noise is drawn again for the weighted sum. The ESS hits the target exactly, for
  a second noise draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from sampler.estimators.temperature import BETA_RANGE, candidate_betas, clamp_beta

BETA_SEARCHES = ("grid", "two-pass")


def ess_of(beta: float, shifted: torch.Tensor) -> float:
    """ESS of the weights ``exp(-beta shifted)`` (``shifted >= 0``, ``inf`` = failed)."""
    w = torch.exp(-beta * shifted)
    return float(w.sum() ** 2 / (w * w).sum())


def solve_beta(shifted: torch.Tensor, ess_target: float, low: float, high: float) -> float:
    """The beta in ``[low, high]`` where ``ESS(beta) = ess_target`` (ESS decreases with beta),
    by bisection on ``log beta``; an end of the range if the target lies beyond it."""
    if ess_of(low, shifted) <= ess_target:
        return low
    if ess_of(high, shifted) >= ess_target:
        return high
    lo, hi = math.log(low), math.log(high)
    for _ in range(60):
        middle = 0.5 * (lo + hi)
        if ess_of(math.exp(middle), shifted) > ess_target:
            lo = middle
        else:
            hi = middle
    return math.exp(0.5 * (lo + hi))


def grid_betas(previous: float, factor: float) -> list[float]:
    """The grid of betas around the previous update's choice, each kept in ``BETA_RANGE``
    (times the loss-scale ``factor``)."""
    return [clamp_beta(beta, factor) for beta in candidate_betas(previous)]


def closest_to_target(
    samples: int, grid: int, target_fraction: float | None
) -> Callable[[torch.Tensor, torch.Tensor, int], int]:
    """``choose(s1, s2, failed)`` for ``TiltedSums.finish``: the index of the grid's beta whose
    ESS ``s1^2 / s2`` is closest in log to ``target_fraction`` of the finite samples (the first
    one without a target or with a single beta)."""

    def choose(s1, s2, failed):
        if target_fraction is None or grid == 1:
            return 0
        finite = samples - failed
        distance = (torch.log(s1 * s1 / s2) - math.log(target_fraction * finite)).abs()
        return int(torch.argmin(distance))

    return choose


def two_pass_beta(losses: torch.Tensor, ess_fraction: float, factor: float) -> float:
    """The beta at which the ESS of all J ``losses`` (non-finite ones failed) is
    ``ess_fraction`` of the finite ones, within ``BETA_RANGE`` times ``factor``; ``factor`` when
    no loss is finite."""
    finite = torch.isfinite(losses)
    if not bool(finite.any()):
        return factor
    shifted = torch.where(finite, losses - losses[finite].min(), math.inf)
    low, high = BETA_RANGE
    return solve_beta(shifted, ess_fraction * int(finite.sum()), low * factor, high * factor)
