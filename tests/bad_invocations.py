"""Generated bad invocations of ``sampler train`` for the reliability suite.

Every case is bad by construction, and the command must refuse it: a non-zero exit, one line
(``sampler...: error: ...``) that names the input (``Case.names``: a flag, an option or a file),
no traceback, within a time bound. The cases cover every run-level flag, every option of every
method, model and data set, ``--config`` files, and every file of a run directory (``--resume``,
``--init-from``, ``--out``). Values that an option's own declared check would accept are left
out of the generated ranges (``Option.parse`` decides), so a generated case is never a valid
setting; the hand-written cases add what only the run can know (sizes against memory, settings
that would be ignored, files that are corrupt).

A case's ``argv`` follows ``sampler train``; ``{dir}`` in it is replaced by the case's own
directory, which ``setup`` (if any) fills first and which ``tests/test_reliability.py`` passes
as ``tmp``. ``{run}`` is a finished two-update run (``base_run``) copied into that directory.
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sampler.config import DATA_ALIASES, FIELDS, flag
from sampler.methods import all_methods, option_owners
from sampler.models import DATASETS, MODELS
from sampler.models.options import Option

HUGE = "99999999999999999999"
# the tiny data every method case trains on (a silent accept would finish in a second)
MIXTURE = ["--data", "gaussian-mixture", "--gm-dim", "4", "--gm-train", "40", "--gm-test", "20"]
RUN = ["--steps", "2", "--batch-size", "10", "--quiet", "--out", "{dir}/out"]
# small settings of each method (an option under test replaces its own)
METHOD_FLAGS = {
    "is": ["--samples", "20", "--block-size", "10"],
    "sgld": ["--sgld-steps", "3"],
    "rm": ["--rm-samples", "2", "--rm-iterations", "2"],
    "rm-stein": ["--rm-samples", "2", "--rm-iterations", "2"],
    "sgd": [],
    "esgd": ["--esgd-steps", "2"],
    "rsgd": ["--replicas", "2"],
    "pla": ["--perturbations", "2"],
    "plea": ["--perturbations", "2"],
}
# a model's tiny data: (data flags, small model options that keep a silent accept fast)
MODEL_DATA = {
    "linear": MIXTURE,
    "mlp": MIXTURE,
    "musso-mlp": MIXTURE,
    "perceptron": ["--data", "random-patterns", "--data-opt", "n=21", "--data-opt", "alpha=1"],
    "committee": ["--data", "random-patterns", "--data-opt", "n=21", "--data-opt", "alpha=1"],
}
IMAGES = ["--data", "synthetic-images", "--data-opt", "train_size=20", "--data-opt", "test_size=10"]
for _name in ("small-conv",):
    MODEL_DATA[_name] = [
        *IMAGES,
        "--data-opt",
        "channels=1",
        "--data-opt",
        "height=28",
        "--data-opt",
        "width=28",
    ]
for _name in ("musso-cifar", "musso-stl", "resnet18"):
    MODEL_DATA[_name] = [*IMAGES, "--data-opt", "height=32", "--data-opt", "width=32"]
# per-kind values that the kind itself never accepts, and range probes kept where the option's
# own check refuses them
ALWAYS_BAD = {
    "int": ["abc", "1.5", ""],
    "float": ["abc", "nan", "inf", "-inf", "1e999", ""],
    "bool": ["maybe"],
    "str": [],
    "ints": ["abc", "0", "1,x", "-3"],
    "any": ["bogus:1", "nan", "", "scoping:1"],
}
PROBES = ["-1", "0", "-0.5", "1", "2", "1e308", "1.5"]


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    names: str  # what the error line must contain
    setup: Callable[[Path], None] | None = None
    label: str = ""

    @property
    def id(self) -> str:
        return self.label or " ".join(self.argv)


def _refused(option: Option, value: str) -> bool:
    try:
        option.parse(value)
    except (TypeError, ValueError):
        return True
    return False


def _bad_values(option: Option) -> list[str]:
    values = list(ALWAYS_BAD.get(option.kind, []))
    if option.choices:
        values.append("nope")
    values += [p for p in PROBES if p not in values and _refused(option, p)]
    return values


def _method_base(method) -> list[str]:
    chosen = (
        ["--baseline", method.name] if method.kind == "baseline" else ["--estimator", method.name]
    )
    return [*MIXTURE, *RUN, *chosen]


def _without(flags: list[str], name: str) -> list[str]:
    text = flag(name)
    out, skip = [], False
    for item in flags:
        if skip:
            skip = False
            continue
        if item == text:
            skip = True
            continue
        out.append(item)
    return out


def method_option_cases() -> list[Case]:
    """Every option of every method with values its check refuses; every foreign option."""
    cases = []
    owners = option_owners()
    for method in all_methods():
        base = _method_base(method)
        own = METHOD_FLAGS[method.name]
        for name, option in method.options.items():
            if option.kind == "bool":
                continue  # --flag / --no-flag: argparse takes no value
            for value in _bad_values(option):
                argv = [*base, *_without(own, name), flag(name), value]
                cases.append(Case(tuple(argv), flag(name)))
        foreign = sorted(set(owners) - set(method.options) - set(FIELDS))
        for name in foreign[::3]:  # a third of them, spread over the names
            option = owners[name][0][1]
            value = [] if option.kind == "bool" else [str(option.default)]
            if option.kind == "ints":
                value = [",".join(map(str, option.default))]
            cases.append(Case(tuple([*base, *own, flag(name), *value]), flag(name)))
    return cases


RUN_LEVEL_BAD = {
    "model": ["nope", "keras:", "keras:no_such_module_xyz:build", "keras:os:getcwd"],
    "data": ["nope"],
    "data_dir": ["/nonexistent/dir", "{dir}/a-file"],
    "data_seed": ["-1", "abc"],
    "estimator": ["nope"],
    "baseline": ["nope"],
    "init_from": ["/nonexistent/run", "{dir}"],
    "steps": ["0", "-1", "abc", "2.5", HUGE, ""],
    "batch_size": ["0", "-1", "41", HUGE],
    "seed": ["-1", "abc", "1e3"],
    "eval_every": ["-1", "abc"],
    "signal_every": ["-1", "x"],
    "checkpoint_every": ["-1", "1.5"],
    "out": ["", "{dir}/a-file", "{dir}/a-file/below"],
    "device": ["tpu", "cuda:x", "cuda:99", "gpu"],
    "model_options": ["noequals", "=1", "nope=1"],
    "data_options": ["noequals", "nope=1"],
}
NAMES = {"model_options": "--model", "data_options": "--data"}


def _touch_file(tmp: Path) -> None:
    (tmp / "a-file").write_text("not a directory\n")


def run_level_cases() -> list[Case]:
    cases = []
    for name, values in RUN_LEVEL_BAD.items():
        assert name in FIELDS, name
        for value in values:
            argv = [*MIXTURE, *_without(RUN, name), flag(name), value]
            if name == "data" or name == "data_dir" and value.startswith("/"):
                argv = [*_without(RUN, name), flag(name), value]  # mnist reads --data-dir
            setup = _touch_file if "a-file" in value else None
            names = NAMES.get(name, flag(name))
            if name == "init_from" and value == "{dir}":
                names = "--init-from"
            cases.append(Case(tuple(argv), names, setup))
    for name, (data, _option) in DATA_ALIASES.items():  # an alias for another data set
        other = "mnist" if data != "mnist" else "gaussian-mixture"
        cases.append(Case(("--data", other, *RUN, flag(name), "1"), flag(name)))
    booleans = {name for name, field in FIELDS.items() if isinstance(field.default, bool)}
    assert set(RUN_LEVEL_BAD) >= set(FIELDS) - {"method_options"} - booleans, "a flag untested"
    return cases


def model_option_cases() -> list[Case]:
    """Every option of every zoo model: refused kinds, sizes of zero, negative and huge."""
    cases = []
    for model, spec in MODELS.items():
        base = [*MODEL_DATA[model], *RUN, "--model", model, "--baseline", "sgd"]
        cases.append(Case((*base, "--model-opt", "nope=1"), "nope"))
        for name, option in spec.options.items():
            values = _bad_values(option)
            if option.kind in ("int", "ints"):  # every integer model option is a size
                values += [v for v in ("0", "-1", HUGE) if v not in values]
            for value in values:
                cases.append(Case((*base, "--model-opt", f"{name}={value}"), name))
    return cases


DATA_BAD = {
    "gaussian-mixture": {
        "dim": ["0", "-1", HUGE, "abc"],
        "delta": ["0", "-1", "inf", "nan", "1e7"],
        "train_size": ["0", "-1", HUGE],
        "test_size": ["0", "-1", HUGE],
    },
    "random-patterns": {"n": ["0", "-1", HUGE, "abc"], "alpha": ["0", "-1", "nan", "inf"]},
    "teacher": {
        "n": ["0", "-1", HUGE],
        "alpha": ["0", "-1"],
        "test_size": ["0", "-1", HUGE],
        "teacher_seed": ["-1", "abc"],
    },
    "synthetic-images": {
        "channels": ["0", "-1", HUGE],
        "height": ["0", "-1", HUGE],
        "width": ["0", "-1", HUGE],
        "classes": ["0", "1", "-1", HUGE],
        "train_size": ["0", "-1", HUGE],
        "test_size": ["0", "-1", HUGE],
        "noise": ["nan", "inf", "abc"],
    },
    "mnist": {"test_fraction": ["0", "1", "-0.5", "nan", "abc"]},
}


def data_option_cases() -> list[Case]:
    cases = []
    for data, options in DATA_BAD.items():
        assert set(options) <= set(DATASETS[data].options), data
        model = "perceptron" if data in ("random-patterns", "teacher") else "linear"
        base = ["--data", data, *RUN, "--model", model, "--baseline", "sgd"]
        cases.append(Case((*base, "--data-opt", "nope=1"), "nope"))
        for name, values in options.items():
            for value in values:
                cases.append(Case((*base, "--data-opt", f"{name}={value}"), name))
    return cases


def _write(name: str, content: bytes | str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        path = tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)

    return setup


CONFIG_FILES = {
    "list.json": "[1, 2]",
    "null.json": "null",
    "string.json": '"steps"',
    "broken.json": '{"steps": ',
    "latin1.toml": b"steps = 2\nmodel = '\xe9'\n",
    "latin1.json": b'{"model": "\xe9"}',
    "broken.toml": "steps = \n",
    "unknown.toml": "sampels = 10\n",
    "steps-text.toml": 'steps = "x"\n',
    "steps-float.toml": "steps = 1.5\n",
    "steps-bool.toml": "steps = true\n",
    "steps-huge.toml": f"steps = {HUGE[:19]}\n",
    "quiet-text.toml": 'quiet = "yes"\n',
    "model-options-number.toml": "model_options = 3\n",
    "data-options-list.toml": "data_options = [1]\n",
    "method-options-text.toml": 'method_options = "x"\n',
    "tau-list.toml": "tau = [1, 2]\n",
    "samples-negative.toml": "samples = -5\n",
    "estimator-number.toml": "estimator = 3\n",
    "model-unknown.toml": 'model = "nope"\n',
    "unknown-table.toml": "[foo]\nbar = 1\n",
    "both-methods.toml": 'estimator = "is"\nbaseline = "sgd"\n',
    "method-option-unknown.toml": "[method_options]\nsampels = 3\n",
    "model-option-unknown.toml": "[model_options]\nnope = 3\n",
    "empty.json": "",
}
CONFIG_NAMES = {"steps-huge.toml": "--steps", "tau-list.toml": "--tau"}


def config_file_cases() -> list[Case]:
    cases = []
    run = _without(RUN, "steps")  # the file's steps is what some cases spoil
    for name, content in CONFIG_FILES.items():
        cases.append(
            Case(
                (*MIXTURE, *run, "--config", f"{{dir}}/{name}"),
                CONFIG_NAMES.get(name, name),
                _write(name, content),
                label=f"--config {name}",
            )
        )
    cases.append(Case((*MIXTURE, *RUN, "--config", "/nonexistent/run.toml"), "/nonexistent"))
    cases.append(Case((*MIXTURE, *RUN, "--config", "{dir}"), "--config"))
    return cases


# --- run directories: a finished two-update run, then one file of it spoiled --------------

BASE_RUN_ARGS = [*MIXTURE, "--steps", "2", "--batch-size", "10", "--quiet", "--samples", "20"]


def base_run(directory: Path) -> Path:
    """A finished two-update run in ``directory`` (made once per session by the test)."""
    from sampler.cli import main

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


def _chain(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        for each in setups:
            each(tmp)

    return setup


def run_directory_cases(base: Path) -> list[Case]:
    """``--resume`` of a spoiled copy of ``base``; ``--init-from`` and ``--out`` likewise."""
    copy = _copy_run(base)
    cases = []
    for file, spoils in RUN_FILE_SPOILS.items():
        for label, content in spoils:
            setup = _chain(copy, _spoil(file, content))
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
                names = "checkpoint.pt" if label != "params of another shape" else "--init-from"
                cases.append(Case(argv, names, setup, label=f"--init-from: {file} {label}"))
    resume = ("--resume", "{dir}/run")
    cases += [
        Case((*resume, "--steps", "1"), "--steps", copy, label="--resume: --steps below"),
        Case((*resume, "--samples", "30"), "--samples", copy, label="--resume: changed option"),
        Case((*resume, "--out", "{dir}/else"), "--out", copy, label="--resume: another --out"),
        Case(("--resume", "{dir}/missing"), "{dir}/missing", label="--resume: no directory"),
        Case(("--resume", "{dir}/a-file"), "a-file", _touch_file, label="--resume: a file"),
        Case(("--resume", ""), "--resume", label="--resume ''"),
        Case(
            (*resume, "--config", "{dir}/run/config.json"),
            "--config",
            copy,
            label="--resume with --config",
        ),
    ]
    foreign = _chain(_write("notes.txt", "mine\n"), _write("config.json", '{"mine": 1}'))
    for label, setup, out in [
        ("a finished run", copy, "{dir}/run"),
        ("a non-empty foreign directory", _write("notes.txt", "mine\n"), "{dir}"),
        ("someone's config.json", foreign, "{dir}"),
        ("someone's metrics.jsonl", _write("metrics.jsonl", "x\n"), "{dir}"),
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
    garbage = _chain(
        lambda tmp: (tmp / "idx").mkdir(),
        _write("idx/t10k-images-idx3-ubyte", b"\x00\x00\x08\x03xx"),
        _write("idx/t10k-labels-idx1-ubyte", b"\x00\x00\x08\x01yy"),
    )
    labels = _idx_dir(rng.integers(0, 256, (30, 28, 28)), np.full(30, 12))
    return [
        Case(argv, "--data-dir", small, label="--data-dir: 8x8 test images"),
        Case(argv, "--data-dir", empty, label="--data-dir: empty test set"),
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


SIZE_CASES = [
    # sizes whose memory or time no machine has: refused up front, naming the flag
    (["--samples", HUGE], "--samples"),
    (["--samples", "100000000000"], "--samples"),
    (["--block-size", "100000000000"], "--block-size"),
    (["--estimator", "sgld", "--chains", "100000000000"], "--chains"),
    (["--estimator", "sgld", "--sgld-steps", HUGE], "--sgld-steps"),
    (["--estimator", "rm", "--rm-iterations", HUGE], "--rm-iterations"),
    (["--estimator", "rm", "--rm-samples", "100000000000"], "--rm-samples"),
    (["--baseline", "esgd", "--esgd-steps", HUGE], "--esgd-steps"),
    (["--baseline", "rsgd", "--replicas", "100000000000"], "--replicas"),
    (["--baseline", "pla", "--perturbations", "100000000000"], "--perturbations"),
    (["--steps", HUGE], "--steps"),
    (["--gm-dim", "10000000000"], "dim=10000000000"),
    (["--gm-train", "100000000000"], "train_size=100000000000"),
    (["--baseline", "esgd", "--esgd-lr", "1e308"], "--esgd-lr"),
    (["--baseline", "esgd", "--esgd-noise", "1e300"], "--esgd-noise"),
    (["--baseline", "pla", "--radius", "1e300"], "--radius"),
    (["--model", "mlp", "--model-opt", "widths=100000000000"], "widths"),
    (["--model", "mlp", "--model-opt", "widths=100000,100000,100000"], "widths"),
    (["--estimator", "sgld", "--sgld-eps", "1e308"], "--sgld-eps"),
    (["--tau", "1e300"], "--tau"),
    (["--gm-delta", "inf"], "delta"),
]
IGNORED_CASES = [
    # settings the chosen method or data would ignore (README: refused)
    (["--chains", "2"], "--chains"),
    (["--sgld-steps", "2"], "--sgld-steps"),
    (["--rm-step", "power:1,1"], "--rm-step"),
    (["--estimator", "sgld", "--samples", "5"], "--samples"),
    (["--estimator", "sgld", "--block-size", "5"], "--block-size"),
    (["--baseline", "sgd", "--tau", "0.1"], "--tau"),
    (["--baseline", "sgd", "--beta", "2"], "--beta"),
    (["--data-dir", "."], "--data-dir"),
    (["--test-fraction", "0.1"], "--test-fraction"),
    (["--switch-lr", "0.1"], "--switch-lr"),
    (["--switch-after", "2"], "--switch-after"),
    (["--momentum", "0.9"], "--momentum"),
    (["--baseline", "sgd", "--nesterov"], "--nesterov"),
    (["--optimizer", "momentum"], "--optimizer"),
    (["--estimator", "is", "--baseline", "sgd"], "--baseline"),
    (["--baseline", "rsgd", "--replicas", "1"], "--gamma0"),
]


def hand_written_cases() -> list[Case]:
    cases = [Case((*MIXTURE, *RUN, *argv), names) for argv, names in SIZE_CASES + IGNORED_CASES]
    return cases


def all_cases(base: Path) -> list[Case]:
    return (
        run_level_cases()
        + method_option_cases()
        + model_option_cases()
        + data_option_cases()
        + config_file_cases()
        + run_directory_cases(base)
        + data_file_cases()
        + hand_written_cases()
    )
