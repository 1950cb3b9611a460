"""LAL and eLAL: the minibatch update equals the rule written out pattern by pattern; eLAL with
one replica is LAL bit for bit; eLAL is the same run on 1, 2 and 3 ranks; the coupling is the
pull to the mean; both stop at their stopping rule; bad settings are refused with one line."""

from __future__ import annotations

import json
import math
from functools import partial

import pytest
import torch

from sampler.baselines import BASELINES, RunContext
from sampler.baselines.least_action import Units, lal_update, normalise
from sampler.cli.main import main
from sampler.models import Batch
from sampler.models.committee import Committee
from sampler.models.data.binary_patterns import make_random_patterns
from sampler.mpi import SerialComm
from sampler.problem import Problem
from tests.helpers.thread_comm import run_on_ranks

PATTERNS = ["--data", "random-patterns", "--data-opt", "n=45", "--data-opt", "alpha=0.6"]
COMMITTEE = ["--model", "committee", "--model-opt", "hidden=3"]


def by_hand(w: torch.Tensor, batch: Batch, eta: float, units: Units) -> torch.Tensor:
    """The rule as the paper states it: fields first, then each pattern in turn."""
    k, n = units.count, units.fan_in
    weights = w.reshape(k, n).clone()
    fields = []
    for x in batch.inputs:
        xs = [x[u * n : (u + 1) * n] if units.tree else x for u in range(k)]
        fields.append([float(weights[u] @ xs[u]) for u in range(k)])
    for x, t, h in zip(batch.inputs, batch.targets, fields):
        y = 2.0 * float(t) - 1.0
        if y * sum(math.copysign(1.0, v) if v else 0.0 for v in h) > 0:
            continue
        wrong = [u for u in range(k) if y * h[u] <= 0]
        u = min(wrong, key=lambda v: abs(h[v]))
        block = x[u * n : (u + 1) * n] if units.tree else x
        weights[u] += eta * y * block
    return (weights / weights.norm(dim=1, keepdim=True)).reshape(-1)


@pytest.mark.parametrize("tree", [True, False])
def test_the_update_is_the_rule_by_hand(tree):
    units = Units(3, 5, tree)
    g = torch.Generator().manual_seed(3)
    inputs = torch.randint(0, 2, (30, 15 if tree else 5), generator=g).float() * 2 - 1
    batch = Batch(inputs, torch.randint(0, 2, (30,), generator=g))
    w = normalise(torch.randn(15, generator=g), units)
    new, errors = lal_update(w, batch, 0.1, units)
    assert errors > 0  # the case has wrong outputs to fix
    assert torch.allclose(new, by_hand(w, batch, 0.1, units), atol=1e-6)


def test_one_unit_is_the_perceptron_rule():
    units = Units(1, 8, True)
    g = torch.Generator().manual_seed(1)
    inputs = torch.randint(0, 2, (20, 8), generator=g).float() * 2 - 1
    targets = torch.randint(0, 2, (20,), generator=g)
    w = normalise(torch.randn(8, generator=g), units)
    y = 2.0 * targets - 1
    wrong = (y * (inputs @ w) <= 0).float()
    expected = w + 0.05 * ((wrong * y) @ inputs)
    new, errors = lal_update(w, Batch(inputs, targets), 0.05, units)
    assert errors == int(wrong.sum())
    assert torch.allclose(new, expected / expected.norm(), atol=1e-6)


def train(out, *flags) -> dict:
    argv = ["train", *PATTERNS, *COMMITTEE, "--quiet", "--eval-every", "0", "--out", str(out)]
    assert main([*argv, *map(str, flags)]) == 0
    return torch.load(out / "checkpoint.pt", weights_only=False)


def metrics(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_one_replica_elal_is_lal_bit_for_bit(tmp_path):
    common = ["--steps", 12, "--batch-size", 9, "--lr", 0.05]
    lal = train(tmp_path / "lal", "--baseline", "lal", *common)
    elal = train(tmp_path / "elal", "--baseline", "elal", "--replicas", 1, *common)
    assert torch.equal(lal["params"], elal["params"])
    errors = [m["batch_errors"] for m in metrics(tmp_path / "lal")]
    assert errors == [m["batch_errors"] for m in metrics(tmp_path / "elal")]


def test_lal_stops_at_zero_training_errors(tmp_path):
    out = tmp_path / "run"
    train(out, "--baseline", "lal", "--steps", 3000, "--batch-size", 9, "--lr", 0.05)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] < 3000 and summary["final_test_errors"] == 0  # test set = train set
    last = metrics(out)[-5:]  # the last epoch (27 patterns, batches of 9: 3 updates) was clean
    assert [m["batch_errors"] for m in last[-3:]] == [0, 0, 0] and "stop" in last[-1]


def network():
    data = make_random_patterns(n=45, alpha=0.6, data_seed=0)
    return data, Committee(45, hidden=3)


def run(values: dict, comm, steps: int = 6, seed: int = 2):
    data, model = network()
    trainer = BASELINES["elal"].build(values, RunContext(seed, steps, model))
    params = model.init_params(seed)
    state = trainer.init(params)
    records = []
    for k in range(steps):
        problem = Problem(model, data.minibatch(seed, k, 9), partial(data.minibatch, seed, k, 9))
        problem.train_size = 27
        params, state, record = trainer.step(k, params, state, problem, comm)
        records.append(record)
    return params, state, records


def values(**changes):
    from sampler.config.method_options import method, resolve

    return resolve(method("is", "elal"), changes, steps=6)


def test_elal_is_the_same_run_on_one_two_and_three_ranks():
    chosen = values(replicas=3, lr=0.1, lambda0=2.0)
    serial, serial_state, _ = run(chosen, SerialComm())
    for size in (2, 3):
        for params, state, _ in run_on_ranks(size, lambda comm: run(chosen, comm)):
            assert torch.equal(params, serial)
            assert torch.equal(state["replicas"], serial_state["replicas"])


def test_the_coupling_pulls_each_replica_to_the_mean():
    chosen = values(replicas=3, lr=0.1, lambda0=2.0, lambda1=0.5)
    data, model = network()
    units = Units(3, 15, True)
    trainer = BASELINES["elal"].build(chosen, RunContext(2, 6, model))
    state = trainer.init(model.init_params(2))
    problem = Problem(model, data.minibatch(2, 4, 9), partial(data.minibatch, 2, 4, 9))
    problem.train_size = 27  # 3 updates an epoch: update 4 is in epoch 1
    center, new, record = trainer.step(4, None, state, problem, SerialComm())
    lal = torch.stack(
        [
            lal_update(normalise(state["replicas"][a], units), problem.minibatch(a), 0.1, units)[0]
            for a in range(3)
        ]
    )
    c = 0.1 * 2.0 * 1.5
    expected = normalise(lal + c * (lal.mean(0) - lal), units)
    assert record["coupling"] == pytest.approx(c) and record["lambda"] == pytest.approx(3.0)
    assert torch.allclose(new["replicas"], expected, atol=1e-6)
    assert torch.allclose(center, expected.mean(0), atol=1e-6)


def test_elal_stops_when_the_replicas_collapse(tmp_path):
    out = tmp_path / "run"
    flags = ["--replicas", 3, "--lr", 0.05, "--lambda0", 5, "--lambda1", 0.5, "--batch-size", 9]
    train(out, "--baseline", "elal", "--steps", 3000, *flags)
    summary = json.loads((out / "summary.json").read_text())
    last = metrics(out)[-1]
    assert summary["steps"] < 3000 and "stop" in last and last["spread"] <= 1e-7


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--baseline", "lal", "--model", "mlp"], "--baseline lal"),
        (["--baseline", "elal", "--replicas", "0"], "--replicas"),
        (["--baseline", "elal", "--lambda1", "1e300"], "--lambda1"),
        (["--baseline", "lal", "--lr", "-1"], "--lr"),
        (["--baseline", "lal", "--lambda0", "1"], "--lambda0"),
    ],
)
def test_bad_settings_are_refused_with_one_line(tmp_path, capsys, flags, named):
    data = PATTERNS if "mlp" not in flags else ["--data", "random-patterns", "--data-opt", "n=45"]
    model = [] if "mlp" in flags else COMMITTEE
    argv = ["train", *data, *model, "--quiet", "--steps", "3", "--out", str(tmp_path / "r")]
    try:
        code = main([*argv, *flags])
    except SystemExit as stop:
        code = stop.code
    assert code != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], lines
