"""Generated hostile files for the reliability suite: every file a command reads or writes
replaced in turn by each kind of thing that is not the file it should be: a FIFO (whose
``open`` would wait forever), links to ``/dev/null`` and ``/dev/zero``, a folder, a socket, a
file larger than the most read, JSON/TOML nested a hundred thousand levels deep, a
5,000-digit integer, bytes that are not UTF-8, an empty file, a key given twice.

A case is (argv, the text its one error line must name, its setup); ``{dir}`` in argv is the
case's own directory, which holds a copy of a finished run in ``run/``.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sampler.runs.file_kinds import TEXT_LIMIT


@dataclass(frozen=True)
class FileCase:
    argv: tuple[str, ...]
    names: str
    setup: Callable[[Path], None]
    label: str


def _replace(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def fifo(path: Path) -> None:
    _replace(path)
    os.mkfifo(path)


def link_to(device: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        _replace(path)
        path.symlink_to(device)

    return make


def folder(path: Path) -> None:
    _replace(path)
    path.mkdir()


def unix_socket(path: Path) -> None:
    _replace(path)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()  # the socket file stays


def content(data: bytes) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        _replace(path)
        path.write_bytes(data)

    return make


def huge(path: Path) -> None:
    _replace(path)
    with open(path, "wb") as handle:
        handle.truncate(TEXT_LIMIT + 1)  # sparse: no disk used


SPECIAL = {
    "a FIFO": fifo,
    "a link to /dev/null": link_to("/dev/null"),
    "a link to /dev/zero": link_to("/dev/zero"),
    "a folder": folder,
    "a socket": unix_socket,
}
JSON_KINDS = {
    **SPECIAL,
    "larger than the bound": huge,
    "nested 100,000 deep": content(b"[" * 100_000),
    "a 5,000-digit integer": content(b'{"seed": ' + b"9" * 5000 + b"}"),
    "not UTF-8": content(b'{"model": "\xff\xfe"}'),
    "empty": content(b""),
    "a key twice": content(b'{"seed": 1, "seed": 2}'),
    "a list": content(b"[1, 2]"),
}
TOML_KINDS = {
    **SPECIAL,
    "larger than the bound": huge,
    "nested 100,000 deep": content(b"seed = " + b"[" * 100_000),
    "a 5,000-digit integer": content(b"seed = " + b"9" * 5000),
    "not UTF-8": content(b'model = "\xff\xfe"'),
    "a key twice": content(b"batch-size = 5\nbatch_size = 6\n"),
    "an inline table 100,000 deep": content(b"seed = " + b"{a=" * 100_000),
}
CHECKPOINT_KINDS = {**SPECIAL, "empty": content(b""), "not a zip": content(b"\xff" * 4096)}
METRICS_KINDS = {**SPECIAL, "not UTF-8": content(b'{"step": 1}\n{"step": "\xff"}\n')}
LOCK_KINDS = SPECIAL


def _at(relative: str, make: Callable[[Path], None]) -> Callable[[Path], None]:
    return lambda directory: make(directory / relative)


def _cases(argv: tuple[str, ...], relative: str, kinds: dict, what: str) -> list[FileCase]:
    name = Path(relative).name
    return [
        FileCase(argv, name, _at(relative, make), f"{what}: {relative} {label}")
        for label, make in kinds.items()
    ]


def file_kind_cases() -> list[FileCase]:
    resume = ("train", "--resume", "{dir}/run", "--steps", "4", "--quiet")
    init_from = ("train", "--init-from", "{dir}/run", "--steps", "1", "--quiet", "--out", "{dir}/n")
    cases = _cases(("train", "--config", "{dir}/c.toml"), "c.toml", TOML_KINDS, "--config")
    cases += _cases(("train", "--config", "{dir}/c.json"), "c.json", JSON_KINDS, "--config")
    cases += _cases(resume, "run/config.json", JSON_KINDS, "--resume")
    cases += _cases(resume, "run/checkpoint.pt", CHECKPOINT_KINDS, "--resume")
    cases += _cases(resume, "run/metrics.jsonl", METRICS_KINDS, "--resume")
    cases += _cases(resume, "run/lock", LOCK_KINDS, "--resume")
    cases += _cases(init_from, "run/checkpoint.pt", CHECKPOINT_KINDS, "--init-from")
    for file, kinds in [("config.json", JSON_KINDS), ("metrics.jsonl", METRICS_KINDS)]:
        cases += _cases(
            ("compare", "{dir}/run", "--out", "{dir}/c"), f"run/{file}", kinds, "compare"
        )
    cases += _cases(
        ("compare", "{dir}/run", "--out", "{dir}/c"), "run/summary.json", JSON_KINDS, "compare"
    )
    for file, kinds in [("config.json", JSON_KINDS), ("checkpoint.pt", CHECKPOINT_KINDS)]:
        cases += _cases(
            ("export", "{dir}/run", "--out", "{dir}/s.pt"), f"run/{file}", kinds, "export"
        )
        cases += _cases(
            ("flatness", "{dir}/run", "--out", "{dir}/f"), f"run/{file}", kinds, "flatness"
        )
    return cases + export_out_cases()


def export_out_cases() -> list[FileCase]:
    """``sampler export --out`` at each special file and at each of the run's own files."""
    cases = []
    for label, make in SPECIAL.items():
        cases.append(
            FileCase(
                ("export", "{dir}/run", "--out", "{dir}/x"),
                "--out",
                _at("x", make),
                f"export --out {label}",
            )
        )
    for file in (
        "config.json",
        "checkpoint.pt",
        "checkpoint.prev.pt",
        "metrics.jsonl",
        "summary.json",
        "lock",
    ):
        argv = ("export", "{dir}/run", "--out", f"{{dir}}/run/{file}")
        cases.append(FileCase(argv, "--out", lambda d: None, f"export --out the run's {file}"))
    long = "{dir}/" + "n" * 300
    cases.append(
        FileCase(
            ("export", "{dir}/run", "--out", long),
            "--out",
            lambda d: None,
            "export --out a name too long",
        )
    )
    return cases
