"""The engine's importance-sampling estimate of the local entropy, at the setting where it
estimates the same quantity as the BP local-entropy probe (``bp_local_entropy``): the check of
issue 25's probe "against the engine's own IS estimate of local entropy at matched settings".

BP computes, for binary weights ``W in {-1, 1}^N`` around a reference ``W~`` (Baldassi,
Pittorino and Zecchina, PNAS 2020, Eq. 8; Baldassi et al., PNAS 2016, the local free entropy)

    F(lambda) = log sum_{W solution} e^{lambda W~ . W}
              = N log(2 cosh lambda) + log P_{W ~ p_lambda}(W is a solution),

where ``p_lambda`` is the product law with ``P(W_i = W~_i) = (1 + tanh lambda) / 2``. The
engine's IS estimator (``sampler.estimators.importance_sampling``, García Trillos, Kaplan and
Sanz-Alonso, Algorithm 4; the ``F_tau`` of ``local_entropy``) estimates

    -F_tau = log E_{z ~ N(W~, tau I)} exp(-beta E(z)).

Take for ``E(z)`` the number of training errors of the binarised weights ``sign(z)`` and a large
beta (``BETA``: a configuration with an error weighs ``e^{-BETA}`` at most, nothing next to the
solutions' weight 1): then ``exp(-beta E) -> 1{sign(z) is a solution}``, and ``sign(z_i) = W~_i``
with probability ``Phi(1 / sqrt tau)`` independently, so ``sign(z) ~ p_lambda`` exactly when

    tanh lambda = 2 Phi(1 / sqrt tau) - 1 = erf(1 / sqrt(2 tau))      (``tau_of_coupling``).

So ``N log(2 cosh lambda) - F_tau`` (IS, its standard error ``sqrt(1/ESS - 1/J)``: the binomial
one, the ESS being the number of solutions drawn) and BP's ``F(lambda)`` are one quantity, the
first unbiased up to Monte Carlo error, the second exact on trees (one pattern) and a Bethe
approximation on loopy instances (``tests/flatness/test_binary_is_check.py`` compares them within
the Monte Carlo error; a variant that reads tau as a standard deviation fails).
"""

from __future__ import annotations

import math

import torch

from sampler.estimators import StepKey
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.models import Batch, streams
from sampler.mpi import SerialComm
from sampler.problem import Problem

BETA = 200.0  # e^{-200}: a non-solution's weight, nothing next to a solution's 1


def tau_of_coupling(coupling: float) -> float:
    """The variance tau of the Gaussian proposal whose signs follow ``p_lambda``."""
    x = torch.erfinv(torch.tensor(math.tanh(coupling), dtype=torch.float64))
    return float(1.0 / (2.0 * x * x))


class BinarisedErrors:
    """The loss of the check: ``losses(z [K, N], batch) -> [K]``, the number of patterns the tree
    committee with weights ``sign(z)`` gets wrong (``units`` = 1: the perceptron). The batch's
    inputs are the ±1 patterns ``[P, N]``, its targets the labels ±1."""

    def __init__(self, units: int, n: int) -> None:
        self.units, self.num_params = units, n

    def losses(self, params: torch.Tensor, batch: Batch) -> torch.Tensor:
        signs = torch.where(params >= 0, 1.0, -1.0).to(torch.float64)
        k = self.units
        xi = batch.inputs.to(torch.float64).reshape(len(batch.targets), k, -1)
        fields = torch.einsum("pkn,bkn->bpk", xi, signs.reshape(len(signs), k, -1))
        out = torch.sign(fields).sum(-1)
        return (batch.targets.to(torch.float64) * out <= 0).sum(-1).to(torch.float64)


def is_free_entropy(
    xi: torch.Tensor,
    y: torch.Tensor,
    units: int,
    reference: torch.Tensor,
    coupling: float,
    samples: int,
    seed: int,
    tau: float | None = None,
) -> dict[str, float]:
    """The IS estimate of ``F(lambda) / N`` (per weight) around ``reference``, by the engine's
    ``is`` estimator at ``tau = tau_of_coupling(coupling)`` (or the ``tau`` given: a deliberately
    mismatched one) and beta ``BETA``; ``{"free_entropy", "standard_error", "ess"}``."""
    n = reference.numel()
    problem = Problem(BinarisedErrors(units, n), Batch(xi, y))
    estimator = ImportanceSampling(samples, BETA, 100)
    key = StepKey(streams.stream_seed(seed, streams.LOCAL_ENTROPY_PROBE, 0, 0), 0)
    variance = torch.tensor(tau_of_coupling(coupling) if tau is None else tau, dtype=torch.float64)
    _, _, info = estimator.step(
        key, {}, reference.to(torch.float64), variance, problem, SerialComm()
    )
    log_2cosh = abs(coupling) + math.log1p(math.exp(-2 * abs(coupling)))
    return {
        "free_entropy": (n * log_2cosh - info.free_energy) / n,
        "standard_error": math.sqrt(max(1.0 / info.ess - 1.0 / samples, 0.0)) / n,
        "ess": info.ess,
    }
