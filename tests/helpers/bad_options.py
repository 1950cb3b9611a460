"""Generated bad options of every training method, zoo model and data set: values an option's
own declared check refuses (``Option.parse`` decides, so a case is never a valid setting), and
options that belong to another method."""

from __future__ import annotations

from sampler.config.method_options import all_methods, option_owners
from sampler.config.run_config import FIELDS, flag
from sampler.models import DATASETS, MODELS
from sampler.models.options import Option
from tests.helpers.bad_case import HUGE, MIXTURE, RUN, Case, without_flag

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
    "lal": [],
    "elal": ["--replicas", "2"],
    "fbp": ["--stages", "2"],
    "cesgd-fast": [],
    "cesgd-slow": [],
    "es": ["--population", "4", "--block-size", "2"],
    **{f"evotorch:{name}": ["--population", "4"] for name in ("PGPE", "SNES", "CEM", "CMAES")},
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
for _name in ("small-conv", "tiny-conv"):
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
FLOAT_PROBES = ["1e-40"]  # positive, below float32's smallest normal number


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
    probes = PROBES + (FLOAT_PROBES if option.kind == "float" else [])
    values += [p for p in probes if p not in values and _refused(option, p)]
    return values


def _method_base(method) -> list[str]:
    chosen = (
        ["--baseline", method.name] if method.kind == "baseline" else ["--estimator", method.name]
    )
    return [*MIXTURE, *RUN, *chosen]


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
                argv = [*base, *without_flag(own, name), flag(name), value]
                cases.append(Case(tuple(argv), flag(name)))
        foreign = sorted(set(owners) - set(method.options) - set(FIELDS))
        for name in foreign[::3]:  # a third of them, spread over the names
            option = owners[name][0][1]
            value = [] if option.kind == "bool" else [str(option.default)]
            if option.kind == "ints":
                value = [",".join(map(str, option.default))]
            cases.append(Case(tuple([*base, *own, flag(name), *value]), flag(name)))
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
