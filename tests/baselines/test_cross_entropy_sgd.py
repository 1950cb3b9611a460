"""ceSGD presets: one update is the SGD step on f_gamma at the epoch's beta and gamma, then the
per-unit normalisation; the presets carry the paper's settings; cesgd-fast stops at zero errors;
a model without tanh(beta h) units is refused with one line."""

from __future__ import annotations

import json
from functools import partial

import pytest
import torch

from sampler.baselines import BASELINES, RunContext
from sampler.baselines.least_action import Units, normalise
from sampler.cli.main import main
from sampler.config.method_options import method, resolve
from sampler.models.committee import Committee
from sampler.models.data.binary_patterns import make_random_patterns
from sampler.models.margin_loss import mean_margin_loss
from sampler.mpi import SerialComm
from sampler.problem import Problem


def test_the_presets_are_the_papers_settings():
    fast = resolve(method("is", "cesgd-fast"), {}, steps=10)
    slow = resolve(method("is", "cesgd-slow"), {}, steps=10)
    # the paper's eta on the summed minibatch loss = ours on its mean / 100 (B = 100)
    assert (fast["lr"](0), fast["ce_beta0"], fast["ce_beta1"]) == (1.0, 1.0, 1e-3)
    assert (fast["ce_gamma0"], fast["ce_gamma1"], fast["stop_loss"]) == (3.0, 0.0, 0.0)
    assert (slow["lr"](0), slow["ce_beta0"], slow["ce_gamma0"]) == (0.3, 0.5, 0.1)
    assert (slow["ce_gamma1"], slow["stop_loss"]) == (4e-4, 1e-7)


def test_one_update_by_hand():
    data = make_random_patterns(n=45, alpha=0.6, data_seed=1)  # 27 patterns, 3 batches of 9
    model = Committee(45, hidden=3)
    values = resolve(method("is", "cesgd-fast"), {"lr": 0.2, "ce_beta1": 0.5}, steps=10)
    trainer = BASELINES["cesgd-fast"].build(values, RunContext(0, 10, model))
    params = model.init_params(0)
    batch = data.minibatch(0, 4, 9)
    problem = Problem(model, batch, partial(data.minibatch, 0, 4, 9), 27)
    new, _, record = trainer.step(4, params, trainer.init(params), problem, SerialComm())
    units = Units(3, 15, True)
    w = normalise(params, units).requires_grad_(True)
    h = torch.einsum("bkn,kn->bk", batch.inputs.reshape(9, 3, 15), w.reshape(3, 15))
    h = h / w.reshape(3, 15).norm(dim=1)
    s = torch.tanh(1.5 * h).sum(1) / 3**0.5  # epoch 1: beta = 1 * 1.5
    mean_margin_loss(s.unsqueeze(0), batch.targets, 3.0)[0].backward()
    expected = normalise(w.detach() - 0.2 * w.grad, units)
    assert record["beta"] == pytest.approx(1.5) and record["gamma"] == pytest.approx(3.0)
    assert torch.allclose(new, expected, atol=1e-6)


def test_cesgd_fast_stops_at_zero_errors(tmp_path):
    out = tmp_path / "run"
    data = ["--data", "random-patterns", "--data-opt", "n=45", "--data-opt", "alpha=0.6"]
    model = ["--model", "committee", "--model-opt", "hidden=3"]
    argv = ["train", *data, *model, "--baseline", "cesgd-fast", "--batch-size", "9"]
    assert main([*argv, "--lr", "0.1", "--steps", "3000", "--quiet", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] < 3000 and summary["final_test_errors"] == 0


def test_a_perceptron_is_refused_with_one_line(tmp_path, capsys):
    data = ["--data", "random-patterns", "--data-opt", "n=45", "--data-opt", "alpha=0.6"]
    argv = ["train", *data, "--model", "perceptron", "--baseline", "cesgd-slow", "--quiet"]
    assert main([*argv, "--steps", "2", "--out", str(tmp_path / "r")]) != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--baseline cesgd-slow: needs --model committee" in lines[0]
