"""What may become a new run's directory (``--out``): absent, empty, or a run of ours that
never reached a checkpoint (its files are replaced); never ``''``, a file, a finished run, or
someone else's files. ``default_out`` names and creates the directory of a run without
``--out``: ``runs/<time>-<method>-<model>``."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from sampler.runs.files import CHECKPOINT, CONFIG, LOCK, OURS, RunFileError


def is_our_record(config: Any) -> bool:
    """Whether a parsed ``config.json`` is one that ``sampler train`` wrote."""
    return isinstance(config, dict) and {"model", "data", "steps", "seed"} <= set(config)


def check_new_out(path: Path) -> None:
    """``RunFileError`` unless ``path`` can become a new run's directory: absent, empty, or a
    run of ours that never reached a checkpoint (its files are replaced). Never ``''``, a file,
    a finished run, or someone else's files."""
    if str(path) == "":
        raise RunFileError("--out: must name a directory, got ''")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise RunFileError(f"--out {path}: {existing} is a file, not a directory")
    if existing != path or not any(path.iterdir()):
        return
    if (path / CHECKPOINT).exists():
        raise RunFileError(
            f"--out {path}: already holds a run; continue it with --resume {path} "
            "or choose another --out"
        )
    names = sorted(entry.name for entry in path.iterdir())
    foreign = [n for n in names if n not in OURS and not n.endswith(".tmp")]
    record = None
    if (path / CONFIG).is_file():
        try:
            record = json.loads((path / CONFIG).read_bytes().decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            record = None
    files = [n for n in names if n != LOCK and not n.endswith(".tmp")]
    if foreign or (files and not is_our_record(record)):
        shown = ", ".join((foreign or files)[:5])
        raise RunFileError(
            f"--out {path}: not empty and not a run directory of sampler (holds {shown}); "
            "choose a new or empty directory"
        )


def default_out(method: str, model: str) -> str:
    """``runs/<time>-<method>-<model>``, created here so that it is this run's alone: a second
    run started in the same second gets ``...-2`` (and so on)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    model = re.sub(r"[^\w.-]+", "-", model)  # keras:MODULE:FACTORY -> keras-MODULE-...
    base = Path("runs") / f"{stamp}-{method}-{model}"
    base.parent.mkdir(parents=True, exist_ok=True)
    for number in range(1, 10_000):
        path = base if number == 1 else base.with_name(f"{base.name}-{number}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return str(path)
    raise RuntimeError(f"{base}: no free run directory name")
