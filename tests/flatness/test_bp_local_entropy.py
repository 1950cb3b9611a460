"""The BP local-entropy probe against exact enumeration: exact on one pattern (exact fields),
close on a small loopy instance; the reference's own neighbourhood at a large coupling; and
``sampler flatness --probes bp-local-entropy`` on an fBP run, refused for other models."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

from sampler.baselines.belief_propagation import TreeCommitteeBP
from sampler.cli.main import main
from sampler.flatness.bp_local_entropy import binary_entropy, local_entropy_point


def instance(patterns: int, k: int, n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    xi = torch.randint(0, 2, (patterns, k * n), generator=g).double() * 2 - 1
    y = torch.randint(0, 2, (patterns,), generator=g).double() * 2 - 1
    return xi, y


def exact(xi, y, k, reference, coupling):
    """``(S, d)`` at ``coupling`` by listing every configuration."""
    n_all = xi.shape[1]
    configs = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=n_all)), dtype=torch.float64)
    unit = (xi.reshape(len(xi), k, -1).unsqueeze(0) * configs.reshape(-1, 1, k, n_all // k)).sum(-1)
    solution = (y * torch.sign(unit).sum(-1) > 0).all(-1)
    overlap = configs @ reference / n_all
    weight = torch.exp(coupling * n_all * overlap) * solution
    z = weight.sum()
    q = float((weight * overlap).sum() / z)
    return (math.log(z) - coupling * n_all * q) / n_all, (1 - q) / 2


def solution_reference(xi, y, k):
    """A solution of the instance (the first one listed), as the probe's reference."""
    n_all = xi.shape[1]
    for config in itertools.product([-1.0, 1.0], repeat=n_all):
        w = torch.tensor(config, dtype=torch.float64)
        if TreeCommitteeBP(xi, y, k).errors(w) == 0:
            return w
    raise AssertionError("no solution")


@pytest.mark.parametrize("coupling", [0.3, 1.0, 2.5])
def test_exact_on_one_pattern(coupling):
    k, n = 3, 3
    xi, y = instance(1, k, n, seed=2)
    reference = solution_reference(xi, y, k)
    bp = TreeCommitteeBP(xi, y, k, exact=True)
    point, _ = local_entropy_point(bp, reference, coupling, torch.zeros_like(xi), 500)
    s, d = exact(xi, y, k, reference, coupling)
    assert point["converged"]
    # to BP's convergence threshold (no tanh(message) moves more than 1e-6)
    assert point["local_entropy"] == pytest.approx(s, abs=1e-6)
    assert point["distance"] == pytest.approx(d, abs=1e-6)


def test_close_to_enumeration_on_a_loopy_instance():
    k, n = 3, 5
    xi, y = instance(3, k, n, seed=5)
    reference = solution_reference(xi, y, k)
    bp = TreeCommitteeBP(xi, y, k)
    for coupling in (0.5, 1.5):
        point, _ = local_entropy_point(bp, reference, coupling, torch.zeros_like(xi), 500)
        s, d = exact(xi, y, k, reference, coupling)
        assert point["converged"]
        assert abs(point["distance"] - d) < 0.03 and abs(point["local_entropy"] - s) < 0.03


def test_a_large_coupling_sees_only_the_reference():
    k, n = 3, 5
    xi, y = instance(3, k, n, seed=5)
    reference = solution_reference(xi, y, k)
    point, _ = local_entropy_point(TreeCommitteeBP(xi, y, k), reference, 12.0, xi * 0, 500)
    assert point["distance"] < 1e-3 and abs(point["local_entropy"]) < 1e-2
    assert binary_entropy(0.5) == pytest.approx(math.log(2))


def test_sampler_flatness_prints_the_curve(tmp_path, capsys):
    run = tmp_path / "run"
    data = ["--data", "random-patterns", "--data-opt", "n=75", "--data-opt", "alpha=0.4"]
    model = ["--model", "committee", "--model-opt", "hidden=3"]
    argv = ["train", *data, *model, "--baseline", "fbp", "--steps", 30, "--quiet", "--out", run]
    assert main(list(map(str, argv))) == 0
    capsys.readouterr()
    probes = ["--probes", "bp-local-entropy", "--bp-couplings", "0.5,1,2"]
    assert main(["flatness", str(run), *probes]) == 0
    assert "BP local entropy d=" in capsys.readouterr().out
    report = json.loads((run / "flatness.json").read_text())["bp_local_entropy"]
    assert report["reference_errors"] == 0 and len(report["points"]) == 3
    distances = [p["distance"] for p in report["points"]]
    assert distances == sorted(distances) and all(p["normalised"] <= 1e-6 for p in report["points"])


def _mlp_run(tmp_path):
    """A two-update SGD run of an mlp: a model the committee probes refuse."""
    run = tmp_path / "run"
    data = ["--data", "gaussian-mixture", "--gm-dim", "4", "--gm-train", "40", "--gm-test", "20"]
    argv = ["train", *data, "--model", "mlp", "--baseline", "sgd", "--steps", 2, "--quiet"]
    assert main(list(map(str, [*argv, "--out", run]))) == 0
    return run


@pytest.mark.parametrize("probe", ["bp-local-entropy", "bp-local-entropy-continuous"])
def test_other_models_are_refused_with_one_line(tmp_path, capsys, probe):
    run = _mlp_run(tmp_path)
    with pytest.raises(SystemExit):
        main(["flatness", str(run), "--probes", probe])
    assert f"--probes {probe}: needs a run of --model committee" in capsys.readouterr().err


def test_skipped_when_the_reference_is_no_solution_and_normalised_units(tmp_path, capsys):
    run = tmp_path / "run"
    data = ["--data", "random-patterns", "--data-opt", "n=75", "--data-opt", "alpha=0.4"]
    model = ["--model", "committee", "--model-opt", "hidden=3"]
    argv = ["train", *data, *model, "--baseline", "lal", "--batch-size", "10", "--steps", 1]
    assert main(list(map(str, [*argv, "--quiet", "--out", run]))) == 0
    probes = ["--probes", "bp-local-entropy,hessian", "--bp-couplings", "0.5,1", "--eigenvalues"]
    probes += ["1", "--bp-max-reference-errors", "0"]
    assert main(["flatness", str(run), *probes, "--out", str(tmp_path / "a")]) == 0
    report = json.loads((tmp_path / "a" / "flatness.json").read_text())
    curve = report["bp_local_entropy"]
    assert curve["reference_errors"] > 0 and curve["points"] == []
    assert "more than --bp-max-reference-errors 0" in curve["skipped"]
    # the normalised network: the same function, each unit at norm 1, so another Hessian
    assert (
        main(["flatness", str(run), *probes, "--normalise-units", "--out", str(tmp_path / "b")])
        == 0
    )
    other = json.loads((tmp_path / "b" / "flatness.json").read_text())
    assert other["train_error"] == report["train_error"]
    assert other["hessian"]["eigenvalues"] != report["hessian"]["eigenvalues"]


def test_normalise_units_refused_for_other_models(tmp_path, capsys):
    run = _mlp_run(tmp_path)
    with pytest.raises(SystemExit):
        main(["flatness", str(run), "--probes", "signal", "--normalise-units"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--normalise-units: needs a run of --model committee or perceptron, got" in err
