"""``sampler compare``, ``flatness`` and ``export`` on a full disk: every file each writes
(tables, JSON, PNGs, state dicts) fails with one line naming it, and the good file written
before is left byte for byte, with no temporary beside it (``sampler.runs.atomic_file``).

The disk fills part-way through the file (half of its bytes reach the disk, then ``ENOSPC``),
at its first byte, or at ``fsync``; the files are the ones the command wrote when it succeeded,
so a new writer is covered without naming it here."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch

from sampler.cli.main import main
from sampler.runs import atomic_file
from sampler.runs.files import RunWriteError

pytestmark = pytest.mark.reliability
TINY = ["--data", "gaussian-mixture", "--gm-dim", "4", "--gm-train", "60", "--gm-test", "40"]
PROBES = [
    *("--examples", "20", "--noise-samples", "2", "--samples", "10", "--eigenvalues", "1"),
    *("--sigma", "0.1", "--taus", "0.01"),
]
NO_SPACE = os.strerror(errno.ENOSPC)
REAL_OPEN = atomic_file.open_temporary


def enospc() -> OSError:
    return OSError(errno.ENOSPC, NO_SPACE)


class FullDisk:
    """A file that takes ``room`` bytes and then fails with ENOSPC (what reached it stays)."""

    def __init__(self, path: Path, room: int, at_sync: bool) -> None:
        self.handle, self.room, self.at_sync = open(path, "wb"), room, at_sync

    def write(self, data) -> int:
        data = bytes(data)
        if self.at_sync or len(data) <= self.room:
            self.room -= len(data)
            return self.handle.write(data)
        self.handle.write(data[: self.room])
        self.room = 0
        raise enospc()

    def fileno(self) -> int:
        if self.at_sync:  # the bytes were taken; the disk fills when they are flushed to it
            raise enospc()
        return self.handle.fileno()

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.handle.close()


def fill_disk_at(monkeypatch, target: str, room: int, at_sync: bool = False) -> None:
    def opened(path: Path):
        name = path.name.removeprefix(".").rsplit(".", 2)[0]  # .NAME.PID.tmp
        return FullDisk(path, room, at_sync) if name == target else REAL_OPEN(path)

    monkeypatch.setattr(atomic_file, "open_temporary", opened)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    return lines[0]


def each_file_on_a_full_disk(monkeypatch, capsys, argv, folder: Path, written: list[str]):
    """Run ``argv`` once per file of ``written`` and way of filling the disk (a command of
    three files or more: one way per file, in turn, to keep the suite fast); each must fail
    with one line naming that file, leave that file as it was and no temporary beside it."""
    good = snapshot(folder)
    assert set(written) <= set(good), (written, list(good))
    for index, target in enumerate(written):
        ways = ((len(good[target]) // 2, False), (0, False), (0, True))
        if len(written) >= len(ways):  # many files: each filled one way, every way used
            ways = ways[index % len(ways) : index % len(ways) + 1]
        for room, at_sync in ways:
            fill_disk_at(monkeypatch, target, room, at_sync)
            with pytest.raises(SystemExit) as stop:
                main(argv)
            assert stop.value.code == 2, target
            line = error_line(capsys)
            assert f"{folder / target}: cannot write ({NO_SPACE})" in line, line
            now = snapshot(folder)  # the files before it in the order written are new, whole ones
            assert now[target] == good[target], f"{target} (room {room}, at fsync {at_sync})"
            assert set(now) == set(good), "a temporary file was left"
    monkeypatch.undo()


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("disk") / "run"
    argv = ["train", *TINY, "--steps", "3", "--batch-size", "10", "--samples", "10", "--quiet"]
    assert main([*argv, "--out", str(out)]) == 0
    return out


def test_flatness_on_a_full_disk(run, tmp_path, monkeypatch, capsys):
    out = tmp_path / "probes"
    argv = ["flatness", str(run), *PROBES, "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    each_file_on_a_full_disk(monkeypatch, capsys, argv, out, ["flatness.json", "flatness.png"])


def test_compare_on_a_full_disk(run, tmp_path, monkeypatch, capsys):
    probed = tmp_path / "probed"
    assert main(["flatness", str(run), *PROBES, "--out", str(probed)]) == 0
    for name in ("flatness.json",):  # the run with its flatness report: the flatness plots too
        (run / name).write_bytes((probed / name).read_bytes())
    out = tmp_path / "cmp"
    argv = ["compare", str(run), "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    written = sorted(p.name for p in out.iterdir())
    assert {"table.md", "table.csv", "plots.json"} < set(written)
    assert sum(name.endswith(".png") for name in written) >= 3  # training and flatness plots
    # every PNG is written by one function (compare.plots.render): the first and the last
    pngs = [name for name in written if name.endswith(".png")]
    files = [name for name in written if not name.endswith(".png")] + [pngs[0], pngs[-1]]
    each_file_on_a_full_disk(monkeypatch, capsys, argv, out, files)
    (run / "flatness.json").unlink()


def test_compare_cannot_create_its_folder(run, tmp_path, monkeypatch, capsys):
    def full(self, *args, **kwargs):
        raise enospc()

    monkeypatch.setattr(Path, "mkdir", full)
    with pytest.raises(SystemExit):
        main(["compare", str(run), "--out", str(tmp_path / "new")])
    assert f"cannot create the folder ({NO_SPACE})" in error_line(capsys)


@pytest.mark.parametrize("where", ["default", "out"])
def test_export_on_a_full_disk(run, tmp_path, monkeypatch, capsys, where):
    target = run / "state_dict.pt" if where == "default" else tmp_path / "weights.pt"
    argv = ["export", str(run)] + (["--out", str(target)] if where == "out" else [])
    assert main(argv) == 0
    capsys.readouterr()
    each_file_on_a_full_disk(monkeypatch, capsys, argv, target.parent, [target.name])
    assert torch.load(target, weights_only=True)  # the good one, still loadable


def test_the_api_export_on_a_full_disk(run, tmp_path, monkeypatch):
    from sampler.api.export import export_state_dict

    target = tmp_path / "weights.pt"
    fill_disk_at(monkeypatch, "weights.pt", 100)
    with pytest.raises(RunWriteError, match=f"weights.pt: cannot write \\({NO_SPACE}\\)"):
        export_state_dict(run, out=target)
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_in_another_way_is_one_line(tmp_path):
    def fails(handle):
        handle.write(b"part")
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    target = tmp_path / "x.pt"
    target.write_bytes(b"good")
    with pytest.raises(RunWriteError, match="x.pt: cannot write \\(PytorchStreamWriter failed"):
        atomic_file.write_atomic(target, fails)
    assert target.read_bytes() == b"good" and [p.name for p in tmp_path.iterdir()] == ["x.pt"]


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_path_that_is_not_a_regular_file_is_not_replaced(tmp_path, kind):
    target = tmp_path / "table.md"
    target.mkdir() if kind == "folder" else os.mkfifo(target)
    with pytest.raises(RunWriteError, match="table.md: is a"):
        atomic_file.write_text_atomic(target, "text")
    assert target.is_dir() if kind == "folder" else target.is_fifo()
