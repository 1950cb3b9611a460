"""--tensorboard writes the scalars of metrics.jsonl as TensorBoard events (skipped without the
tensorboard package), each step once after a resume; without the package it is refused."""

from __future__ import annotations

import json
import shutil

import pytest

from sampler.cli.main import main
from sampler.runs import tensorboard

GM = [
    "--data",
    "gaussian-mixture",
    "--gm-dim",
    "5",
    "--gm-train",
    "100",
    "--samples",
    "20",
    "--eval-every",
    "2",
    "--quiet",
]
needs_tensorboard = pytest.mark.skipif(
    not tensorboard.available(), reason="tensorboard is not installed"
)


def read_events(directory) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(directory), size_guidance={"scalars": 0})
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


@needs_tensorboard
def test_the_events_hold_the_scalars_of_the_metrics(tmp_path):
    out = tmp_path / "r"
    assert main(["train", *GM, "--steps", "2", "--tensorboard", "--out", str(out)]) == 0
    shutil.copy(out / "checkpoint.pt", tmp_path / "step2.pt")
    assert main(["train", "--resume", str(out), "--steps", "3", "--quiet"]) == 0
    # as if the run had died after logging update 3 and before checkpointing it
    shutil.copy(tmp_path / "step2.pt", out / "checkpoint.pt")
    assert main(["train", "--resume", str(out), "--steps", "4", "--quiet"]) == 0
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    events = read_events(out / tensorboard.SUBDIRECTORY)
    expected: dict[str, list[tuple[int, float]]] = {}
    for line in metrics:
        for key, value in tensorboard.scalars(line).items():
            expected.setdefault(key, []).append((line["step"], value))
    assert {"train_loss", "ess", "test_accuracy", "loss_evals", "tau"} <= set(expected)
    assert set(events) == set(expected)
    for tag, values in expected.items():
        assert [step for step, _ in events[tag]] == [step for step, _ in values]  # each once
        for (_, got), (_, want) in zip(events[tag], values):
            assert got == pytest.approx(want, rel=1e-6, abs=1e-30)  # stored as float32


def test_only_finite_numbers_are_scalars():
    line = {"step": 3, "a": 1, "b": 0.5, "flag": True, "phase": "sgd", "c": float("nan")}
    assert tensorboard.scalars(line) == {"a": 1.0, "b": 0.5}


def test_without_the_package_it_is_refused_before_any_work(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(tensorboard, "available", lambda: False)
    with pytest.raises(SystemExit):
        main(["train", *GM, "--tensorboard", "--out", str(tmp_path / "r")])
    assert "--tensorboard: needs the tensorboard package" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
