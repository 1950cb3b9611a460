"""The ``convergence`` experiment of ``sampler reproduce`` (issue 20): every two-step estimator
at its defaults trained ten times as long as the paper (3,000 updates), beside SGD.

With the paper's outer step ``x <- m`` every update adds the target's Monte Carlo error, so the
weights settle near ``exp(-beta_eff f)`` with ``beta_eff ≈ 2 beta ESS`` and accuracy stops rising
(``sampler.scheme.annealing``). The defaults that keep it rising: the annealed outer step
(``--lr anneal``: ``eta_k = tau min(1, B_k / (R (k + 1)))``), the proposals' mean as a control
variate for ``is`` (``sampler.estimators.control_variate``), its first layer's unseen noise
replaced by its mean (``--residual mean``, ``sampler.estimators.marginal``) and, once the step
is cut, a smaller ``is`` beta (an ESS of 0.6 J; ``sampler.estimators.importance_sampling``,
"Late temperature");
SGLD's gradient average (``x - tau beta grad f`` averaged over L = 100 steps, beta = B: no
injected noise, ``sampler.estimators.sgld``) and ``rm`` with M = J = 10. Beside them the paper's
algorithm for ``is`` (``--lr tau --control-variate none --beta auto:0.3 --residual sample``:
the engine's beta, the paper's step and law) and SGD at lr 0.03 (the paper's) and 0.1.

Runs: the 784-200-10 ``mlp`` and the 784-10 ``linear`` on MNIST, minibatch 20, tau = 0.01,
J = 1,000. The section: test accuracy at five points up to 3,000 updates with seconds per
update and forward-equivalents spent (``sampler.compare.series``: a loss evaluation is one
forward pass over the minibatch, a gradient ``GRAD_COST`` of them), and accuracy against updates,
wall-clock seconds and forward-equivalents (one figure each, the mean over seeds with a band of
one sample sd).
"""

from __future__ import annotations

from pathlib import Path

from sampler.compare import series
from sampler.reproduce import figures, tables
from sampler.reproduce.experiment import Experiment, columns, steps
from sampler.reproduce.scale import Scale

FULL_STEPS, FULL_EVERY = 3000, 100
QUICK_STEPS, QUICK_EVERY = 10, 5
GRAD_COST = 3.0  # forward passes a gradient evaluation counts as (forward + backward)
MNIST = ("--data", "mnist", "--batch-size", "20")
METHODS = {
    "IS (defaults)": ("--estimator", "is"),
    "IS (paper's step)": (
        *("--estimator", "is", "--lr", "tau", "--control-variate", "none"),
        *("--beta", "auto:0.3", "--residual", "sample"),
    ),
    "SGLD (defaults)": ("--estimator", "sgld"),
    "HR (defaults)": ("--estimator", "rm"),
    "HR Stein (defaults)": ("--estimator", "rm-stein"),
    "SGD, lr 0.03": ("--baseline", "sgd", "--lr", "0.03"),
    "SGD, lr 0.1": ("--baseline", "sgd", "--lr", "0.1"),
}
MODELS = ("mlp", "linear")


def convergence(s: Scale) -> Experiment:
    count, every = (QUICK_STEPS, QUICK_EVERY) if s.smoke_test else (FULL_STEPS, FULL_EVERY)
    experiment = Experiment(
        "convergence",
        "Beyond the paper: gradient-free training that converges",
        f"Every two-step estimator at its defaults on the `mlp` and the `linear` network, "
        f"{count:,} updates of minibatch 20 (tau 0.01, J = 1,000): the annealed outer step, "
        "IS's control variate, its first layer's unseen noise replaced by its mean (`--residual "
        "mean`) and, once the step is cut, IS's smaller beta (ESS 0.6 J); SGLD's "
        "gradient average (L = 100, beta = batch size) and `rm` with M = J = 10. Beside "
        "them IS with the paper's outer step x <- m and the plain estimate (`--lr tau "
        "--control-variate none --beta auto:0.3 --residual sample`) and SGD at lr 0.03 (the "
        "paper's) and 0.1. "
        f"Forward-equivalents: a loss evaluation is one, a gradient {GRAD_COST:g}.",
        at=columns(count, 5, every),
        render=render_convergence,
    )
    for model in MODELS:
        for method, flags in METHODS.items():
            flags = ("--model", model, *MNIST, *flags, *steps(count, every))
            experiment.add(f"{method}, {model}", flags, s.seeds)
    return experiment


def forwards_spent(runs) -> str:
    """Forward-equivalents of the rows' runs at their last update (mean over seeds)."""
    spent = [series.forward_equivalents(run, GRAD_COST) for run in runs if run.metrics]
    finals = [values[max(values)] for values in spent if values]
    mean = series.mean_sd(finals)[0] if finals else None
    return f"{mean:.3g}" if mean is not None else ""


# the section's names and titles for the views of ``sampler compare`` (its plots' order)
VIEWS = (
    ("convergence", "Test accuracy against updates"),
    ("convergence-seconds", "Test accuracy against wall time"),
    (
        "convergence-forwards",
        f"Test accuracy against forward-equivalents (a gradient = {GRAD_COST:g})",
    ),
)


def render_convergence(
    experiment: Experiment, rows: figures.Rows, out: Path, docs: Path
) -> list[str]:
    wanted = experiment.runs_per_label()
    parts = [tables.accuracy_table(rows, wanted, experiment.at, "updates")]
    body = [[label, forwards_spent(runs)] for label, runs in rows.items() if runs]
    if body:
        header = ["row", f"forward-equivalents at the last update (a gradient = {GRAD_COST:g})"]
        parts.append(tables.table(header, body))
    parts += figures.embedded(figures.named_accuracy_views(rows, VIEWS, GRAD_COST), docs)
    return parts
