"""The ``weak-scaling`` experiment of ``sampler reproduce`` (issue 20): R ranks with R times the
samples, against one rank, at equal wall time.

IS at its defaults on the ``mlp`` with 1,000 samples per rank: one rank with J = 1,000 and
``mpiexec -n R`` with J = 1,000 R. Each rank draws and weighs its own blocks of samples
(``sampler.estimators.importance_sampling``: block ``b`` on rank ``b mod R``) and the first
layer's finish is split over the ranks by hidden units (``sampler.estimators.marginal``,
``row_share``), so an update of R ranks with R times the samples takes about the wall time of
one rank's update (weak scaling), and the default ``--beta auto`` (an ESS of ``min(0.3 J,
300)``) turns the extra samples into a larger beta at the same Monte Carlo noise ``tau / ESS``:
a sharper tilt towards low loss per update (docs/methods/control-variate.md, "More samples, a
larger beta"). Beside them the 1-rank run's algorithm on R ranks (J = 1,000 split over them:
strong scaling, the same updates in less time).

The section: test accuracy at the ``at`` updates with seconds per update, and accuracy against
updates and against wall-clock seconds (one figure each, the mean over seeds with a band of
one sample sd). Every run takes R job slots of ``sampler reproduce`` or shares the machine with
another run, so the seconds compare runs that kept every core busy; the page's stamp gives the
load.
"""

from __future__ import annotations

from pathlib import Path

from sampler.reproduce import figures, tables
from sampler.reproduce.experiment import Experiment, columns, steps
from sampler.reproduce.scale import Scale

PER_RANK = 1000  # samples per rank
MLP = ("--model", "mlp", "--data", "mnist", "--batch-size", "20")
IS = ("--estimator", "is", "--tau", "0.01")


def weak_scaling(s: Scale) -> Experiment:
    ranks = s.many_ranks
    experiment = Experiment(
        "weak-scaling",
        "Beyond the paper: R ranks, R times the samples, at equal wall time",
        f"IS at its defaults on the `mlp`, {s.table_steps} updates of minibatch 20: one rank "
        f"with J = {PER_RANK:,} and {ranks} ranks with J = {ranks * PER_RANK:,} "
        f"({PER_RANK:,} samples per rank: about the same seconds per update, and the default "
        "`--beta auto`, an ESS of min(0.3 J, 300), spends the extra samples on a larger "
        f"beta), beside J = {PER_RANK:,} split over {ranks} ranks (the same updates in less "
        "time). Accuracy against updates and against wall time.",
        at=columns(s.table_steps, 5, s.eval_every),
        render=render_weak_scaling,
    )
    flags = (*MLP, *IS, *steps(s.table_steps, s.eval_every))
    experiment.add(f"1 rank, J = {PER_RANK:,}", flags, s.seeds)
    wide = (*flags, "--samples", str(ranks * PER_RANK))
    experiment.add(f"{ranks} ranks, J = {ranks * PER_RANK:,}", wide, s.seeds, ranks=ranks)
    split = (*flags, "--samples", str(PER_RANK))
    experiment.add(f"{ranks} ranks, J = {PER_RANK:,}", split, s.seeds, ranks=ranks)
    return experiment


VIEWS = (
    ("weak-scaling", "Test accuracy against updates"),
    ("weak-scaling-seconds", "Test accuracy against wall time"),
)


def render_weak_scaling(
    experiment: Experiment, rows: figures.Rows, out: Path, docs: Path
) -> list[str]:
    wanted = experiment.runs_per_label()
    parts = [tables.accuracy_table(rows, wanted, experiment.at, "updates")]
    # accuracy against updates and against wall time (no gradients: any cost will do)
    return parts + figures.embedded(figures.named_accuracy_views(rows, VIEWS, 1.0), docs)
