"""The default outer step of the two-step scheme: full (``eta = tau``, ``x <- m``) while the
Monte Carlo error of the target is small, cut back when it dominates (``--lr anneal[:R]``).

Why. With ``x_{k+1} = m_k`` every update adds the target's Monte Carlo error ``SE^2`` per
coordinate, so the weights settle where the loss's pull balances that noise: near
``exp(-beta_eff f)`` with ``beta_eff = 2 beta tau / SE^2`` (``sampler.scheme.mc_error``), a
fixed inverse temperature (for IS ``SE^2 ≈ tau / ESS``, ``beta_eff ≈ 2 beta ESS``, a few
thousand on the MNIST ``mlp``). More updates then add no accuracy: the iteration is a
constant-step stochastic approximation and stops at its noise floor.

The rule. Let ``B_k = 1 / mean_i (SE_i^2 / (2 beta tau_i))`` be the update's ``beta_eff`` at the
full step (with momentum ``mu`` the Langevin step ``tau / (1 - mu)`` in place of ``tau``). The
step is::

    eta_k = tau_k r_k,        r_k = min(1, B_k / (R (k + 1)))

so the noise alone leaves the weights at ``beta_eff = max(B_k, R (k + 1))``: an annealing whose
inverse temperature rises linearly in the updates once the Monte Carlo error dominates, at rate
``R`` per update (``--lr anneal:R``, default ``R = 5``). A target without Monte Carlo error
(``rm``, whose ``B_k`` is about 1e8) keeps the full step; more samples (a larger ``B_k``) keep it
longer. The rule has no state: ``r_k`` is a function of the update's own error, so a resumed
run is bit-identical.

Rate (a Robbins–Monro step, Robbins and Monro 1951; Kushner and Yin, *Stochastic
Approximation*, ch. 10). On a quadratic ``f = a/2 |x - x*|^2`` the exact local-entropy target
contracts the error ``e = x - x*`` by ``c = beta a tau / (1 + beta a tau)`` per full step, and
``x_{k+1} - x* = (1 - r_k c) e_k + r_k xi_k`` with ``Var xi = SE^2``. Once ``r_k = A / (k + 1)``
(``A = B / R``) the mean square error obeys
``v_{k+1} = (1 - r_k c)^2 v_k + r_k^2 SE^2`` and, for ``2 A c > 1``,
``v_k ~ A^2 SE^2 / ((2 A c - 1) k)``: the iterate converges to the minimiser at rate ``1/k``,
where the constant step ``r = 1`` stays at ``SE^2 / (c (2 - c))``
(``tests/scheme/test_annealing.py``).

Layer-wise updates (``--proposal layerwise|layerwise-size``). An update that perturbs one block
``B`` moves only ``B``, with the drift and the noise of that block; how often ``B`` is chosen
scales both alike, so the weights of ``B`` settle near ``exp(-beta_eff f)`` with the block's own
``beta_eff``. ``B_k`` is therefore the mean over the block's coordinates, not over all ``d`` (the
zeros off the block would dilute it by ``|B| / d`` and keep the full step ``d / |B|`` times too
long). The same holds for the recorded ``beta_eff`` (``sampler.scheme.mc_error``).

A longer full step (``--lr anneal:R,G``). ``eta_k = G tau_k r_k``: while the error is small the
iterate moves ``G`` times the way to the target, ``x <- x + G (m - x)`` (``G = 1``: ``x <- m``).
On the quadratic a full step contracts the error by ``1 - G c``, which overshoots but still
contracts for ``G <= 2`` (``c < 1``), and the error it adds is ``G^2 SE^2``: the full step's
``beta_eff`` is ``B / G`` and ``r_k = min(1, B / (G R (k + 1)))``, so the cut comes ``G`` times
sooner and the noise alone again leaves ``beta_eff = max(B / G, R (k + 1))``. What it is for:
in the near-linear regime of a tilted block the target's drift ``|m - x|`` is about
``sqrt(tau ln(J / ESS))`` whatever J, while its Monte Carlo variance is ``tau / ESS`` per
coordinate; ``G`` times the drift at ``G^2`` times the samples (the same ESS fraction) keeps
the noise of an update where it was (docs "A longer step from more samples").

The paper's algorithm (García Trillos, Kaplan, Sanz-Alonso, Algorithms 1 and 2: ``x <- m``) is
``--lr tau``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sampler.models.naming import setting
from sampler.models.options import OptionError
from sampler.schedules import Recorded

ANNEAL = "anneal"
DEFAULT_RATE = 5.0  # beta_eff rises by R per update once the Monte Carlo error dominates
MAX_GAIN = 2.0  # anneal:R,G: a full step beyond 2 (m - x) can grow the error of a stiff direction


@dataclass(frozen=True, eq=False)
class AnnealedStep(Recorded):
    """``--lr anneal[:R[,G]]``: ``ratio(...)`` is ``r_k``; ``eta_k = G tau_k r_k``. Its record
    is its spec text."""

    rate: float = DEFAULT_RATE
    gain: float = 1.0  # G: the full step in units of tau

    @property
    def spec(self) -> str:
        if self.gain != 1.0:
            return f"{ANNEAL}:{self.rate:g},{self.gain:g}"
        return ANNEAL if self.rate == DEFAULT_RATE else f"{ANNEAL}:{self.rate:g}"

    def recorded(self) -> str:
        return self.spec

    def ratio(self, step: int, variance, tau, langevin_tau, beta, block=None) -> float:
        """``r_k = min(1, B_k / (R (k + 1)))``; 1 without a variance, a positive beta or a
        Langevin reading of the step (Adam). ``langevin_tau``: the Langevin reading of the full
        step ``G tau`` (``B_k`` is the full step's ``beta_eff``). ``block``: the coordinates a
        layer-wise update perturbed (``B_k`` is their mean; ``None``: all)."""
        if variance is None or beta is None or not beta > 0 or langevin_tau is None:
            return 1.0
        variance = variance.to(torch.float64)
        tau64 = torch.as_tensor(tau, dtype=torch.float64, device=variance.device)
        full = torch.as_tensor(langevin_tau, dtype=torch.float64, device=variance.device)
        if block is not None:
            variance, tau64, full = (on_block(v, block) for v in (variance, tau64, full))
        temperature = float((full * variance / (2 * beta * tau64 * tau64)).mean())
        if not (math.isfinite(temperature) and temperature > 0):
            return 1.0
        return min(1.0, 1.0 / (temperature * self.rate * (step + 1)))


def on_block(values: torch.Tensor, block: slice) -> torch.Tensor:
    """``values`` on a layer-wise update's coordinates (a scalar stays as it is)."""
    return values if values.dim() == 0 else values[block]


def parse_anneal(text: str) -> AnnealedStep | None:
    """``anneal``, ``anneal:R`` or ``anneal:R,G`` as an ``AnnealedStep``; ``None`` for any other
    text; ``OptionError`` naming ``--lr`` for a bad ``R`` or ``G``."""
    name, _, argument = text.strip().partition(":")
    if name.strip() != ANNEAL:
        return None
    if not argument.strip():
        return AnnealedStep()
    rate_text, comma, gain_text = argument.partition(",")
    rate = _number(rate_text)
    if not (math.isfinite(rate) and rate > 0):
        raise OptionError(
            f"{setting('lr')}: {text.strip()!r} needs a positive number R (anneal:R, beta_eff "
            "rising by R per update)"
        )
    if not comma:
        return AnnealedStep(rate)
    gain = _number(gain_text)
    if not 0 < gain <= MAX_GAIN:
        raise OptionError(
            f"{setting('lr')}: {text.strip()!r} needs a full step G in (0, {MAX_GAIN:g}] "
            "(anneal:R,G: x <- x + G (m - x) while the Monte Carlo error is small)"
        )
    return AnnealedStep(rate, gain)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan
