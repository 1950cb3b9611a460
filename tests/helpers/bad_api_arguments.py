"""Generated bad arguments of the Python API: every run argument of ``sampler.train`` and
``sampler.build`` and every option of every method, each given values of the wrong type or out
of range. Each must be refused before any work with one line naming the argument (``name=``).
"""

from __future__ import annotations

import math

from sampler.config.method_options import all_methods
from sampler.config.run_config import FIELDS

NOT_A_NUMBER = ("x", 1j, object(), [1], {"a": 1}, None.__class__)
WRONG = {
    "int": (*NOT_A_NUMBER, 2.5, True, -1),
    "float": (*NOT_A_NUMBER, math.nan, math.inf, -math.inf, True),
    "bool": ("maybe", 2, 1j, object(), [True]),
    "str": (5, 2.5, object(), [], "no-such-choice"),
    "any": (object(), 1j, {}, "", math.nan, [object()], "not a schedule"),
}
PATHS = {"out": (5, " ", "", 2.5, object(), ["a"]), "init_from": (5, " ", object())}
RUN_FIELDS = {
    "steps": (*WRONG["int"], 10**30),
    "batch_size": WRONG["int"],
    "seed": (*NOT_A_NUMBER, 2.5, True),
    "data_seed": (*NOT_A_NUMBER, 2.5, True),
    "eval_every": (*NOT_A_NUMBER, 2.5, True, -1),
    "checkpoint_every": (*NOT_A_NUMBER, 2.5, True, -1),
    "signal_every": (*NOT_A_NUMBER, 2.5, True, -1),
    "threads": (*NOT_A_NUMBER, 2.5, True, -1, 10**20),
    "device": (5, object(), "gpu:x", ""),
    "quiet": WRONG["bool"],
    "tensorboard": WRONG["bool"],
    "stop_on_divergence": WRONG["bool"],
    "estimator": (5, object(), "no-such"),
    "comm": ("x", 5, object()),
    "num_classes": ("x", 0, -3, 2.5, True),
    **PATHS,
}
BUILD_FIELDS = {
    name: values
    for name, values in RUN_FIELDS.items()
    if name in {"steps", "seed", "device", "threads", "estimator", "comm", "num_classes"}
}


def run_argument_cases() -> list[tuple[str, dict]]:
    """(the argument's name, the keyword arguments) for ``sampler.train``."""
    assert set(RUN_FIELDS) - {"comm", "num_classes"} <= set(FIELDS)
    return [(name, {name: value}) for name, values in RUN_FIELDS.items() for value in values]


def build_argument_cases() -> list[tuple[str, dict]]:
    cases = [(name, {name: value}) for name, values in BUILD_FIELDS.items() for value in values]
    cases += [("train_size", {"train_size": value}) for value in ("x", 0, 2.5, True)]
    return cases


def method_option_cases() -> list[tuple[str, dict]]:
    """Every option of every method, with values wrong for its kind."""
    cases = []
    for method in all_methods():
        choice = {"baseline" if method.kind == "baseline" else "estimator": method.name}
        for name, option in method.options.items():
            for value in WRONG[option.kind]:
                if option.kind == "str" and value == "no-such-choice" and not option.choices:
                    continue  # a free string
                cases.append((name, {**choice, name: value}))
    return cases


def step_batch_cases() -> list[tuple[str, dict]]:
    """Batches of ``build(...).step`` that do not fit the model: the wrong feature size, targets
    outside its classes. ``model``: a zoo name taking 4 features and 2 classes or an
    ``nn.Linear(4, 3)`` (``"module"``); ``draw``: a bad further minibatch of eSGD's inner steps."""
    import torch

    good = (torch.zeros(6, 4), torch.zeros(6, dtype=torch.int64))
    bad = [
        (torch.zeros(6, 5), torch.zeros(6, dtype=torch.int64)),  # one feature too many
        (torch.zeros(6, 3), torch.zeros(6, dtype=torch.int64)),
        (torch.zeros(6, 4, 4), torch.zeros(6, dtype=torch.int64)),
        (torch.zeros(6, 4), torch.full((6,), 7)),  # a class the model does not have
        (torch.zeros(6, 4), torch.full((6,), -1)),
    ]
    cases = [("batch", {"model": model, "batch": batch}) for model in ("linear",) for batch in bad]
    cases += [("batch", {"model": "module", "batch": batch}) for batch in bad]
    cases.append(("batch", {"model": "module", "batch": good[:1] + (torch.full((6,), 3),)}))
    cases += [
        ("draw", {"model": "linear", "baseline": "esgd", "batch": good, "draw": batch})
        for batch in bad
    ]
    return cases
