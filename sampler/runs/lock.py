"""The exclusive lock of a run directory: one writer at a time.

The writer (rank 0) holds ``RUN_DIR/lock`` for the whole run: an ``fcntl.flock`` exclusive lock
on that file, which also records the holder (host, pid, start time) as JSON. The kernel drops a
flock when its process dies, so the lock of a crashed or killed run is stale by construction and
the next run simply takes it. Where the file system refuses flock (some network file systems),
the file itself is the lock (created with ``O_EXCL``) and it is stale when its holder's process
no longer exists on this host (a holder on another host cannot be checked: the message says to
remove the file once that run is gone). A second writer, a ``--resume`` of a run that is still
running, or two runs given one ``--out`` are refused with one line naming the holder. The file
is removed on release.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None

from sampler.runs.file_kinds import kind_of, read_regular
from sampler.runs.files import LOCK, RunWriteError

NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


class RunLockedError(RuntimeError):
    """The run directory is held by another live run; the message names it."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def _describe(holder: dict | None) -> str:
    if not holder:
        return "another process (its lock file names no holder)"
    started = holder.get("started")
    since = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(started)) if started else ""
    return f"pid {holder.get('pid')} on host {holder.get('host')}{since}"


def read_holder(path: Path) -> dict | None:
    try:
        holder = json.loads(read_regular(path, 4096).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return holder if isinstance(holder, dict) else None


class RunLock:
    """``acquire()`` or ``RunLockedError``; ``release()``; also a context manager."""

    def __init__(self, directory: str | os.PathLike, role: str = "--out") -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK
        self.role = role
        self._fd: int | None = None
        self._owns_file = False

    def _refuse(self, holder: dict | None, hint: str = "") -> RunLockedError:
        return RunLockedError(
            f"{self.role} {self.directory}: in use by {_describe(holder)} ({self.path}); "
            f"wait for that run to end or stop it{hint}"
        )

    def _check_kind(self) -> None:
        """A lock file that is not a regular file (a FIFO, a link to a device) is refused."""
        try:
            mode = os.stat(self.path).st_mode
        except FileNotFoundError:
            return
        except OSError as error:
            message = f"{self.role} {self.directory}: {self.path}: {error.strerror}"
            raise RunWriteError(message) from None
        if not stat.S_ISREG(mode):
            raise RunWriteError(
                f"{self.role} {self.directory}: its lock file {self.path} is {kind_of(mode)}, "
                "not a regular file; remove it"
            )

    def acquire(self) -> RunLock:
        record = json.dumps(
            {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
        )
        self._check_kind()
        for _ in range(10):  # a holder may remove the file between our open and our flock
            existed = self.path.exists()
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise RunWriteError(
                    f"{self.role} {self.directory}: cannot create its lock file ({error.strerror})"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._refuse(read_holder(self.path)) from None
            except OSError as error:
                os.close(fd)
                if error.errno in NO_FLOCK:
                    if not existed:
                        self.path.unlink(missing_ok=True)  # ours, empty: not a holder's
                    return self._acquire_file(record)
                raise
            same = os.path.exists(self.path) and os.stat(self.path).st_ino == os.fstat(fd).st_ino
            if not same:  # we locked a file that its holder has just removed: try again
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, record.encode())
            self._fd, self._owns_file = fd, True
            return self
        raise self._refuse(read_holder(self.path))

    def _acquire_file(self, record: str) -> RunLock:
        """Without flock: the lock file itself, created exclusively; stale if its holder's pid
        is gone from this host."""
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = read_holder(self.path)
                here = holder and holder.get("host") == socket.gethostname()
                if here and isinstance(holder.get("pid"), int) and not _alive(holder["pid"]):
                    self.path.unlink(missing_ok=True)  # stale: its process is gone
                    continue
                hint = "" if here else f"; if it is gone, remove {self.path}"
                raise self._refuse(holder, hint) from None
            os.write(fd, record.encode())
            os.close(fd)
            self._owns_file = True
            return self
        raise self._refuse(read_holder(self.path))

    def release(self) -> None:
        if self._owns_file:
            self.path.unlink(missing_ok=True)  # while still locked: no one sees it half-gone
            self._owns_file = False
        if self._fd is not None:
            os.close(self._fd)  # drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def check_unlocked(directory: str | os.PathLike, role: str) -> None:
    """``RunLockedError`` if a live run holds ``directory`` now (taken and released at once)."""
    if (Path(directory) / LOCK).exists():
        RunLock(directory, role).acquire().release()
