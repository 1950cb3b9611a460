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
``layerwise-size`` on a model with convolutions (``models.convolution``; measured, docs
"Gradient-free training of CNNs"), else ``antithetic``. Every scheme keeps the blocks, ranks,
grid, two-pass search and variance above.

Automatic beta (``--beta auto:TARGET``: an ESS of ``TARGET * J`` for TARGET in (0, 1), of
TARGET samples for TARGET >= 1) is found in the update's pass over the noise. A bare ``auto``, the
default, targets an ESS of ``min(ESS_FRACTION * J, ESS_SAMPLES)``, and of
``min(CONV_ESS_FRACTION * J, CONV_ESS_SAMPLES)`` on a model with convolutions (measured, docs
"Gradient-free training of CNNs"): up to ``J = 1000`` a fraction of J, beyond it a fixed number
of effective samples, so that the target's Monte Carlo error (about ``tau / ESS``) stays where
it was and the extra samples buy a larger beta, a sharper tilt towards low loss, instead of a
less noisy estimate at the same beta (measured, docs/methods/control-variate.md, "More
samples, a larger beta": at the same ESS fraction J = 10^4 was no more accurate than 10^3).
It is found on a grid
of five betas (``--beta-search grid``, default) or by bisection after a first pass over the
losses (``two-pass``); ``sampler.estimators.beta_search``. The options, their checks and the
registry entry are in ``sampler.estimators.importance_sampling_spec``.

Block betas (``--proposal layerwise*``). The grid is centred on the last beta chosen for the
update's own block (the state's ``beta:<layer>``; the last beta of any block the first time a
block is drawn), not on the previous update's: the layers' losses react to their own tau on
scales that differ by orders of magnitude, and a grid of five betas a factor ``2^(1/4)`` apart
follows only a factor ``sqrt(2)`` per update. Measured before (one beta for every block, on
``small-conv``): the ``fc2`` updates, drawn after ``fc1`` ones, ran at an ESS of 1 to 2 against
a target of 100, i.e. stepped to about one proposal.

Late temperature (a bare ``auto`` with the control variate). Once ``--lr anneal`` cuts the outer
step (``sampler.scheme.annealing``: the target's Monte Carlo error dominates it), the ESS target
is ``min(LATE_ESS_FRACTION J, LATE_ESS_SAMPLES)`` from the next update on (twice the ESS before,
up to J = 1000 and beyond it): a smaller beta in place of further cuts.
A step cut by ``r`` scales the drift by ``r`` and the error's variance by ``r^2``; a beta lowered
by ``c`` scales the drift by about ``c`` (``m - x ≈ -beta tau grad f``) and, with the control
variate, the variance by ``c^2`` or less (the controlled error vanishes with beta; the weights'
spread adds to it beyond first order), so the smaller beta buys at least as low a temperature for
the drift it gives up. Without the control variate the error stays near ``tau / ESS >= tau / J``
as beta falls and the cut is the better tool; the rule leaves that setting, a given TARGET and
models with convolutions (not measured) alone (``tests/estimators/test_late_temperature.py``;
measured on MNIST: docs/methods/control-variate.md).

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

from sampler.estimators.beta_search import closest_to_target, grid_betas, two_pass_beta
from sampler.estimators.marginal import not_applicable
from sampler.estimators.proposals import build_proposal, group_size
from sampler.estimators.temperature import Temperature, as_temperature
from sampler.estimators.tilted_sums import TiltedSums
from sampler.models.convolution import has_convolution
from sampler.mpi import Comm
from sampler.problem import Problem
from sampler.schedules import Schedule

AUTO_FALLBACK = "antithetic"  # --proposal auto where the marginalised scheme does not apply
AUTO_CONVOLUTIONS = "layerwise-size"  # --proposal auto on a model with convolutions (measured)
ESS_FRACTION = 0.3  # --beta auto: the ESS target as a fraction of J
CONV_ESS_FRACTION = 0.1  # --beta auto on a model with convolutions (measured)
ESS_SAMPLES = 300  # --beta auto: at most this ESS (J > 1000: a larger beta, the same noise)
CONV_ESS_SAMPLES = 100  # the same on a model with convolutions
LATE_ESS_FRACTION = 0.6  # bare auto with the control variate once --lr anneal cuts (measured)
LATE_ESS_SAMPLES = 600  # ... at most this ESS (twice ESS_SAMPLES: the same rule beyond J = 1000)
ANNEALING = "annealing"  # the state's flag: --lr anneal has cut the outer step


class ISInfo(NamedTuple):
    ess: float
    max_weight: float
    free_energy: float
    beta: float
    failed_samples: int
    loss_evals: int
    grad_evals: int
    target_variance: torch.Tensor | None = None
    perturbed: slice | None = None  # the coordinates a layer-wise update perturbs (None: all)


class NoFiniteSampleError(RuntimeError):
    pass


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
        control_variate: str = "none",
        residual: str = "sample",
    ) -> None:
        self.samples = samples
        self.temperature = as_temperature(beta)
        self.block_size = block_size
        self.beta_search = beta_search
        self.proposal = proposal
        self.blocks_per_pass = blocks_per_pass  # None: group_size (all that fit on a GPU)
        self.control_variate = control_variate  # sampler.estimators.control_variate
        self.residual = residual  # a marginalised dense layer's unseen noise (RESIDUALS)
        self._proposals: dict = {}

    def init(self, center: torch.Tensor) -> dict:
        return {}

    def blocks(self) -> list[tuple[int, int]]:
        """``(block index, number of samples)`` for all blocks of a step, on every rank."""
        count = math.ceil(self.samples / self.block_size)
        return [(b, min(self.block_size, self.samples - b * self.block_size)) for b in range(count)]

    def scheme(self, problem):
        """The proposal scheme of this update (``auto``: ``marginal`` where it applies, else
        ``AUTO_CONVOLUTIONS`` on a model with convolutions, else ``AUTO_FALLBACK``), one
        object per scheme kept with its buffers."""
        name = self.proposal
        if name == "auto":
            model = getattr(problem, "model", None)
            applies = not_applicable(model, getattr(problem, "batch_size", 0)) is None
            if applies:
                name = "marginal"
            else:
                name = AUTO_CONVOLUTIONS if has_convolution(model) else AUTO_FALLBACK
        if name not in self._proposals:
            self._proposals[name] = build_proposal(name, self.residual)
        return self._proposals[name]

    def ess_target(self, problem, state=None) -> float | None:
        """The ESS, as a fraction of J, that ``--beta auto`` aims at: its TARGET where one is
        given (a count when TARGET >= 1), else ``min(ESS_FRACTION, ESS_SAMPLES / J)`` (the
        ``CONV_`` pair on a model with convolutions), and ``min(LATE_ESS_FRACTION,
        LATE_ESS_SAMPLES / J)`` once the ``state`` says the anneal has cut the step; ``None``
        for a fixed beta."""
        temp = self.temperature
        if not temp.auto:
            return None
        target = temp.auto_target
        if target is not None:
            return target if target < 1 else target / self.samples
        if has_convolution(getattr(problem, "model", None)):
            return min(CONV_ESS_FRACTION, CONV_ESS_SAMPLES / self.samples)
        if state and state.get(ANNEALING):
            return min(LATE_ESS_FRACTION, LATE_ESS_SAMPLES / self.samples)
        return min(ESS_FRACTION, ESS_SAMPLES / self.samples)

    def noise_dominates(self, state: dict) -> dict:
        """The state after ``--lr anneal`` cut the outer step (the target's Monte Carlo error
        dominates it): a bare ``auto`` with the control variate aims at the late ESS
        (``ess_target``) from the next update on, a smaller beta in place of further cuts
        (module docstring, "Late temperature"); any other setting keeps its state."""
        temp = self.temperature
        lowers = temp.auto and temp.auto_target is None and self.control_variate != "none"
        return {**state, ANNEALING: True} if lowers else state

    def _groups(self, owned, proposal, device):
        size = self.blocks_per_pass or group_size(
            device, self.block_size * proposal.bytes_per_sample(), len(owned)
        )
        return [owned[i : i + size] for i in range(0, len(owned), size)]

    def _pass(self, key, betas, center, proposal, problem, comm, losses=None) -> TiltedSums:
        """One pass over this rank's blocks; ``losses`` (block -> [rows]) skips the forward."""
        reference = proposal.points_mean() if self.control_variate == "proposal-mean" else None
        sums = TiltedSums(betas, proposal.dim, center.device, reference)
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
        return two_pass_beta(losses, ess_target, factor), owned

    def step(self, key, state, center, tau, problem: Problem, comm: Comm):
        proposal = self.scheme(problem)
        proposal.prepare(key, center, tau, problem)
        temp = self.temperature
        factor = temp.factor(problem)
        losses = None
        target_fraction = self.ess_target(problem, state)
        # a layer-wise update's grid starts from its own block's last beta ("Block betas")
        own = getattr(proposal, "beta_key", "beta")
        if not temp.auto:
            betas = [temp.fixed(key.step, problem)]
        elif self.beta_search == "grid":
            betas = grid_betas(state.get(own, state.get("beta", factor)), factor)
        else:
            beta, losses = self._two_pass_beta(
                key, center, proposal, problem, comm, factor, target_fraction
            )
            betas = [beta]
        choose = closest_to_target(self.samples, len(betas), target_fraction)
        sums = self._pass(key, betas, center, proposal, problem, comm, losses)
        estimate = sums.finish(comm, choose)
        if estimate is None:
            raise NoFiniteSampleError(
                f"update {key.step + 1}: all {self.samples} importance samples have a "
                "non-finite loss; lower --tau or check the model and data"
            )
        target, variance = proposal.finish(key, estimate, center, tau, comm)
        new_state = {**state, "beta": estimate.beta, own: estimate.beta} if temp.auto else state
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
            perturbed=getattr(proposal, "perturbed", None),
        )
        return target.to(device=center.device, dtype=center.dtype), new_state, info
