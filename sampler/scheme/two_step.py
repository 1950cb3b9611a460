"""The two-step KL scheme (García Trillos, Kaplan, Sanz-Alonso, Algorithms 1 and 2).

At outer step k: (1) form the tilted measure ``q(x') ∝ exp(-beta f(x') - |x_k - x'|^2 / 2 tau_k)``
on the step's minibatch, (2) let an estimator produce the target ``m_k`` (its Gaussian KL fit:
``E_q[X]`` for local entropy, the root of ``x - x_k + tau E_{N(x,tau)} grad f`` for heat).
The outer update feeds ``g_k = (x_k - m_k) / tau_k`` (coordinatewise for a per-layer tau; for
local entropy ``g_k = grad F_tau(x_k)``) to an outer optimizer (``sampler.scheme.optimizers``).
With ``sgd`` and ``--lr tau`` (``eta_k = tau_k``) ``x_{k+1} = m_k``: the paper's algorithm, a
majorization-minimization scheme (``F_tau(x_k)`` non-increasing for an exact target, Thm 3.2).
The default ``--lr anneal`` takes that full step while the target's Monte Carlo error is small
and cuts it back once the error dominates (``sampler.scheme.annealing``), so that a long run
converges instead of settling at its noise floor. An estimator with a ``noise_dominates(state)``
method is told of every cut through its state (``is``: a smaller beta from then on,
``sampler.estimators.importance_sampling``, "Late temperature").

``OPTIONS`` are the scheme's own settings, shared by every estimator
(``sampler.config.method_options``); each estimator declares its own ``--beta`` (its default and
what its ``auto`` means).
"""

from __future__ import annotations

from typing import Any

import torch

from sampler.estimators import Estimator, StepKey
from sampler.estimators.temperature import LOSS_SCALES, is_auto
from sampler.models.naming import setting
from sampler.models.options import Option, OptionError, within
from sampler.mpi import Comm
from sampler.problem import Problem
from sampler.schedules import Schedule, check_range, schedule_check
from sampler.scheme.annealing import ANNEAL, AnnealedStep, parse_anneal
from sampler.scheme.mc_error import error_record
from sampler.scheme.optimizers import OPTIMIZERS, Sgd, make_optimizer
from sampler.scheme.tau import TauSchedule, tau_check
from sampler.scheme.tau_scale import CONV_TAU, DEFAULT_TAU, TAU_SCALES, layer_scales

LR_IS_TAU = "tau"  # the paper's outer step: eta_k = tau_k, i.e. x_{k+1} = m_k


def _lr_check(value: Any) -> str | Schedule | AnnealedStep:
    if isinstance(value, AnnealedStep):
        return value
    if str(value).strip() == LR_IS_TAU:
        return LR_IS_TAU
    annealed = None if callable(value) else parse_anneal(str(value))
    return annealed or schedule_check("--lr")(value)


OPTIONS = {
    "tau": Option(
        "any",
        f"{DEFAULT_TAU:g}",
        "variance tau of the tilted measure: a number, a schedule (scoping:T0,T1, reverse:T0,T1, "
        "exp:V0,R, ...) or per layer LAYER=SCHEDULE,... with * for the other layers",
        check=tau_check,
        label="tau",
    ),
    "tau_scale": Option(
        "str",
        "auto",
        "what --tau measures per layer: absolute (the paper: tau itself), init-variance "
        "(tau times the variance of the layer's initial weights, each layer on its own scale) "
        f"or auto (absolute, but on a model with convolutions init-variance with the default "
        f"--tau {DEFAULT_TAU:g} meaning {CONV_TAU:g} times each layer's initial variance)",
        choices=TAU_SCALES,
        before="absolute",  # a run recorded before the option: tau itself on every layer
    ),
    "loss_scale": Option(
        "str",
        "mean",
        "the f in exp(-beta f): the mean of the minibatch's losses (the paper) or their sum "
        "(beta times the batch size)",
        choices=LOSS_SCALES,
    ),
    "lr": Option(
        "any",
        ANNEAL,
        "outer step eta: 'anneal[:R[,G]]' (eta = G tau while the Monte Carlo error is small, "
        "then cut so that beta_eff rises by R per update; default R 5, G 1), 'tau' (x <- m, "
        "the paper's algorithm) or a number or schedule",
        check=_lr_check,
        label="schedule",
    ),
    "optimizer": Option(
        "str",
        "sgd",
        "outer optimizer fed with g = (x - m) / tau (momentum and nesterov use --momentum; adam "
        "takes beta1 = --momentum or 0.9)",
        choices=tuple(OPTIMIZERS),
    ),
    "momentum": Option(
        "float", 0.0, "momentum of --optimizer momentum/nesterov/adam", check=within(0.0, 1.0)
    ),
}


def check_options(values: dict[str, Any], steps: int) -> None:
    """Settings that only make sense together, and schedules over the run's ``steps``."""
    optimizer, momentum = values["optimizer"], values["momentum"]
    if optimizer in ("momentum", "nesterov") and momentum == 0:
        raise OptionError(
            f"{setting('optimizer', optimizer)}: needs {setting('momentum')} in (0, 1), e.g. 0.9"
        )
    if optimizer == "sgd" and momentum > 0:
        raise OptionError(
            f"{setting('momentum')}: the two-step {setting('optimizer', 'sgd')} has none; use "
            f"{setting('optimizer')} momentum, nesterov or adam (or {setting('baseline', 'sgd')})"
        )
    if is_auto(values["beta"]) and values["loss_scale"] != "mean":
        raise OptionError(
            f"{setting('loss_scale')}: has no effect with {setting('beta', 'auto')} (it "
            f"chooses beta on either scale); give {setting('beta')} a number or schedule, or "
            f"drop {setting('loss_scale')}"
        )
    try:
        for layer, schedule in values["tau"].schedules.items():
            check_range(schedule, "--tau" if layer == "*" else f"--tau ({layer})", steps)
        if not is_auto(values["beta"]):
            check_range(values["beta"], "--beta", steps)
        if isinstance(values["lr"], Schedule):
            check_range(values["lr"], "--lr", steps)
    except ValueError as error:
        raise OptionError(str(error)) from None


def build_two_step(values: dict[str, Any], estimator: Estimator, seed: int, model=None):
    """The trainer of ``--estimator`` from the scheme's typed options; ``model`` binds a
    per-layer ``--tau`` (and ``--tau-scale``) to its layers."""
    scale = values.get("tau_scale", "auto")
    if model is None:
        if scale not in ("absolute", "auto"):
            raise OptionError(f"{setting('tau_scale', scale)}: needs the model")
        tau = values["tau"]
    else:
        scales = layer_scales(scale, model, seed)
        tau = values["tau"].bound(model.layers, model.num_params, scales)
    lr = None if values["lr"] == LR_IS_TAU else values["lr"]  # an AnnealedStep or a Schedule
    optimizer = make_optimizer(values["optimizer"], values["momentum"])
    return TwoStepTrainer(estimator, tau, lr, seed, optimizer)


class TwoStepTrainer:
    def __init__(
        self,
        estimator: Estimator,
        tau: TauSchedule,
        lr: Schedule | AnnealedStep | None,
        seed: int,
        optimizer=None,
    ) -> None:
        self.estimator = estimator
        self.tau = tau
        self.lr = lr  # None: eta = tau; AnnealedStep: eta = tau r_k
        self.seed = seed
        self.optimizer = optimizer or Sgd()  # sampler.scheme.optimizers
        self.objective = estimator.objective

    def init(self, params: torch.Tensor) -> dict:
        return {"estimator": self.estimator.init(params), "outer": self.optimizer.init(params)}

    def step(self, step: int, params, state, problem: Problem, comm: Comm):
        tau = self.tau(step, device=params.device, dtype=params.dtype)
        target, estimator_state, info = self.estimator.step(
            StepKey(self.seed, step), state["estimator"], params, tau, problem, comm
        )
        outer = state.get("outer", {})
        diagnostics = info._asdict()
        variance = diagnostics.pop("target_variance", None)
        block = diagnostics.pop("perturbed", None)  # a layer-wise update's coordinates
        ratio = None
        if isinstance(self.lr, AnnealedStep):
            beta = diagnostics.get("beta")
            gain = self.lr.gain  # the full step G tau (--lr anneal:R,G); x 1.0 is exact
            langevin = self.optimizer.langevin_step(tau * gain)
            ratio = self.lr.ratio(step, variance, tau, langevin, beta, block)
            cut = ratio < 1.0
            ratio = ratio * gain  # eta / tau
            eta = tau if ratio == 1.0 else tau * ratio
            told = getattr(self.estimator, "noise_dominates", None)
            if cut and told is not None:  # e.g. is: a smaller beta from now on
                estimator_state = told(estimator_state)
        else:
            eta = tau if self.lr is None else self.lr(step)
        if isinstance(self.optimizer, Sgd) and (self.lr is None or ratio == 1.0):
            new_params = target  # x_{k+1} = m_k exactly
        else:
            gradient = (params - target) / tau
            new_params, outer = self.optimizer.update(params, gradient, eta, outer)
        # every estimator weighs its samples on the step's one minibatch (none without data)
        examples = problem.batch_size if hasattr(problem, "batch_size") else 0
        record = {**self.tau.record(step), **diagnostics, "examples_seen": examples}
        if ratio is not None:
            record["lr_ratio"] = ratio  # eta / tau of --lr anneal
        elif self.lr is not None:
            record["lr"] = self.lr(step)
        layers = getattr(getattr(problem, "model", None), "layers", None)
        record.update(
            error_record(
                params,
                target,
                variance,
                tau,
                self.optimizer.langevin_step(eta),
                record.get("beta"),
                layers,
                block,
            )
        )
        return new_params, {"estimator": estimator_state, "outer": outer}, record
