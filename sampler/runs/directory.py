"""The run directory that rank 0 writes, and that ``--resume`` and ``sampler compare`` read.

* ``config.json``   every setting needed to rerun (``sampler train --config`` accepts its keys)
* ``metrics.jsonl`` one JSON object per update: step, time, train_loss, diagnostics, ...
* ``checkpoint.pt`` parameters, trainer state and step; written to a temporary file in the same
  directory, flushed, then renamed over the old one, so a crash never leaves a torn checkpoint
* ``summary.json``  final test accuracy, steps, seconds per update, totals
* ``lock``          the exclusive lock of the run that writes here (``sampler.runs.lock``)

Every file is read defensively: a file that is missing, unreadable, not UTF-8, not valid JSON or
not of the shape sampler writes raises ``RunFileError``, one line naming the file. A checkpoint
holds plain data only (tensors, dicts, lists, tuples, numbers, strings, None: checked on writing)
and is read with ``torch.load(weights_only=True)``, so loading one never runs foreign code. A
metrics append that fails part-way (a full disk) cuts the file back to its last whole line; a
torn last line that is left anyway (a kill during the write) is dropped on resume. A checkpoint
write that fails removes its temporary file and keeps the previous checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import warnings
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
CHECKPOINT_KEYS = {"step", "params", "state", "elapsed", "step_seconds", "totals", "config"}
PLAIN = (bool, int, float, str, type(None), torch.Tensor)
_os_write = os.write  # the one write of a metrics line (tests inject a full disk here)


class RunFileError(ValueError):
    """A file of a run directory is missing, unreadable or not what sampler writes there."""


class RunWriteError(RunFileError):
    """Writing a run file failed (a full disk, a read-only directory); the message says which."""


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, torch.Tensor):
        return _json_safe(value.item()) if value.numel() == 1 else value.tolist()
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


def check_plain(value: Any, where: str = "checkpoint") -> None:
    """``TypeError`` if ``value`` holds anything a weights-only load would refuse."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} is not a string or an integer")
            check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_plain(item, f"{where}[{index}]")
    elif not isinstance(value, PLAIN):
        raise TypeError(f"{where}: a {type(value).__name__} has no place in a checkpoint")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_checkpoint(checkpoint: Any, path: Path) -> dict:
    """The checkpoint if it has the shape sampler writes; ``RunFileError`` naming it if not."""
    what = "not a checkpoint of sampler"
    if not isinstance(checkpoint, dict):
        raise RunFileError(f"{path}: {what} (holds a {type(checkpoint).__name__})")
    missing = sorted(CHECKPOINT_KEYS - set(checkpoint))
    if missing:
        raise RunFileError(f"{path}: {what} (no {', '.join(missing)})")
    step, params = checkpoint["step"], checkpoint["params"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise RunFileError(f"{path}: {what} (step {step!r} is not a count of updates)")
    if not isinstance(params, torch.Tensor) or params.dim() != 1 or not params.is_floating_point():
        raise RunFileError(f"{path}: {what} (params is not a vector of numbers)")
    if not bool(torch.isfinite(params).all()):
        raise RunFileError(f"{path}: its parameters are not all finite")
    if not (_number(checkpoint["elapsed"]) and _number(checkpoint["step_seconds"])):
        raise RunFileError(f"{path}: {what} (elapsed times are not numbers)")
    totals, config = checkpoint["totals"], checkpoint["config"]
    if not isinstance(totals, dict) or not all(_number(v) for v in totals.values()):
        raise RunFileError(f"{path}: {what} (totals are not counts)")
    if not isinstance(config, dict):
        raise RunFileError(f"{path}: {what} (config is not a table)")
    return checkpoint


def parse_metrics(path: Path, drop_torn_tail: bool = False) -> list[dict]:
    """The records of ``metrics.jsonl``; every line an object with an integer ``step``.
    ``drop_torn_tail``: a last line without its newline that does not parse (a write cut
    short) is dropped instead of being an error."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return []
    except OSError as error:
        raise RunFileError(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise RunFileError(f"{path}: not UTF-8 text") from None
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if drop_torn_tail and number == len(lines):
                break  # the torn last line of an interrupted append
            raise RunFileError(f"{path}, line {number}: not valid JSON ({error})") from None
        step = record.get("step") if isinstance(record, dict) else None
        if isinstance(step, bool) or not isinstance(step, int):
            raise RunFileError(f"{path}, line {number}: not a metrics record (no integer step)")
        records.append(record)
    return records


class RunDirectory:
    def __init__(self, path: str | os.PathLike, role: str = "--resume") -> None:
        self.path = Path(path)
        self.role = role  # the flag that named the directory, for messages

    def create(self, config: dict) -> None:
        check_new_out(self.path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunWriteError(f"--out {self.path}: cannot write ({error.strerror})") from None
        write_json_atomic(self.path / CONFIG, config)  # first: what makes the directory ours
        try:
            (self.path / METRICS).write_text("")
        except OSError as error:
            raise RunWriteError(f"{self.path / METRICS}: cannot write ({error.strerror})") from None

    def read_config(self) -> dict:
        path = self.path / CONFIG
        if not path.exists():
            raise RunFileError(f"{self.role} {self.path}: no {CONFIG} there")
        return read_json_object(path, "the run's settings")

    def append_metrics(self, record: dict) -> None:
        path = self.path / METRICS
        data = (json.dumps({k: _json_safe(v) for k, v in record.items()}) + "\n").encode()
        try:
            with open(path, "ab", buffering=0) as handle:
                size = handle.seek(0, os.SEEK_END)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[_os_write(handle.fileno(), view) :]
                except OSError:
                    handle.truncate(size)  # no torn line: back to the last whole record
                    raise
        except OSError as error:
            raise RunWriteError(
                f"{path}: cannot append the metrics of update {record.get('step')} "
                f"({error.strerror}); the run stopped, continue it with: sampler train "
                f"--resume {self.path}"
            ) from None

    def read_metrics(self) -> list[dict]:
        return parse_metrics(self.path / METRICS)

    def truncate_metrics(self, last_step: int) -> None:
        """Keep the records up to ``last_step`` (those after the checkpoint are redone); a torn
        last line is dropped. ``RunFileError`` if the records are not those of one run up to
        the checkpoint (1, 2, ..., last_step)."""
        path = self.path / METRICS
        kept = [r for r in parse_metrics(path, drop_torn_tail=True) if r["step"] <= last_step]
        steps = [r["step"] for r in kept]
        if steps != list(range(1, last_step + 1)):
            raise RunFileError(
                f"{path}: does not hold updates 1..{last_step} of {self.path / CHECKPOINT} "
                f"once each (it holds {len(steps)} records up to that update)"
            )
        temporary = self.path / (METRICS + ".tmp")
        try:
            temporary.write_text("".join(json.dumps(r) + "\n" for r in kept))
            os.replace(temporary, path)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise RunWriteError(f"{path}: cannot rewrite ({error.strerror})") from None

    def save_checkpoint(self, payload: dict) -> None:
        check_plain(payload)
        path = self.path / CHECKPOINT
        temporary = self.path / (CHECKPOINT + ".tmp")
        try:
            with open(temporary, "wb") as handle:
                torch.save(payload, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except (OSError, RuntimeError) as error:  # torch reports a failed write as RuntimeError
            temporary.unlink(missing_ok=True)
            reason = getattr(error, "strerror", None) or str(error).splitlines()[0][:120]
            raise RunWriteError(
                f"{path}: cannot write the checkpoint of update {payload.get('step')} "
                f"({reason}); the previous checkpoint is kept"
            ) from None
        except BaseException:  # an interrupt during the write: no temporary file left behind
            temporary.unlink(missing_ok=True)
            raise

    def load_checkpoint(self) -> dict:
        path = self.path / CHECKPOINT
        if not path.exists():
            raise RunFileError(f"{self.role} {self.path}: no {CHECKPOINT} there")
        try:
            with warnings.catch_warnings():  # torch warns about foreign pickles before refusing
                warnings.simplefilter("ignore")
                checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - torch raises many kinds for a bad file
            text = str(error).strip()
            if "Weights only load failed" in text:
                reason = "it holds objects other than tensors, numbers, strings, lists and dicts"
            else:
                first = (text.splitlines() or [type(error).__name__])[0]
                reason = first.split(". ")[0][:160]  # torch's first sentence
            raise RunFileError(f"{path}: not a readable checkpoint ({reason})") from None
        return check_checkpoint(checkpoint, path)

    def write_summary(self, summary: dict) -> None:
        write_json_atomic(self.path / SUMMARY, {k: _json_safe(v) for k, v in summary.items()})
