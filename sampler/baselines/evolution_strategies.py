"""OpenAI evolution strategies (``--baseline es``): T. Salimans, J. Ho, X. Chen, S. Sidor and
I. Sutskever, "Evolution Strategies as a Scalable Alternative to Reinforcement Learning"
(arXiv:1703.03864, 2017), Algorithm 2 (parallel ES with shared seeds), section 2.2 (antithetic
"mirrored" sampling, fitness shaping by centred ranks, weight decay, the estimate fed to Adam).

At update ``k`` a population of ``N`` networks (``--population``, even) is drawn in antithetic
pairs ``x_k ± sigma e_i``, ``e_i ~ N(0, I_d)``, ``i < N/2`` (``--sigma``), and their losses
``f_i^±`` taken on the update's minibatch (one minibatch for all: common random numbers). Each
loss is shaped into a weight ``u``:

* ``rank`` (the paper's): ``u = rank / (N - 1) - 1/2`` of the loss among all ``N`` (ascending,
  ties broken by position), so the update is invariant to any increasing transform of the loss;
* ``standardised``: ``u = (f - mean f) / sd f`` over the population;
* ``raw``: ``u = f``, the plain Gaussian-smoothing gradient (as ``rm-stein``'s Stein estimate).

The estimate of the gradient of the smoothed loss ``E f(x + sigma e)`` is::

    g = (1 / (N sigma)) sum_i (u_i^+ - u_i^-) e_i  +  lambda x      (lambda: --weight-decay)

(with ``raw`` and ``lambda = 0`` unbiased: ``E g = grad E f(x + sigma e)``, on a quadratic
``A (x - a)`` exactly), and ``g`` goes to ``--optimizer`` (``adam`` by default, as the paper;
``sgd``, ``momentum``, ``nesterov``) with step ``--lr``: ``sampler.scheme.optimizers``.

The perturbations are drawn by the engine's antithetic proposal scheme
(``sampler.estimators.proposals.Antithetic`` with ``tau = sigma^2``): blocks of ``--block-size``
rows, block ``b`` of update ``k`` from the counter-based stream ``(seed, IS_NOISE, k, b)``, its
``h = rows / 2`` vectors ``e`` the ``+`` rows and again, negated, the ``-`` rows; on a model with a
dense first layer a pair shares one first-layer product (half that layer's forward cost). The
blocks are split over the ranks (block ``b`` on rank ``b mod R``); the ranks exchange only the
losses (``N`` scalars, the paper's point) to shape them, then each sums ``(u^+ - u^-) e`` over its
own blocks into its rows of a ``[blocks, d]`` float64 table; one sum over the ranks fills the
table (each row from one rank) and ``g`` is its sum in block order: the same run, bit for bit, on
any rank count. A rank keeps its own blocks' noise between the forward pass and the sum
(``N d / (2 R)`` floats). Nothing random is kept between updates, so the checkpoint holds the
optimiser's state only and a resumed run is bit-exact.

Sigma on each layer's scale (``--tau-scale``, as the estimators' tau: ``sampler.scheme.
tau_scale``): ``absolute`` (the default) perturbs every coordinate by ``sigma``; ``init-variance``
perturbs layer ``l`` by ``sigma_l = sigma sqrt(v_l)``, ``v_l`` the variance of its entries in the
seeded initial vector (the proposal variance ``tau_l = sigma^2 v_l``, exactly the IS scheme's
``tau_l = tau v_l`` with ``tau = sigma^2``; ``sigma = 1``: each layer perturbed by its initial
spread), the anisotropic Gaussian of Musso (2021, section 3). With ``s`` the ``[d]`` vector of
the ``sigma_l``, the estimate of ``grad E f(x + s * e)`` is ``g = (1/N) sum_i (u_i^+ - u_i^-)
e_i / s`` (coordinatewise; unbiased with ``raw`` as above: ``E[f(x + s e) e_j] = s_j d_j E f``).

Cost per update: ``N`` loss evaluations on one minibatch, no gradient.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from sampler.baselines.base import BaselineSpec, RunContext
from sampler.baselines.es_population import SCHEMES, build_pairs
from sampler.estimators.base import StepKey
from sampler.estimators.marginal import not_applicable, pair_scheme
from sampler.models.naming import setting
from sampler.models.options import Option, OptionError, at_least, within
from sampler.mpi import Comm
from sampler.problem import Problem
from sampler.schedules import Schedule, check_range, schedule_check
from sampler.scheme.optimizers import OPTIMIZERS, make_optimizer
from sampler.scheme.tau_scale import TAU_SCALES, layer_scales

FITNESS = ("rank", "standardised", "raw")


def noise_scale(sigma: float, scale: str, model, seed: int) -> float | torch.Tensor:
    """``sigma`` (``--tau-scale absolute``), or the ``[d]`` float64 vector ``sigma sqrt(v_l)``
    on the coordinates of each layer ``l`` (``init-variance``; module docstring)."""
    scales = layer_scales(scale, model, seed)
    if scales is None:
        return sigma
    vector = torch.full((model.num_params,), sigma, dtype=torch.float64)
    for name, part in model.layers.items():
        vector[part] = sigma * math.sqrt(scales[name])
    return vector


def shaped(losses: torch.Tensor, fitness: str) -> torch.Tensor:
    """``[N]`` float64 losses -> ``[N]`` weights ``u`` (module docstring); a non-finite loss
    ranks last (the worst) under ``rank`` and is refused by the other two."""
    if fitness == "rank":
        order = torch.argsort(torch.nan_to_num(losses, nan=math.inf), stable=True)
        ranks = torch.empty_like(losses)
        ranks[order] = torch.arange(losses.shape[0], dtype=losses.dtype, device=losses.device)
        return ranks / max(losses.shape[0] - 1, 1) - 0.5
    if fitness == "standardised":
        spread = losses.std()
        centred = losses - losses.mean()
        return centred / spread if float(spread) > 0 else torch.zeros_like(losses)
    return losses.clone()


class EvolutionStrategies:
    """The trainer (``sampler.baselines.base``): ``init`` gives the optimiser's state, ``step``
    one ES update."""

    objective = "loss"

    def __init__(
        self,
        population: int,
        sigma: float,
        lr: Schedule,
        optimizer: str = "adam",
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        fitness: str = "rank",
        block_size: int = 100,
        seed: int = 0,
        scheme: str = "auto",
    ) -> None:
        self.population = population
        self.sigma = sigma
        self.lr = lr
        self.optimizer = make_optimizer(optimizer, momentum)
        self.weight_decay = weight_decay
        self.fitness = fitness
        self.block_size = block_size
        self.seed = seed
        self.scheme = scheme
        self._pairs: dict[str, Any] = {}
        # sigma: a number, or a [d] vector (one per coordinate, --tau-scale init-variance)

    def init(self, params: torch.Tensor) -> dict:
        return self.optimizer.init(params)

    def blocks(self) -> list[tuple[int, int]]:
        """``(block, rows)``: even blocks of ``block_size`` rows (pairs never straddle two)."""
        size = self.block_size
        count = math.ceil(self.population / size)
        return [(b, min(size, self.population - b * size)) for b in range(count)]

    def evaluate(self, key: StepKey, params: torch.Tensor, pairs, comm: Comm):
        """This rank's blocks: ``{block: losses [rows] float64}`` and what their sums need."""
        losses, kept = {}, {}
        for block in self.blocks()[comm.rank :: comm.size]:
            losses[block[0]], kept[block[0]] = pairs.evaluate(key, block, self.block_size, params)
        return losses, kept

    def estimate(self, key: StepKey, params: torch.Tensor, problem, comm: Comm):
        """``(g [d] float64 without decay, all N losses float64)`` of update ``key.step``."""
        name = pair_scheme(self.scheme, problem)
        pairs = self._pairs.setdefault(name, build_pairs(name))
        sigma = self.sigma
        if isinstance(sigma, torch.Tensor):
            sigma = sigma.to(params.device)
        pairs.prepare(key, params, sigma, problem)
        losses, kept = self.evaluate(key, params, pairs, comm)
        gathered: dict[int, torch.Tensor] = {}
        for part in comm.allgather(losses):
            gathered.update(part)
        everything = torch.cat([gathered[b] for b, _ in self.blocks()])
        if self.fitness != "rank" and not bool(torch.isfinite(everything).all()):
            raise FloatingPointError(
                f"update {key.step + 1}: a perturbed network's loss is not finite; lower "
                f"{setting('sigma')} or use {setting('fitness')} rank"
            )
        weights = shaped(everything, self.fitness)
        blocks = self.blocks()
        sums = torch.zeros(len(blocks), pairs.width, dtype=torch.float64, device=params.device)
        start = 0
        for block, rows in blocks:
            if block in kept:
                half = rows // 2
                mine = weights[start : start + rows].to(params.device)
                sums[block] = pairs.block_sum(kept[block], mine[:half] - mine[half:])
            start += rows
        if comm.size > 1:  # each row from one rank, the others' zeros: exact on any rank count
            sums = comm.allreduce_sum(sums).to(params.device)
        total = pairs.finish(key, sums.sum(dim=0))
        return total / (self.population * sigma), everything

    def step(self, step: int, params, state, problem: Problem, comm: Comm):
        gradient, losses = self.estimate(StepKey(self.seed, step), params, problem, comm)
        gradient = gradient.to(params.dtype)
        if self.weight_decay:
            gradient = gradient + self.weight_decay * params
        lr = self.lr(step)
        new_params, state = self.optimizer.update(params, gradient, lr, state)
        finite = losses[torch.isfinite(losses)]
        record = {
            "lr": lr,
            "es_loss": float(finite.mean()) if finite.numel() else math.nan,
            "es_grad_norm": float(gradient.norm()),
            "loss_evals": self.population,
            "grad_evals": 0,
            "examples_seen": problem.batch_size,
        }
        return new_params, state, record


def even(value: int) -> int:
    """A ``check``: an even count >= 2 (antithetic pairs)."""
    if value < 2 or value % 2:
        raise ValueError("an even number >= 2 (antithetic pairs)")
    return value


OPTIONS = {
    "population": Option(
        "int", 1000, "ES: networks N per update, in antithetic pairs (even)", check=even
    ),
    "sigma": Option(
        "float",
        0.01,
        "ES: standard deviation of the parameter noise",
        check=within(0.0, math.inf, closed_low=False),
    ),
    "fitness": Option(
        "str",
        "rank",
        "ES: fitness shaping of the losses: rank (centred ranks), standardised, raw",
        choices=FITNESS,
    ),
    "weight_decay": Option(
        "float", 0.0, "ES: L2 decay lambda added to the estimate, lambda x", check=at_least(0)
    ),
    "lr": Option(
        "any",
        "0.003",
        "ES: step of --optimizer; a number or a schedule over updates",
        check=schedule_check("--lr"),
        label="schedule",
    ),
    "optimizer": Option(
        "str",
        "adam",
        "ES: the update fed with the estimate (momentum/nesterov/adam read --momentum)",
        choices=tuple(OPTIMIZERS),
    ),
    "momentum": Option(
        "float", 0.0, "ES: momentum, or Adam's beta1 (0: 0.9)", check=within(0.0, 1.0)
    ),
    "proposal": Option(
        "str",
        "auto",
        "ES: how the pairs are drawn: antithetic, marginal (the dense first layer "
        "marginalised, same law), auto (marginal where it applies)",
        choices=SCHEMES,
    ),
    "block_size": Option("int", 100, "ES: networks evaluated per forward call (even)", check=even),
    "tau_scale": Option(
        "str",
        "absolute",
        "ES: what --sigma measures per layer: absolute (sigma itself) or init-variance "
        "(sigma_l = sigma times the standard deviation of the layer's initial weights)",
        choices=TAU_SCALES,
    ),
}


def check(values: dict[str, Any], steps: int) -> None:
    optimizer = values["optimizer"]
    if optimizer in ("momentum", "nesterov") and values["momentum"] == 0:
        raise OptionError(
            f"{setting('optimizer', optimizer)}: needs {setting('momentum')} in (0, 1), e.g. 0.9"
        )
    if optimizer == "sgd" and values["momentum"] > 0:
        raise OptionError(
            f"{setting('momentum')}: {setting('optimizer', 'sgd')} has none; use "
            f"{setting('optimizer')} momentum, nesterov or adam"
        )
    try:
        check_range(values["lr"], "--lr", steps)
    except ValueError as error:
        raise OptionError(str(error)) from None


def check_model(values: dict[str, Any], model, batch_size: int) -> None:
    """``--proposal marginal`` on a model (and minibatch) it does not apply to is refused."""
    if values["proposal"] == "marginal":
        reason = not_applicable(model, batch_size)
        if reason is not None:
            raise OptionError(f"{setting('proposal', 'marginal')}: {reason}")


def build(values: dict[str, Any], run: RunContext | None = None) -> EvolutionStrategies:
    run = run or RunContext()
    scale = values["tau_scale"]
    if scale != "absolute" and run.model is None:
        raise OptionError(f"{setting('tau_scale', scale)}: needs the model")
    sigma = values["sigma"]
    if run.model is not None:
        sigma = noise_scale(sigma, scale, run.model, run.seed)
    return EvolutionStrategies(
        values["population"],
        sigma,
        values["lr"],
        values["optimizer"],
        values["momentum"],
        values["weight_decay"],
        values["fitness"],
        values["block_size"],
        run.seed,
        values["proposal"],
    )


SPEC = BaselineSpec(
    build=build,
    summary="OpenAI evolution strategies (Salimans et al. 2017): antithetic Gaussian "
    "perturbations, centred ranks, Adam; gradient-free",
    options=OPTIONS,
    check=check,
    check_model=check_model,
)
