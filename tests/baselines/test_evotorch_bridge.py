"""The EvoTorch bridge (``--baseline evotorch:NAME``, the optional extra): each searcher trains a
tiny network through the engine's loop and counts its population's loss evaluations; the same
run on 1 and 3 ranks; a resumed run equals an uninterrupted one. Skipped without EvoTorch."""

from __future__ import annotations

import json

import pytest
import torch

from sampler.baselines import BASELINES, RunContext
from sampler.baselines.evotorch_bridge import SEARCHERS, installed
from sampler.cli.main import main
from sampler.config.method_options import method, resolve
from sampler.models.data.gaussian_mixture import make_gaussian_mixture
from sampler.models.zoo import build_mlp
from sampler.mpi import SerialComm
from sampler.problem import Problem
from tests.helpers.thread_comm import run_on_ranks

pytestmark = pytest.mark.skipif(
    not installed(), reason="EvoTorch is not installed (pip install '.[evotorch]')"
)
DATA = ["--data", "gaussian-mixture", "--gm-dim", "6", "--gm-train", "200", "--gm-test", "200"]


def train(out, *args) -> dict:
    argv = ["train", *DATA, "--model", "linear", "--eval-every", "0", "--quiet", *map(str, args)]
    assert main([*argv, "--out", str(out)]) == 0
    return torch.load(out / "checkpoint.pt", weights_only=False)


@pytest.mark.parametrize("name", SEARCHERS)
def test_every_searcher_trains_through_the_engine(tmp_path, name):
    assert f"evotorch:{name}" in BASELINES
    flags = ["--population", 20, "--steps", 40, "--sigma", 0.1]  # CEM moves by about sigma
    train(tmp_path / name, "--baseline", f"evotorch:{name}", *flags)
    lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
    metrics = [json.loads(line) for line in lines]
    assert [m["loss_evals"] for m in metrics] == [20] * 40
    assert all(m["grad_evals"] == 0 for m in metrics)
    summary = json.loads((tmp_path / name / "summary.json").read_text())
    # well-separated classes of the mixture (at the start: .185 with CEM at sigma 0.01)
    assert summary["final_test_accuracy"] > 0.6, summary["final_test_accuracy"]


def run_updates(comm, name: str = "PGPE", steps: int = 3):
    data = make_gaussian_mixture(dim=6, train_size=60, test_size=10, data_seed=1)
    model = build_mlp(data.input_shape, data.num_classes, widths=(4,))
    values = resolve(method("is", f"evotorch:{name}"), {"population": 10, "block_size": 3}, 1)
    built = BASELINES[f"evotorch:{name}"].build(values, RunContext(1, steps, model))
    params = model.init_params(0)
    state = built.init(params)
    for step in range(steps):
        problem = Problem(model, data.minibatch(0, step, 12))
        params, state, _ = built.step(step, params, state, problem, comm)
    return params


def test_the_same_run_on_one_and_three_ranks():
    serial = run_updates(SerialComm())
    for params in run_on_ranks(3, run_updates):
        assert torch.equal(params, serial)


def test_resume_equals_an_uninterrupted_run(tmp_path):
    args = ["--baseline", "evotorch:PGPE", "--population", 20, "--checkpoint-every", 2]
    whole = train(tmp_path / "whole", *args, "--steps", 6)
    train(tmp_path / "part", *args, "--steps", 3)
    assert main(["train", "--resume", str(tmp_path / "part"), "--steps", "6", "--quiet"]) == 0
    resumed = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=False)
    assert torch.equal(whole["params"], resumed["params"])
