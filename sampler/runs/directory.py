"""The run directory that rank 0 writes, and that ``--resume`` and ``sampler compare`` read.

* ``config.json``   every setting needed to rerun (``sampler train --config`` accepts its keys)
* ``metrics.jsonl`` one JSON object per update: step, time, train_loss, diagnostics, ...
* ``checkpoint.pt`` parameters, trainer state, step and their digest; written to a temporary file
  in the same directory, flushed, then renamed over the old one, so a crash never leaves a torn
  checkpoint; the one it replaces is kept as ``checkpoint.prev.pt`` (a hard link, else a copy)
  to fall back on if the newest is ever found damaged
* ``summary.json``  final test accuracy, steps, seconds per update, totals
* ``lock``          the exclusive lock of the run that writes here (``sampler.runs.lock``)

What may become a new run's directory: ``sampler.runs.new_directory``; what a checkpoint may
hold: ``sampler.runs.checkpoint_format``.

Every file is read defensively: a file that is missing, unreadable, not UTF-8, not valid JSON or
not of the shape sampler writes raises ``RunFileError``, one line naming the file. A checkpoint
holds plain data only (tensors, dicts, lists, tuples, numbers, strings, None: checked on writing)
and is read with ``torch.load(weights_only=True)``, so loading one never runs foreign code. A
metrics append that fails part-way (a full disk) cuts the file back to its last whole line; a
torn last line that is left anyway (a kill during the write) is dropped on resume. The metrics
are flushed to disk (fsync) before each checkpoint, so a power cut never leaves the lines up to
a checkpoint's own update torn. A checkpoint write that fails removes its temporary file and
keeps the previous checkpoint. A checkpoint whose contents do not match their digest (a flipped
bit, an edit) is refused with one line naming it and the kept previous one.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import torch

from sampler.runs.atomic_file import write_json_atomic
from sampler.runs.checkpoint_format import (
    check_plain,
    read_checkpoint,
    sealed,
    signed_file,
)
from sampler.runs.file_kinds import METRICS_LIMIT, read_regular
from sampler.runs.files import (
    CHECKPOINT,
    CONFIG,
    METRICS,
    PREVIOUS_CHECKPOINT,
    SUMMARY,
    RunFileError,
    RunWriteError,
    json_safe,
    read_json_object,
)
from sampler.runs.new_directory import check_new_out

_os_write = os.write  # the one write of a metrics line (tests inject a full disk here)


def parse_metrics(path: Path, drop_torn_tail: bool = False) -> list[dict]:
    """The records of ``metrics.jsonl``; every line an object with an integer ``step``.
    ``drop_torn_tail``: a last line without its newline that does not parse (a write cut
    short) is dropped instead of being an error."""
    try:
        text = read_regular(path, METRICS_LIMIT).decode("utf-8")
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
        except (ValueError, RecursionError) as error:  # syntax, a huge integer, depth
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

    def _sync_metrics(self) -> None:
        """The metrics lines up to now on disk before a checkpoint that counts them."""
        try:
            with open(self.path / METRICS, "rb") as handle:
                os.fsync(handle.fileno())
        except FileNotFoundError:
            pass

    def _keep_previous(self, path: Path) -> None:
        """``checkpoint.prev.pt`` becomes the checkpoint about to be replaced (a hard link, or a
        copy where links are not allowed), renamed into place so it is never torn."""
        if not path.is_file():
            return
        previous = self.path / PREVIOUS_CHECKPOINT
        staging = self.path / (PREVIOUS_CHECKPOINT + ".tmp")
        staging.unlink(missing_ok=True)
        try:
            os.link(path, staging)
        except OSError:
            shutil.copyfile(path, staging)
        os.replace(staging, previous)

    def save_checkpoint(self, payload: dict) -> None:
        check_plain(payload)
        path = self.path / CHECKPOINT
        temporary = self.path / (CHECKPOINT + ".tmp")
        try:
            self._sync_metrics()
            buffer = io.BytesIO()
            torch.save(sealed(payload), buffer)
            with open(temporary, "wb") as handle:
                handle.write(signed_file(buffer.getvalue()))
                handle.flush()
                os.fsync(handle.fileno())
            self._keep_previous(path)
            os.replace(temporary, path)
        except (OSError, RuntimeError) as error:  # torch reports a failed write as RuntimeError
            temporary.unlink(missing_ok=True)
            (self.path / (PREVIOUS_CHECKPOINT + ".tmp")).unlink(missing_ok=True)
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
            return read_checkpoint(path)
        except RunFileError as error:
            raise RunFileError(f"{error}{self._fallback()}") from None

    def _fallback(self) -> str:
        """How to continue from the kept previous checkpoint, if it is sound ('' if not)."""
        previous = self.path / PREVIOUS_CHECKPOINT
        if not previous.is_file():
            return ""
        try:
            step = read_checkpoint(previous)["step"]
        except RunFileError:  # a damaged previous one is simply not offered
            return ""
        return (
            f"; the previous checkpoint (update {step}) is kept: to continue from it, "
            f"move {previous} to {self.path / CHECKPOINT}"
        )

    def write_summary(self, summary: dict) -> None:
        write_json_atomic(self.path / SUMMARY, {k: json_safe(v) for k, v in summary.items()})
