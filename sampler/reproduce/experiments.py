"""The experiments of ``sampler reproduce``: each a list of plain ``sampler train`` command lines.

Section 6 of García Trillos, Kaplan and Sanz-Alonso (Entropy 21(5):511, 2019) and what this
project adds to it, at two scales: the full one (``Scale.full``) and ``--quick`` (one seed, a
few updates: a smoke test of the whole pipeline in minutes, numbers not meant to be read).
Every run is the 784-200-10 ``mlp`` (or the 784-10 ``linear``, the "small network" of the tau
sweeps) on MNIST, minibatch 20, tau = 0.01 unless the experiment varies it. A run is named by
its flags (a hash) and seed, so two experiments that need the same run share one directory.

The paper's Table 6.1 rows are run twice: with the readings of its text that reproduce each row
(README, "The paper's settings": SGD at lr 0.03; IS at beta 1; SGLD with ``N(0, eps)`` read as
a standard deviation, which needs tau = 1e-5; HR at beta 5 with the decreasing steps
0.1 j^-0.7; every estimator with the paper's outer step ``--lr tau``, x <- m; IS with the plain
self-normalised estimate, ``--control-variate none``, its first layer's unseen noise drawn,
``--residual sample``: the literal update's law), and with the engine's defaults (each
estimator's ``--beta auto`` and ``--lr anneal``; IS's control variate and ``--residual mean``).
"""

from __future__ import annotations

from sampler.reproduce.experiment import Experiment, columns, steps
from sampler.reproduce.scale import Scale

MNIST = ("--data", "mnist", "--batch-size", "20")
MLP = ("--model", "mlp", *MNIST)
LINEAR = ("--model", "linear", *MNIST)

PAPER_CHAIN = ("--sgld-steps", "1000", "--sgld-average", "position")  # Algorithm 3 as written
PAPER_RM = ("--rm-samples", "30", "--rm-iterations", "30")  # Algorithm 5 as the paper ran it
PAPER_READINGS = {  # Table 6.1 label -> flags (README, "The paper's settings")
    "SGD": ("--baseline", "sgd", "--lr", "0.03"),
    "IS": (
        *("--estimator", "is", "--beta", "1", "--tau", "0.01", "--lr", "tau"),
        *("--control-variate", "none", "--residual", "sample"),
    ),
    "SGLD": (
        "--estimator",
        "sgld",
        "--beta",
        "3000",
        "--tau",
        "0.00001",
        "--sgld-eps",
        "harmonic:0.001,1000",
        *PAPER_CHAIN,
        "--lr",
        "tau",
    ),
    "HR": (
        "--estimator",
        "rm",
        "--beta",
        "5",
        "--rm-step",
        "power:0.1,0.7",
        *PAPER_RM,
        "--tau",
        "0.01",
        "--lr",
        "tau",
    ),
}
DEFAULTS = {
    "SGD": ("--baseline", "sgd"),
    "IS": ("--estimator", "is", "--tau", "0.01"),
    "SGLD": ("--estimator", "sgld", "--tau", "0.01"),
    "HR": ("--estimator", "rm", "--tau", "0.01"),
}


def table_6_1(s: Scale) -> Experiment:
    t61 = Experiment(
        "table-6-1",
        "Table 6.1 / Fig. 6.1: every method from random initialisation",
        f"The `mlp` (784-200-10) from its seeded initialisation, {s.table_steps} updates of "
        "minibatch 20, "
        "tau = 0.01, each method once with the reading of the paper's text that reproduces its "
        "row, and once with the engine's defaults.",
        at=columns(s.table_steps, 5, s.eval_every),
    )
    table = steps(s.table_steps, s.eval_every)
    for label, flags in PAPER_READINGS.items():
        t61.add(f"{label} (paper's reading)", (*MLP, *flags, *table), s.seeds)
    for label, flags in DEFAULTS.items():
        t61.add(f"{label} (defaults)", (*MLP, *flags, *table), s.seeds)
    return t61


def fig_6_2(s: Scale) -> Experiment:
    warm = steps(s.warm_total, s.eval_every)
    switch = ("--switch-after", str(s.warm_sgd), "--switch-lr", "0.03")
    f62 = Experiment(
        "fig-6-2",
        "Fig. 6.2: the estimators after an SGD warm start",
        f"{s.warm_sgd} SGD updates (lr 0.03, the paper's SGD row) from the seeded "
        f"initialisation, then the estimator with its defaults (`--switch-after {s.warm_sgd}`), "
        f"{s.warm_total} updates in all; SGD continuing for reference.",
        at=columns(s.warm_total, 3, s.eval_every),
    )
    f62.add("SGD", (*MLP, *PAPER_READINGS["SGD"], *warm), s.seeds)
    for label in ("IS", "SGLD", "HR"):
        f62.add(f"SGD, then {label}", (*MLP, *DEFAULTS[label], *switch, *warm), s.seeds)
    return f62


def fig_6_3(s: Scale) -> Experiment:
    table = steps(s.table_steps, s.eval_every)
    f63 = Experiment(
        "fig-6-3",
        "Fig. 6.3: 10, 100 and 1000 samples per update",
        "IS with J = 10, 100, 1000 samples and SGLD with L = 10, 100, 1000 Langevin steps per "
        "update, defaults otherwise (J = 1000 and L = 100 are the defaults: those runs are "
        "Table 6.1's defaults rows).",
        at=columns(s.table_steps, 5, s.eval_every),
    )
    for count in (10, 100, 1000):
        extra = () if count == 1000 else ("--samples", str(count))
        f63.add(f"IS, J = {count}", (*MLP, *DEFAULTS["IS"], *extra, *table), s.seeds)
    for count in (10, 100, 1000):
        extra = () if count == 100 else ("--sgld-steps", str(count))
        f63.add(f"SGLD, L = {count}", (*MLP, *DEFAULTS["SGLD"], *extra, *table), s.seeds)
    return f63


def fig_6_4(s: Scale) -> Experiment:
    sweep = steps(s.sweep_steps, s.eval_every)
    f64 = Experiment(
        "fig-6-4",
        "Fig. 6.4: tau sweeps of IS and SGLD on the small network",
        "The `linear` network (784-10), each tau held fixed, IS and SGLD with their defaults "
        "(the temperature chosen by the engine at each tau).",
        at=tuple(s.taus),
        x="tau",
    )
    for method in ("IS", "SGLD"):
        base = tuple(f for f in DEFAULTS[method] if f not in ("--tau", "0.01"))
        for tau in s.taus:
            tau_flags = ("--tau", "0.01") if tau == 0.01 else ("--tau", f"{tau:g}")
            f64.add(f"{method}, tau = {tau:g}", (*LINEAR, *base, *tau_flags, *sweep), s.seeds)
    return f64


def fig_6_5(s: Scale) -> Experiment:
    sweep = steps(s.sweep_steps, s.eval_every)
    shrink, grow = f"scoping:0.05,{_rate(s.sweep_steps)}", f"reverse:0.0025,{_rate(s.sweep_steps)}"
    f65 = Experiment(
        "fig-6-5",
        "Fig. 6.5: tau scoping both ways",
        f"The `linear` network, tau shrinking from 0.05 to 0.0025 over the run (`{shrink}`, the "
        f"paper's scoping tau_k = T0 / (1 + T1)^k), growing over the same range (`{grow}`) and "
        "fixed at 0.01, IS and SGLD with their defaults.",
        at=columns(s.sweep_steps, 3, s.eval_every),
    )
    for method in ("IS", "SGLD"):
        base = tuple(f for f in DEFAULTS[method] if f not in ("--tau", "0.01"))
        f65.add(f"{method}, tau = 0.01", (*LINEAR, *base, "--tau", "0.01", *sweep), s.seeds)
        f65.add(f"{method}, tau shrinking", (*LINEAR, *base, "--tau", shrink, *sweep), s.seeds)
        f65.add(f"{method}, tau growing", (*LINEAR, *base, "--tau", grow, *sweep), s.seeds)
    return f65


def many_samples(s: Scale) -> Experiment:
    many = steps(s.many_steps, s.eval_every)
    b1 = Experiment(
        "many-samples",
        "Beyond the paper: IS with 10^4 and 10^5 samples over ranks",
        f"IS with its defaults on the `mlp`, J samples split over {s.many_ranks} MPI ranks "
        "(the same run on any rank count), against Table 6.1's J = 1000 run on one rank. "
        "The default `--beta auto` aims at an ESS of min(0.3 J, 300): beyond J = 1000 the "
        "extra samples buy a larger beta at the same Monte Carlo noise (tau / ESS). The row "
        "`auto:0.3` holds the ESS at 0.3 J instead (the rule before): the same beta as at "
        "J = 1000 with less noise.",
        at=columns(s.many_steps, 5, s.eval_every),
    )
    b1.add("IS, J = 1000", (*MLP, *DEFAULTS["IS"], *steps(s.table_steps, s.eval_every)), s.seeds)
    for j, count in enumerate(s.many_samples):
        seeds = s.seeds if j == 0 else s.seeds[:1]
        flags = (*MLP, *DEFAULTS["IS"], "--samples", str(count), *many)
        b1.add(f"IS, J = {count:,}", flags, seeds, ranks=s.many_ranks)
        if j == 0:
            fraction = (*flags, "--beta", "auto:0.3")
            b1.add(f"IS, J = {count:,}, auto:0.3", fraction, s.seeds[:1], ranks=s.many_ranks)
    return b1


def temperature(s: Scale) -> Experiment:
    return Experiment(
        "temperature",
        "Beyond the paper: the temperature the engine chooses",
        "The beta each estimator's `--beta auto` chose at every update of the Table 6.1 runs, "
        "and `beta_eff`, the inverse temperature that the Monte Carlo error of the update "
        'alone would leave the weights at (README, "Temperature, loss scale and Monte Carlo '
        "error\"), next to the paper's fixed readings.",
        runs=[r for r in table_6_1(s).runs if not r.label.startswith("SGD")],
        at=columns(s.table_steps, 5, s.eval_every),
    )


def equal_gradients(s: Scale) -> Experiment:
    g = s.gradient_budget
    grads = ("--eval-every",)
    b3 = Experiment(
        "equal-gradients",
        "Beyond the paper: Entropy-SGD and Replicated-SGD at equal gradient evaluations",
        f"{g:,} minibatch gradient evaluations each on the `mlp`: SGD (lr 0.03) {g:,} updates, "
        f"Entropy-SGD (L = 5 inner steps) {g // 5:,} updates, Replicated-SGD (3 replicas) "
        f"{g // 3:,} updates; defaults otherwise.",
        at=columns(g, 5, g // 10),
        x="grads",
    )
    b3.add(
        "SGD",
        (*MLP, *PAPER_READINGS["SGD"], "--steps", str(g), *grads, str(g // 10)),
        s.baseline_seeds,
    )
    b3.add(
        "Entropy-SGD",
        (*MLP, "--baseline", "esgd", "--steps", str(g // 5), *grads, str(g // 50)),
        s.baseline_seeds,
    )
    b3.add(
        "Replicated-SGD",
        (*MLP, "--baseline", "rsgd", "--steps", str(g // 3), *grads, str(g // 30)),
        s.baseline_seeds,
    )
    return b3


def flatness(s: Scale) -> Experiment:
    probed = [*table_6_1(s).runs, *equal_gradients(s).runs]
    return Experiment(
        "flatness",
        "Beyond the paper: the local energy of each method's final point",
        "`sampler flatness RUN --probes local-energy,hessian` on the seed-0 final point of "
        "every Table 6.1 run and of the equal-gradient baselines: the local energy "
        "dE(sigma) = E_z E_train(w + sigma z * w) - E_train(w) (Pittorino et al. 2021) on "
        "1,000 training examples, 50 noise draws, and the top Hessian eigenvalue.",
        runs=[r for r in probed if r.seed == s.seeds[0]],
        flatness=True,
    )


def _rate(steps: int) -> str:
    """T1 of a scoping schedule that moves tau by a factor 20 over ``steps`` updates."""
    return f"{20 ** (1 / max(1, steps - 1)) - 1:.5f}"
