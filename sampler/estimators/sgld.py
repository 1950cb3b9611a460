"""Stochastic gradient Langevin estimate of the local-entropy target ``m = E_q[X]``
(Algorithm 3 of García Trillos, Kaplan, Sanz-Alonso; the inner loop of Entropy-SGD).

A Langevin chain on ``q_{x,tau}(x') ∝ exp(-beta f(x') - |x - x'|^2 / (2 tau))`` with the step's
minibatch gradient::

    x^{j+1} = x^j - (eps_j / 2) (beta grad f(x^j) + (x^j - x) / tau) + sqrt(eps_j) xi_j

``xi_j ~ N(0, I)``, ``j = 0..L-1``, temperatures ``eps_j`` from ``--sgld-eps`` (the paper's
``1/(1000 + j)`` is ``harmonic:1,1000``). Each chain outputs an eps-weighted average over its
steps, of its positions ``sum_j eps_j x^{j+1} / sum_j eps_j`` (``--sgld-average position``, the
paper) or of its gradient form (below, the default); ``m`` is the mean over ``C`` independent chains
(``--chains``). A chain starts from its own last state of the previous update (warm start), so
the chain states live in the estimator state and are checkpointed. ``tau`` may be a ``[d]``
vector (per-layer tau), coordinatewise.

The gradient form (``--sgld-average gradient``). Under the chain's stationary law the step's
mean is zero, ``E[beta grad f(X) + (X - x) / tau] = 0`` (exactly, for any constant eps: the
noise has mean zero), so ``E[X] = x - tau beta E[grad f(X)]``, the Gaussian integration by parts
of ``q``. The chain may therefore average ``x - tau beta grad f(x^j)`` in place of its
position: the same mean. Exactly, the eps-weighted averages of ``x^j`` and of
``x - tau beta grad f(x^j)`` differ by ``2 tau (x^0 - x^L + sum_j sqrt(eps_j) xi_j) / sum_j
eps_j``, the injected noise (the paper's average of ``x^{j+1}`` differs from that of ``x^j`` by
a boundary term). That noise is the whole error of the position average in the directions the
minibatch leaves flat (variance ``4 tau^2 / sum_j eps_j`` per coordinate at tau = 0.01: 5.8e-4
for the paper's L = 1000 steps of ``1/(1000 + j)``, 4.2e-3 for L = 100); the gradient form has
none there, and where the loss curves (``P = beta a``) its error is ``(tau P)^2`` times that of
the position, smaller while ``tau beta a < 1``. Its batch-means error (``BatchMeans``) is
reliable where the chain relaxes within a batch (``L / 10`` steps); in the flat directions,
about ``2 tau / eps`` = 20 steps at the defaults, the position average's error would be
underestimated at L = 100, but the gradient form has none there.

Parallel: chain ``c`` draws its noise from the counter-based stream ``(seed, SGLD_NOISE, step,
c)`` and runs on rank ``c mod R``. One float64 sum reduction combines the chain averages and the
chains' last states (each rank fills its own rows, zeros elsewhere, so the sum is exact), after
which every rank holds every chain: the checkpoint written by rank 0 is complete, and a run
resumed on a different number of ranks continues the same chains. One seed gives the same update
on any number of ranks up to float64 summation order.

Cost: a step is the gradient, the noise draw and four in-place passes over the chain (``x -=
(eps/2) (x - x_k) / tau``, ``x -= (eps/2) beta grad``, ``x += sqrt(eps) xi``, the difference
``x - x_k`` into a kept buffer), plus one for the eps-weighted sums (and one for the gradient
form's ``x - tau beta grad``); nothing of size ``d`` is
allocated in the loop besides the model's gradient (``sampler bench``: SGLD over its floor).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from sampler.estimators.base import EstimatorSpec, StepKey
from sampler.estimators.batch_means import BatchMeans
from sampler.estimators.temperature import (
    AutoBeta,
    Temperature,
    as_temperature,
    beta_option,
    effective_beta,
    next_beta,
    temperature,
)
from sampler.models import streams
from sampler.models.naming import setting
from sampler.models.options import Option, OptionError, at_least
from sampler.mpi import Comm
from sampler.problem import Problem
from sampler.schedules import Schedule, check_range, schedule_check

POSITION, GRADIENT = "position", "gradient"  # --sgld-average
AVERAGES = (POSITION, GRADIENT)


def gradient_form(center, grad, tau, beta: float, out: torch.Tensor) -> torch.Tensor:
    """``center - tau beta grad`` into ``out``: the sample whose chain average is
    ``--sgld-average gradient`` (module docstring)."""
    return torch.addcmul(center, grad, tau, value=-beta, out=out)


NO_TARGET = (
    f"{setting('beta')}: auto of {setting('sgld_average', GRADIENT)} takes no TARGET (it is the "
    f"minibatch's summed loss, beta = batch size on the mean); give {setting('beta')} auto, a "
    f"number, or {setting('sgld_average', POSITION)} to target beta_eff"
)


class SGLDInfo(NamedTuple):
    chains: int
    eps_first: float
    eps_last: float
    chain_loss: float  # mean over chains of f at the last gradient evaluation
    beta: float
    loss_evals: int
    grad_evals: int
    target_variance: torch.Tensor | None = None


class ChainDivergedError(RuntimeError):
    pass


class ChainBuffers:
    """The noise, ``x - center`` and the gradient-form sample of the owned chains, ``[c, d]``
    each, kept between steps and updates (a fresh ``[c, d]`` tensor per step costs a
    page-faulting allocation)."""

    def __init__(self) -> None:
        self.kept: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def get(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        kept = self.kept
        same = kept is not None and (kept[0].shape, kept[0].dtype, kept[0].device) == (
            like.shape,
            like.dtype,
            like.device,
        )
        if not same:
            kept = self.kept = tuple(torch.empty_like(like) for _ in range(3))
        return kept


class SGLD:
    objective = "local-entropy"

    def __init__(
        self,
        chains: int,
        steps: int,
        eps: Schedule,
        beta: float | Schedule | Temperature = 1.0,
        average: str = POSITION,
    ) -> None:
        if average not in AVERAGES:
            raise ValueError(f"average must be one of {AVERAGES}, not {average!r}")
        self.average = average
        self.chains = chains
        self.steps = steps
        self.eps = eps
        self.temperature = as_temperature(beta)
        if average == GRADIENT and self.temperature.auto:
            if self.temperature.auto_target is not None:
                raise OptionError(NO_TARGET)
            self.temperature = Temperature(None, None, "sum")
        self._buffers = ChainBuffers()

    def init(self, center: torch.Tensor) -> dict:
        """Every chain starts at the first center; ``chains: [C, d]`` on every rank."""
        return {"chains": center.detach().unsqueeze(0).repeat(self.chains, 1)}

    def run_chains(
        self,
        key: StepKey,
        start: torch.Tensor,
        owned: list[int],
        center,
        tau,
        problem: Problem,
        beta: float,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the chains ``owned`` from ``start: [c, d]``.

        Returns ``(averages [c, d] float64, last states [c, d], last losses [c], variances of
        the averages [c, d] float64)``, the variances by batch means (module docstring)."""
        generators = [
            streams.torch_generator(key.seed, streams.SGLD_NOISE, key.step, c, center.device)
            for c in owned
        ]
        x = start.clone()
        tau = torch.as_tensor(tau, dtype=x.dtype, device=x.device)
        noise, pull, drift_form = self._buffers.get(x)  # reused: no allocation in the loop
        batches = BatchMeans(x.shape, self.steps, x.device)
        losses = torch.zeros(len(owned))
        for j in range(self.steps):
            eps = self.eps(j)
            losses, grad = problem.loss_and_grad(x)
            if self.average == GRADIENT:  # from grad f(x^j), before x moves
                batches.add(j, gradient_form(center, grad, tau, beta, drift_form), eps)
            for row, generator in enumerate(generators):
                noise[row].normal_(generator=generator)
            # x -= (eps / 2) ((x - center) / tau + beta grad); x += sqrt(eps) xi: four passes
            torch.sub(x, center, out=pull)
            x.addcdiv_(pull, tau, value=-0.5 * eps)
            x.add_(grad, alpha=-0.5 * eps * beta).add_(noise, alpha=math.sqrt(eps))
            if self.average == POSITION:
                batches.add(j, x, eps)
        averages, variances = batches.finish()
        return averages, x, losses, variances

    def step(self, key: StepKey, state, center, tau, problem: Problem, comm: Comm):
        chains = state["chains"].to(device=center.device, dtype=center.dtype)
        beta = self.current_beta(key, state, problem)
        d = center.shape[0]
        owned = list(range(comm.rank, self.chains, comm.size))
        packed = torch.zeros(1 + d * (2 + self.chains), dtype=torch.float64)
        if owned:
            averages, last, losses, variances = self.run_chains(
                key, chains[owned], owned, center, tau, problem, beta
            )
            packed[0] = float(losses.to(torch.float64).sum())
            packed[1 : 1 + d] = averages.sum(dim=0).cpu()
            packed[1 + d : 1 + 2 * d] = variances.sum(dim=0).cpu()
            states = packed[1 + 2 * d :].view(self.chains, d)
            states[owned] = last.to(torch.float64).cpu()
        packed = comm.allreduce_sum(packed).cpu()
        target = (packed[1 : 1 + d] / self.chains).to(device=center.device, dtype=center.dtype)
        variance = (packed[1 + d : 1 + 2 * d] / self.chains**2).to(center.device)
        new_chains = packed[1 + 2 * d :].view(self.chains, d).to(center.dtype).to(center.device)
        if not (bool(torch.isfinite(target).all()) and bool(torch.isfinite(new_chains).all())):
            raise ChainDivergedError(
                f"update {key.step + 1}: an SGLD chain became non-finite; lower --sgld-eps or "
                "raise --tau"
            )
        new_state = {"chains": new_chains}
        if self.temperature.auto and self.average == POSITION:
            target_beta_eff = self.temperature.auto_target or getattr(problem, "train_size", None)
            if not target_beta_eff:
                raise OptionError(
                    f"{setting('beta', 'auto')} of {setting('sgld_average', POSITION)} targets "
                    "beta_eff = the training set's "
                    f"size, which this problem does not know: give {setting('beta')} auto:TARGET"
                )
            beta_eff = effective_beta(beta, variance, tau)
            factor = self.temperature.factor(problem)
            new_state["beta"] = next_beta(beta, beta_eff, target_beta_eff, factor)
        info = SGLDInfo(
            chains=self.chains,
            eps_first=self.eps(0),
            eps_last=self.eps(self.steps - 1),
            chain_loss=float(packed[0]) / self.chains,
            beta=beta,
            loss_evals=0,
            grad_evals=self.chains * self.steps,
            target_variance=variance,
        )
        return target, new_state, info

    def current_beta(self, key: StepKey, state, problem) -> float:
        if self.temperature.auto:
            return state.get("beta", self.temperature.factor(problem))
        return self.temperature.fixed(key.step, problem)


OPTIONS = {
    "beta": beta_option(
        "auto",
        "auto[:TARGET]: with --sgld-average gradient the minibatch's summed loss (beta = "
        "batch size on the mean, no TARGET); with position chosen every update so that the Monte "
        "Carlo noise of the target leaves the weights at the inverse temperature TARGET "
        "(beta_eff; default: the training set's size, the Bayes posterior's temperature)",
    ),
    "chains": Option(
        "int",
        1,
        "independent Langevin chains C, averaged (chain c on rank c mod ranks)",
        check=at_least(1),
    ),
    "sgld_steps": Option(
        "int",
        100,
        "Langevin steps L per update (the paper: 1000, for the position average's noise)",
        check=at_least(1),
    ),
    "sgld_eps": Option(
        "any",
        "harmonic:1,1000",
        "step/temperature schedule eps_j over the inner steps j = 0..L-1 (paper: "
        "harmonic:1,1000 = 1/(1000+j))",
        check=schedule_check("--sgld-eps"),
        label="schedule",
    ),
    "sgld_average": Option(
        "str",
        GRADIENT,
        "what a chain averages: position (the paper: sum_j eps_j x^{j+1} / sum_j eps_j) or "
        "gradient (x - tau beta sum_j eps_j grad f(x^j) / sum_j eps_j: the same mean by the "
        "chain's stationarity, without the injected noise)",
        choices=AVERAGES,
    ),
}


def check(values, steps: int) -> None:
    beta = values["beta"]
    if values["sgld_average"] == GRADIENT and isinstance(beta, AutoBeta) and beta.target:
        raise OptionError(NO_TARGET)
    try:
        check_range(values["sgld_eps"], "--sgld-eps", values["sgld_steps"])
    except ValueError as error:
        raise OptionError(str(error)) from None


def build(values) -> SGLD:
    return SGLD(
        values["chains"],
        values["sgld_steps"],
        values["sgld_eps"],
        temperature(values),
        values["sgld_average"],
    )


SPEC = EstimatorSpec(
    objective="local-entropy",
    needs_gradients=True,
    build=build,
    summary="Langevin chains on q, eps-weighted average, warm-started (Algorithm 3)",
    options=OPTIONS,
    check=check,
)
