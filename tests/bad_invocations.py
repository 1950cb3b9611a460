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
directory, which ``setup`` (if any) fills first. The cases of spoiled files (run directories,
data directories) are in ``tests/bad_files.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sampler.config.method_options import all_methods, option_owners
from sampler.config.run_config import DATA_ALIASES, FIELDS, flag
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
    "threads": ["-1", "abc", "2.5"],
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


def _chain(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        for each in setups:
            each(tmp)

    return setup


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


def all_cases() -> list[Case]:
    """The cases of this module; ``tests.bad_files`` adds those of spoiled files."""
    return (
        run_level_cases()
        + method_option_cases()
        + model_option_cases()
        + data_option_cases()
        + config_file_cases()
        + hand_written_cases()
    )
