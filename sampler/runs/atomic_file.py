"""A file written whole or not at all: what ``sampler compare``, ``sampler flatness`` and
``sampler export`` write (tables, JSON, PNGs, state dicts), and the run's JSON records.

The bytes go to a temporary file in the same folder (``.NAME.PID.tmp``, so the rename cannot
cross file systems), which is flushed and ``fsync``-ed and then renamed over ``NAME``
(``os.replace``, atomic on POSIX). A failure at any point (a full disk, ``ENOSPC``, half-way
through the bytes or at ``fsync``; a read-only folder; a write error that torch or matplotlib
reports as another exception) removes the temporary and raises ``RunWriteError`` with one line
naming the file and the reason: the file that was there before (a good table, an earlier
state dict) is left as it was, never replaced by part of a new one. A path that is a folder,
FIFO, device or socket is refused before anything is written
(``sampler.runs.file_kinds.replace_refusal``).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from sampler.runs.file_kinds import replace_refusal
from sampler.runs.files import RunWriteError

# what a writer may raise for a failed write besides OSError: torch.save (RuntimeError), the
# PNG encoder (ValueError, SystemError from C code given a failing file object)
WRITE_FAILURES = (OSError, RuntimeError, ValueError, SystemError)


def temporary_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def open_temporary(path: Path) -> BinaryIO:
    """The temporary file a writer fills (a seam for the full-disk tests)."""
    return open(path, "wb")


def failure_reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    if isinstance(error.__context__, OSError) and error.__context__.strerror:
        return error.__context__.strerror  # the OSError under torch's or PIL's own exception
    text = str(error).strip().splitlines()
    return text[0][:120] if text else type(error).__name__


def write_atomic(
    path: str | os.PathLike,
    write: Callable[[BinaryIO], object],
    role: str = "--out",
    run_files: frozenset[str] = frozenset(),
) -> None:
    """``write(handle)`` into a temporary file beside ``path``, fsync it, rename it to
    ``path``; ``RunWriteError`` naming ``role`` and ``path`` on any failure, the temporary
    removed and ``path`` as it was. ``run_files``: names ``path`` must not have in a run
    directory (``replace_refusal``)."""
    path = Path(path)
    refusal = replace_refusal(path, run_files)
    if refusal:
        raise RunWriteError(f"{role} {path}: {refusal}".lstrip())
    temporary = temporary_path(path)
    try:
        with open_temporary(temporary) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except WRITE_FAILURES as error:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        reason = failure_reason(error)
        raise RunWriteError(f"{role} {path}: cannot write ({reason})".lstrip()) from None


def write_text_atomic(path: str | os.PathLike, text: str, role: str = "--out") -> None:
    """``text`` (UTF-8) as the whole of ``path``, atomically (``write_atomic``)."""
    data = text.encode("utf-8")
    write_atomic(path, lambda handle: handle.write(data), role)


def write_json_atomic(path: str | os.PathLike, payload: dict, role: str = "") -> None:
    """``payload`` as indented JSON (keys sorted), atomically (``write_atomic``); a run's own
    records name only the file (``role`` empty)."""
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True) + "\n", role)
