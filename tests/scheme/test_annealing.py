"""``--lr anneal``: the outer step cut back when the Monte Carlo error dominates
(``sampler.scheme.annealing``) drives the iterate to the minimiser of a quadratic at the derived
rate; the constant step (``x <- m``) and a step that ignores the error fail the same check; a
resumed run with the rule is bit-identical.

A longer full step (``--lr anneal:R,G``) follows the same recursion with the step ``s_k = G r_k``
(``r_k = min(1, B / (G R (k + 1)))``): recorded, measured, and refused where the rule ignores
``G`` in the error it weighs.

The quadratic ``f = a/2 |x - x*|^2`` has the exact local-entropy target ``m = (x / tau + beta a
x*) / (1 / tau + beta a)``; the estimator here returns it plus Gaussian noise of known variance
``SE^2`` per coordinate (and reports that variance, as every estimator does), so the error
``e = x - x*`` follows ``e_{k+1} = (1 - r_k c) e_k + r_k xi_k`` with ``c = beta a tau / (1 +
beta a tau)`` and its mean square the exact recursion ``v_{k+1} = (1 - r_k c)^2 v_k + r_k^2
SE^2``. ``D`` independent coordinates are ``D`` replicates: the measured mean square is
compared with ``v_k`` within 4 of its Monte Carlo standard errors.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import pytest
import torch

from sampler.cli.main import main
from sampler.config.method_options import method, resolve
from sampler.models.options import OptionError
from sampler.mpi import SerialComm
from sampler.scheme.annealing import AnnealedStep
from sampler.scheme.optimizers import make_optimizer
from sampler.scheme.tau import TauSchedule
from sampler.scheme.two_step import TwoStepTrainer
from tests.helpers.mixture_runs import cli, read_run
from tests.helpers.quadratic import QuadraticProblem

D = 4000  # coordinates = independent replicates of the scalar recursion
TAU, BETA, CURVATURE, SE2 = 0.1, 1.0, 1.0, 1e-4
C = BETA * CURVATURE * TAU / (1 + BETA * CURVATURE * TAU)  # contraction of one full step
FULL_BETA_EFF = 2 * BETA * TAU / SE2  # B: beta_eff of the full step
A = 1.5 / C  # r_k = A / (k + 1) once cut: 2 A c = 3 > 1, the 1/k regime
RATE = FULL_BETA_EFF / A  # R of --lr anneal:R that gives that A
STEPS = 2000
CHECKS = (250, 500, 1000, 2000)


class NoisyInfo(NamedTuple):
    beta: float
    loss_evals: int
    grad_evals: int
    target_variance: torch.Tensor | None = None


class NoisyExactTarget:
    """The exact tilted mean plus ``N(0, SE2)`` noise drawn from ``(seed, step)``."""

    objective = "local-entropy"

    def init(self, center):
        return {}

    def step(self, key, state, center, tau, problem, comm):
        exact = problem.tilted_mean(center, tau, BETA)
        generator = torch.Generator().manual_seed(key.seed * 100003 + key.step)
        noise = torch.randn(center.shape, generator=generator, dtype=torch.float64)
        variance = torch.full_like(center, SE2, dtype=torch.float64)
        return exact + math.sqrt(SE2) * noise, state, NoisyInfo(BETA, 0, 0, variance)


def run(lr, steps: int = STEPS):
    """Mean squared error over the coordinates at every step in ``CHECKS`` (and its standard
    error), and the ratios ``r_k`` the trainer recorded."""
    problem = QuadraticProblem(torch.full((D,), CURVATURE), torch.zeros(D))
    trainer = TwoStepTrainer(NoisyExactTarget(), TauSchedule(str(TAU)), lr, seed=3)
    params = torch.ones(D, dtype=torch.float64)
    state = trainer.init(params)
    measured, ratios = {}, []
    for step in range(steps):
        params, state, record = trainer.step(step, params, state, problem, SerialComm())
        ratios.append(record.get("lr_ratio", 1.0))
        if step + 1 in CHECKS:
            squared = params * params
            measured[step + 1] = (float(squared.mean()), float(squared.std()) / math.sqrt(D))
    return measured, ratios


def predicted(ratios) -> list[float]:
    """``v_k`` of the exact recursion for the steps ``r_k`` of the rule (``eta_k / tau``),
    ``v_0 = 1``."""
    values = [1.0]
    for r in ratios:
        values.append((1 - r * C) ** 2 * values[-1] + r * r * SE2)
    return values


def rule_ratios(steps: int = STEPS, gain: float = 1.0) -> list[float]:
    """``eta_k / tau = G r_k`` with ``r_k = min(1, B / (G R (k + 1)))``: ``G`` until the cut,
    then ``A / (k + 1)`` as with ``G = 1``."""
    return [gain * min(1.0, A / (gain * (k + 1))) for k in range(steps)]


def check_follows_the_recursion(measured, gain: float = 1.0) -> None:
    expected = predicted(rule_ratios(gain=gain))
    for k, (mse, se) in measured.items():
        assert abs(mse - expected[k]) < 4 * se, (k, mse, expected[k], se)


def check_converges_at_the_derived_rate(measured) -> None:
    """The measured mean squares follow the rule's recursion, which decays as
    ``A^2 SE^2 / ((2 A c - 1) k)``."""
    check_follows_the_recursion(measured)
    expected = predicted(rule_ratios())
    asymptote = A * A * SE2 / (2 * A * C - 1)
    assert expected[STEPS] * STEPS == pytest.approx(asymptote, rel=0.05)
    assert measured[1000][0] / measured[2000][0] == pytest.approx(2.0, rel=0.15)


def test_the_rule_is_the_derived_harmonic_step():
    _, ratios = run(AnnealedStep(RATE), steps=50)
    assert ratios == pytest.approx(rule_ratios(50), rel=1e-9)


def test_annealed_step_drives_the_iterate_to_the_minimiser_at_rate_one_over_k():
    measured, _ = run(AnnealedStep(RATE))
    check_converges_at_the_derived_rate(measured)
    assert measured[STEPS][0] < SE2 / (C * (2 - C)) / 20  # far below the constant step's floor


def test_the_constant_step_settles_at_its_noise_floor_and_fails():
    measured, _ = run(None)  # x <- m, the paper's algorithm
    floor = SE2 / (C * (2 - C))
    mse, se = measured[STEPS]
    assert abs(mse - floor) < 4 * se  # the stationary variance of the constant step
    with pytest.raises(AssertionError):
        check_converges_at_the_derived_rate(measured)


class ErrorBlindStep(AnnealedStep):
    """A wrong variant: ``r_k = 1 / (k + 1)`` whatever the Monte Carlo error (2 A c < 1)."""

    def ratio(self, step, variance, tau, langevin_tau, beta, block=None):
        return 1.0 / (step + 1)


def test_a_step_blind_to_the_error_fails():
    measured, _ = run(ErrorBlindStep())
    with pytest.raises(AssertionError):
        check_converges_at_the_derived_rate(measured)


def test_a_longer_full_step_is_recorded_and_follows_its_recursion():
    rule = AnnealedStep(RATE, gain=2.0)
    measured, ratios = run(rule)
    assert ratios == pytest.approx(rule_ratios(gain=2.0), rel=1e-9)
    assert ratios[0] == 2.0 and ratios[-1] == pytest.approx(A / STEPS)
    check_follows_the_recursion(measured, gain=2.0)


class GainBlindStep(AnnealedStep):
    """A wrong variant: the full step ``G tau``, but the cut weighs the error of ``tau``
    (``r_k = min(1, B / (R (k + 1)))``): the late steps are ``G`` times too long."""

    def ratio(self, step, variance, tau, langevin_tau, beta, block=None):
        return super().ratio(step, variance, tau, langevin_tau / self.gain, beta, block)


def test_a_cut_blind_to_the_longer_step_fails():
    measured, ratios = run(GainBlindStep(RATE, gain=2.0))
    assert ratios[-1] == pytest.approx(2 * A / STEPS)
    with pytest.raises(AssertionError):
        check_follows_the_recursion(measured, gain=2.0)


@pytest.mark.parametrize(
    "value", ["anneal:5,0", "anneal:5,-1", "anneal:5,2.5", "anneal:5,x", "anneal:5,nan"]
)
def test_a_bad_full_step_is_refused_naming_the_flag(value):
    with pytest.raises(OptionError, match=r"--lr: .*full step G in \(0, 2\]"):
        resolve(method("is", None), {"lr": value}, steps=10)


def test_without_monte_carlo_error_the_step_stays_full():
    rule = AnnealedStep()
    assert rule.ratio(10**6, None, TAU, TAU, BETA) == 1.0
    tiny = torch.full((5,), 1e-30, dtype=torch.float64)
    assert rule.ratio(10**6, tiny, TAU, TAU, BETA) == 1.0


@pytest.mark.parametrize("value", ["anneal:0", "anneal:-1", "anneal:x", "anneal:inf", "anneal:,2"])
def test_a_bad_rate_is_refused_naming_the_flag(value):
    with pytest.raises(OptionError, match=r"--lr: .*positive number R"):
        resolve(method("is", None), {"lr": value}, steps=10)


def test_anneal_is_the_default_and_recorded():
    values = resolve(method("is", None), {}, steps=10)
    assert values["lr"] == "anneal" and isinstance(values["lr"], AnnealedStep)
    assert resolve(method("is", None), {"lr": "anneal:2.5"}, steps=10)["lr"] == "anneal:2.5"
    longer = resolve(method("is", None), {"lr": "anneal:5,2"}, steps=10)["lr"]
    assert longer == "anneal:5,2" and (longer.rate, longer.gain) == (5.0, 2.0)
    assert resolve(method("is", None), {"lr": "anneal:5,1"}, steps=10)["lr"] == "anneal"


@pytest.mark.parametrize("lr", ["anneal:1e6", "anneal:1e6,2"])
def test_resume_with_the_rule_equals_an_uninterrupted_run(tmp_path, lr):
    # R so large that r_k < 1 from the first update: the rule acts at every step
    common = ["--samples", 150, "--steps", 8, "--eval-every", 4, "--checkpoint-every", 3]
    common += ["--lr", lr]
    assert cli(*common, "--out", tmp_path / "whole") == 0
    partial = list(common)
    partial[partial.index("--steps") + 1] = 5
    assert cli(*partial, "--out", tmp_path / "part") == 0
    assert main(["train", "--resume", str(tmp_path / "part"), "--steps", "8", "--quiet"]) == 0
    _, whole_metrics, _, whole = read_run(tmp_path / "whole")
    _, metrics, _, resumed = read_run(tmp_path / "part")
    assert torch.equal(whole["params"], resumed["params"])
    assert all(0 < m["lr_ratio"] < 1 for m in metrics)
    assert [m["lr_ratio"] for m in metrics] == [m["lr_ratio"] for m in whole_metrics]


@pytest.mark.parametrize("momentum, gain", [(0.0, 1.0), (0.5, 1.0), (0.0, 2.0), (0.5, 1.5)])
def test_the_recorded_beta_eff_is_the_rules_target_once_cut(momentum, gain):
    """``beta_eff`` of ``sampler.scheme.mc_error`` after the step is ``max(B / G, R (k + 1))``,
    with momentum too (the Langevin step ``eta / (1 - mu)``)."""
    problem = QuadraticProblem(torch.full((50,), CURVATURE), torch.zeros(50))
    optimizer = make_optimizer("momentum" if momentum else "sgd", momentum)
    rule = AnnealedStep(RATE, gain)
    trainer = TwoStepTrainer(NoisyExactTarget(), TauSchedule(str(TAU)), rule, 0, optimizer)
    full = FULL_BETA_EFF * (1 - momentum) / gain
    params = torch.ones(50, dtype=torch.float64)
    state = trainer.init(params)
    for step in range(40):
        params, state, record = trainer.step(step, params, state, problem, SerialComm())
        assert record["beta_eff"] == pytest.approx(max(full, RATE * (step + 1)), rel=1e-9)
