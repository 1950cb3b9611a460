"""What a command may read and what it may replace: regular files only, read up to a bound.

A FIFO given as a file to read makes ``open`` wait forever for a writer, a device
(``/dev/zero``) never ends, and a file of gigabytes exhausts memory; replacing a device, FIFO
or socket with a regular file (``os.replace`` over it, as root) destroys it, and writing over
a run's own ``config.json`` or ``checkpoint.pt`` loses the run. So:

* ``read_regular(path, limit)``: the bytes of a regular file (a link to one is followed) of at
  most ``limit`` bytes; anything else raises ``OSError`` whose ``strerror`` says what the path
  is (``a FIFO, not a regular file``, ``larger than 64 MiB``), so a caller's usual ``cannot read
  (...)`` line names the file and the reason.
* ``replace_refusal(path, run_files)``: why a writer must not replace ``path`` (not a regular
  file, or one of a run directory's own files), or None.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MiB = 1 << 20
TEXT_LIMIT = 64 * MiB  # a settings file, a run's JSON record
METRICS_LIMIT = 4096 * MiB  # metrics.jsonl: about 500 bytes an update
KINDS = {
    stat.S_ISFIFO: "a FIFO",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
    stat.S_ISDIR: "a folder",
}


def kind_of(mode: int) -> str:
    return next((name for test, name in KINDS.items() if test(mode)), "not a regular file")


def read_regular(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit``); ``OSError`` otherwise."""
    mode = os.stat(path).st_mode  # FileNotFoundError, PermissionError as they are
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, f"{kind_of(mode)}, not a regular file", str(path))
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit // MiB} MiB, the most read", str(path))
    return data


def replace_refusal(path: str | os.PathLike, run_files: frozenset[str]) -> str | None:
    """Why a writer must not replace ``path``, or None (a new file, or a regular one that is
    not one of ``run_files`` in a run directory, a folder with a ``config.json``)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        return f"cannot be examined ({error.strerror})"
    if mode is not None and not stat.S_ISREG(mode):
        return f"is {kind_of(mode)}; give the path of a regular file (new or existing)"
    if path.name in run_files and (path.parent / "config.json").is_file():
        return f"is a file of the run in {path.parent}; give another path"
    return None
