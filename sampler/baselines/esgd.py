"""Entropy-SGD (Algorithm 1 of Pittorino et al., "Entropic gradient descent algorithms and wide
flat minima", 2021; after Chaudhari et al., "Entropy-SGD: biasing gradient descent into wide
valleys", 2017).

Outer update t from ``w``: ``w' = mu = w``, then L inner Langevin steps, step l on a fresh
minibatch (minibatch stream l of the update)::

    dw' = grad L(w'; batch_l) + gamma_t (w' - w)
    w'  = w' - eta' dw' + sqrt(eta') eps xi_l,      xi_l ~ N(0, I) from (seed, ESGD_NOISE, t, l)
    mu  = alpha mu + (1 - alpha) w'

then the outer step on ``g = w - mu`` (an estimate of ``grad F`` of the local entropy, up to the
factor gamma): ``w <- w - eta g``, or heavy-ball / Nesterov momentum on ``g`` (PyTorch's
convention, as ``--baseline sgd``). ``gamma_t = gamma0 (1 + gamma1)^t`` is the focusing schedule
(``sampler.baselines.focusing``); the coupling's share ``eta' gamma_t`` of the inner step is
capped at 1 (the gamma -> infinity limit: each inner step starts again from w), so that a long,
focused run cannot overshoot, as in ``--baseline rsgd``. One outer update costs L gradient
evaluations and L minibatches.

Defaults: eps = 1e-4 and alpha = 0.75 are the paper's (and Chaudhari et al.'s public code's,
which also has eta' = 0.1, gamma0 = 1e-2 and, in its MNIST example, a scoping gamma1 = 1e-3 and
L = 20); L = 5 keeps an update at 5 gradient evaluations; eta = 1 without momentum makes the
outer step ``w <- mu``.

Limits (tested): with ``eps = alpha = gamma = 0`` the outer step is Lookahead's,
``w <- w - eta (w - w_L)`` with ``w_L`` the end of L SGD steps of size eta'; with ``L = 1``,
``w <- w - eta (1 - alpha) (eta' grad L(w) - sqrt(eta') eps xi)``.

Every rank runs the same update on the same minibatches and noise (nothing to combine).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from sampler.baselines.base import BaselineSpec, RunContext
from sampler.baselines.focusing import Focusing, check_focusing, focusing_options, resolve_gamma1
from sampler.baselines.optimizer_options import check_optimizer, optimizer_options
from sampler.models import streams
from sampler.models.options import Option, at_least, within
from sampler.mpi import Comm
from sampler.problem import Problem
from sampler.schedules import Schedule
from sampler.scheme.optimizers import momentum_step


def langevin_noise(
    seed: int, step: int, inner: int, like: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``xi`` of inner step ``inner`` of update ``step``: ``[d]`` standard normals (drawn into
    ``out`` when given: a reused buffer is faster than a new tensor)."""
    generator = streams.torch_generator(seed, streams.ESGD_NOISE, step, inner, like.device)
    out = torch.empty_like(like) if out is None else out
    return out.normal_(generator=generator)


class EntropySGD:
    objective = "local-entropy"

    def __init__(
        self,
        lr: Schedule,
        inner_steps: int,
        inner_lr: float,
        noise: float,
        alpha: float,
        focusing: Focusing,
        seed: int = 0,
        momentum: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        self.lr = lr
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.noise = noise
        self.alpha = alpha
        self.focusing = focusing
        self.seed = seed
        self.optimizer = momentum_step(momentum, nesterov)

    def init(self, params: torch.Tensor) -> dict:
        # the focusing schedule is kept in the state: a run extended on --resume keeps the
        # gamma1 that 'auto' fitted to its first --steps
        return {"outer": self.optimizer.init(params), "focusing": tuple(self.focusing)}

    def step(self, step: int, params, state, problem: Problem, comm: Comm):
        gamma = Focusing(*state["focusing"])(step)
        coupling = min(1.0, self.inner_lr * gamma)  # eta' gamma, capped
        inner, mu = params.clone(), params.clone()
        noise_scale = math.sqrt(self.inner_lr) * self.noise
        inner_loss = math.nan
        xi = torch.empty_like(params) if noise_scale > 0 else None
        for index in range(self.inner_steps):
            losses, grad = problem.loss_and_grad(inner.unsqueeze(0), stream=index)
            inner_loss = float(losses[0])
            move = self.inner_lr * grad[0]
            if coupling:
                move = move + coupling * (inner - params)
            inner = inner - move
            if noise_scale > 0:
                inner.add_(langevin_noise(self.seed, step, index, inner, xi), alpha=noise_scale)
            mu.mul_(self.alpha).add_(inner, alpha=1.0 - self.alpha)
        lr = self.lr(step)
        new_params, outer = self.optimizer.update(params, params - mu, lr, state["outer"])
        record = {
            "lr": lr,
            "gamma": gamma,
            "coupling": coupling,
            "inner_loss": inner_loss,  # the last inner step's minibatch loss
            "loss_evals": 0,
            "grad_evals": self.inner_steps,
            "examples_seen": self.inner_steps * problem.batch_size,
        }
        return new_params, {**state, "outer": outer}, record


OPTIONS = {
    **optimizer_options(
        "1", "outer step eta on g = w - mu", "heavy-ball momentum of the outer step"
    ),
    "esgd_steps": Option(
        "int",
        5,
        "L: inner Langevin steps per update, each on a fresh minibatch (Chaudhari: 20)",
        check=at_least(1),
    ),
    "esgd_lr": Option(
        "float",
        0.1,
        "eta': step of the inner Langevin dynamics (Chaudhari et al.'s code: 0.1)",
        check=within(0.0, math.inf, closed_low=False),
    ),
    "esgd_noise": Option(
        "float", 1e-4, "eps: noise of the inner Langevin dynamics (paper: 1e-4)", check=at_least(0)
    ),
    "esgd_alpha": Option(
        "float",
        0.75,
        "alpha: mu <- alpha mu + (1 - alpha) w' (paper: 0.75)",
        check=within(0.0, 1.0),
    ),
    # Chaudhari et al.'s code: g0 = 1e-2 (optimizer default), scoping g1 = 1e-3 (their README)
    **focusing_options(0.01, 0.001, auto_gamma0=False),
}


def check(values: dict[str, Any], steps: int) -> None:
    check_optimizer(values, steps)
    check_focusing(values, steps)


def build(values: dict[str, Any], run: RunContext | None = None) -> EntropySGD:
    run = run or RunContext()
    focusing = Focusing(float(values["gamma0"]), resolve_gamma1(values["gamma1"], run.steps))
    return EntropySGD(
        values["lr"],
        values["esgd_steps"],
        values["esgd_lr"],
        values["esgd_noise"],
        values["esgd_alpha"],
        focusing,
        run.seed,
        values["momentum"],
        values["nesterov"],
    )


SPEC = BaselineSpec(
    build=build,
    summary="Entropy-SGD: L inner Langevin steps on fresh minibatches, outer step on w - mu",
    options=OPTIONS,
    check=check,
    objective="local-entropy",
)
