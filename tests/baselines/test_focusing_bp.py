"""Focusing BP: the focusing field's limits, a solution below capacity on the tree committee and
the perceptron through ``sampler train``, a clear stop when no solution is found, bad settings
refused with one line."""

from __future__ import annotations

import json

import pytest
import torch

from sampler.baselines.focusing_bp import focusing_field
from sampler.cli.main import main


def test_the_focusing_field_limits():
    c = torch.tensor([-0.7, 0.0, 0.2, 1.3], dtype=torch.float64)
    assert torch.equal(focusing_field(c, 0.8, 1), torch.zeros_like(c))  # one replica: none
    assert torch.allclose(focusing_field(c, 18.0, 4), 3 * c, atol=1e-6)  # tanh(gamma) = 1
    assert torch.allclose(focusing_field(c, 1e-4, 4), torch.zeros_like(c), atol=1e-6)


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
