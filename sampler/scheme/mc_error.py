"""The Monte Carlo error of the two-step target, and what it does to the weights.

Every estimator returns beside its target ``m`` the variance ``SE_i^2`` of ``m_i`` per
coordinate (IS: batch means over its blocks; SGLD: batch means along the chains; RM: the
variance of its averaged gradients propagated through its iterations). Each update records,
overall and per layer ``l`` (root mean squares over the layer's coordinates)::

    mc_se_l   = sqrt(mean_{i in l} SE_i^2)      step_rms_l = sqrt(mean_{i in l} (x_i - m_i)^2)

and the *effective inverse temperature of the noise*. The outer step
``x <- x - (eta / tau) (x - m)`` with ``E m - x ≈ -tau beta grad f`` is a Langevin step on
``beta f`` of size ``h = eta beta`` whose injected noise has variance ``(eta / tau)^2 SE^2``;
Langevin noise of that size belongs to the inverse temperature ``2 h / noise``::

    beta_eff = 1 / mean_i (eta_i SE_i^2 / (2 beta tau_i^2))      (eta = tau: 2 beta tau / SE^2)

(over the perturbed block's coordinates for a layer-wise update, ``sampler.scheme.annealing``)
so that the outer iteration would leave the weights near ``exp(-beta_eff f)`` on the minibatch
loss scale (``eta`` is ``eta / (1 - mu)`` with momentum ``mu``; none is given for Adam). For IS
``SE^2 ≈ tau / ESS`` in the directions the loss leaves flat, so ``beta_eff ≈ 2 beta ESS``; for
SGLD's position average ``beta_eff ≈ 2 beta n_eff`` with ``n_eff`` the chain's effective
samples per update (its gradient average has no error where the loss is flat). A run
whose ``beta_eff`` is small is dominated by its Monte Carlo error: the weights diffuse faster
than the loss pulls them (``MonteCarloErrorDominates``, a check of ``sampler.training.health``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from sampler.models.naming import setting
from sampler.scheme.annealing import on_block

# A run is flagged when the median beta_eff of its last WINDOW updates is below THRESHOLD
# (measured on MNIST, see the docs on temperature: runs at 40-60 stay near chance or lose accuracy,
# runs at 1000 and above train).
THRESHOLD = 200.0
WINDOW = 20


def _rms(values: torch.Tensor) -> float:
    return math.sqrt(float(values.mean())) if values.numel() else math.nan


def error_record(
    params: torch.Tensor,
    target: torch.Tensor,
    variance: torch.Tensor | None,
    tau,
    eta,
    beta: float | None,
    layers: Mapping[str, slice] | None,
    block: slice | None = None,
) -> dict:
    """``mc_se``, ``step_rms`` (overall and ``_<layer>``) and ``beta_eff`` of one update;
    ``eta`` is the outer step (``None``: not a plain or momentum step, no ``beta_eff``)."""
    step = (params - target).to(torch.float64)
    squared = step * step
    record = {"step_rms": _rms(squared)}
    if variance is None:
        return record
    variance = variance.to(device=params.device, dtype=torch.float64)
    record["mc_se"] = _rms(variance)
    for name, part in (layers or {}).items():
        record[f"mc_se_{name}"] = _rms(variance[part])
        record[f"step_rms_{name}"] = _rms(squared[part])
    record["beta_eff"] = math.nan
    if eta is not None and beta is not None and beta > 0:
        tau64 = torch.as_tensor(tau, dtype=torch.float64, device=params.device)
        eta64 = torch.as_tensor(eta, dtype=torch.float64, device=params.device)
        if block is not None:  # a layer-wise update: the temperature its block's noise sets
            variance, tau64, eta64 = (on_block(v, block) for v in (variance, tau64, eta64))
        temperature = float((eta64 * variance / (2 * beta * tau64 * tau64)).mean())
        if math.isfinite(temperature) and temperature > 0:
            record["beta_eff"] = 1.0 / temperature
    return record


class MonteCarloErrorDominates:
    """A ``sampler.training.health`` check: the median ``beta_eff`` of the last ``WINDOW`` updates
    is below ``THRESHOLD``. A warning, not a divergence (``--stop-on-divergence`` runs on)."""

    name = "mc-error-dominates"
    divergence = False

    def __init__(self, method: str) -> None:
        self.method = method
        self.recent: list[float] = []

    @property
    def fix(self) -> str:  # named when read (a run of the Python API names keyword arguments)
        return advice(self.method)

    def observe(self, step: int, record: dict, params) -> str | None:
        value = record.get("beta_eff")
        if isinstance(value, (int, float)) and math.isfinite(value):
            self.recent = [*self.recent, float(value)][-WINDOW:]
        if len(self.recent) < WINDOW:
            return None
        median = sorted(self.recent)[WINDOW // 2]
        if median >= THRESHOLD:
            return None
        return (
            f"Monte Carlo error dominates: beta_eff {median:.3g} < {THRESHOLD:g} (median of "
            f"the last {WINDOW} updates; the weights diffuse faster than the loss pulls them)"
        )

    def state(self) -> dict:
        return {"recent": list(self.recent)}

    def restore(self, state: dict) -> None:
        self.recent = [float(v) for v in state.get("recent", [])][-WINDOW:]


def monte_carlo_check(config, values) -> MonteCarloErrorDominates | None:
    """The check of an estimator run (``sampler.training.health.CHECKS``)."""
    return MonteCarloErrorDominates(config.estimator) if config.two_step else None


def advice(method: str) -> str:
    """The settings that cure a dominating Monte Carlo error, named as the naming in force
    names them (flags, or the Python API's keyword arguments: ``sampler.models.naming``)."""
    s = setting
    rm = f"raise {s('rm_samples')} or {s('rm_iterations')}, lower {s('beta')} or {s('lr')}"
    table = {
        "sgld": f"use {s('sgld_average', 'gradient')} (no noise where the loss is flat); with "
        f"{s('sgld_average', 'position')} raise {s('beta')} (or use {s('beta', 'auto')}), "
        f"{s('sgld_steps')} or {s('chains')}, or lower {s('lr')}",
        "is": f"raise {s('samples')}, lower {s('beta')} if the ESS is small, or use "
        f"{s('beta', 'auto')}",
        "rm": rm,
        "rm-stein": rm,
    }
    return table.get(method, f"raise the estimator's sample count or lower {s('lr')}")
