"""Threads: one intra-op thread per process unless --threads N or OMP_NUM_THREADS says
otherwise; the API restores the caller's count."""

from __future__ import annotations

import json

import pytest
import torch

import sampler
from sampler.cli.main import main
from sampler.mpi.threads import chosen_threads, set_threads

GM = [
    "--data",
    "gaussian-mixture",
    "--gm-dim",
    "5",
    "--gm-train",
    "100",
    "--steps",
    "2",
    "--samples",
    "20",
    "--quiet",
]


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_rule(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert chosen_threads() == 1 and chosen_threads(3) == 3
    torch.set_num_threads(2)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert chosen_threads() == 2  # torch follows the variable; left alone
    assert chosen_threads(1) == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert set_threads() == 1 == torch.get_num_threads()


@pytest.mark.parametrize("flags, expected", [([], 1), (["--threads", "2"], 2)])
def test_a_run_uses_the_rule_and_records_it(tmp_path, monkeypatch, flags, expected):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(2)
    assert main(["train", *GM, *flags, "--out", str(tmp_path / "r")]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["metadata"]["rank_threads"] == [expected]
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["threads"] == (expected if flags else 0)


def test_threads_are_refused_below_zero(capsys):
    with pytest.raises(SystemExit):
        main(["train", *GM, "--threads", "-1"])
    error = capsys.readouterr().err
    assert "--threads: must be 0 (automatic) or a positive integer, got -1" in error


def test_the_api_restores_the_callers_thread_count(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(2)
    x = torch.linspace(-1, 1, 40).reshape(20, 2)
    y = (x[:, 0] > 0).long()
    with torch.random.fork_rng():
        net = torch.nn.Linear(2, 2)
    result = sampler.train(net, (x, y), baseline="sgd", steps=2, quiet=True)
    assert result.summary["metadata"]["rank_threads"] == [1]
    assert torch.get_num_threads() == 2
