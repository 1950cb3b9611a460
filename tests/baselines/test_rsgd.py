"""Replicated-SGD: one replica is SGD bit for bit, the center is the same on 1, 2 and 3 ranks,
the batched replicas equal the loop, auto gamma0 is the paper's ratio, the coupling is capped."""

from __future__ import annotations

import json
from functools import partial

import pytest
import torch

from sampler.baselines import BASELINES, RunContext
from sampler.cli.main import main
from sampler.models.data.gaussian_mixture import make_gaussian_mixture
from sampler.models.zoo import build_mlp
from sampler.mpi import SerialComm
from sampler.problem import Problem
from tests.helpers.thread_comm import run_on_ranks

DATA = ["--data", "gaussian-mixture", "--gm-dim", "6", "--gm-train", "200", "--gm-test", "50"]


def train(out, *flags) -> dict:
    argv = ["train", *DATA, "--model", "mlp", "--quiet", "--eval-every", "0", "--out", str(out)]
    assert main([*argv, *map(str, flags)]) == 0
    return torch.load(out / "checkpoint.pt", weights_only=False)


def metrics(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("every", [1, 3])
def test_one_replica_is_sgd_bit_for_bit(tmp_path, every):
    common = ["--steps", 7, "--lr", 0.1]
    sgd = train(tmp_path / "sgd", "--baseline", "sgd", *common)
    one = ["--replicas", 1, "--coupling-every", every, "--gamma0", 0.5]
    rsgd = train(tmp_path / "rsgd", "--baseline", "rsgd", *common, *one)
    assert torch.equal(sgd["params"], rsgd["params"])
    if every == 1:  # the center is the replica after every update
        losses = [m["train_loss"] for m in metrics(tmp_path / "sgd")]
        assert losses == [m["train_loss"] for m in metrics(tmp_path / "rsgd")]


def network():
    data = make_gaussian_mixture(dim=5, train_size=120, test_size=10, data_seed=1)
    model = build_mlp(data.input_shape, data.num_classes, widths=(4,))
    return data, model


def run(values: dict, comm, steps: int = 7, seed: int = 2, length: int = 7):
    """The first ``steps`` updates of a ``length``-update rSGD run, through the real problem and
    minibatch streams."""
    data, model = network()
    trainer = BASELINES["rsgd"].build(values, RunContext(seed, length, model))
    params = model.init_params(seed)
    state = trainer.init(params)
    records = []
    for k in range(steps):
        problem = Problem(model, data.minibatch(seed, k, 20), partial(data.minibatch, seed, k, 20))
        params, state, record = trainer.step(k, params, state, problem, comm)
        records.append(record)
    return params, state, records


def values(**changes):
    from sampler.config.method_options import method, resolve

    return resolve(method("is", "rsgd"), changes, steps=7)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_same_center_on_one_two_and_three_ranks(momentum):
    chosen = values(replicas=3, coupling_every=2, momentum=momentum, lr=0.2)
    serial, serial_state, _ = run(chosen, SerialComm())
    for size in (1, 2, 3):
        for params, state, _ in run_on_ranks(size, lambda comm: run(chosen, comm)):
            assert torch.equal(params, serial)  # float64 sums of whole rows are exact
            assert torch.equal(state["replicas"], serial_state["replicas"])


def test_batched_replicas_equal_the_loop_over_ranks():
    """``--shared-batch``: one batched gradient call on [y, d] in one process, one replica per
    rank on three; the same center."""
    chosen = values(replicas=3, coupling_every=2, shared_batch=True)
    batched, *_ = run(chosen, SerialComm())
    for params, *_ in run_on_ranks(3, lambda comm: run(chosen, comm)):
        assert torch.allclose(params, batched, rtol=1e-6, atol=1e-7)


def test_auto_gamma0_is_total_loss_over_squared_distances():
    data, model = network()
    chosen = values(replicas=3, coupling_every=3)
    _, state, records = run(chosen, SerialComm(), steps=1)
    trainer = BASELINES["rsgd"].build(chosen, RunContext(2, 7, model))
    start = trainer.init(model.init_params(2))["replicas"]
    losses = [
        float(model.losses(start[a : a + 1], data.minibatch(2, 0, 20, stream=a))[0])
        for a in range(3)
    ]
    distance = float(((start - start.mean(0)) ** 2).sum())
    gamma0, gamma1 = state["focusing"]
    assert gamma0 == pytest.approx(sum(losses) / distance, rel=1e-5)
    assert (1 + gamma1) ** 6 == pytest.approx(1e4)  # 'auto' over the 7 updates
    assert records[0]["grad_evals"] == 3 and records[0]["examples_seen"] == 60


def test_the_coupling_is_capped_at_the_center():
    chosen = values(replicas=2, coupling_every=1, gamma0=1e6, gamma1=0.0)
    params, state, records = run(chosen, SerialComm(), steps=2)
    assert all(r["coupling"] == 1.0 for r in records)
    assert torch.equal(state["replicas"][0], params) and torch.equal(state["replicas"][1], params)


def test_a_partial_mpi_checkpoint_is_refused_on_resume():
    chosen = values(replicas=2, coupling_every=5)

    def two_ranks(comm):
        _, state, _ = run(chosen, comm, steps=3)  # no coupling yet: rows of other ranks stale
        return state

    rank0_state = run_on_ranks(2, two_ranks)[0]
    assert rank0_state["current"] == (0,)
    data, model = network()
    trainer = BASELINES["rsgd"].build(chosen, RunContext(2, 7, model))
    problem = Problem(model, data.minibatch(2, 3, 20), partial(data.minibatch, 2, 3, 20))
    with pytest.raises(ValueError, match="holds only rank 0's replicas"):
        trainer.step(3, model.init_params(0), rank0_state, problem, SerialComm())


def test_resume_between_couplings_equals_an_uninterrupted_run(tmp_path):
    args = ["--baseline", "rsgd", "--coupling-every", 3, "--checkpoint-every", 2]
    whole = train(tmp_path / "whole", *args, "--gamma1", 0.1, "--steps", 8)
    train(tmp_path / "part", *args, "--gamma1", 0.1, "--steps", 5)
    assert main(["train", "--resume", str(tmp_path / "part"), "--steps", "8", "--quiet"]) == 0
    resumed = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=False)
    assert torch.equal(whole["params"], resumed["params"])


def test_an_extended_run_keeps_the_schedule_auto_fitted_to_its_first_length(tmp_path):
    first = train(tmp_path / "run", "--baseline", "rsgd", "--steps", 5)
    assert main(["train", "--resume", str(tmp_path / "run"), "--steps", "7", "--quiet"]) == 0
    extended = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    gamma0, gamma1 = extended["state"]["focusing"]
    assert (gamma0, gamma1) == first["state"]["focusing"]
    assert (1 + gamma1) ** 4 == pytest.approx(1e4)


def test_replica_a_runs_on_rank_a_mod_r():
    from types import SimpleNamespace

    from sampler.baselines.rsgd import owned

    ranks = lambda size: [SimpleNamespace(rank=r, size=size) for r in range(size)]  # noqa: E731
    assert [owned(3, comm) for comm in ranks(3)] == [[0], [1], [2]]
    assert [owned(5, comm) for comm in ranks(2)] == [[0, 2, 4], [1, 3]]
    assert [owned(2, comm) for comm in ranks(3)] == [[0], [1], []]
