"""The ``cnn`` experiment of ``sampler reproduce`` (issue 21): gradient-free importance sampling at
its defaults on the two CNNs of the zoo, beside SGD on the same nets.

On a model with convolutions the ``is`` defaults are the layer-wise proposal drawn by size
(``--proposal auto`` = ``layerwise-size``: one layer per update, the rest fixed, Musso's partial
local entropy, "Partial local entropy and anisotropy in deep weight spaces", 2021, section 3),
tau on each layer's scale (``--tau-scale auto``: ``CONV_TAU`` times the layer's initial
variance) and the annealed outer step (``--lr anneal``, averaged over the perturbed block);
``sampler.estimators.layerwise``, ``sampler.scheme.tau_scale``. ``tiny-conv`` adds its own IS
settings (``ModelSpec.trains_with``, ``sampler.models.cnn.CNN_IS_SETTINGS``: J = 4,000,
minibatch 40, ESS 0.1 J, twice the outer step, tau scoped); ``small-conv`` declares none (its
update would cost 2.5 s). Beside the defaults, IS at the other of the two: on a model with its
own settings the global ones (``GLOBAL_IS``: J = 1,000, minibatch 20, a bare ``--beta auto``,
``--lr anneal``, ``--tau 0.01``), on one without them those flags (``CNN_IS_SETTINGS`` given);
and SGD at its defaults on minibatches of 20 and of 40 (the IS settings' images
per update). Every run: MNIST (the embedded training images, the test set of ``--data-dir``).

The section: test accuracy against updates and against wall-clock seconds (one figure each, mean
over the seeds with a band of one sample sd), a table at the ``at`` updates with seconds per
update, and a table at equal wall time: the accuracy each row reached within the seconds the
fastest IS row took, and the seconds each row took to first reach 0.90.
"""

from __future__ import annotations

from pathlib import Path

from sampler.compare import series
from sampler.compare.groups import combine
from sampler.compare.plots import Plot
from sampler.config.sources import model_defaults
from sampler.models.cnn import CNN_IS_SETTINGS
from sampler.models.naming import as_flags
from sampler.reproduce import figures, tables
from sampler.reproduce.experiment import Experiment, columns, steps
from sampler.reproduce.scale import Scale

MODELS = ("tiny-conv", "small-conv")
FULL_STEPS = 200  # updates per run at full scale (the machine's budget; the note has 2,000)
FULL_EVERY = 20
QUICK_STEPS = 6
QUICK_EVERY = 3
REACH = 0.9  # the accuracy whose first reaching time the equal-time table gives
MNIST = ("--data", "mnist")
GLOBAL_IS = ("--samples", "1000", "--batch-size", "20", "--beta", "auto", "--lr", "anneal")
GLOBAL = ("IS (global settings)", ("--estimator", "is", *GLOBAL_IS, "--tau", "0.01"))
OWN = (
    "IS (tiny-conv's settings)",
    ("--estimator", "is", *as_flags(CNN_IS_SETTINGS)),
)
SGD = {
    "SGD": ("--baseline", "sgd"),
    "SGD (--batch-size 40)": ("--baseline", "sgd", "--batch-size", "40"),
}


def methods(model: str) -> dict[str, tuple[str, ...]]:
    """The rows of ``model``: IS at its defaults, IS at the other settings (the global ones
    where the model declares its own, else ``CNN_IS_SETTINGS`` given as flags), SGD."""
    other = GLOBAL if model_defaults(model, "is") else OWN
    return {"IS (defaults)": ("--estimator", "is"), other[0]: other[1], **SGD}


def cnn(s: Scale) -> Experiment:
    count, every = (QUICK_STEPS, QUICK_EVERY) if s.smoke_test else (FULL_STEPS, FULL_EVERY)
    seeds = s.seeds[:1] if s.smoke_test else s.seeds
    experiment = Experiment(
        "cnn",
        "Gradient-free training of CNNs: IS at its defaults beside SGD",
        f"`tiny-conv` (5,142 parameters) and `small-conv` (431,080) on MNIST, {count} updates "
        "from the seeded initialisation: `--estimator is` at its defaults (on a model with "
        "convolutions one layer per update drawn by size, tau on each layer's scale, the "
        "annealed outer step; on `tiny-conv` also its own settings, `sampler models`: "
        "J = 4,000, minibatch 40, beta chosen for ESS = 0.1 J, twice the outer step, tau "
        "scoped), IS at the other settings (on `tiny-conv` the global ones: J = 1,000, "
        "minibatch 20, `--tau 0.01`; on `small-conv` `tiny-conv`'s, given as flags) and SGD at "
        "its defaults on minibatches of 20 and 40, against updates and against wall time. Runs "
        'of 2,000 updates: Proposal schemes, "A longer step from more samples".',
        at=columns(count, 5, every),
        render=render_cnn,
    )
    for model in MODELS:
        for method, flags in methods(model).items():
            label = f"{method}, {model}"
            experiment.add(label, ("--model", model, *MNIST, *flags, *steps(count, every)), seeds)
    return experiment


def accuracy_by_seconds(rows: figures.Rows) -> Plot:
    plot = Plot("cnn-seconds", "CNNs: test accuracy against wall time", "seconds", "accuracy")
    for label, runs in rows.items():
        if runs:
            times = [series.at_steps(run, "time") for run in runs]
            plot.add(label, combine([figures.accuracy(run) for run in runs], times))
    return plot


def accuracy_within(run, seconds: float) -> float | None:
    """The last test accuracy measured within ``seconds`` of the run's training time."""
    times = series.at_steps(run, "time")
    within = [(step, value) for step, value in figures.accuracy(run).items() if times.get(step)]
    within = [value for step, value in sorted(within) if times[step] <= seconds]
    return within[-1] if within else None


def seconds_to(run, accuracy: float) -> float | None:
    """The training seconds at the first evaluation that reached ``accuracy``."""
    times = series.at_steps(run, "time")
    for step, value in sorted(figures.accuracy(run).items()):
        if value >= accuracy and step in times:
            return times[step]
    return None


def equal_time_table(rows: figures.Rows) -> str:
    budgets = [
        series.mean_sd([series.at_steps(run, "time").get(run.metrics[-1]["step"]) for run in runs])
        for label, runs in rows.items()
        if label.startswith("IS") and runs and all(run.metrics for run in runs)
    ]
    budget = min((mean for mean, _ in budgets if mean is not None), default=None)
    if budget is None:
        return ""
    header = ["row", f"accuracy within {budget:.0f} s", f"seconds to {REACH:.2f}"]
    body = []
    for label, runs in rows.items():
        reached = [seconds_to(run, REACH) for run in runs]
        to_reach = tables.seconds(series.mean_sd(reached)[0]) if all(reached) else "not reached"
        within = [accuracy_within(run, budget) for run in runs]
        body.append([label, tables.number(within), to_reach])
    return (
        f"At equal wall time (the training seconds of the fastest IS row, {budget:.0f} s; "
        "evaluations excluded):\n\n" + tables.table(header, body)
    )


def render_cnn(experiment: Experiment, rows: figures.Rows, out: Path, docs: Path) -> list[str]:
    wanted = experiment.runs_per_label()
    parts = [tables.accuracy_table(rows, wanted, experiment.at, "updates")]
    equal = equal_time_table(rows)
    if equal:
        parts.append(equal)
    limit = max(experiment.at) if experiment.at else None
    updates = Plot("cnn", "CNNs: test accuracy against updates", "updates", "test accuracy")
    for label, runs in rows.items():
        updates.add(label, figures.curve(runs, figures.accuracy, limit))
    return parts + figures.embedded([updates, accuracy_by_seconds(rows)], docs)
