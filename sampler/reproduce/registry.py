"""The registry of ``sampler reproduce``: experiment key -> the function that declares it at a
``Scale``, in the order of the report and of ``--plan``. The paper's experiments live in
``sampler.reproduce.experiments``; an experiment beyond them gets its own module and one line
here."""

from __future__ import annotations

from collections.abc import Callable

from sampler.reproduce import cnn
from sampler.reproduce import experiments as paper
from sampler.reproduce.convergence import convergence
from sampler.reproduce.experiment import Experiment, RunSpec
from sampler.reproduce.frontier import frontier
from sampler.reproduce.pnas_minima import pnas_minima
from sampler.reproduce.scale import Scale
from sampler.reproduce.weak_scaling import weak_scaling

EXPERIMENTS: dict[str, Callable[[Scale], Experiment]] = {
    "table-6-1": paper.table_6_1,
    "fig-6-2": paper.fig_6_2,
    "fig-6-3": paper.fig_6_3,
    "fig-6-4": paper.fig_6_4,
    "fig-6-5": paper.fig_6_5,
    "many-samples": paper.many_samples,
    "weak-scaling": weak_scaling,
    "convergence": convergence,
    "temperature": paper.temperature,
    "equal-gradients": paper.equal_gradients,
    "flatness": paper.flatness,
    "pnas-minima": pnas_minima,
    "frontier": frontier,
    "cnn": cnn.cnn,
}


def build(scale: Scale) -> list[Experiment]:
    """Every experiment at ``scale``, in registry order."""
    return [make(scale) for make in EXPERIMENTS.values()]


def all_runs(experiments: list[Experiment]) -> list[RunSpec]:
    """Every distinct run, in the order of first use."""
    seen: dict[str, RunSpec] = {}
    for experiment in experiments:
        for run in experiment.runs:
            seen.setdefault(run.name, run)
    return list(seen.values())
