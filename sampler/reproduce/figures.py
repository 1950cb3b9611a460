"""The PNG plots of ``docs/results.md``: one figure per experiment of ``sampler reproduce``, drawn
with ``sampler.compare``'s matplotlib renderer (mean over seeds, band of one sample sd).

* ``updates``: test accuracy against updates (the paper's Figs. 6.1-6.3, 6.5);
* ``grads``: test accuracy against cumulative minibatch gradient evaluations;
* ``tau``: final test accuracy against tau, log axis (Fig. 6.4);
* ``temperature``: the beta chosen and beta_eff against updates, log axis;
* ``flatness``: the local energy of the training loss against sigma.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sampler.compare import series
from sampler.compare.groups import Curve, Group, combine
from sampler.compare.plots import Plot, accuracy_views, render
from sampler.compare.runs import Run

Rows = dict[str, list[Run]]  # label -> the runs (seeds) of that row, in order


def curve(
    runs: Sequence[Run], values: Callable[[Run], dict], limit: float | None = None
) -> Curve | None:
    if not runs:
        return None
    result = combine([values(run) for run in runs])
    if result is not None and limit is not None:
        keep = [i for i, x in enumerate(result.x) if x <= limit]
        sd = [result.sd[i] for i in keep] if result.sd is not None else None
        result = Curve([result.x[i] for i in keep], [result.y[i] for i in keep], sd)
    return result


def accuracy(run: Run) -> dict[int, float]:
    return series.at_steps(run, "test_accuracy")


def accuracy_by_gradients(run: Run) -> dict[float, float]:
    grads = series.cumulative(run, "grad_evals")
    return {grads[step]: value for step, value in accuracy(run).items()}


def final_accuracy(run: Run) -> float | None:
    return series.final(run, "test_accuracy", "final_test_accuracy")


def _accuracy_plot(name: str, title: str, rows: Rows, x: str, limit: float | None) -> Plot:
    xlabel = "minibatch gradient evaluations" if x == "grads" else "updates"
    values = accuracy_by_gradients if x == "grads" else accuracy
    plot = Plot(name, title, xlabel, "test accuracy")
    for label, runs in rows.items():
        plot.add(label, curve(runs, values, limit))
    return plot


def _tau_plot(name: str, title: str, rows: Rows) -> Plot:
    plot = Plot(name, title, "tau", "final test accuracy", xscale="log")
    methods: dict[str, dict[float, list[float]]] = {}
    for label, runs in rows.items():
        method, tau = label.split(", tau = ")
        values = [v for v in (final_accuracy(r) for r in runs) if v is not None]
        if values:
            methods.setdefault(method, {})[float(tau)] = values
    for method, points in methods.items():
        taus = sorted(points)
        means = [series.mean_sd(points[t]) for t in taus]
        sd = [m[1] or 0.0 for m in means] if any(len(points[t]) > 1 for t in taus) else None
        plot.add(method, Curve(taus, [m[0] for m in means], sd))
    return plot


def _temperature_plots(name: str, rows: Rows) -> list[Plot]:
    plots = []
    for key, what in (("beta", "beta used"), ("beta_eff", "beta_eff of the update's MC error")):
        plot = Plot(
            f"{name}-{key.replace('_', '-')}",
            f"{what} against updates",
            "updates",
            key,
            yscale="log",
        )
        for label, runs in rows.items():
            plot.add(label, curve(runs, lambda r, k=key: series.at_steps(r, k)))
        plots.append(plot)
    return plots


def local_energy(run_flatness: dict | None) -> dict[float, float]:
    entries = (run_flatness or {}).get("local_energy", {}).get("loss", [])
    return {e["sigma"]: e["local_energy"] for e in entries}


def _flatness_plot(name: str, flatness: dict[str, dict | None]) -> Plot:
    plot = Plot(name, "local energy of the final point (training loss)", "sigma", "dE_train(loss)")
    for label, report in flatness.items():
        points = local_energy(report)
        if points:
            plot.add(label, Curve(sorted(points), [points[s] for s in sorted(points)], None))
    return plot


def draw(experiment, rows: Rows, flatness: dict[str, dict | None], docs: Path) -> list[Path]:
    """Every plot of ``experiment`` that has data, as ``docs/<key>[-part].png``."""
    key = experiment.key
    if experiment.flatness:
        plots = [_flatness_plot(key, flatness)]
    elif key == "temperature":
        plots = _temperature_plots(key, rows)
    elif experiment.x == "tau":
        plots = [
            _tau_plot(key, experiment.title, rows),
            _accuracy_plot(f"{key}-curves", experiment.title, rows, "updates", None),
        ]
    else:
        limit = max(experiment.at) if experiment.at else None
        plots = [_accuracy_plot(key, experiment.title, rows, experiment.x, limit)]
    saved = [save(plot, docs) for plot in plots]
    return [path for path in saved if path is not None]


def save(plot: Plot, docs: Path) -> Path | None:
    """``plot`` as ``docs/<name>.png`` when it has data (None when it has none)."""
    if not plot.series:
        return None
    path = docs / f"{plot.name}.png"
    render(plot, path)
    return path


def embedded(plots: Sequence[Plot], docs: Path) -> list[str]:
    """``![title](file.png)`` for each of ``plots`` that has data, saved into ``docs``."""
    saved = [(plot, save(plot, docs)) for plot in plots]
    return [f"![{plot.title}]({path.name})" for plot, path in saved if path is not None]


def named_accuracy_views(
    rows: Rows, names: Sequence[tuple[str, str]], grad_cost: float
) -> list[Plot]:
    """The first ``len(names)`` views of ``sampler compare``'s ``accuracy_views`` (test accuracy
    against updates, wall-clock seconds, forward-equivalents), one group per row, under a
    section's own ``(name, title)``."""
    groups = [Group(runs, label, "") for label, runs in rows.items() if runs]
    plots = accuracy_views(groups, grad_cost)[: len(names)]
    for plot, (name, title) in zip(plots, names, strict=True):
        plot.name, plot.title = name, title
    return plots
