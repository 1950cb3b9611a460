"""The importance-sampling estimate of the local entropy over a grid of tau (García Trillos,
Kaplan, Sanz-Alonso, Algorithm 4; the diagnostic ``free_energy`` of the ``is`` estimator):

    F_tau(w) = -log E_{x' ~ N(w, tau I)} exp(-beta E_train(x'))
             ~ -log((1/J) sum_j exp(-beta E_train(w + sqrt(tau) e_j))),    e_j ~ N(0, I)

with its effective sample size ``ESS = (sum w_j)^2 / sum w_j^2`` (``w_j`` the weights
``exp(-beta E_train(x_j))``). For ``tau -> 0``, ``F_tau -> beta E_train(w)``; a flat point keeps
``F_tau`` close to it as tau grows. The delta-method standard error of ``log mean w`` is
``sqrt(1/ESS - 1/J)`` (trustworthy only when the ESS is not tiny). Each tau calls the ``is``
estimator itself (``sampler.estimators.importance_sampling``), on the probe examples, with the
proposals of tau number ``i`` drawn under the seed ``stream_seed(seed, LOCAL_ENTROPY_PROBE, i)``
(so they share no stream with a training run).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from sampler.estimators import StepKey
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.models import streams
from sampler.mpi import SerialComm


def local_entropy_curve(
    problem,
    params: torch.Tensor,
    taus: Sequence[float],
    samples: int,
    seed: int,
    beta: float = 1.0,
    block_size: int = 100,
) -> list[dict[str, float]]:
    """``problem``: ``losses([K, d]) -> [K]`` on the probe examples (``sampler.problem.Problem``),
    ``params: [d]``. One ``{"tau", "free_energy", "standard_error", "ess", "max_weight",
    "samples"}`` per tau."""
    estimator = ImportanceSampling(samples, beta, block_size)
    curve = []
    for i, tau in enumerate(taus):
        key = StepKey(streams.stream_seed(seed, streams.LOCAL_ENTROPY_PROBE, 0, i), 0)
        variance = torch.tensor(float(tau), dtype=params.dtype, device=params.device)
        _, _, info = estimator.step(key, {}, params, variance, problem, SerialComm())
        curve.append(
            {
                "tau": float(tau),
                "free_energy": info.free_energy,
                "standard_error": math.sqrt(max(1.0 / info.ess - 1.0 / samples, 0.0)),
                "ess": info.ess,
                "max_weight": info.max_weight,
                "samples": samples,
            }
        )
    return curve
