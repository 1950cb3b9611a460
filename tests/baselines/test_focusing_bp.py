"""Focusing BP: the focusing field's limits, a solution below capacity on the tree committee and
the perceptron through ``sampler train``, a clear stop when no solution is found, bad settings
refused with one line."""

from __future__ import annotations

import json

import pytest
import torch

from sampler.baselines.continuous_focusing import focusing_field as gaussian_focusing
from sampler.baselines.focusing_bp import focusing_field
from sampler.cli.main import main


def test_the_focusing_field_limits():
    c = torch.tensor([-0.7, 0.0, 0.2, 1.3], dtype=torch.float64)
    assert torch.equal(focusing_field(c, 0.8, 1), torch.zeros_like(c))  # one replica: none
    assert torch.allclose(focusing_field(c, 18.0, 4), 3 * c, atol=1e-6)  # tanh(gamma) = 1
    assert torch.allclose(focusing_field(c, 1e-4, 4), torch.zeros_like(c), atol=1e-6)


def test_the_gaussian_focusing_field_limits():
    g = torch.Generator().manual_seed(0)
    sum_a, sum_b = torch.randn(3, 5, generator=g), torch.rand(3, 5, generator=g)
    a = torch.tensor([0.5, 1.0, 2.0])
    f_a, f_b = gaussian_focusing(sum_a, sum_b, a, 0.8, 1)  # one replica: none
    assert torch.equal(f_a, torch.zeros_like(f_a)) and torch.equal(f_b, torch.zeros_like(f_b))
    # gamma -> infinity: y - 1 copies of the replica's own field (patterns and sphere)
    f_a, f_b = gaussian_focusing(sum_a, sum_b, a, 1e9, 4)
    assert torch.allclose(f_a, 3 * sum_a, rtol=1e-6)
    assert torch.allclose(f_b, 3 * (a.unsqueeze(-1) + sum_b), rtol=1e-6)
    f_a, f_b = gaussian_focusing(sum_a, sum_b, a, 1e-6, 4)  # gamma -> 0: none
    assert f_a.abs().max() < 1e-5 and f_b.abs().max() < 1e-5


def train(tmp_path, model, n, alpha, *flags):
    out = tmp_path / "run"
    data = ["--data", "random-patterns", "--data-opt", f"n={n}", "--data-opt", f"alpha={alpha}"]
    argv = ["train", *data, *model, "--baseline", "fbp", "--quiet", "--out", str(out)]
    assert main([*argv, *map(str, flags)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return summary, [json.loads(line) for line in lines]


@pytest.mark.parametrize(
    "model, n",
    [(["--model", "committee", "--model-opt", "hidden=3"], 75), (["--model", "perceptron"], 61)],
)
def test_a_solution_below_capacity(tmp_path, model, n):
    summary, metrics = train(tmp_path, model, n, 0.5, "--steps", 30)
    assert summary["final_test_errors"] == 0  # random patterns: the test set is the training set
    assert metrics[-1]["train_errors"] == 0 and "solution" in metrics[-1]["stop"]
    params = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["params"]
    assert set(params.abs().tolist()) == {1.0}  # binary weights


@pytest.mark.parametrize(
    "model, n",
    [(["--model", "committee", "--model-opt", "hidden=3"], 75), (["--model", "perceptron"], 61)],
)
def test_continuous_weights_find_a_real_solution(tmp_path, model, n):
    summary, metrics = train(tmp_path, model, n, 0.8, "--steps", 30, "--bp-weights", "continuous")
    assert summary["final_test_errors"] == 0 and "solution" in metrics[-1]["stop"]
    params = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["params"]
    assert len(set(params.abs().tolist())) > n // 2  # real weights, not ±1
    units = params.reshape(3 if "committee" in model else 1, -1)
    norms = (units * units).sum(-1) / units.shape[1]
    assert bool((norms < 1.0).all() and (norms > 0.1).all())  # <w^2> = 1: means inside


def test_no_solution_is_a_clear_stop(tmp_path):
    """Far above capacity (alpha = 3, two stages): the run ends, saying so."""
    model = ["--model", "committee", "--model-opt", "hidden=3"]
    summary, metrics = train(
        tmp_path, model, 15, 3, "--steps", 5, "--stages", 2, "--bp-iterations", 5
    )
    assert summary["steps"] == 2 and summary["final_test_errors"] > 0
    assert metrics[-1]["stop"].startswith("no solution after 2 stages")


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--model", "mlp"], "--baseline fbp"),
        (["--model", "committee", "--model-opt", "hidden=3", "--model-opt", "tree=false"], "tree"),
        (["--model", "perceptron", "--gamma-start", "2", "--gamma-end", "1"], "--gamma-end"),
        (["--model", "perceptron", "--damping", "1"], "--damping"),
        (["--model", "perceptron", "--stages", "0"], "--stages"),
        (["--model", "perceptron", "--bp-weights", "ternary"], "--bp-weights"),
    ],
)
def test_bad_settings_are_refused_with_one_line(tmp_path, capsys, flags, named):
    data = ["--data", "random-patterns", "--data-opt", "n=15", "--data-opt", "alpha=0.5"]
    argv = [
        "train",
        *data,
        "--baseline",
        "fbp",
        "--batch-size",
        "4",
        "--quiet",
        "--out",
        str(tmp_path / "r"),
    ]
    try:
        code = main([*argv, *flags])
    except SystemExit as stop:
        code = stop.code
    assert code != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], lines
