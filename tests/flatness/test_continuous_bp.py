"""The continuous-weight BP local-entropy probe (``sampler.flatness.continuous_bp``): with no
patterns it is the spherical log-volume in closed form; on one pattern it equals the exact
fraction of the ring (a one-dimensional integral); on a loopy committee instance it agrees with
a Monte Carlo estimate of the fraction of the ring that are solutions, and a variant that forgets
to remove w_i from its unit's field (no cavity) does not; ``sampler flatness --probes
bp-local-entropy-continuous`` on a run, bad options refused in one line."""

from __future__ import annotations

import json
import math

import pytest
import torch

from sampler.baselines.belief_propagation import TINY, correct_given_unit, gaussian_tail
from sampler.baselines.gaussian_bp import ContinuousCommitteeBP, sphere_log_volume
from sampler.cli.main import main
from sampler.flatness.continuous_bp import continuous_local_entropy_curve, local_entropy_at

# BP's log-volume is exact as N -> infinity; at finite N it is off by O(1) in log Vol, O(1/N)
# per weight: the Monte Carlo comparison allows FINITE_SIZE / N beside 4 standard errors
FINITE_SIZE = 0.05


def teacher_instance(patterns: int, k: int, n: int, seed: int):
    """Random ±1 patterns labelled by a random teacher (a solution with margin: the reference)."""
    g = torch.Generator().manual_seed(seed)
    xi = torch.randint(0, 2, (patterns, k * n), generator=g).double() * 2 - 1
    teacher = torch.randn(k * n, dtype=torch.float64, generator=g)
    y = torch.sign(torch.sign((xi.reshape(patterns, k, n) * teacher.reshape(k, n)).sum(-1)).sum(-1))
    return xi, y, teacher


def start(bp):
    zero = torch.zeros_like(bp.xi)
    return zero, zero.clone()


def ring_fraction(xi, y, k, reference, distance, draws, seed):
    """``(log P / N, standard error)``: the fraction of the uniform law on the ring (each unit on
    its sphere at overlap q with its reference block) that classifies every pattern."""
    g = torch.Generator().manual_seed(seed)
    n, q = xi.shape[1] // k, 1 - 2 * distance
    r = reference.reshape(k, n)
    hits = 0
    for _ in range(draws // 20_000):
        u = torch.randn(20_000, k, n, generator=g, dtype=torch.float64)
        u = u - (u * r).sum(-1, keepdim=True) / n * r
        u = u * (n / (u * u).sum(-1, keepdim=True)).sqrt()
        w = q * r + math.sqrt(1 - q * q) * u
        h = (xi.reshape(len(xi), k, n).unsqueeze(0) * w.unsqueeze(1)).sum(-1)
        hits += int((y * torch.sign(h).sum(-1) > 0).all(-1).sum())
    p = hits / draws
    return math.log(p) / (k * n), math.sqrt((1 - p) / (p * draws)) / (k * n)


class NoCavity(ContinuousCommitteeBP):
    """Deliberately wrong: the message to w_i read from its unit's whole field, w_i included."""

    def update(self, a_msg, b_msg, a, b):
        m, v = self.cavity(a_msg, b_msg, a, b)
        mean, var, p = self.unit_fields(m, v)
        a_plus, a_minus = (t.unsqueeze(-1) for t in correct_given_unit(p, self.y, self.k))
        x = (mean / var.sqrt()).unsqueeze(-1).expand_as(v)
        delta = a_plus - a_minus
        z = (a_minus + delta * gaussian_tail(x)).clamp_min(TINY)
        r = delta * torch.exp(-x * x / 2) / math.sqrt(2 * math.pi) / z
        sd = var.sqrt().unsqueeze(-1)
        return self.xi * r / sd, (r / sd**2) * (x + r)


def test_no_patterns_is_the_spherical_log_volume():
    k, n = 3, 21
    xi, y = torch.zeros(0, k * n, dtype=torch.float64), torch.zeros(0, dtype=torch.float64)
    reference = torch.randn(k * n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    bp = ContinuousCommitteeBP(xi, y, k, reference)
    for distance in (0.01, 0.1, 0.3):
        point, _ = local_entropy_at(bp, distance, start(bp), 50)
        q = 1 - 2 * distance
        assert point["converged"] and point["overlap"] == pytest.approx(q)
        assert point["normalised"] == pytest.approx(0.0, abs=1e-9)
        # the paper's G_S(q1) = (1 + log 2 pi + log(1 - q1)) / 2 with q1 = q^2
        gs = 0.5 * (1 + math.log(2 * math.pi) + math.log(1 - q * q))
        assert point["local_entropy"] == pytest.approx(gs, abs=1e-9)
        assert sphere_log_volume(k * n, q) == pytest.approx(k * n * gs)


def exact_one_pattern(xi, r, distance) -> float:
    """log of the fraction of the ring with ``xi . w > 0``: ``w = q r + s u``, u uniform on the
    sphere of radius sqrt(n) in the n - 1 dimensions orthogonal to r, so ``xi . u = |xi_perp|
    sqrt(n) t`` with t's density proportional to ``(1 - t^2)^((n - 4) / 2)``."""
    n, q = len(r), 1 - 2 * distance
    along = float(xi @ r)
    perp = float((xi - along / n * r).norm())
    t = torch.linspace(-1, 1, 400_001, dtype=torch.float64)[1:-1]
    log_density = (n - 4) / 2 * torch.log1p(-t * t)
    density = torch.exp(log_density - log_density.max())
    inside = (q * along + math.sqrt(1 - q * q) * perp * math.sqrt(n) * t) > 0
    return math.log(float(torch.trapezoid(density * inside, t) / torch.trapezoid(density, t)))


@pytest.mark.parametrize("distance", [0.05, 0.2])
def test_one_pattern_equals_the_exact_fraction_of_the_ring(distance):
    n = 1601
    g = torch.Generator().manual_seed(1)
    xi = torch.randint(0, 2, (1, n), generator=g).double() * 2 - 1
    u = torch.randn(n, dtype=torch.float64, generator=g)
    u = u - (u @ xi[0]) / n * xi[0]
    cosine = 0.01  # the reference classifies the pattern with a small margin
    r = cosine * xi[0] / xi[0].norm() + math.sqrt(1 - cosine**2) * u / u.norm()
    r = r * math.sqrt(n)
    bp = ContinuousCommitteeBP(xi, torch.ones(1, dtype=torch.float64), 1, r)
    point, _ = local_entropy_at(bp, distance, start(bp), 500)
    exact = exact_one_pattern(xi[0], r, distance)
    assert point["converged"] and exact < -0.1  # the pattern does cut the ring
    assert n * point["normalised"] == pytest.approx(exact, abs=1e-3)


def test_monte_carlo_on_a_committee_and_a_wrong_variant_fails():
    k, n, distance = 3, 67, 0.02
    xi, y, teacher = teacher_instance(30, k, n, seed=33)
    bp = ContinuousCommitteeBP(xi, y, k, teacher)
    assert bp.errors(bp.r) == 0
    mc, se = ring_fraction(xi, y, k, bp.r, distance, 100_000, seed=1)
    tolerance = 4 * se + FINITE_SIZE / (k * n)
    point, _ = local_entropy_at(bp, distance, start(bp), 500)
    assert point["converged"] and abs(point["normalised"] - mc) < tolerance
    wrong = NoCavity(xi, y, k, teacher)
    point, _ = local_entropy_at(wrong, distance, start(wrong), 500)
    assert point["converged"] and abs(point["normalised"] - mc) > tolerance


def test_the_curve_reports_convergence_and_skips_a_reference_with_errors():
    from sampler.models.committee import Committee

    k, n = 3, 21
    xi, y, teacher = teacher_instance(15, k, n, seed=4)
    model = Committee(k * n, hidden=k)
    curve = continuous_local_entropy_curve(model, xi, (y + 1) / 2, teacher, [0.1, 0.02], 300)
    assert curve["reference_errors"] == 0 and curve["patterns"] == 15
    assert [p["distance"] for p in curve["points"]] == [0.02, 0.1]
    assert all(p["converged"] and 0 < p["iterations"] < 300 for p in curve["points"])
    assert curve["points"][1]["normalised"] < curve["points"][0]["normalised"] < 0
    one = continuous_local_entropy_curve(model, xi, (y + 1) / 2, teacher, [0.1], 1)
    assert not one["points"][0]["converged"] and one["points"][0]["iterations"] == 1
    flipped = continuous_local_entropy_curve(model, xi, (1 - y) / 2, teacher, [0.1], 300, 0)
    assert flipped["points"] == [] and flipped["reference_errors"] == 15
    assert "more than --bp-max-reference-errors 0" in flipped["skipped"]


def test_sampler_flatness_prints_the_continuous_curve(tmp_path, capsys):
    run = tmp_path / "run"
    data = ["--data", "random-patterns", "--data-opt", "n=75", "--data-opt", "alpha=0.4"]
    model = ["--model", "committee", "--model-opt", "hidden=3"]
    argv = ["train", *data, *model, "--baseline", "lal", "--batch-size", "10", "--steps", 400]
    assert main(list(map(str, [*argv, "--quiet", "--out", run]))) == 0
    capsys.readouterr()
    probes = ["--probes", "bp-local-entropy-continuous", "--bp-distances", "0.02,0.1"]
    assert main(["flatness", str(run), *probes]) == 0
    assert "continuous BP local entropy d=0.02: " in capsys.readouterr().out
    report = json.loads((run / "flatness.json").read_text())["bp_local_entropy_continuous"]
    assert [p["distance"] for p in report["points"]] == [0.02, 0.1]
    assert all(p["normalised"] is None or p["normalised"] <= 1e-6 for p in report["points"])


@pytest.mark.parametrize("value", ["0.5", "0,0.1", "x", "-0.1"])
def test_bad_distances_are_refused_with_one_line(tmp_path, capsys, value):
    with pytest.raises(SystemExit):
        main(["flatness", str(tmp_path), "--bp-distances", value])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--bp-distances: must be a comma-separated list of" in err
