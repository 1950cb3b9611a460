"""Generated bad files for the reliability suite: every file of a run directory spoiled in turn
(``--resume``, ``--init-from``, ``--out``), and data directories that cannot be the data set.

The run directories are copies of one finished two-update run (``base_run``, made once), each
with one file missing, empty, truncated, foreign, not UTF-8, not valid JSON, of the wrong shape
or of another run. See ``tests.helpers.bad_case`` for what a case is and must give.
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from tests.helpers.bad_case import MIXTURE, RUN, Case, chain, touch_file, write_file

BASE_RUN_ARGS = [*MIXTURE, "--steps", "2", "--batch-size", "10", "--quiet", "--samples", "20"]


def base_run(directory: Path) -> Path:
    """A finished two-update run in ``directory`` (made once per session by the test)."""
    from sampler.cli.main import main

    assert main(["train", *BASE_RUN_ARGS, "--out", str(directory)]) == 0
    return directory


def _spoil(file: str, content: bytes | str | Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        path = tmp / "run" / file
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)

    return setup


def _truncate(fraction: float) -> Callable[[Path], None]:
    def spoil(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])

    return spoil


def _torch_file(payload) -> Callable[[Path], None]:
    return lambda path: torch.save(payload, path)


def _edit_checkpoint(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def spoil(path: Path) -> None:
        checkpoint = torch.load(path, weights_only=True)
        change(checkpoint)
        torch.save(checkpoint, path)

    return spoil


def _edit_config(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def spoil(path: Path) -> None:
        config = json.loads(path.read_text())
        change(config)
        path.write_text(json.dumps(config))

    return spoil


def _remove(path: Path) -> None:
    path.unlink()


def _make_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


class Foreign:  # an object a weights-only load must refuse
    pass


RUN_FILE_SPOILS = {
    "config.json": [
        ("missing", _remove),
        ("a list", "[1, 2]"),
        ("null", "null"),
        ("a number", "3"),
        ("invalid JSON", '{"steps": '),
        ("not UTF-8", b'{"model": "\xe9"}'),
        ("an unknown key", _edit_config(lambda c: c.update(sampels=3))),
        ("a bad value", _edit_config(lambda c: c.update(steps="x"))),
        ("a bad method option", _edit_config(lambda c: c["method_options"].update(samples=0))),
        ("method options not a table", _edit_config(lambda c: c.update(method_options=[1]))),
        ("a directory", _make_directory),
        ("another model than the checkpoint", _edit_config(lambda c: c.update(model="mlp"))),
        ("another seed than the checkpoint", _edit_config(lambda c: c.update(seed=7))),
    ],
    "checkpoint.pt": [
        ("missing", _remove),
        ("empty", b""),
        ("truncated", _truncate(0.5)),
        ("random bytes", bytes(range(256)) * 8),
        ("a pickle of an object", pickle.dumps(Foreign())),
        ("a torch list", _torch_file([1, 2, 3])),
        ("a torch dict without step", _torch_file({"params": torch.zeros(3)})),
        ("a torch object", _torch_file({"step": 2, "params": Foreign()})),
        ("step not an integer", _edit_checkpoint(lambda c: c.update(step="2"))),
        ("params not a tensor", _edit_checkpoint(lambda c: c.update(params=[1.0]))),
        ("params of another shape", _edit_checkpoint(lambda c: c.update(params=torch.zeros(3)))),
        ("non-finite params", _edit_checkpoint(lambda c: c["params"].fill_(float("nan")))),
        ("no state", _edit_checkpoint(lambda c: c.pop("state"))),
        ("a config of another run", _edit_checkpoint(lambda c: c["config"].update(seed=9))),
        ("step beyond the metrics", _edit_checkpoint(lambda c: c.update(step=-1))),
        ("a directory", _make_directory),
    ],
    "metrics.jsonl": [
        ("a line without step", '{"step": 1}\n{"time": 0.1}\n'),
        ("invalid JSON in the middle", '{"step": 1}\n{"step": \n{"step": 2}\n'),
        ("a line that is not an object", '{"step": 1}\n[2]\n'),
        ("a step that is not an integer", '{"step": 1}\n{"step": "2"}\n'),
        ("not UTF-8", b'{"step": 1}\n{"step": "\xe9"}\n'),
        ("a directory", _make_directory),
    ],
}


# what --init-from rightly ignores: it takes the parameters of another run
INIT_FROM_FINE = {"a config of another run"}


def _copy_run(base: Path) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        shutil.copytree(base, tmp / "run")

    return setup


def run_directory_cases(base: Path) -> list[Case]:
    """``--resume`` of a spoiled copy of ``base``; ``--init-from`` and ``--out`` likewise."""
    copy = _copy_run(base)
    cases = []
    for file, spoils in RUN_FILE_SPOILS.items():
        for label, content in spoils:
            setup = chain(copy, _spoil(file, content))
            cases.append(
                Case(
                    ("--resume", "{dir}/run", "--steps", "4"),
                    file,
                    setup,
                    label=f"--resume: {file} {label}",
                )
            )
            if file == "checkpoint.pt" and label not in INIT_FROM_FINE:
                argv = (*BASE_RUN_ARGS, "--init-from", "{dir}/run", "--out", "{dir}/new")
                cases.append(
                    Case(argv, "checkpoint.pt", setup, label=f"--init-from: {file} {label}")
                )
    resume = ("--resume", "{dir}/run")
    cases += [
        Case((*resume, "--steps", "1"), "--steps", copy, label="--resume: --steps below"),
        Case((*resume, "--samples", "30"), "--samples", copy, label="--resume: changed option"),
        Case((*resume, "--out", "{dir}/else"), "--out", copy, label="--resume: another --out"),
        Case(("--resume", "{dir}/missing"), "{dir}/missing", label="--resume: no directory"),
        Case(("--resume", "{dir}/a-file"), "a-file", touch_file, label="--resume: a file"),
        Case(("--resume", ""), "--resume", label="--resume ''"),
        Case(
            (*resume, "--config", "{dir}/run/config.json"),
            "--config",
            copy,
            label="--resume with --config",
        ),
    ]
    foreign = chain(write_file("notes.txt", "mine\n"), write_file("config.json", '{"mine": 1}'))
    for label, setup, out in [
        ("a finished run", copy, "{dir}/run"),
        ("a non-empty foreign directory", write_file("notes.txt", "mine\n"), "{dir}"),
        ("someone's config.json", foreign, "{dir}"),
        ("someone's metrics.jsonl", write_file("metrics.jsonl", "x\n"), "{dir}"),
    ]:
        argv = (*BASE_RUN_ARGS, "--out", out)
        cases.append(Case(argv, "--out", setup, label=f"--out: {label}"))
    return cases


def write_idx(path: Path, array: np.ndarray) -> None:
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    path.write_bytes(header + array.tobytes())


def _idx_dir(images: np.ndarray, labels: np.ndarray, prefix: str = "t10k"):
    def setup(tmp: Path) -> None:
        (tmp / "idx").mkdir()
        write_idx(tmp / "idx" / f"{prefix}-images-idx3-ubyte", images)
        write_idx(tmp / "idx" / f"{prefix}-labels-idx1-ubyte", labels)

    return setup


def data_file_cases() -> list[Case]:
    """``--data-dir`` holding files that cannot be the data set."""
    rng = np.random.default_rng(0)
    argv = ("--data", "mnist", "--data-dir", "{dir}/idx", *RUN, "--baseline", "sgd")
    small = _idx_dir(rng.integers(0, 256, (30, 8, 8)), rng.integers(0, 10, 30))
    empty = _idx_dir(np.zeros((0, 28, 28)), np.zeros(0))
    empty_train = chain(
        _idx_dir(rng.integers(0, 256, (30, 28, 28)), rng.integers(0, 10, 30)),
        lambda tmp: write_idx(tmp / "idx" / "train-images-idx3-ubyte", np.zeros((0, 28, 28))),
        lambda tmp: write_idx(tmp / "idx" / "train-labels-idx1-ubyte", np.zeros(0)),
    )
    garbage = chain(
        lambda tmp: (tmp / "idx").mkdir(),
        write_file("idx/t10k-images-idx3-ubyte", b"\x00\x00\x08\x03xx"),
        write_file("idx/t10k-labels-idx1-ubyte", b"\x00\x00\x08\x01yy"),
    )
    labels = _idx_dir(rng.integers(0, 256, (30, 28, 28)), np.full(30, 12))
    return [
        Case(argv, "--data-dir", small, label="--data-dir: 8x8 test images"),
        # an IDX file of no items: refused naming the file (not blamed on --batch-size)
        Case(argv, "t10k-images-idx3-ubyte", empty, label="--data-dir: empty test set"),
        Case(argv, "train-images-idx3-ubyte", empty_train, label="--data-dir: empty train set"),
        Case(argv, "t10k", garbage, label="--data-dir: garbage IDX files"),
        Case(argv, "t10k-labels", labels, label="--data-dir: labels outside 0..9"),
        Case(("--data", "fashion-mnist", *RUN), "--data-dir", label="fashion-mnist without dir"),
        Case(("--data", "cifar10", *RUN), "--data-dir", label="cifar10 without dir"),
        Case(
            ("--data", "cifar10", "--data-dir", "{dir}", *RUN),
            "CIFAR-10",
            label="cifar10 in an empty dir",
        ),
    ]
