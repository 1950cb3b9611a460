"""OpenAI-ES (``--baseline es``): its raw estimate on a quadratic against the closed form (within
4.5 standard errors, a wrong scale rejected), centred ranks invariant to an increasing transform
of the loss, antithetic pairs, the marginalised first layer with the antithetic law (a variant
without its residual rejected), the same update on 1, 2 and 3 ranks, resume bit-exact."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from sampler.baselines import BASELINES, RunContext
from sampler.baselines.es_population import MarginalPairs
from sampler.baselines.evolution_strategies import EvolutionStrategies, shaped
from sampler.cli.main import main
from sampler.config.method_options import method, resolve
from sampler.estimators.base import StepKey
from sampler.models.data.gaussian_mixture import make_gaussian_mixture
from sampler.models.zoo import build_mlp
from sampler.mpi import SerialComm
from sampler.problem import Problem
from tests.helpers.quadratic import QuadraticProblem, mean_and_standard_error
from tests.helpers.thread_comm import run_on_ranks

CURVATURE = torch.tensor([1.0, 3.0, 0.5, 2.0])
MINIMUM = torch.tensor([0.4, -0.3, 0.2, 0.0])
CENTER = torch.tensor([0.1, 0.2, -0.3, 0.3])
COMM = SerialComm()


def trainer(seed: int = 3, **given) -> EvolutionStrategies:
    values = resolve(method("is", "es"), given, steps=1)
    return BASELINES["es"].build(values, RunContext(seed=seed))


def estimates(built: EvolutionStrategies, problem, count: int) -> list[torch.Tensor]:
    """``count`` updates' estimates at ``CENTER`` (fresh noise at each step)."""
    return [
        built.estimate(StepKey(built.seed, step), CENTER, problem, COMM)[0] for step in range(count)
    ]


class TwiceTheScale(EvolutionStrategies):
    """A deliberately wrong variant: the sum over pairs divided by N/2 instead of N."""

    def estimate(self, key, params, problem, comm):
        gradient, losses = super().estimate(key, params, problem, comm)
        return 2 * gradient, losses


@pytest.mark.parametrize("sigma", [0.05, 0.5])
def test_raw_estimate_is_the_gradient_of_the_smoothed_quadratic(sigma):
    """``E g = grad E f(x + sigma e) = A (x - a)`` on a quadratic, for any sigma."""
    problem = QuadraticProblem(CURVATURE, MINIMUM, allow_grad=False)
    given = {"fitness": "raw", "population": 20, "block_size": 10, "sigma": sigma}
    mean, se = mean_and_standard_error(estimates(trainer(**given), problem, 300))
    exact = (CURVATURE * (CENTER - MINIMUM)).double()
    assert torch.all((mean - exact).abs() <= 4.5 * se), (mean, exact, se)
    values = resolve(method("is", "es"), given, steps=1)
    wrong = TwiceTheScale(
        20, sigma, values["lr"], fitness="raw", block_size=10, seed=3
    )  # same noise, twice the estimate
    wrong_mean, wrong_se = mean_and_standard_error(estimates(wrong, problem, 300))
    assert torch.any((wrong_mean - exact).abs() > 4.5 * wrong_se)
    assert problem.grad_evals == 0 and problem.loss_evals == 2 * 300 * 20


class Transformed(QuadraticProblem):
    """The quadratic through an increasing transform ``t(f) = exp(3 f) + f^3``."""

    def losses(self, params):
        values = super().losses(params).double()
        return (torch.exp(3 * values) + values**3).to(params.dtype)


def test_centred_ranks_are_invariant_to_an_increasing_transform_of_the_loss():
    plain = QuadraticProblem(CURVATURE, MINIMUM)
    bent = Transformed(CURVATURE, MINIMUM)
    for fitness, invariant in (("rank", True), ("standardised", False), ("raw", False)):
        built = trainer(population=30, block_size=10, sigma=0.3, fitness=fitness)
        a = built.estimate(StepKey(3, 5), CENTER, plain, COMM)[0]
        b = built.estimate(StepKey(3, 5), CENTER, bent, COMM)[0]
        assert torch.equal(a, b) == invariant, fitness


def test_centred_ranks_span_minus_half_to_half_and_sum_to_zero():
    losses = torch.tensor([3.0, -1.0, float("nan"), 2.0, 2.0], dtype=torch.float64)
    weights = shaped(losses, "rank")
    assert weights.tolist() == [0.25, -0.5, 0.5, -0.25, 0.0]  # NaN ranks worst; ties by position
    assert float(shaped(losses[[0, 1, 3]], "standardised").std()) == pytest.approx(1.0)


class Recording(QuadraticProblem):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.points: list[torch.Tensor] = []

    def losses(self, params):
        self.points.append(params.clone())
        return super().losses(params)


def test_the_population_comes_in_antithetic_pairs_within_each_block():
    problem = Recording(CURVATURE, MINIMUM)
    built = trainer(population=10, block_size=4, sigma=0.2)
    built.estimate(StepKey(3, 0), CENTER, problem, COMM)
    assert [p.shape[0] for p in problem.points] == [4, 4, 2]
    steps = []
    for points in problem.points:
        half = points.shape[0] // 2
        plus, minus = points[:half] - CENTER, points[half:] - CENTER
        assert torch.allclose(plus, -minus, atol=1e-6)
        steps.append(plus)
    steps = torch.cat(steps)
    assert torch.unique(steps, dim=0).shape[0] == 5  # distinct noise per pair
    assert float(steps.std()) == pytest.approx(0.2, rel=0.5)


def mlp_problem(step: int):
    data = make_gaussian_mixture(dim=6, train_size=60, test_size=10, data_seed=1)
    model = build_mlp(data.input_shape, data.num_classes, widths=(5,))
    draw = partial(data.minibatch, 0, step, 12)
    return model, Problem(model, draw(0), draw)


def run_updates(comm, steps: int = 4, **given):
    model, _ = mlp_problem(0)
    built = trainer(seed=1, population=14, block_size=4, **given)
    params = model.init_params(0)
    state = built.init(params)
    records = []
    for step in range(steps):
        _, problem = mlp_problem(step)
        params, state, record = built.step(step, params, state, problem, comm)
        records.append(record)
    return params, state, records


def test_the_same_updates_on_one_two_and_three_ranks():
    serial, _, records = run_updates(COMM)
    assert [r["loss_evals"] for r in records] == [14] * 4
    assert all(r["grad_evals"] == 0 and r["examples_seen"] == 12 for r in records)
    for size in (2, 3):
        for params, _, _ in run_on_ranks(size, run_updates):
            assert torch.equal(params, serial), f"{size} ranks"


def test_the_optimisers_and_weight_decay_move_the_parameters():
    plain, _, _ = run_updates(COMM, steps=2)
    assert not torch.equal(plain, mlp_problem(0)[0].init_params(0))
    decayed, _, _ = run_updates(COMM, steps=2, weight_decay=0.5)
    momentum, _, _ = run_updates(COMM, steps=2, optimizer="momentum", momentum=0.9)
    assert not torch.equal(plain, decayed) and not torch.equal(plain, momentum)


def train(out, *args) -> dict:
    common = ["--data", "gaussian-mixture", "--gm-dim", "6", "--gm-train", "200"]
    flags = ["--baseline", "es", "--population", "8", "--block-size", "4", "--eval-every", "0"]
    argv = ["train", *common, *flags, "--quiet", *map(str, args), "--out", str(out)]
    assert main(argv) == 0
    return torch.load(out / "checkpoint.pt", weights_only=False)


def test_resume_equals_an_uninterrupted_run(tmp_path):
    whole = train(tmp_path / "whole", "--steps", 6, "--checkpoint-every", 2)
    train(tmp_path / "part", "--steps", 3, "--checkpoint-every", 2)
    assert main(["train", "--resume", str(tmp_path / "part"), "--steps", "6", "--quiet"]) == 0
    resumed = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=False)
    assert torch.equal(whole["params"], resumed["params"])
    assert whole["state"]["t"] == resumed["state"]["t"] == 6  # Adam's step count


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--population", "7"], "--population: must be an even number >= 2"),
        (["--fitness", "best"], "--fitness: must be one of rank, standardised, raw"),
        (["--optimizer", "momentum"], "--optimizer momentum: needs --momentum"),
        (["--sigma", "0"], "--sigma: must be in (0.0, inf)"),
        (
            ["--proposal", "marginal", "--data", "gaussian-mixture", "--batch-size", "60"],
            "--proposal marginal: needs a minibatch smaller than the first layer's 50 inputs",
        ),
    ],
)
def test_bad_options_are_one_line_naming_the_flag(tmp_path, capsys, flags, message):
    argv = ["train", "--baseline", "es", *flags, "--steps", "1", "--out", str(tmp_path / "r")]
    try:
        code = main(argv)
    except SystemExit as exit:  # refused while parsing the flags
        code = exit.code
    assert code != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0]
    assert not (tmp_path / "r").exists()


class NoResidual(EvolutionStrategies):
    """A deliberately wrong marginal scheme: the first layer's residual ``Z (I - Q Q^T)`` left
    out (the right mean, too little spread)."""

    def estimate(self, key, params, problem, comm):
        pairs = self._pairs.setdefault("marginal", MarginalPairs())
        pairs.marginal.residual = lambda key, device: torch.zeros(1, dtype=torch.float64)
        return super().estimate(key, params, problem, comm)


def first_layer_estimates(built, count: int) -> torch.Tensor:
    """``[count, n h]``: the first-layer part of ``count`` raw estimates at one point."""
    data = make_gaussian_mixture(dim=8, train_size=60, test_size=10, data_seed=2)
    model = build_mlp(data.input_shape, data.num_classes, widths=(3,))
    params = model.init_params(0)
    problem = Problem(model, data.minibatch(0, 0, 2))
    cut = model.input_layer.weight.stop
    rows = [built.estimate(StepKey(built.seed, k), params, problem, COMM)[0] for k in range(count)]
    return torch.stack(rows)[:, :cut]


def test_marginal_pairs_have_the_law_of_antithetic_pairs_and_no_residual_does_not():
    """Mean and pooled variance of the first layer's raw estimate: ``marginal`` against
    ``antithetic`` (independent runs) within 4.5 standard errors; without the residual the
    variance falls to about B / n of it and is rejected."""
    count = 500
    given = {"fitness": "raw", "population": 8, "block_size": 4, "sigma": 0.3}
    reference = first_layer_estimates(trainer(seed=1, proposal="antithetic", **given), count)
    values = resolve(method("is", "es"), given, steps=1)
    wrong = NoResidual(8, 0.3, values["lr"], fitness="raw", block_size=4, seed=2)
    for built, right in ((trainer(seed=2, proposal="marginal", **given), True), (wrong, False)):
        sample = first_layer_estimates(built, count)
        se = (reference.var(dim=0) / count + sample.var(dim=0) / count).sqrt()
        assert torch.all((sample.mean(dim=0) - reference.mean(dim=0)).abs() <= 4.5 * se)
        ratio = float(sample.var(dim=0).sum() / reference.var(dim=0).sum())
        # each pooled variance has relative sd below sqrt(2 / (count - 1)) (chi-square)
        assert (abs(ratio - 1) <= 4.5 * 2 * (2 / (count - 1)) ** 0.5) == right, ratio
