"""Runs that differ only by ``--seed`` form one group; a group's curve is the mean over its
runs with a band of one standard deviation.

A group keeps its runs in command-line order and is labelled by its method and the settings
that differ between the compared runs (``sampler.compare.settings``). Curves are aggregated at
the x positions (updates) that all runs of the group have reached, so an unfinished repetition
shortens its group's curve instead of skewing its mean.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sampler.compare import settings as run_settings
from sampler.compare.runs import Run
from sampler.compare.series import mean_sd


@dataclass
class Group:
    runs: list[Run]
    method: str
    settings: str  # the differing settings, "beta=20 lr=tau"

    @property
    def label(self) -> str:
        return f"{self.method} {self.settings}".strip()

    @property
    def seeds(self) -> list[str]:
        return [str(run.config.get("seed", "?")) for run in self.runs]


def group_runs(runs: Sequence[Run]) -> list[Group]:
    keys = run_settings.differing(runs)
    groups: dict[tuple, Group] = {}
    for run in runs:
        key = run_settings.repetition_key(run)
        if key not in groups:
            groups[key] = Group([], run.method, run_settings.describe(run, keys))
        groups[key].runs.append(run)
    result = list(groups.values())
    labels = [g.label for g in result]
    for group in result:  # equal labels (runs that differ in no shown setting): add the path
        if labels.count(group.label) > 1:
            group.settings = f"{group.settings} ({group.runs[0].path.name})".strip()
    return result


@dataclass
class Curve:
    x: list[float]
    y: list[float]
    sd: list[float] | None  # None for a single run


def aggregate(
    group: Group,
    values: Callable[[Run], dict[int, float]],
    position: Callable[[Run], dict[int, float]] | None = None,
) -> Curve | None:
    """Mean (and sd) over the group's runs of ``values(run): step -> y`` at the steps all runs
    have; x is the step, or the mean of ``position(run): step -> x`` (seconds, costs)."""
    places = [position(run) for run in group.runs] if position else None
    return combine([values(run) for run in group.runs], places)


def combine(
    series: Sequence[dict[float, float]], places: Sequence[dict[float, float]] | None = None
) -> Curve | None:
    """Mean and sd of several ``key -> y`` series at the keys all of them have (x: the key, or
    the mean of ``places[i][key]``); ``None`` if they share no key."""
    common = set(series[0])
    for each in [*series[1:], *(places or [])]:
        common &= set(each)
    keys = sorted(common)
    if not keys:
        return None
    x, y, sd = [], [], []
    for key in keys:
        x.append(mean_sd([p[key] for p in places])[0] if places else float(key))
        mean, deviation = mean_sd([s[key] for s in series])
        y.append(mean)
        sd.append(deviation if deviation is not None else 0.0)
    return Curve(x, y, sd if len(series) > 1 else None)
