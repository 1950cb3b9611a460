"""The inverse temperature ``beta`` of the tilted measure, its loss scale, and the engine's own
choice of it.

``q_{x,tau}(x') ∝ exp(-beta f(x') - |x - x'|^2 / (2 tau))`` with ``f`` the loss of the step's
minibatch of ``B`` examples:

* ``--loss-scale mean`` (default, the paper's text): ``f = (1/B) sum_i loss_i``;
* ``--loss-scale sum``: ``f = sum_i loss_i``, i.e. ``beta B`` on the mean, the convention of
  TensorFlow code of the paper's time (``reduce_sum`` over the minibatch).

``--beta`` is a schedule over updates (``sampler.schedules``) or ``auto[:TARGET]``, chosen by the
estimator every update:

* ``is``: the effective sample size ``ESS(beta) = (sum_j w_j)^2 / sum_j w_j^2`` of the update's
  ``J`` weights ``w_j = exp(-beta f(x_j))`` is decreasing in ``beta`` (its log-derivative is
  ``2 (E_{2 beta}[f] - E_beta[f]) <= 0``), so ``ESS(beta) = TARGET * J`` has one root;
  ``beta_search`` (``grid`` or ``two-pass``) says how it is found in the update's pass over the
  noise (``sampler.estimators.beta_search``).
* ``sgld`` with ``--sgld-average gradient`` (the default): as ``rm`` below, the minibatch's
  summed loss (beta = B on the mean, no TARGET). The gradient average has no Monte Carlo noise
  in the directions the minibatch leaves flat, so its ``beta_eff`` is far above any target
  (1e7 to 3e7 at beta = 20 on the MNIST ``mlp``) and falls as beta rises: it cannot set beta.
* ``sgld`` with ``--sgld-average position``: ``beta`` such that the Monte Carlo noise of the
  target leaves the weights at the effective inverse temperature ``TARGET``
  (``sampler.scheme.mc_error``): ``beta_eff = 2 beta tau / SE^2 = 2 beta n_eff`` under ``x <-
  m``, where the chain's effective samples per update ``n_eff = tau / SE^2`` hardly depend on
  beta (the proposal's ``1/tau`` dominates the chain's curvature), so the next update takes
  ``beta TARGET / beta_eff`` from this one's standard error (at most 4x up or down per update).
  Without a TARGET it is the training set's size ``N``: the outer iteration then leaves the
  weights near ``exp(-N f)``, the Bayes posterior of the training set under a flat prior, so the
  Monte Carlo noise spreads them no wider than the data's own uncertainty.
* ``rm``, ``rm-stein``: their Monte Carlo noise is too small to set beta (``beta_eff`` about 2e9
  at beta = 1 on the MNIST ``mlp``); ``auto`` is the minibatch's summed loss (beta = B on the
  mean): ``tau beta`` is then the step of an implicit gradient step on the minibatch's
  smoothed log-likelihood, backed off while the Robbins-Monro iteration does not contract
  (``sampler.estimators.robbins_monro``).

A chosen ``beta`` is the estimator's state (checkpointed), so a resumed run is bit-identical.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from sampler.models.naming import setting
from sampler.models.options import Option, OptionError
from sampler.schedules import Recorded, Schedule, schedule_check

AUTO = "auto"
LOSS_SCALES = ("mean", "sum")
GRID_RATIO = 2.0**0.25  # spacing of the grid of candidate betas (19%)
GRID_HALF_WIDTH = 2  # the grid is beta_prev * GRID_RATIO^i, i = -2..2
BETA_RANGE = (1e-8, 1e8)  # where auto beta may go (per unit of loss scale)
MAX_CHANGE = 4.0  # sgld auto beta moves by at most this factor per update


@dataclass(frozen=True)
class Temperature:
    """``--beta`` and ``--loss-scale`` of a run: a schedule, or ``auto`` with its target."""

    schedule: Schedule | None  # None when auto
    auto_target: float | None = None  # None with auto: the estimator's own default
    loss_scale: str = "mean"

    @property
    def auto(self) -> bool:
        return self.schedule is None

    def factor(self, problem: Any) -> float:
        """What multiplies ``beta`` for the loss scale: ``B`` for ``sum``, else 1."""
        if self.loss_scale == "sum":
            return float(problem.batch_size)
        return 1.0

    def fixed(self, step: int, problem: Any) -> float:
        """The scheduled beta of update ``step`` on the mean scale times the loss-scale factor."""
        assert self.schedule is not None
        return self.schedule(step) * self.factor(problem)


@dataclass(frozen=True, eq=False)
class AutoBeta(Recorded):
    """``--beta auto[:TARGET]``, typed at its check: the text as given (its record) and the
    TARGET, the estimator's default where none is given."""

    text: str
    target: float | None

    def recorded(self) -> str:
        return self.text


def is_auto(value: Any) -> bool:
    if isinstance(value, AutoBeta):
        return True
    return isinstance(value, str) and value.strip().split(":")[0].strip() == AUTO


def _given_target(text: str) -> float | None:
    """The TARGET written in ``auto[:TARGET]`` (``None`` if there is none)."""
    _, colon, argument = text.partition(":")
    if not colon:
        return None
    if not argument.strip():  # "auto:" is not "auto"
        raise OptionError(f"{setting('beta')}: auto:TARGET needs a number after the colon")
    try:
        return float(argument)
    except ValueError:
        raise OptionError(
            f"{setting('beta')}: auto:TARGET needs a number TARGET, got {text!r}"
        ) from None


def beta_check(
    default_target: float | None, bounds: tuple[float, float], takes_target: bool = True
) -> Callable[[Any], Schedule | AutoBeta]:
    """An estimator's ``beta`` check: a schedule (a number, a spec, a Python function), or
    ``auto[:TARGET]`` with TARGET in ``bounds`` (``takes_target``: whether the estimator's
    auto has one at all)."""

    def check(value: Any) -> Schedule | AutoBeta:
        if not is_auto(value):
            return schedule_check("--beta")(value)
        text = value.text if isinstance(value, AutoBeta) else value.strip()
        target = _given_target(text)
        if not takes_target and text != AUTO:
            raise OptionError(
                f"{setting('beta')}: auto of rm and rm-stein takes no TARGET (it is the "
                f"minibatch's summed loss, beta = batch size on the mean), got {text!r}"
            )
        if target is None:
            return AutoBeta(text, default_target)
        low, high = bounds
        if not (math.isfinite(target) and low < target < high):
            raise OptionError(
                f"{setting('beta')}: auto:TARGET needs TARGET in ({low:g}, {high:g}), got {text!r}"
            )
        return AutoBeta(text, target)

    return check


def beta_option(
    default: str,
    auto_help: str,
    default_target: float | None = None,
    bounds: tuple[float, float] = (0.0, math.inf),
    takes_target: bool = True,
) -> Option:
    """An estimator's own ``--beta``: its default, what its ``auto`` means, the TARGET of a
    bare ``auto`` and the bounds of a given one."""
    return Option(
        "any",
        default,
        "inverse temperature: a number, a schedule over updates, or " + auto_help,
        check=beta_check(default_target, bounds, takes_target),
        label="schedule or auto",
    )


def temperature(values: dict[str, Any]) -> Temperature:
    """The run's ``Temperature`` from its typed method options."""
    beta, scale = values["beta"], values.get("loss_scale", "mean")
    if isinstance(beta, AutoBeta):
        return Temperature(None, beta.target, scale)
    return Temperature(beta, None, scale)


def summed_loss_temperature(values: dict[str, Any]) -> Temperature:
    """``rm``/``rm-stein``: ``auto`` is the minibatch's summed loss, beta = 1 on the sum;
    a schedule keeps its ``--loss-scale``."""
    beta = values["beta"]
    if is_auto(beta):  # typed, or the bare text "auto" (it takes no TARGET)
        return Temperature(None, None, "sum")
    return Temperature(beta, None, values.get("loss_scale", "mean"))


def as_temperature(beta: float | Schedule | Temperature) -> Temperature:
    """A number or a schedule as a fixed ``Temperature`` on the mean scale."""
    if isinstance(beta, Temperature):
        return beta
    if isinstance(beta, Schedule):
        return Temperature(beta)
    value = float(beta)
    return Temperature(Schedule(str(value), lambda step: value, "const", (value,)))


def effective_beta(beta: float, variance: torch.Tensor, tau) -> float:
    """``beta_eff = 2 beta / mean_i(SE_i^2 / tau_i)``: the inverse temperature at which the
    target's Monte Carlo noise (variance ``SE_i^2`` per coordinate) alone would thermalise the
    weights under the paper's outer step ``x <- m`` (``sampler.scheme.mc_error``)."""
    ratio = float((variance / torch.as_tensor(tau, dtype=variance.dtype)).mean())
    if not math.isfinite(ratio) or ratio <= 0:
        return math.nan
    return 2.0 * beta / ratio


def next_beta(beta: float, beta_eff: float, target: float, factor: float) -> float:
    """The next update's auto beta from this one's ``beta_eff`` (proportional to beta):
    ``beta TARGET / beta_eff``, changed by at most ``MAX_CHANGE`` per update and kept in
    ``BETA_RANGE`` (times the loss-scale ``factor``)."""
    if not math.isfinite(beta_eff):
        return beta
    change = target / beta_eff
    change = min(max(change, 1.0 / MAX_CHANGE), MAX_CHANGE)
    return clamp_beta(beta * change, factor)


def candidate_betas(center: float) -> list[float]:
    """The grid of betas an ``is`` update weighs its samples at, around ``center``."""
    return [center * GRID_RATIO**i for i in range(-GRID_HALF_WIDTH, GRID_HALF_WIDTH + 1)]


def clamp_beta(beta: float, factor: float) -> float:
    low, high = BETA_RANGE
    return min(max(beta, low * factor), high * factor)
