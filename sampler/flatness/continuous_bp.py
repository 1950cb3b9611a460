"""The continuous-weight BP local-entropy probe (``sampler flatness --probes
bp-local-entropy-continuous``): the normalised local entropy ``V1(d)`` of Baldassi, Pittorino and
Zecchina (PNAS 117(1), 2020, Eq. 15 and section "The Existence of WFM"), the log-fraction of the
configurations with each hidden unit on its sphere ``|w_l|^2 = n`` at overlap q with the run's
own weights (each unit rescaled to that sphere) that classify every training pattern, at
``d = (1 - q) / 2``, over a grid of d, with each point's BP iterations and convergence. The BP,
its constraints (per-unit Lagrange multipliers refitted after every sweep) and the Legendre
transform ``log Vol(q) = F + sum_l (a_l n / 2 - b_l n q)`` are derived in
``sampler.baselines.gaussian_bp``; ``log Vol(all at q) = (N/2)(1 + log 2 pi (1 - q^2))`` (the
paper's G_S). Tested in ``tests/flatness/test_continuous_bp.py``.
"""

from __future__ import annotations

import math

import torch

from sampler.baselines.gaussian_bp import ContinuousCommitteeBP, sphere_log_volume
from sampler.flatness.bp_local_entropy import probe_units

TOL = 1e-6
DAMPING = 0.5


def local_entropy_at(bp: ContinuousCommitteeBP, distance: float, messages, iterations: int):
    """``(point, messages)``: the normalised local entropy at ``distance``, BP started from
    ``messages`` (A, B), damped by ``DAMPING``; converged when no marginal mean or variance
    moved more than ``TOL`` in a sweep."""
    q = 1 - 2 * distance
    a_msg, b_msg = messages
    a, b = bp.fit(a_msg, b_msg, q)
    old = bp.marginals(a_msg, b_msg, a, b)
    converged, used = False, iterations
    for it in range(1, iterations + 1):
        new_a, new_b = bp.update(a_msg, b_msg, a, b)
        a_msg = DAMPING * a_msg + (1 - DAMPING) * new_a
        b_msg = DAMPING * b_msg + (1 - DAMPING) * new_b
        a, b = bp.fit(a_msg, b_msg, q)
        now = bp.marginals(a_msg, b_msg, a, b)
        moved = max(float((x - y).abs().max()) for x, y in zip(now, old))
        old = now
        if not math.isfinite(moved):
            used = it
            break
        if moved < TOL:
            converged, used = True, it
            break
    n_all = bp.k * bp.n
    log_volume = bp.free_entropy(a_msg, b_msg, a, b) + float((a / 2 - b * q).sum()) * bp.n
    normalised = (log_volume - sphere_log_volume(n_all, q)) / n_all
    finite = math.isfinite(normalised)
    point = {
        "distance": distance,
        "overlap": q,
        "local_entropy": log_volume / n_all if finite else None,
        "normalised": normalised if finite else None,
        "converged": converged and finite,
        "iterations": used,
    }
    return point, (a_msg, b_msg)


def continuous_local_entropy_curve(
    model,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    params,
    distances,
    iterations: int,
    max_reference_errors: int | None = None,
) -> dict:
    """The curve over ``distances`` (from the nearest outwards, each BP warm-started from the
    previous one) around the run's real weights ``params`` (each unit rescaled to the sphere),
    on the patterns ``inputs`` with labels ``targets`` (0/1); no points, and ``skipped`` saying
    why, when the weights have more than ``max_reference_errors`` training errors."""
    units = probe_units(model, "bp-local-entropy-continuous")
    y = 2.0 * targets.double() - 1.0
    bp = ContinuousCommitteeBP(inputs.reshape(len(y), -1), y, units, params.detach())
    wrong = bp.errors(bp.r)
    report = {"reference": "w (each unit on its sphere)", "reference_errors": wrong}
    report["patterns"] = len(y)
    if max_reference_errors is not None and wrong > max_reference_errors:
        report["points"] = []
        report["skipped"] = (
            f"w has {wrong} training errors, more than --bp-max-reference-errors "
            f"{max_reference_errors}"
        )
        return report
    zero = torch.zeros_like(bp.xi)
    messages, points = (zero, zero.clone()), []
    for distance in sorted(distances):
        point, messages = local_entropy_at(bp, distance, messages, iterations)
        if not point["converged"]:  # a diverged start is no start for the next distance
            messages = (zero, zero.clone())
        points.append(point)
    report["points"] = points
    return report
