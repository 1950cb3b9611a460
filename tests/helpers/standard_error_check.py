"""The quadratic of the standard-error tests, and the check that the Monte Carlo standard error
an estimator reports for its target agrees with the spread of the target over repeated updates.

The statistic pools the coordinates: ``sum_i Var_emp(m_i) / sum_i mean(SE_i^2)``, whose relative
Monte Carlo error with R repetitions of d coordinates is about ``sqrt(2 / (R d))`` (chi-square);
the tolerance is 4.5 of those.
"""

from __future__ import annotations

import math

import torch

from sampler.estimators import StepKey
from sampler.mpi import SerialComm

CURVATURE = torch.tensor([1.0, 3.0, 0.5, 2.0], dtype=torch.float64)
MINIMUM = torch.tensor([0.4, -0.3, 0.2, 0.0], dtype=torch.float64)
CENTER = torch.tensor([0.1, 0.2, -0.3, 0.3], dtype=torch.float64)
COMM = SerialComm()


def ratio_and_tolerance(targets: list[torch.Tensor], variances: list[torch.Tensor]):
    stacked = torch.stack([t.double() for t in targets])
    empirical = stacked.var(dim=0).sum()
    reported = torch.stack(variances).double().mean(dim=0).sum()
    repetitions, dim = stacked.shape
    return float(empirical / reported), 4.5 * math.sqrt(2.0 / ((repetitions - 1) * dim))


def agrees(targets, variances) -> bool:
    ratio, tolerance = ratio_and_tolerance(targets, variances)
    return abs(ratio - 1.0) < tolerance


def repeated_updates(estimator, seed: int, tau, problem, count: int):
    """``count`` stateless updates from the same center: targets, reported variances, infos."""
    targets, variances, infos = [], [], []
    for step in range(count):
        target, _, info = estimator.step(StepKey(seed, step), {}, CENTER, tau, problem, COMM)
        targets.append(target)
        variances.append(info.target_variance)
        infos.append(info)
    return targets, variances, infos
