"""What an experiment of ``sampler reproduce`` is: named runs (plain ``sampler train`` command
lines, one per seed) and how its section of ``docs/results.md`` is written.

An experiment is declared by a function of the ``Scale`` (full, or ``--quick`` where
``scale.smoke_test`` is true) in its own module and registered in
``sampler.reproduce.registry``. By default its section is an accuracy table (the ``at``
columns) and a plot of test accuracy; an experiment that reports something else gives
``render``, a function of (experiment, rows, out, docs) returning the section's markdown parts
(tables, ``![title](file.png)`` lines for the PNGs it wrote into ``docs``). With ``flatness``
set, ``sampler flatness RUN <flatness_flags>`` probes every run's final point after training;
its report lands in ``flatness_directory(out, run)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PROBES = ("--probes", "local-energy,hessian")


@dataclass(frozen=True)
class RunSpec:
    label: str  # the row / curve it belongs to (the same for every seed)
    flags: tuple[str, ...]  # sampler train flags, without --seed, --out, --data-dir
    seed: int
    ranks: int = 1

    @property
    def name(self) -> str:
        """Directory name: the method, a hash of flags and ranks, the seed."""
        digest = hashlib.sha1(" ".join([*self.flags, f"ranks={self.ranks}"]).encode())
        method = next(
            (
                self.flags[i + 1]
                for i, f in enumerate(self.flags)
                if f in ("--estimator", "--baseline")
            ),
            "run",
        )
        return f"{method.replace(':', '-')}-{digest.hexdigest()[:8]}-s{self.seed}"


# render(experiment, rows, out, docs) -> the section's markdown parts after its paragraph;
# rows: label -> the runs (sampler.compare.runs.Run) of that label that exist under out/runs
Render = Callable[["Experiment", dict, Path, Path], list[str]]


@dataclass
class Experiment:
    key: str
    title: str
    about: str  # what is run and why, one paragraph of the report
    runs: list[RunSpec] = field(default_factory=list)
    at: tuple[int, ...] = ()  # accuracy columns (updates; gradient evaluations for 'grads')
    x: str = "updates"  # 'updates', 'grads' (gradient evaluations) or 'tau'
    flatness: bool = False  # probe the final points with sampler flatness
    flatness_flags: tuple[str, ...] = DEFAULT_PROBES  # the probes' flags
    render: Render | None = None  # the section's tables and plots (default: accuracy)

    def add(self, label: str, flags: tuple[str, ...], seeds, ranks: int = 1) -> None:
        self.runs += [RunSpec(label, tuple(flags), seed, ranks) for seed in seeds]

    def runs_per_label(self) -> dict[str, int]:
        """How many runs (seeds) each row is made of, in the order of first use."""
        counts: dict[str, int] = {}
        for run in self.runs:
            counts[run.label] = counts.get(run.label, 0) + 1
        return counts

    def flatness_directory(self, out: Path, run: RunSpec) -> Path:
        """Where ``sampler flatness`` writes its report on ``run`` for this experiment: one
        folder per run and set of probe flags (two experiments may probe one run differently)."""
        if self.flatness_flags == DEFAULT_PROBES:
            return out / "flatness" / run.name
        digest = hashlib.sha1(" ".join(self.flatness_flags).encode()).hexdigest()[:6]
        return out / "flatness" / f"{run.name}-p{digest}"


def steps(count: int, eval_every: int) -> tuple[str, ...]:
    """The ``--steps`` and ``--eval-every`` flags of a run."""
    return ("--steps", str(count), "--eval-every", str(eval_every))


def columns(count: int, columns_wanted: int = 5, every: int = 1) -> tuple[int, ...]:
    """Up to ``columns_wanted`` evenly spaced updates among those evaluated (multiples of
    ``every``, and the last)."""
    evaluated = sorted({*range(every, count + 1, every), count})
    n = len(evaluated)
    picks = {
        evaluated[max(0, round(n * (i + 1) / columns_wanted) - 1)] for i in range(columns_wanted)
    }
    return tuple(sorted(picks))
