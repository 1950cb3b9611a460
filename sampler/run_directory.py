"""The run directory that rank 0 writes, and that ``--resume`` and ``sampler compare`` read.

* ``config.json``   every setting needed to rerun (``sampler train --config`` accepts its keys)
* ``metrics.jsonl`` one JSON object per update: step, time, train_loss, diagnostics, ...
* ``checkpoint.pt`` parameters, trainer state and step; written to a temporary file in the same
  directory, flushed, then renamed over the old one, so a crash never leaves a torn checkpoint
* ``summary.json``  final test accuracy, steps, seconds per update, totals
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch

CONFIG, METRICS, CHECKPOINT, SUMMARY = (
    "config.json",
    "metrics.jsonl",
    "checkpoint.pt",
    "summary.json",
)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, torch.Tensor):
        return _json_safe(value.item()) if value.numel() == 1 else value.tolist()
    return value


def write_json_atomic(path: Path, payload: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


class RunDirectory:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def create(self, config: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if (self.path / CHECKPOINT).exists():
            raise FileExistsError(
                f"--out {self.path}: already holds a run; continue it with --resume {self.path} "
                "or choose another --out"
            )
        write_json_atomic(self.path / CONFIG, config)
        (self.path / METRICS).write_text("")

    def read_config(self) -> dict:
        path = self.path / CONFIG
        if not path.is_file():
            raise FileNotFoundError(f"--resume {self.path}: no {CONFIG} there")
        return json.loads(path.read_text())

    def append_metrics(self, record: dict) -> None:
        line = json.dumps({k: _json_safe(v) for k, v in record.items()})
        with open(self.path / METRICS, "a") as handle:
            handle.write(line + "\n")

    def read_metrics(self) -> list[dict]:
        path = self.path / METRICS
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def truncate_metrics(self, last_step: int) -> None:
        """Keep the records up to ``last_step`` (those after the checkpoint are redone)."""
        kept = [r for r in self.read_metrics() if r["step"] <= last_step]
        temporary = self.path / (METRICS + ".tmp")
        temporary.write_text("".join(json.dumps(r) + "\n" for r in kept))
        os.replace(temporary, self.path / METRICS)

    def save_checkpoint(self, payload: dict) -> None:
        temporary = self.path / (CHECKPOINT + ".tmp")
        with open(temporary, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path / CHECKPOINT)

    def load_checkpoint(self) -> dict:
        path = self.path / CHECKPOINT
        if not path.is_file():
            raise FileNotFoundError(f"--resume {self.path}: no {CHECKPOINT} there")
        return torch.load(path, map_location="cpu", weights_only=False)

    def write_summary(self, summary: dict) -> None:
        write_json_atomic(self.path / SUMMARY, {k: _json_safe(v) for k, v in summary.items()})
