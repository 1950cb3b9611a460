"""Every method through ``sampler train``: what it spends (loss and gradient evaluations,
training examples seen) in metrics.jsonl and summary.json; bad baseline options refused with
one line naming the flag and the method."""

from __future__ import annotations

import json

import pytest
import torch

from sampler.baselines import BASELINES
from sampler.cli.main import main
from sampler.config.method_options import all_methods
from sampler.runs.directory import RunDirectory
from tests.helpers.method_settings import PATTERNS, SIGN_UNITS, method_flags

DATA = ["--data", "gaussian-mixture", "--gm-dim", "6", "--gm-train", "200", "--gm-test", "50"]
BATCH = 10
# examples seen per update with the small test settings: one minibatch, except eSGD's L = 3
# inner steps and rSGD's 3 replicas (a minibatch stream each)
EXAMPLES = {"esgd": 3 * BATCH, "rsgd": 3 * BATCH, "elal": 3 * BATCH, "fbp": 42}
METHODS = [("--baseline" if m.kind == "baseline" else "--estimator", m.name) for m in all_methods()]


def train(out, *args: str) -> int:
    """A run of the method ``args`` select; the sign-unit methods (LAL, eLAL, fBP, ceSGD) on a
    tree committee of 3 units with 42 random patterns, the others on the Gaussian mixture."""
    if any(name in args for name in SIGN_UNITS):
        args = (*[a for a in args if a not in ("--model", "mlp")], "--model", "committee")
        args = (*args, "--model-opt", "hidden=3")
        data = PATTERNS
    else:
        data = DATA
    common = [*data, "--batch-size", str(BATCH), "--eval-every", "0", "--quiet"]
    return main(["train", *common, *method_flags(args), *args, "--out", str(out)])


def read(out):
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return metrics, json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("kind, name", METHODS, ids=[m[1] for m in METHODS])
def test_every_method_records_what_it_spends(tmp_path, kind, name):
    assert train(tmp_path / name, kind, name, "--model", "mlp", "--steps", "3") == 0
    metrics, summary = read(tmp_path / name)
    done = 3 if "stop" not in metrics[-1] else len(metrics)  # fBP may stop at a solution
    assert [m["examples_seen"] for m in metrics] == [EXAMPLES.get(name, BATCH)] * done
    for key in ("loss_evals", "grad_evals", "examples_seen"):
        assert summary[f"total_{key}"] == sum(m[key] for m in metrics)
    assert summary["total_loss_evals"] + summary["total_grad_evals"] > 0


def test_baseline_costs_per_update(tmp_path):
    # gradient evaluations; es is gradient-free (its population's loss evaluations instead)
    expected = {"sgd": 1, "esgd": 3, "rsgd": 3, "pla": 4, "plea": 4, "es": 0}
    expected.update({"lal": 0, "elal": 0, "fbp": 0, "cesgd-fast": 1, "cesgd-slow": 1})
    expected.update({name: 0 for name in BASELINES if name.startswith("evotorch:")})
    assert set(expected) == set(BASELINES)
    for name, grads in expected.items():
        assert train(tmp_path / name, "--baseline", name, "--steps", "2") == 0
        metrics, summary = read(tmp_path / name)
        assert metrics and [m["grad_evals"] for m in metrics] == [grads] * len(metrics)
        assert summary["objective"] == BASELINES[name].objective


def test_a_checkpoint_without_the_examples_total_still_resumes(tmp_path):
    out = tmp_path / "run"
    assert train(out, "--baseline", "sgd", "--steps", "2") == 0
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=False)
    del checkpoint["totals"]["examples_seen"]  # written before the count existed
    del checkpoint["digest"]
    RunDirectory(out).save_checkpoint(checkpoint)  # its digests anew
    assert main(["train", "--resume", str(out), "--steps", "3", "--quiet"]) == 0
    assert read(out)[1]["total_examples_seen"] == BATCH


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--baseline", "esgd", "--replicas", "2"],
            "--replicas: an option of --baseline rsgd/elal/fbp, not of --baseline esgd",
        ),
        (
            ["--baseline", "rsgd", "--radius", "0.1"],
            "--radius: an option of --baseline pla/plea, not of --baseline rsgd",
        ),
        (
            ["--esgd-steps", "4"],
            "--esgd-steps: an option of --baseline esgd, not of --estimator is",
        ),
        (["--baseline", "esgd", "--esgd-steps", "0"], "--esgd-steps: must be an integer >= 1"),
        (["--baseline", "esgd", "--gamma0", "auto"], "--gamma0: must be a number >= 0, got 'auto'"),
        (
            ["--baseline", "rsgd", "--replicas", "1"],
            "--gamma0 auto: --baseline rsgd needs replicas that start apart",
        ),
        (["--baseline", "rsgd", "--coupling-every", "0"], "--coupling-every: must be an integer"),
        (["--baseline", "pla", "--radius", "-1"], "--radius: must be a number >= 0"),
        (["--baseline", "plea", "--perturbations", "0"], "--perturbations: must be an integer"),
        (["--baseline", "pla", "--nesterov"], "--nesterov: needs --momentum"),
    ],
)
def test_bad_baseline_options_are_one_line_errors(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit):
        train(tmp_path / "run", *flags)
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in error
    assert not (tmp_path / "run").exists()


def test_an_unknown_layer_is_refused_before_training(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out, "--baseline", "pla", "--model", "mlp", "--layers", "fc0,conv1") == 1
    assert (
        "--layers: unknown layer(s) conv1; the model's layers: fc0, fc1" in capsys.readouterr().err
    )
    assert not out.exists()
