"""The section of ``sampler reproduce``'s frontier experiment (``sampler.reproduce.frontier``):
a table of the forward-equivalents at which each method first reaches test accuracy .85 and
.90, and per network two plots, test accuracy against forward-equivalents (log axis) and
against wall time.

Forward-equivalents of a run after update k (``sampler.compare.series``): its loss evaluations
plus ``GRAD_COST`` times its minibatch gradient evaluations up to k; "reached at" is the value at
the first test evaluation at or above the level. Over the seeds: mean ± sample sd where every
seed reached it, "not reached (best b)" where none did (``b``: the best test accuracy of any
seed), the reached seeds' values and the others' best where some did.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sampler.compare import series
from sampler.compare.groups import combine
from sampler.compare.plots import Plot
from sampler.compare.runs import Run
from sampler.reproduce import figures, tables

GRAD_COST = 3.0  # sampler compare's --grad-cost default: forward + backward ~ 3 forward passes
LEVELS = (0.85, 0.90)
BACKPROP = ("SGD", "Entropy-SGD")  # the curves drawn as one family


def best(run: Run) -> float | None:
    values = series.at_steps(run, "test_accuracy").values()
    return max(values) if values else None


def reached(runs: Sequence[Run], level: float) -> str:
    """The forward-equivalents to ``level`` over the seeds (module docstring)."""
    if not runs:
        return "—"
    spent = [series.forward_equivalents_to(r, level, GRAD_COST) for r in runs]
    hit = [v for v in spent if v is not None]
    missed = [b for r, v in zip(runs, spent) if v is None and (b := best(r)) is not None]
    short = f"{max(missed):.3f}" if missed else "—"
    if not hit:
        return f"not reached (best {short})"
    mean, sd = series.mean_sd(hit)
    text = f"{mean:,.0f}" + ("" if sd is None else f" ± {sd:,.0f}")
    if len(hit) < len(runs):
        text += f" ({len(hit)} of {len(runs)} seeds; the others' best {short})"
    return text


def table(rows: dict[str, list[Run]], wanted: dict[str, int]) -> str:
    header = [
        "network",
        "method",
        "seeds",
        "updates",
        *(f"fwd-equiv to {level:.2f}" for level in LEVELS),
        "final accuracy",
        "s / update (under load)",
    ]
    body = []
    for label, runs in rows.items():
        model, method = label.split(": ", 1)
        finished = sum(r.finished for r in runs)
        seeds = f"{finished}" if finished == wanted.get(label) else f"{finished} of {wanted[label]}"
        updates = max((r.steps for r in runs), default=0)
        body.append(
            [
                model,
                method,
                seeds,
                f"{updates:,}",
                *(reached(runs, level) for level in LEVELS),
                tables.number(
                    [series.final(r, "test_accuracy", "final_test_accuracy") for r in runs]
                ),
                tables.seconds(series.mean_sd([series.seconds_per_update(r) for r in runs])[0]),
            ]
        )
    return (
        f"Forward-equivalents (a minibatch gradient = {GRAD_COST:g} forward passes) at the first "
        "test evaluation at or above each accuracy, mean ± sd over seeds; final test accuracy; "
        "seconds per update inside the updates:\n\n" + tables.table(header, body)
    )


def family(method: str) -> tuple[str, str]:
    """``(group, part)`` of a method's curve: one colour per family (IS, EvoTorch, backprop),
    one line style per member, so that a dozen curves stay apart."""
    if method in BACKPROP:
        return "backprop", method
    first, _, rest = method.partition(" ")
    return (first, rest) if first in ("IS", "EvoTorch") and rest else (method, "")


def plots(rows: dict[str, list[Run]]) -> list[Plot]:
    """Per network: accuracy against forward-equivalents (log) and against wall time (log)."""
    views = (
        (
            "fwd",
            "forward-equivalents (log; a gradient = 3)",
            lambda r: series.forward_equivalents(r, GRAD_COST),
        ),
        (
            "time",
            "wall-clock seconds (log; evaluations included)",
            lambda r: series.at_steps(r, "time"),
        ),
    )
    result: dict[str, Plot] = {}
    for label, runs in rows.items():
        model, method = label.split(": ", 1)
        for key, xlabel, position in views:
            name = f"frontier-{model}-{key}"
            plot = result.setdefault(
                name,
                Plot(name, f"{model}: test accuracy", xlabel, "test accuracy", xscale="log"),
            )
            if runs:
                curve = combine([figures.accuracy(r) for r in runs], [position(r) for r in runs])
                group, part = family(method)
                plot.add(group, curve, part)
    return [p for p in result.values() if p.series]


def render(experiment, rows: dict[str, list[Run]], out: Path, docs: Path) -> list[str]:
    """The table, then the PNGs written into ``docs`` (``frontier-<network>-fwd|time.png``)."""
    parts = [table(rows, experiment.runs_per_label())]
    for plot in plots(rows):
        path = figures.save(plot, docs)
        parts.append(f"![{plot.title} against {plot.xlabel.split(' (')[0]}]({path.name})")
    return parts
