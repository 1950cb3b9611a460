"""The files of a run directory by name, the errors that name them, and how a JSON file of it
is written (atomically: a temporary file renamed over the old one) and read (defensively: a
file that is missing, unreadable, not UTF-8, not valid JSON or not an object is one line
naming it, ``RunFileError``)."""

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
LOCK = "lock"
# what a run of ours may hold beside its own files (sampler flatness writes into it)
OURS = {CONFIG, METRICS, CHECKPOINT, SUMMARY, LOCK, "flatness.json", "flatness.png"}


class RunFileError(ValueError):
    """A file of a run directory is missing, unreadable or not what sampler writes there."""


class RunWriteError(RunFileError):
    """Writing a run file failed (a full disk, a read-only directory); the message says which."""


def json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, torch.Tensor):
        return json_safe(value.item()) if value.numel() == 1 else value.tolist()
    return value


def write_json_atomic(path: Path, payload: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise RunWriteError(f"{path}: cannot write ({error.strerror})") from None


def read_json_object(path: Path, what: str) -> dict:
    """The JSON object in ``path``; ``RunFileError`` naming the file otherwise."""
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise RunFileError(f"{path}: missing ({what})") from None
    except OSError as error:
        raise RunFileError(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise RunFileError(f"{path}: not UTF-8 text ({what})") from None
    except json.JSONDecodeError as error:
        raise RunFileError(f"{path}: not valid JSON ({what}: {error})") from None
    if not isinstance(value, dict):
        raise RunFileError(f"{path}: must hold a JSON object ({what}), got {type(value).__name__}")
    return value
