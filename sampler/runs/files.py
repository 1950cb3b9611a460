"""The files of a run directory by name, the errors that name them, and how a JSON file of it
is read (defensively: a
file that is missing, unreadable, not a regular file, too large, not UTF-8, not valid JSON or
not an object is one line naming it, ``RunFileError``); it is written atomically by
``sampler.runs.atomic_file.write_json_atomic``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from sampler.runs.file_kinds import TEXT_LIMIT, read_regular

CONFIG, METRICS, CHECKPOINT, SUMMARY = (
    "config.json",
    "metrics.jsonl",
    "checkpoint.pt",
    "summary.json",
)
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"  # the one before the newest, to fall back on
LOCK = "lock"
# what a run of ours may hold beside its own files (sampler flatness writes into it)
OURS = {
    CONFIG,
    METRICS,
    CHECKPOINT,
    PREVIOUS_CHECKPOINT,
    SUMMARY,
    LOCK,
    "flatness.json",
    "flatness.png",
}


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


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    table = dict(pairs)
    if len(table) != len(pairs):
        seen = [key for key, _ in pairs]
        twice = next(key for key in seen if seen.count(key) > 1)
        raise ValueError(f"key {twice!r} is given twice")
    return table


def unique_json(text: str) -> Any:
    """``json.loads`` that refuses a key given twice in one object (``ValueError``)."""
    return json.loads(text, object_pairs_hook=_no_duplicates)


def read_json_object(path: Path, what: str) -> dict:
    """The JSON object in ``path``; ``RunFileError`` naming the file otherwise."""
    try:
        value = unique_json(read_regular(path, TEXT_LIMIT).decode("utf-8"))
    except FileNotFoundError:
        raise RunFileError(f"{path}: missing ({what})") from None
    except OSError as error:
        raise RunFileError(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise RunFileError(f"{path}: not UTF-8 text ({what})") from None
    except (ValueError, RecursionError) as error:  # a syntax error, a huge integer, depth
        reason = "nested too deeply" if isinstance(error, RecursionError) else error
        raise RunFileError(f"{path}: not valid JSON ({what}: {reason})") from None
    if not isinstance(value, dict):
        raise RunFileError(f"{path}: must hold a JSON object ({what}), got {type(value).__name__}")
    return value
