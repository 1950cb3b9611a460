"""The reliability suite's API family: every run argument of ``sampler.train`` and
``sampler.build`` and every option of every method, given values of the wrong type or out of
range (``tests.helpers.bad_api_arguments``), is refused before any work with one line (a
``ValueError``) that names the argument as ``name=``; numpy scalars are accepted as the
numbers they hold."""

from __future__ import annotations

import math
import signal
from collections import Counter

import numpy as np
import pytest
import torch

import sampler
from tests.helpers import bad_api_arguments

pytestmark = pytest.mark.reliability
BOUND_SECONDS = 20  # per case on a loaded machine; a refusal takes milliseconds
TINY = {
    "data": "gaussian-mixture",
    "data_options": {"dim": 4, "train_size": 40, "test_size": 20},
    "steps": 2,
    "batch_size": 10,
    "quiet": True,
}


class Hang(BaseException):
    pass


def _alarm(signum, frame):
    raise Hang()


def verdict(call, name: str) -> str:
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, BOUND_SECONDS)
    try:
        call()
    except Hang:
        return "hang"
    except ValueError as error:
        text = str(error)
        if "\n" in text.strip() or f"{name}=" not in text:
            return f"unclear: {text[:160]}"
        return "clean"
    except Exception as error:  # noqa: BLE001 - any other exception is a finding
        return f"traceback: {type(error).__name__}: {str(error)[:160]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return "silent accept"


def _check(cases, call) -> None:
    verdicts, failures = Counter(), []
    for name, kwargs in cases:
        result = verdict(lambda: call(kwargs), name)  # noqa: B023 - called at once
        verdicts[result.split(":")[0]] += 1
        if result != "clean":
            failures.append(f"{result} <- {kwargs!r}")
    print(f"\n{sum(verdicts.values())} API cases: {dict(verdicts)}")
    assert not failures, "\n".join(failures[:40])


def test_every_bad_run_argument_of_train_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cases = bad_api_arguments.run_argument_cases()
    assert len(cases) >= 100
    _check(cases, lambda kwargs: sampler.train("linear", **{**TINY, **kwargs}))


def test_every_bad_method_option_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cases = bad_api_arguments.method_option_cases()
    assert len(cases) >= 500
    _check(cases, lambda kwargs: sampler.train("linear", **{**TINY, **kwargs}))


def test_every_bad_argument_of_build_is_refused_naming_it():
    cases = bad_api_arguments.build_argument_cases()
    assert len(cases) >= 40
    _check(cases, lambda kwargs: sampler.build("linear", **kwargs))


def test_every_batch_of_step_that_does_not_fit_the_model_is_refused_naming_it():
    cases = bad_api_arguments.step_batch_cases()
    assert len(cases) >= 15

    def step(kwargs):
        model = kwargs["model"]
        if model == "module":
            with torch.random.fork_rng():
                model = torch.nn.Linear(4, 3)
        shapes = {} if kwargs["model"] == "module" else {"input_shape": (4,), "num_classes": 2}
        baseline = kwargs.get("baseline", "sgd")
        algorithm = sampler.build(model, baseline=baseline, steps=2, **shapes)
        draw = (lambda stream: kwargs["draw"]) if "draw" in kwargs else None
        algorithm.step(algorithm.init(), kwargs["batch"], draw=draw)

    _check(cases, step)


def test_numpy_scalars_are_numbers(tmp_path):
    result = sampler.train(
        "linear",
        **{**TINY, "steps": np.int64(2), "quiet": np.bool_(True)},
        tau=np.float32(0.01),
        samples=np.int32(20),
        out=tmp_path / "run",
    )
    assert result.summary["steps"] == 2 and (tmp_path / "run" / "checkpoint.pt").is_file()


class _NoParameters(torch.nn.Module):
    def forward(self, x):
        return x[:, :2]


class _Returns(torch.nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.layer, self.how = torch.nn.Linear(4, 2), how

    def forward(self, x):
        logits = self.layer(x)
        return {"tuple": (logits, 1), "int": logits.round().long(), "list": [logits]}[self.how]


class _Ragged(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 10

    def __getitem__(self, index):
        return torch.ones(4 if index % 2 else 5), 0


def _frozen() -> torch.nn.Module:
    module = torch.nn.Linear(4, 2)
    module.bias.requires_grad_(False)
    return module


def _bad_models_and_data():
    x, y = torch.randn(40, 4, generator=torch.Generator().manual_seed(0)), torch.arange(40) % 2
    spoiled = x.clone()
    spoiled[3, 1] = float("nan")
    yield "model", {"model": _NoParameters(), "data": (x, y)}
    yield "model", {"model": _frozen(), "data": (x, y)}
    for how in ("tuple", "int", "list"):
        yield "model", {"model": _Returns(how), "data": (x, y)}
    yield "data", {"model": torch.nn.Linear(4, 2), "data": (spoiled, y)}
    yield "data", {"model": torch.nn.Linear(4, 2), "data": (x.to(torch.complex64), y)}
    yield "data", {"model": torch.nn.Linear(4, 2), "data": (x.masked_fill(x > 1, math.inf), y)}
    yield "data", {"model": torch.nn.Linear(4, 2), "data": _Ragged()}
    yield "test", {"model": torch.nn.Linear(4, 2), "data": (x, y), "test": (spoiled, y)}


def test_bad_models_and_data_are_refused_before_the_first_update():
    with torch.random.fork_rng():  # nn.Linear initialises from the global generator
        cases = list(_bad_models_and_data())
    kwargs = {"steps": 1, "batch_size": 10, "quiet": True, "samples": 20}
    _check(cases, lambda given: sampler.train(**{**kwargs, **given}))
