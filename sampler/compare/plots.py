"""The plots of ``sampler compare``: one PNG per view, each group a line (its mean) with a band
of one standard deviation over its seeds, labelled by the settings that differ.

Training: test accuracy against updates, wall-clock seconds and forward-equivalents (log axis;
``sampler.compare.series``), the training loss against updates (a trailing mean over
``steps/50`` updates, as the per-update minibatch loss is noisy), and for the importance-sampling
runs the ESS and the IS estimate of ``F_tau`` (``free_energy``) against updates; with
``--signal-every``, the per-layer signal ``s_I`` against updates. Flatness (where ``sampler
flatness`` wrote ``flatness.json``): the local energy of the loss and of the error against
sigma and ``F_tau`` against tau; a group of one run shows its Monte Carlo standard error as
the band. ``plots.json`` beside the PNGs holds every plotted series (x, y, band) as numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sampler.compare import series
from sampler.compare.groups import Curve, Group, aggregate, combine
from sampler.compare.runs import Run
from sampler.runs.atomic_file import write_atomic


@dataclass
class Plot:
    name: str  # the PNG's file stem
    title: str
    xlabel: str
    ylabel: str
    xscale: str = "linear"
    yscale: str = "linear"
    series: list[dict] = field(default_factory=list)  # {label, group, x, y, sd}

    def add(self, group: str, curve: Curve | None, part: str = "") -> None:
        """A series of ``group`` (one colour per group); ``part`` names one of several series
        of the group (a layer: one line style per part)."""
        if curve is not None and curve.x:
            label = f"{group}: {part}" if part else group
            self.series.append(
                {"label": label, "group": group, "x": curve.x, "y": curve.y, "sd": curve.sd}
            )


def accuracy_views(groups: Sequence[Group], grad_cost: float) -> list[Plot]:
    """Test accuracy against updates, wall-clock seconds and forward-equivalents (also the
    views of ``sampler reproduce``'s convergence section)."""
    accuracy = lambda run: series.at_steps(run, "test_accuracy")  # noqa: E731
    views = [
        Plot("accuracy_vs_updates", "test accuracy", "updates", "test accuracy"),
        Plot(
            "accuracy_vs_seconds",
            "test accuracy",
            "wall-clock seconds (evaluations included)",
            "test accuracy",
            xscale="log",
        ),
        Plot(
            "accuracy_vs_forward_equivalents",
            f"test accuracy (a gradient = {grad_cost:g} forward passes)",
            "forward-equivalents (forward passes of one network over a minibatch)",
            "test accuracy",
            xscale="log",
        ),
    ]
    positions: list[Callable[[Run], dict] | None] = [
        None,
        lambda run: series.at_steps(run, "time"),
        lambda run: series.forward_equivalents(run, grad_cost),
    ]
    for plot, position in zip(views, positions):
        for group in groups:
            plot.add(group.label, aggregate(group, accuracy, position))
    return views


def _training_loss(groups: Sequence[Group]) -> Plot:
    """The minibatch loss against updates, a trailing mean over ``steps/50`` updates."""
    steps = max((run.steps for g in groups for run in g.runs), default=0)
    window = max(1, steps // 50)
    loss = Plot(
        "train_loss_vs_updates",
        f"training loss (minibatch, trailing mean over {window} updates)",
        "updates",
        "training loss",
    )
    for group in groups:
        smooth = lambda run: series.moving_average(series.at_steps(run, "train_loss"), window)  # noqa: E731
        loss.add(group.label, aggregate(group, smooth))
    return loss


def _importance_sampling(groups: Sequence[Group]) -> list[Plot]:
    """The ESS and the IS estimate of ``F_tau`` against updates (``is`` runs)."""
    views = []
    for key, title, scale in (
        ("ess", "effective sample size of the importance weights", "log"),
        ("free_energy", "IS estimate of F_tau at the current point", "linear"),
    ):
        plot = Plot(f"{key}_vs_updates", title, "updates", key, yscale=scale)
        for group in groups:
            plot.add(group.label, aggregate(group, lambda run, k=key: series.at_steps(run, k)))
        views.append(plot)
    return views


def _signal(groups: Sequence[Group]) -> Plot:
    """The per-layer signal ``s_I`` against updates, a line style per layer."""
    layers = []
    for group in groups:
        for run in group.runs:
            for record in run.metrics:
                layers += [k for k in record if k.startswith("signal_") and k not in layers]
    signal = Plot(
        "signal_vs_updates", "per-layer training signal s_I (Musso)", "updates", "s_I", yscale="log"
    )
    for group in groups:
        for key in layers:
            curve = aggregate(group, lambda run, k=key: series.at_steps(run, k))
            signal.add(group.label, curve, key.removeprefix("signal_"))
    return signal


def _training(groups: Sequence[Group], grad_cost: float) -> list[Plot]:
    return [
        *accuracy_views(groups, grad_cost),
        _training_loss(groups),
        *_importance_sampling(groups),
        _signal(groups),
    ]


def _flatness_curve(
    group: Group, pick: Callable[[dict], list[dict]], x: str, y: str
) -> Curve | None:
    curves = []
    for run in group.runs:
        points = pick(run.flatness) if run.flatness else None
        if not points:
            return None
        curves.append(points)
    if len(curves) == 1:
        points = curves[0]
        return Curve(
            [p[x] for p in points], [p[y] for p in points], [p["standard_error"] for p in points]
        )
    return combine([{p[x]: p[y] for p in points} for points in curves])


def _flatness(groups: Sequence[Group]) -> list[Plot]:
    views = [
        Plot(
            "local_energy_vs_sigma",
            "local energy of the training loss (Pittorino et al., Eq. 4)",
            "sigma (multiplicative weight noise)",
            "dE_train(w, sigma), loss",
            yscale="symlog",
        ),
        Plot(
            "local_energy_error_vs_sigma",
            "local energy of the training error (Pittorino et al., Eq. 4)",
            "sigma (multiplicative weight noise)",
            "dE_train(w, sigma), error",
            yscale="symlog",
        ),
        Plot(
            "local_entropy_vs_tau",
            "IS estimate of the local entropy F_tau at the final point",
            "tau",
            "F_tau(w)",
            xscale="log",
        ),
    ]
    picks = [
        (lambda f: (f.get("local_energy") or {}).get("loss"), "sigma", "local_energy"),
        (lambda f: (f.get("local_energy") or {}).get("error"), "sigma", "local_energy"),
        (lambda f: f.get("local_entropy"), "tau", "free_energy"),
    ]
    for plot, (pick, x, y) in zip(views, picks):
        for group in groups:
            plot.add(group.label, _flatness_curve(group, pick, x, y))
    return views


def build_plots(groups: Sequence[Group], grad_cost: float) -> list[Plot]:
    """Every view that has at least one series."""
    return [p for p in [*_training(groups, grad_cost), *_flatness(groups)] if p.series]


def render(plot: Plot, path: Path) -> None:
    """A PNG with matplotlib's Agg canvas (no display, no global pyplot state)."""
    # deferred: matplotlib is heavy and only a run that writes plots needs it
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogFormatter

    figure = Figure(figsize=(10.5, 5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    groups = list(dict.fromkeys(each["group"] for each in plot.series))
    parts: dict[str, int] = {}
    for each in plot.series:
        part = parts.setdefault(each["group"], 0)
        parts[each["group"]] = part + 1
        (line,) = axes.plot(
            each["x"],
            each["y"],
            marker="." if len(each["x"]) < 60 else None,
            color=f"C{groups.index(each['group']) % 10}",
            linestyle=("-", "--", ":", "-.")[part % 4],
        )
        line.set_label(each["label"])
        if each["sd"] is not None:
            low = [y - s for y, s in zip(each["y"], each["sd"])]
            high = [y + s for y, s in zip(each["y"], each["sd"])]
            axes.fill_between(each["x"], low, high, color=line.get_color(), alpha=0.2)
    axes.set(xlabel=plot.xlabel, ylabel=plot.ylabel, xscale=plot.xscale)
    if plot.xscale == "log":  # plain numbers: mathtext minor labels (3x10^0) overlap
        axes.xaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
        axes.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))
    if plot.yscale == "symlog":  # logarithmic above 1e-3, linear through 0 (estimates may dip < 0)
        axes.set_yscale("symlog", linthresh=1e-3)
    else:
        axes.set_yscale(plot.yscale)
    axes.set_title(plot.title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside
    figure.subplots_adjust(left=0.08, right=0.7, bottom=0.12, top=0.92)
    write_atomic(path, lambda handle: figure.savefig(handle, format="png", dpi=80))


def as_records(plots: Sequence[Plot]) -> list[dict]:
    return [asdict(p) for p in plots]
