"""The BP local-entropy probe against the engine's own IS estimate at matched settings
(``sampler.flatness.binary_is_check``): ``F(lambda) / N`` of a perceptron around a solution, by
BP (the probe's ``local_entropy_point``, Gaussian fields, as ``sampler flatness`` runs it) and by
the ``is`` estimator with the number-of-errors loss of ``sign(z)`` at large beta and
``tau = tau_of_coupling(lambda)``; agreement within 4 Monte Carlo standard errors at distances
0.1-0.25. A variant that reads tau as a standard deviation (``sign(z)`` then flips with the wrong
probability) fails the same check. The IS side is also checked against exact enumeration."""

from __future__ import annotations

import math

import pytest
import torch

from sampler.baselines.belief_propagation import TreeCommitteeBP
from sampler.flatness.binary_is_check import BinarisedErrors, is_free_entropy, tau_of_coupling
from sampler.flatness.bp_local_entropy import local_entropy_point
from sampler.models import Batch
from tests.flatness.test_bp_local_entropy import exact, instance, solution_reference

SAMPLES = 20_000
COUPLINGS = (1.0, 0.75, 0.5)  # distances about 0.10, 0.16, 0.25 from the reference


def teacher_instance(n: int, patterns: int, seed: int):
    """Random ±1 patterns labelled by a random ±1 perceptron (a solution: the reference)."""
    g = torch.Generator().manual_seed(seed)
    xi = torch.randint(0, 2, (patterns, n), generator=g).double() * 2 - 1
    teacher = torch.randint(0, 2, (n,), generator=g).double() * 2 - 1
    return xi, torch.sign(xi @ teacher), teacher


def bp_free_entropies(xi, y, reference) -> list[float]:
    """BP's ``F(lambda) / N = S(d) + lambda q`` at each coupling, warm-started as the probe."""
    bp = TreeCommitteeBP(xi, y, 1)
    u = torch.zeros_like(xi)
    values = []
    for coupling in COUPLINGS:
        point, u = local_entropy_point(bp, reference, coupling, u, 2000)
        assert point["converged"]
        values.append(point["local_entropy"] + coupling * (1 - 2 * point["distance"]))
    return values


def z_scores(xi, y, reference, bp_values, wrong: bool) -> list[float]:
    scores = []
    for coupling, value in zip(COUPLINGS, bp_values):
        tau = math.sqrt(tau_of_coupling(coupling)) if wrong else None
        estimate = is_free_entropy(xi, y, 1, reference, coupling, SAMPLES, seed=0, tau=tau)
        scores.append((value - estimate["free_entropy"]) / estimate["standard_error"])
    return scores


def test_bp_probe_equals_is_within_monte_carlo_error():
    xi, y, teacher = teacher_instance(101, 10, seed=1)
    bp_values = bp_free_entropies(xi, y, teacher)
    right = z_scores(xi, y, teacher, bp_values, wrong=False)
    assert all(abs(z) < 4 for z in right), right
    wrong = z_scores(xi, y, teacher, bp_values, wrong=True)
    assert not all(abs(z) < 4 for z in wrong), wrong


def test_is_side_equals_enumeration():
    xi, y = instance(3, 1, 15, seed=4)
    reference = solution_reference(xi, y, 1)
    for coupling in (0.3, 1.0):
        s, d = exact(xi, y, 1, reference, coupling)
        estimate = is_free_entropy(xi, y, 1, reference, coupling, SAMPLES, seed=0)
        truth = s + coupling * (1 - 2 * d)
        assert abs(estimate["free_entropy"] - truth) < 4 * estimate["standard_error"]


def test_tau_maps_to_the_sign_flip_probability():
    for coupling in (0.25, 1.0, 2.0):
        tau = tau_of_coupling(coupling)
        keep = 0.5 * math.erfc(-1 / math.sqrt(2 * tau))  # P(sign(z_i) = W~_i), z ~ N(W~, tau)
        assert 2 * keep - 1 == pytest.approx(math.tanh(coupling), rel=1e-12)


def test_binarised_errors_count_wrong_patterns():
    xi, y, teacher = teacher_instance(21, 6, seed=3)
    loss = BinarisedErrors(1, 21)
    flipped = teacher.clone()
    flipped[:5] *= -1
    values = loss.losses(torch.stack([0.3 * teacher, flipped]), Batch(xi, y))
    assert values[0] == 0
    assert values[1] == TreeCommitteeBP(xi, y, 1).errors(flipped)
