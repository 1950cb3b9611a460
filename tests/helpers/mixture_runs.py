"""The small Gaussian-mixture run of the end-to-end tests: its data flags, ``sampler train`` with
them, and a finished run directory read back (config, metrics, summary, checkpoint)."""

from __future__ import annotations

import json

import torch

from sampler.cli.main import main

MIXTURE = [
    "--data",
    "gaussian-mixture",
    "--gm-dim",
    "10",
    "--gm-train",
    "400",
    "--gm-test",
    "200",
    "--quiet",
]


def cli(*args):
    return main(["train", *MIXTURE, *map(str, args)])


def read_run(path):
    metrics = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    return (
        json.loads((path / "config.json").read_text()),
        metrics,
        json.loads((path / "summary.json").read_text()),
        torch.load(path / "checkpoint.pt", weights_only=False),
    )
