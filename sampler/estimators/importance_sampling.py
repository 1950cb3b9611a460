"""Importance-sampling estimate of the local-entropy target ``m = E_q[X]`` (Algorithm 4 of
García Trillos, Kaplan, Sanz-Alonso, "Variational characterizations of local entropy and heat
regularization in deep learning").

Proposals ``x_j = x + sqrt(tau) e_j``, ``e_j ~ N(0, I)``, ``j = 1..J``, all weighted on the same
minibatch with ``log w_j = -beta f(x_j)``; the self-normalised estimate is
``m = sum_j w_j x_j / sum_j w_j``. No gradient is ever evaluated. ``tau`` may be a ``[d]``
vector (per-layer tau): ``x_j = x + sqrt(tau) * e_j`` coordinatewise; ``beta`` may follow a
schedule over updates, or be chosen every update (``--beta auto:TARGET``) so that the effective
sample size is ``TARGET * J`` (``sampler.estimators.temperature``).

Streaming and parallel: the J samples form blocks of ``block_size`` (the last may be shorter),
block ``b`` drawing its noise from the counter-based stream ``(seed, IS_NOISE, step, b)``; rank
``r`` owns the blocks with ``b mod R = r``. The weighted sums of the blocks are merged in
float64 relative to the smallest loss (``sampler.estimators.tilted_sums``), then across ranks by
one max and two sum reductions, so memory does not grow with J and one seed gives the same
update on any number of ranks. A sample whose loss is NaN or infinite gets weight 0; if all J
fail, the step raises.

Proposals (``--proposal``, ``sampler.estimators.proposals``): ``literal`` as above;
``antithetic`` pairs ``x ± sqrt(tau) e`` (half the noise); ``marginal`` samples a dense first
layer's noise through the products ``X E^T`` the loss sees (``sampler.estimators.marginal``: the
literal update's law, about 25 times fewer numbers on the ``mlp``); ``auto`` (default) is
``marginal`` where the model has a dense first layer wider than the minibatch, else
``antithetic``. Every scheme keeps the blocks, ranks, grid, two-pass search and variance above.

Automatic beta, in the update's one pass over the noise (``--beta-search grid``, default): the
weighted sums are kept for the five betas ``beta_prev * 2^(i/4)``, ``i = -2..2`` (one
``[5, rows] @ [rows, d]`` product per block instead of a ``[1, rows]`` one); the one whose ESS
is closest to the target (in log) is taken and becomes the next grid's center. The estimate is
then exactly the IS estimate at the chosen beta. ``--beta-search two-pass`` evaluates the losses
first, solves ``ESS(beta) = TARGET * J`` by bisection on all J losses (gathered from the ranks),
then draws the same counter-based noise again for the weighted sum: the ESS hits the target
exactly, for a second noise draw.

Diagnostics: ``ess = (sum w)^2 / sum w^2``, the largest normalised weight, the ``beta`` used,
``free_energy = -log((1/J) sum_j exp(-beta f(x_j)))`` (the IS estimate of ``F_tau(x)``) and the
batch-means variance of ``m`` per coordinate (``target_variance``; needs two blocks or more).
Batch means see no spread when one sample holds a block's weight, so with fewer effective
samples than blocks the variance is at least ``tau / ESS`` (Kong's rule of thumb
``Var_q(X) / ESS`` with the proposal's variance for ``Var_q``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from sampler.estimators.base import EstimatorSpec
from sampler.estimators.marginal import not_applicable
from sampler.estimators.proposals import PROPOSALS, build_proposal, group_size
from sampler.estimators.temperature import (
    BETA_RANGE,
    Temperature,
    as_temperature,
    beta_option,
    candidate_betas,
    clamp_beta,
    temperature,
)
from sampler.estimators.tilted_sums import TiltedSums
from sampler.models.naming import setting
from sampler.models.options import Option, OptionError, at_least
from sampler.mpi import Comm
from sampler.problem import Problem
from sampler.schedules import Schedule

DEFAULT_ESS_FRACTION = 0.3
BETA_SEARCHES = ("grid", "two-pass")
AUTO_FALLBACK = "antithetic"  # --proposal auto where the marginalised scheme does not apply
# auto: the measured comparison on MNIST (README, "Proposal schemes") showed no loss
DEFAULT_PROPOSAL = "auto"


class ISInfo(NamedTuple):
    ess: float
    max_weight: float
    free_energy: float
    beta: float
    failed_samples: int
    loss_evals: int
    grad_evals: int
    target_variance: torch.Tensor | None = None


class NoFiniteSampleError(RuntimeError):
    pass


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


class ImportanceSampling:
    objective = "local-entropy"

    def __init__(
        self,
        samples: int,
        beta: float | Schedule | Temperature,
        block_size: int,
        beta_search: str = "grid",
        proposal: str = "literal",
        blocks_per_pass: int | None = None,
    ) -> None:
        self.samples = samples
        self.temperature = as_temperature(beta)
        self.block_size = block_size
        self.beta_search = beta_search
        self.proposal = proposal
        self.blocks_per_pass = blocks_per_pass  # None: group_size (all that fit on a GPU)
        self._proposals: dict = {}

    def init(self, center: torch.Tensor) -> dict:
        return {}

    def blocks(self) -> list[tuple[int, int]]:
        """``(block index, number of samples)`` for all blocks of a step, on every rank."""
        count = math.ceil(self.samples / self.block_size)
        return [(b, min(self.block_size, self.samples - b * self.block_size)) for b in range(count)]

    def scheme(self, problem):
        """The proposal scheme of this update (``auto``: ``marginal`` where it applies, else
        ``AUTO_FALLBACK``), one object per scheme kept with its buffers."""
        name = self.proposal
        if name == "auto":
            model = getattr(problem, "model", None)
            applies = not_applicable(model, getattr(problem, "batch_size", 0)) is None
            name = "marginal" if applies else AUTO_FALLBACK
        if name not in self._proposals:
            self._proposals[name] = build_proposal(name)
        return self._proposals[name]

    def _groups(self, owned, proposal, device):
        size = self.blocks_per_pass or group_size(
            device, self.block_size * proposal.bytes_per_sample(), len(owned)
        )
        return [owned[i : i + size] for i in range(0, len(owned), size)]

    def _pass(self, key, betas, center, proposal, problem, comm, losses=None) -> TiltedSums:
        """One pass over this rank's blocks; ``losses`` (block -> [rows]) skips the forward."""
        sums = TiltedSums(betas, proposal.dim, center.device)
        proposal.start(sums)
        owned = self.blocks()[comm.rank :: comm.size]
        for group in self._groups(owned, proposal, center.device):
            drawn = proposal.draw(key, group, self.block_size, center)
            if losses is None:
                group_losses = proposal.losses(drawn, problem)
            else:
                group_losses = torch.cat([losses[block] for block, _ in group])
            for i, (offset, (_, rows)) in enumerate(zip(drawn.offsets, group)):
                sums.add(group_losses[offset : offset + rows], proposal.weighted(drawn, i))
        return sums

    def _two_pass_beta(self, key, center, proposal, problem, comm, factor, ess_target):
        """Pass 1: every block's losses (gathered in block order on every rank) and the beta
        solving ``ESS(beta) = ess_target`` on all of them."""
        owned = {}
        for group in self._groups(self.blocks()[comm.rank :: comm.size], proposal, center.device):
            drawn = proposal.draw(key, group, self.block_size, center)
            group_losses = proposal.losses(drawn, problem)
            for offset, (block, rows) in zip(drawn.offsets, group):
                owned[block] = group_losses[offset : offset + rows]
        host = torch.cat(list(owned.values())).cpu() if owned else torch.zeros(0)  # one copy
        # each block's losses on their own (a view would carry the whole tensor when pickled)
        pieces = host.split([v.shape[0] for v in owned.values()])
        parts = {block: piece.clone() for block, piece in zip(owned, pieces)}
        gathered = {}
        for part in comm.allgather(parts):
            gathered.update(part)
        losses = torch.cat([gathered[b] for b, _ in self.blocks()])
        finite = torch.isfinite(losses)
        if not bool(finite.any()):
            return factor, owned
        shifted = torch.where(finite, losses - losses[finite].min(), math.inf)
        low, high = BETA_RANGE
        beta = solve_beta(shifted, ess_target * int(finite.sum()), low * factor, high * factor)
        return beta, owned

    def step(self, key, state, center, tau, problem: Problem, comm: Comm):
        proposal = self.scheme(problem)
        proposal.prepare(key, center, tau, problem)
        temp = self.temperature
        factor = temp.factor(problem)
        losses = None
        if not temp.auto:
            betas = [temp.fixed(key.step, problem)]
        elif self.beta_search == "grid":
            betas = [clamp_beta(b, factor) for b in candidate_betas(state.get("beta", factor))]
        else:
            beta, losses = self._two_pass_beta(
                key, center, proposal, problem, comm, factor, temp.auto_target
            )
            betas = [beta]
        target_fraction = temp.auto_target if temp.auto else None

        def choose(s1, s2, failed):
            if target_fraction is None or len(betas) == 1:
                return 0
            finite = self.samples - failed
            distance = (torch.log(s1 * s1 / s2) - math.log(target_fraction * finite)).abs()
            return int(torch.argmin(distance))

        sums = self._pass(key, betas, center, proposal, problem, comm, losses)
        estimate = sums.finish(comm, choose)
        if estimate is None:
            raise NoFiniteSampleError(
                f"update {key.step + 1}: all {self.samples} importance samples have a "
                "non-finite loss; lower --tau or check the model and data"
            )
        target, variance = proposal.finish(key, estimate, center, tau, comm)
        new_state = {"beta": estimate.beta} if temp.auto else state
        ess = estimate.s1 * estimate.s1 / estimate.s2
        if ess < len(self.blocks()):
            # fewer effective samples than blocks: a block's sums are dominated by one sample
            # and batch means see no spread (zero when one weight holds everything); the
            # estimate is then about one proposal, whose error is of order tau / ESS
            floor = torch.as_tensor(tau, dtype=torch.float64, device=variance.device) / ess
            variance = torch.maximum(variance, floor.expand_as(variance))
        info = ISInfo(
            ess=ess,
            max_weight=1.0 / estimate.s1,
            free_energy=estimate.beta * estimate.min_loss - math.log(estimate.s1 / self.samples),
            beta=estimate.beta,
            failed_samples=estimate.failed,
            loss_evals=self.samples,
            grad_evals=0,
            target_variance=variance,
        )
        return target.to(device=center.device, dtype=center.dtype), new_state, info


OPTIONS = {
    "beta": beta_option(
        f"auto:{DEFAULT_ESS_FRACTION}",
        "auto[:TARGET], chosen every update so that the ESS is TARGET * J (TARGET in (0, 1))",
    ),
    "samples": Option("int", 1000, "samples J per update", check=at_least(1)),
    "block_size": Option(
        "int",
        100,
        "samples per noise block (fixed, independent of the number of ranks)",
        check=at_least(1),
    ),
    "beta_search": Option(
        "str",
        "grid",
        "how --beta auto finds its beta: grid (five betas in one pass) or two-pass (exact "
        "ESS, the noise drawn twice)",
        choices=BETA_SEARCHES,
    ),
    "proposal": Option(
        "str",
        DEFAULT_PROPOSAL,
        "how the proposals are drawn: literal (independent, Algorithm 4), antithetic (pairs "
        "x +- sqrt(tau) e, half the noise), marginal (the dense first layer's noise sampled "
        "through X E^T: linear, mlp, musso-mlp with --batch-size below the input size), or auto "
        f"(marginal where it applies, else {AUTO_FALLBACK})",
        choices=PROPOSALS,
    ),
}


def check(values, steps: int) -> None:
    auto = temperature_of(values).auto  # refuses an auto TARGET outside (0, 1)
    if values["beta_search"] != OPTIONS["beta_search"].default and not auto:
        raise OptionError(
            f"{setting('beta_search')}: has no effect without {setting('beta', 'auto[:TARGET]')}"
        )


def check_model(values, model, batch_size: int) -> None:
    """``--proposal marginal`` on a model (and minibatch) it does not apply to is refused."""
    if values["proposal"] == "marginal":
        reason = not_applicable(model, batch_size)
        if reason is not None:
            raise OptionError(f"{setting('proposal', 'marginal')}: {reason}")


def temperature_of(values) -> Temperature:
    return temperature(values, DEFAULT_ESS_FRACTION, (0.0, 1.0))


def build(values) -> ImportanceSampling:
    return ImportanceSampling(
        values["samples"],
        temperature_of(values),
        values["block_size"],
        values["beta_search"],
        values["proposal"],
    )


SPEC = EstimatorSpec(
    objective="local-entropy",
    needs_gradients=False,
    build=build,
    summary="importance sampling of E_q[X] (Algorithm 4), gradient-free",
    options=OPTIONS,
    check=check,
    check_model=check_model,
)
