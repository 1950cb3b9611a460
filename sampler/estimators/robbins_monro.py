"""Robbins–Monro estimate of the heat-regularization target (Algorithm 5 of García Trillos,
Kaplan, Sanz-Alonso): the root of ``h(x) = x - x_k + tau beta E_{Y ~ N(x, tau I)} grad f(Y)``,
the mode-seeking fit ``argmin_x KL(N(x, tau I) || q_{x_k,tau})``.

From ``x^1 = x_k``, ``J`` iterations (``--rm-iterations``) of::

    x^{j+1} = x^j - a_j (x^j - x_k + tau beta G_j),    a_j = c j^-alpha  (--rm-step, j >= 1)

with ``G_j`` an estimate of ``E grad f(Y)`` from ``M`` samples ``z_m = x^j + sqrt(tau) e_m``
(``--rm-samples``), evaluated as one batch. Defaults: ``rm`` M = J = 10 (on the MNIST ``mlp``
level with the paper's M = J = 30 over 500 updates, .898 / .905 at update 400 / 500 against
.896 / .907, seed 0, at a ninth of the gradients), ``rm-stein`` the paper's M = J = 30 (its
Stein estimate of ``E grad f`` is the noisier one):

* ``rm``        ``G_j = (1/M) sum_m grad f(z_m)`` (minibatch gradients);
* ``rm-stein``  gradient-free, by the Gaussian (Stein) identity
  ``E[grad f(Y)] = E[f(Y) (Y - x)] / tau`` with antithetic pairs:
  ``G_j = (1/M) sum_m (f(x + s e_m) - f(x - s e_m)) e_m / (2 s)``, ``s = sqrt(tau)``
  (``2M`` loss evaluations per iteration, no gradient). ``--proposal marginal`` (``auto``:
  where it applies) draws a dense first layer's noise through the products ``X E^T`` the loss
  sees and replaces its unseen part by its mean, zero (``sampler.estimators.stein_marginal``):
  the same expected ``G_j``, less noise, 26 times fewer numbers per pair on the ``mlp``.

``tau`` may be a ``[d]`` vector (per-layer tau); every formula above is then coordinatewise.
Parallel: sample ``m`` of iteration ``j`` draws its noise from the counter-based stream
``(seed, RM_NOISE, step, j * M + m)``, so the samples need no block structure and any ``M >= R``
keeps all R ranks busy: rank ``r`` evaluates the samples ``m = r mod R`` as one batch. The
per-rank gradient sums are combined by one float64 sum reduction per iteration, so one seed
gives the same update on any number of ranks up to summation order.

Monte Carlo error of the target: from the ``M`` per-sample gradients ``g_m`` of iteration ``j``,
the variance of ``G_j`` per coordinate is ``s_j^2 / M`` (``s_j^2`` their sample variance);
propagated through the iterations with the Jacobian of ``h`` taken as the identity (``tau beta
H`` small, the paper's regime for most directions)::

    Var(x^{j+1}) = (1 - a_j)^2 Var(x^j) + a_j^2 tau^2 beta^2 s_j^2 / M,    Var(x^1) = 0.

With ``a_j = 1/j`` this is the variance of the average of the J iterations' gradient means.
This noise is far too small to choose beta by (``beta_eff`` about 2e9 at beta = 1 on the
MNIST ``mlp``, ``sampler.scheme.mc_error``): ``tau beta`` is the step of an implicit gradient step
on the heat-smoothed minibatch loss, and ``--beta auto`` takes the minibatch's summed loss
(``beta = B`` on the mean), the loss scale at which ``exp(-beta f)`` is the minibatch's
likelihood (``sampler.estimators.temperature``), as far as the iteration contracts: an
update whose final residual ``|h_J|`` exceeds its first ``|h_1|`` by more than its Monte
Carlo part (``excess`` above 1), or turns non-finite, is redone with the same noise at a quarter of
beta (``BACKTRACK``), and the next update starts at twice the beta accepted, never above ``B``;
the beta used is in every metrics line and the checkpoint, and the evaluations of a redone
update are counted. The options, their checks and the registry entries of ``rm`` and
``rm-stein`` are in ``sampler.estimators.robbins_monro_spec``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from sampler.estimators.base import StepKey
from sampler.estimators.marginal import pair_scheme
from sampler.estimators.stein_marginal import MarginalStein
from sampler.estimators.temperature import Temperature, as_temperature
from sampler.models import streams
from sampler.mpi import Comm
from sampler.problem import Problem
from sampler.schedules import Schedule


class RMInfo(NamedTuple):
    iterations: int
    residual: float  # |h(x^J)| as last estimated
    step_last: float  # a_J
    beta: float
    loss_evals: int
    grad_evals: int
    target_variance: torch.Tensor | None = None


class RMDivergedError(RuntimeError):
    pass


PROPOSALS = ("antithetic", "marginal", "auto")  # rm-stein --proposal (stein_marginal)

# --beta auto: an update whose iteration does not contract (``excess`` > 1, or non-finite) is
# redone with the same noise at beta / BACKTRACK, at most MAX_BACKTRACKS times; the next update
# starts at RECOVER times the beta accepted, never above the summed loss's.
BACKTRACK, MAX_BACKTRACKS, RECOVER = 4.0, 12, 2.0


def excess(first: float, last: float, noise_energy: float) -> float:
    """``(|h_J|^2 - its Monte Carlo part) / |h_1|^2``: above 1 the iteration ended further from
    its root than it began, by more than its own noise. Both residuals scale as ``tau beta``, so
    comparing ``|h_J|`` with ``|h_1|`` alone fails alike at every beta once the gradient's noise
    outweighs its mean (``|h_J|^2 / |h_1|^2`` tends to ``1 + 1/(J - 1)`` there): a smaller
    beta cannot fix that, and backtracking took beta to 1e-37 within 20 updates (``mlp``,
    M = J = 10, seed 1, update 307). A step that overshoots grows ``h`` geometrically, far
    past the noise, and backing off shrinks that excess; an excess that a quarter of beta does
    not halve is not the step's doing (seen late in training on minibatches the network fits,
    training loss below 0.01: beta went to 1e-6 at every such update), and the update keeps
    its first beta (``RobbinsMonro.step``)."""
    if not first > 0:
        return math.inf if last * last > noise_energy else 0.0
    return (last * last - noise_energy) / (first * first)


class Buffers:
    """Named ``[M, d]`` work tensors kept between iterations and updates (noise, points,
    gradients in float64): the iterations allocate nothing of size ``M x d`` themselves."""

    def __init__(self) -> None:
        self.kept: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape, like: torch.Tensor, dtype=None) -> torch.Tensor:
        dtype = dtype or like.dtype
        kept = self.kept.get(name)
        if kept is None or kept.shape != shape or kept.dtype != dtype or kept.device != like.device:
            kept = self.kept[name] = torch.empty(shape, dtype=dtype, device=like.device)
        return kept


class RobbinsMonro:
    objective = "heat"

    def __init__(
        self,
        samples: int,
        iterations: int,
        step_size: Schedule,
        beta: float | Schedule | Temperature = 1.0,
        stein: bool = False,
        proposal: str = "antithetic",
    ) -> None:
        if proposal not in PROPOSALS:
            raise ValueError(f"--proposal: must be one of {', '.join(PROPOSALS)}, got {proposal!r}")
        if proposal != "antithetic" and not stein:
            raise ValueError(f"--proposal {proposal}: rm-stein's; rm draws its points literally")
        self.samples = samples
        self.iterations = iterations
        self.step_size = step_size
        self.temperature = as_temperature(beta)
        self.stein = stein
        self.proposal = proposal
        self._buffers = Buffers()
        self._marginal: MarginalStein | None = None

    def init(self, center: torch.Tensor) -> dict:
        return {}

    def scheme(self, problem) -> MarginalStein | None:
        """The marginalised Stein sums (``--proposal marginal``, or ``auto`` where the model has
        a dense first layer wider than the minibatch), kept with their buffers; ``None``: the
        literal pairs."""
        if pair_scheme(self.proposal, problem) != "marginal":
            return None
        if self._marginal is None:
            self._marginal = MarginalStein()
        return self._marginal

    def local_sums(
        self, key: StepKey, j: int, owned: list[int], x: torch.Tensor, scale, problem: Problem
    ) -> torch.Tensor:
        """``[2, d]`` float64: the sums over the samples ``owned`` of iteration ``j`` of
        ``g_m = grad f(z_m)`` (or of its Stein estimate) and of ``g_m^2``, one batch."""
        if not owned:
            return torch.zeros(2, x.shape[0], dtype=torch.float64, device=x.device)
        rows = len(owned)
        noise = self._buffers.get("noise", (rows, x.shape[0]), x)
        for row, m in enumerate(owned):
            index = j * self.samples + m
            generator = streams.torch_generator(
                key.seed, streams.RM_NOISE, key.step, index, device=x.device
            )
            noise[row].normal_(generator=generator)
        step = torch.mul(noise, scale, out=self._buffers.get("step", noise.shape, x))
        if not self.stein:
            points = torch.add(x, step, out=self._buffers.get("points", noise.shape, x))
            _, grads = problem.loss_and_grad(points)
        else:
            points = self._buffers.get("points", (2 * rows, x.shape[0]), x)
            torch.add(x, step, out=points[:rows])
            torch.sub(x, step, out=points[rows:])
            values = problem.losses(points).to(torch.float64)
            difference = ((values[:rows] - values[rows:]) / 2).to(x.dtype)
            grads = noise.mul_(difference[:, None]).div_(scale)  # (f+ - f-) e / (2 s)
        grads = self._buffers.get("grads64", noise.shape, x, torch.float64).copy_(grads)
        total = grads.sum(dim=0)
        return torch.stack([total, grads.mul_(grads).sum(dim=0)])

    def iterate(self, key: StepKey, center, tau, beta: float, problem: Problem, comm: Comm):
        """The J iterations at ``beta``: ``(x^{J+1}, Var(x^{J+1}) [d], |h_1|, |h_J|, a_J,
        E_noise |h_J|^2)``, or ``None`` at the first non-finite ``h`` (the same verdict on every
        rank). The last is the Monte Carlo part of ``|h_J|^2``: ``sum_i Var(x^J)_i + tau_i^2
        beta^2 Var(G_J)_i``."""
        scale = torch.sqrt(tau)
        tau64 = tau.to(torch.float64)
        owned = list(range(comm.rank, self.samples, comm.size))
        marginal = self.scheme(problem)
        if marginal is not None:
            marginal.prepare(key, center, tau, problem)
        x = center.clone()
        variance = torch.zeros_like(center, dtype=torch.float64)
        first, residual, a_j, noise_energy = math.nan, math.nan, math.nan, 0.0
        for j in range(self.iterations):
            if marginal is None:
                sums = comm.allreduce_sum(self.local_sums(key, j, owned, x, scale, problem))
                mean_grad, mean_square = sums.to(center.device) / self.samples
            else:
                local = marginal.local_sums(key, j, owned, x, self.samples, problem)
                sums = comm.allreduce_sum(local).to(center.device)
                mean_grad, mean_square = marginal.moments(sums, self.samples)
            h = (x - center).to(torch.float64) + tau64 * beta * mean_grad
            if not bool(torch.isfinite(h).all()):
                return None
            a_j = self.step_size(j)
            x = x - (a_j * h).to(center.dtype)
            residual = float(h.norm())
            first = residual if j == 0 else first
            # Var(x^{j+1}) = (1 - a_j)^2 Var(x^j) + a_j^2 tau^2 beta^2 Var(g) / M
            noise = (mean_square - mean_grad * mean_grad).clamp_min_(0.0) * (
                self.samples / max(self.samples - 1, 1) / self.samples
            )
            if j == self.iterations - 1:  # the Monte Carlo part of |h_J|^2
                noise_energy = float((variance + (tau64 * beta) ** 2 * noise).sum())
            variance = variance * (1 - a_j) ** 2 + (a_j * tau64 * beta) ** 2 * noise
        if self.samples < 2:
            variance = torch.full_like(variance, math.nan)
        return x, variance, first, residual, a_j, noise_energy

    def step(self, key: StepKey, state, center, tau, problem: Problem, comm: Comm):
        tau = torch.as_tensor(tau, dtype=center.dtype, device=center.device)
        auto = self.temperature.auto
        factor = self.temperature.factor(problem)
        beta = state.get("beta", factor) if auto else self.temperature.fixed(key.step, problem)
        attempts, first_try, previous = 0, None, math.inf
        while True:
            attempts += 1
            result = self.iterate(key, center, tau, beta, problem, comm)
            ratio = math.inf if result is None else excess(result[2], result[3], result[5])
            if not auto or ratio <= 1.0 or attempts > MAX_BACKTRACKS:
                break
            if first_try is None:
                first_try = (beta, result)
            elif result is not None and first_try[1] is not None and ratio > previous / 2:
                beta, result = first_try  # a quarter of beta did not help: not the step's doing
                break
            previous = ratio
            beta /= BACKTRACK  # the iteration did not contract: the same noise, a smaller step
        if result is None:
            raise RMDivergedError(
                f"update {key.step + 1}: the Robbins-Monro gradient estimate became non-finite "
                f"(beta {beta:g}); lower --tau or --rm-step"
            )
        x, variance, _, residual, a_j, _ = result
        new_state = {**state, "beta": min(factor, beta * RECOVER)} if auto else state
        evals = self.iterations * self.samples * attempts
        info = RMInfo(
            iterations=self.iterations,
            residual=residual,
            step_last=a_j,
            beta=beta,
            loss_evals=2 * evals if self.stein else 0,
            grad_evals=0 if self.stein else evals,
            target_variance=variance,
        )
        return x, new_state, info
