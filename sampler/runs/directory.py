"""The run directory that rank 0 writes, and that ``--resume`` and ``sampler compare`` read.

* ``config.json``   every setting needed to rerun (``sampler train --config`` accepts its keys)
* ``metrics.jsonl`` one JSON object per update: step, time, train_loss, diagnostics, ...
* ``checkpoint.pt`` parameters, trainer state and step; written to a temporary file in the same
  directory, flushed, then renamed over the old one, so a crash never leaves a torn checkpoint
* ``summary.json``  final test accuracy, steps, seconds per update, totals
* ``lock``          the exclusive lock of the run that writes here (``sampler.runs.lock``)

What may become a new run's directory: ``sampler.runs.new_directory``; what a checkpoint may
hold: ``sampler.runs.checkpoint_format``.

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
import os
import warnings
from pathlib import Path

import torch

from sampler.runs.checkpoint_format import check_checkpoint, check_plain
from sampler.runs.files import (
    CHECKPOINT,
    CONFIG,
    METRICS,
    SUMMARY,
    RunFileError,
    RunWriteError,
    json_safe,
    read_json_object,
    write_json_atomic,
)
from sampler.runs.new_directory import check_new_out

_os_write = os.write  # the one write of a metrics line (tests inject a full disk here)


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
        data = (json.dumps({k: json_safe(v) for k, v in record.items()}) + "\n").encode()
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
        write_json_atomic(self.path / SUMMARY, {k: json_safe(v) for k, v in summary.items()})
