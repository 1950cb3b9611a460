"""The BP local-entropy probe: the log-number of binary solutions at Hamming distance d from a
reference configuration, for the tree committee machine and the perceptron (Baldassi, Pittorino
and Zecchina, PNAS 2020, Eq. 8 and section "BP and fBP"; Fig. 4 measures it so; Baldassi et al.,
"Unreasonable effectiveness of learning neural networks", PNAS 2016).

With an external field ``lambda W~_i`` on every weight, BP (``sampler.baselines.
belief_propagation``, Gaussian fields) on the whole training set gives the Bethe free entropy
``F(lambda) = log sum_{W solution} e^{lambda W~ . W}`` and the overlap
``q = (1/N) sum_i W~_i m_i``; the local entropy at ``d = (1 - q) / 2`` is its Legendre transform

    S(d) = (F(lambda) - lambda N q) / N,

and the normalised local entropy ``S(d) - H2(d)`` (``H2`` the binary entropy: the log-fraction of
all configurations at distance d that are solutions; 0 where every neighbour is a solution). One
point per coupling lambda of ``--bp-couplings`` (larger lambda, smaller d), each BP warm-started
from the previous one, with its iterations and whether it converged (within ``--bp-iterations``,
no ``tanh(message)`` moving more than 1e-6); a point that did not converge is reported as such,
not dropped.

Reference: the signs of the run's weights, ``W~ = sign(w)`` (binary weights, as fBP's; for a run
with real weights, LAL, eLAL or SGD, this is a binary projection that need not be a solution: its
training errors are reported beside the curve, and ``--bp-max-reference-errors`` skips the curve,
whose BP often does not converge there, when they are too many). Tested against exact
enumeration on small instances (``tests/flatness/test_bp_local_entropy.py``) and against the
engine's IS estimate at matched settings (``binary_is_check``).
"""

from __future__ import annotations

import math

import torch

from sampler.baselines.belief_propagation import TreeCommitteeBP, converge
from sampler.models.committee import Committee
from sampler.models.perceptron import Perceptron

TOL = 1e-6
DAMPING = 0.5


def binary_entropy(d: float) -> float:
    if d <= 0 or d >= 1:
        return 0.0
    return -d * math.log(d) - (1 - d) * math.log(1 - d)


def probe_units(model, probe: str = "bp-local-entropy") -> int:
    """The units of a tree committee (1 for the perceptron); ``ValueError`` naming the probe."""
    if isinstance(model, Committee) and model.tree:
        return model.hidden
    if isinstance(model, Perceptron):
        return 1
    raise ValueError(
        f"--probes {probe}: needs a run of --model committee (tree-like) or perceptron, "
        f"got {type(model).__name__}"
    )


def local_entropy_point(bp: TreeCommitteeBP, reference, coupling: float, u, iterations: int):
    """``(point, messages)``: S(d) at one coupling, BP started from ``u``."""
    h = coupling * reference
    u, used, converged = converge(bp, u, lambda _: h, DAMPING, TOL, iterations)
    n = reference.numel()
    m = bp.marginals(u, h)
    q = float((reference * m).sum()) / n
    free = bp.free_entropy(u, h) / n
    d = (1 - q) / 2
    entropy = free - coupling * q
    point = {
        "coupling": coupling,
        "distance": d,
        "local_entropy": entropy,
        "normalised": entropy - binary_entropy(d),
        "converged": bool(converged),
        "iterations": used,
    }
    return point, u


def bp_local_entropy_curve(
    model,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    params,
    couplings,
    iterations: int,
    max_reference_errors: int | None = None,
) -> dict:
    """The curve over ``couplings`` (taken from the largest down: from near the reference
    outwards) on the patterns ``inputs`` with labels ``targets`` (classes 0/1); no points, and
    ``skipped`` saying why, when ``sign(w)`` has more than ``max_reference_errors`` errors."""
    units = probe_units(model)
    y = 2.0 * targets.double() - 1.0
    bp = TreeCommitteeBP(inputs.reshape(len(y), -1), y, units)
    reference = torch.where(params.double() >= 0, 1.0, -1.0).to(torch.float64)
    wrong = bp.errors(reference)
    if max_reference_errors is not None and wrong > max_reference_errors:
        return {
            "reference_errors": wrong,
            "patterns": len(y),
            "points": [],
            "skipped": f"sign(w) has {wrong} training errors, more than "
            f"--bp-max-reference-errors {max_reference_errors}",
        }
    u = torch.zeros(len(y), reference.numel(), dtype=torch.float64)
    points = []
    for coupling in sorted(couplings, reverse=True):
        point, u = local_entropy_point(bp, reference, coupling, u, iterations)
        points.append(point)
    return {
        "reference_errors": wrong,
        "patterns": len(y),
        "points": sorted(points, key=lambda p: p["distance"]),
    }
