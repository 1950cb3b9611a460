"""Robbins–Monro estimate of the heat-regularization target (Algorithm 5 of García Trillos,
Kaplan, Sanz-Alonso): the root of ``h(x) = x - x_k + tau beta E_{Y ~ N(x, tau I)} grad f(Y)``,
the mode-seeking fit ``argmin_x KL(N(x, tau I) || q_{x_k,tau})``.

From ``x^1 = x_k``, ``J`` iterations (``--rm-iterations``) of::

    x^{j+1} = x^j - a_j (x^j - x_k + tau beta G_j),    a_j = c j^-alpha  (--rm-step, j >= 1)

with ``G_j`` an estimate of ``E grad f(Y)`` from ``M`` samples ``z_m = x^j + sqrt(tau) e_m``
(``--rm-samples``), evaluated as one batch:

* ``rm``        ``G_j = (1/M) sum_m grad f(z_m)`` (minibatch gradients);
* ``rm-stein``  gradient-free, by the Gaussian (Stein) identity
  ``E[grad f(Y)] = E[f(Y) (Y - x)] / tau`` with antithetic pairs:
  ``G_j = (1/M) sum_m (f(x + s e_m) - f(x - s e_m)) e_m / (2 s)``, ``s = sqrt(tau)``
  (``2M`` loss evaluations per iteration, no gradient).

``tau`` may be a ``[d]`` vector (per-layer tau); every formula above is then coordinatewise.
Parallel: sample ``m`` of iteration ``j`` draws its noise from the counter-based stream
``(seed, RM_NOISE, step, j * M + m)``, so the samples need no block structure and any ``M >= R``
keeps all R ranks busy: rank ``r`` evaluates the samples ``m = r mod R`` as one batch. The
per-rank gradient sums are combined by one float64 sum reduction per iteration, so one seed
gives the same update on any number of ranks up to summation order.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from sampler.estimators.base import EstimatorSpec, StepKey, as_schedule
from sampler.models import streams
from sampler.models.options import Option, OptionError, at_least
from sampler.mpi import Comm
from sampler.problem import Problem
from sampler.schedules import Schedule, check_range, parse_schedule, schedule_check


class RMInfo(NamedTuple):
    iterations: int
    residual: float  # |h(x^J)| as last estimated
    step_last: float  # a_J
    loss_evals: int
    grad_evals: int


class RMDivergedError(RuntimeError):
    pass


class RobbinsMonro:
    objective = "heat"

    def __init__(
        self,
        samples: int,
        iterations: int,
        step_size: Schedule,
        beta: float | Schedule = 1.0,
        stein: bool = False,
    ) -> None:
        self.samples = samples
        self.iterations = iterations
        self.step_size = step_size
        self.beta = as_schedule(beta)
        self.stein = stein

    def init(self, center: torch.Tensor) -> dict:
        return {}

    def local_sum(
        self, key: StepKey, j: int, owned: list[int], x: torch.Tensor, scale, problem: Problem
    ) -> torch.Tensor:
        """``[d]`` float64: the sum over the samples ``owned`` of iteration ``j`` of
        ``grad f(z_m)`` (or of its Stein estimate), evaluated as one batch."""
        if not owned:
            return torch.zeros_like(x, dtype=torch.float64)
        noise = torch.empty(len(owned), x.shape[0], dtype=x.dtype, device=x.device)
        for row, m in enumerate(owned):
            index = j * self.samples + m
            generator = streams.torch_generator(
                key.seed, streams.RM_NOISE, key.step, index, device=x.device
            )
            noise[row].normal_(generator=generator)
        step = noise * scale
        if not self.stein:
            _, grad = problem.loss_and_grad(x + step)
            return grad.sum(dim=0, dtype=torch.float64)
        rows = len(owned)
        values = problem.losses(torch.cat([x + step, x - step])).to(torch.float64)
        difference = (values[:rows] - values[rows:]) / 2
        return (difference.to(x.dtype) @ noise).to(torch.float64) / scale.to(torch.float64)

    def step(self, key: StepKey, state, center, tau, problem: Problem, comm: Comm):
        beta = self.beta(key.step)
        tau = torch.as_tensor(tau, dtype=center.dtype, device=center.device)
        scale = torch.sqrt(tau)
        owned = list(range(comm.rank, self.samples, comm.size))
        x = center.clone()
        residual, a_j = math.nan, math.nan
        for j in range(self.iterations):
            local = self.local_sum(key, j, owned, x, scale, problem)
            mean_grad = comm.allreduce_sum(local).to(center.device) / self.samples
            h = (x - center).to(torch.float64) + tau.to(torch.float64) * beta * mean_grad
            if not bool(torch.isfinite(h).all()):
                raise RMDivergedError(
                    f"update {key.step + 1}, iteration {j + 1}: the Robbins-Monro gradient "
                    "estimate is "
                    "non-finite; lower --tau or --rm-step"
                )
            a_j = self.step_size(j)
            x = x - (a_j * h).to(center.dtype)
            residual = float(h.norm())
        evals = self.iterations * self.samples
        info = RMInfo(
            iterations=self.iterations,
            residual=residual,
            step_last=a_j,
            loss_evals=2 * evals if self.stein else 0,
            grad_evals=0 if self.stein else evals,
        )
        return x, state, info


OPTIONS = {
    "rm_samples": Option(
        "int",
        30,
        "Gaussian samples M per Robbins-Monro iteration (rm-stein: M antithetic pairs)",
        check=at_least(1),
    ),
    "rm_iterations": Option("int", 30, "Robbins-Monro iterations J per update", check=at_least(1)),
    "rm_step": Option(
        "any",
        "power:1,1",
        "step schedule a_j over j = 0..J-1, power:C,ALPHA = C (j+1)^-ALPHA with ALPHA in (1/2, 1]",
        check=schedule_check("--rm-step"),
        label="schedule",
    ),
}


def check(values, steps: int) -> None:
    step = parse_schedule(values["rm_step"], "--rm-step")
    if step.name == "power" and not 0.5 < step.values[1] <= 1.0:
        raise OptionError(
            f"--rm-step: power:C,ALPHA needs ALPHA in (1/2, 1] (Robbins-Monro), got {step.spec!r}"
        )
    try:
        check_range(step, "--rm-step", values["rm_iterations"])
    except ValueError as error:
        raise OptionError(str(error)) from None


def build_with(stein: bool):
    def build(values) -> RobbinsMonro:
        return RobbinsMonro(
            values["rm_samples"],
            values["rm_iterations"],
            parse_schedule(values["rm_step"], "--rm-step"),
            parse_schedule(values["beta"], "--beta"),
            stein=stein,
        )

    return build


SPEC = EstimatorSpec(
    objective="heat",
    needs_gradients=True,
    build=build_with(stein=False),
    summary="Robbins-Monro root of x - x_k + tau E grad f (Algorithm 5), minibatch gradients",
    options=OPTIONS,
    check=check,
)
STEIN_SPEC = EstimatorSpec(
    objective="heat",
    needs_gradients=False,
    build=build_with(stein=True),
    summary="Robbins-Monro as rm, E grad f by the Gaussian (Stein) identity, antithetic pairs",
    options=OPTIONS,
    check=check,
)
