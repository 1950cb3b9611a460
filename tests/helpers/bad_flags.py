"""Generated bad run-level flags of ``sampler train`` (every one of them), and the hand-written
cases that only the run can know: sizes no machine can hold, settings the chosen method or data
would ignore."""

from __future__ import annotations

from sampler.config.run_config import DATA_ALIASES, FIELDS, flag
from tests.helpers.bad_case import HUGE, MIXTURE, RUN, Case, touch_file, without_flag

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


def run_level_cases() -> list[Case]:
    cases = []
    for name, values in RUN_LEVEL_BAD.items():
        assert name in FIELDS, name
        for value in values:
            argv = [*MIXTURE, *without_flag(RUN, name), flag(name), value]
            if name == "data" or name == "data_dir" and value.startswith("/"):
                argv = [*without_flag(RUN, name), flag(name), value]  # mnist reads --data-dir
            setup = touch_file if "a-file" in value else None
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
    # positive, but below float32's smallest normal number: a subnormal or 0 in the run
    (["--baseline", "esgd", "--esgd-lr", "1e-40"], "--esgd-lr"),
    (["--gm-delta", "1e-40"], "delta"),
    (["--data-opt", "delta=1e-320"], "delta"),
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
