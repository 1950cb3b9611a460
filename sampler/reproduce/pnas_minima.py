"""``sampler reproduce --only pnas-minima``: the minima of fBP, eLAL, ceSGD-slow, ceSGD-fast and
LAL (and of the engine's gradient-free IS and Replicated-SGD) on random patterns, Figs. 4 and 5
of Baldassi, Pittorino and Zecchina, "Shaping the learning landscape in neural networks around
wide flat minima" (PNAS 117(1), 2020): the normalised BP local entropy against the distance from
each solution (Fig. 4; real weights: ``sampler.flatness.continuous_bp``, the paper's Eq. 15 and
section "The Existence of WFM"; ±1 weights: ``sampler.flatness.bp_local_entropy``, Eq. 8) and
the top Hessian eigenvalues of the normalised network (Fig. 5), plus the training
error under multiplicative weight noise (a width measure that needs no binary reference).

Size: the paper's tree committee (K = 9, N = 999), each sample its own pattern set (data seed =
seed), every method at its defaults and stopping rule. The paper's Fig. 4 has P = 1,000
(alpha ~ 1); here alpha = 0.6 (599 patterns), the largest load at which the binary-weight fBP
(``--baseline fbp``; beside it the paper's continuous-weight one, ``--bp-weights continuous``)
still converges
(docs/methods/focusing-bp.md), so that every method is compared on the same instances.
``--quick``: N = 45, one sample, fBP (binary), ceSGD-fast and LAL.
"""

from __future__ import annotations

from sampler.reproduce.experiment import Experiment
from sampler.reproduce.pnas_render import render
from sampler.reproduce.scale import Scale

UNITS, ALPHA = 9, 0.6
COUPLINGS = "0.25,0.5,0.75,1,1.5,2,3,4"  # binary BP probe: lambda, one distance each
DISTANCES = "0.005,0.01,0.02,0.03,0.05,0.07,0.1,0.15,0.2"  # continuous BP probe
QUICK_PROBES = ("--bp-distances", "0.01,0.03,0.1", "--bp-iterations", "100")  # --quick: fewer
SIGMAS = "0.1,0.2,0.3,0.5,0.7"  # multiplicative weight noise of the local energy
QUICK = ("fBP (binary)", "ceSGD-fast", "LAL")
PROBES = (
    "--probes",
    "bp-local-entropy,bp-local-entropy-continuous,hessian,local-energy",
    "--normalise-units",
    "--bp-couplings",
    COUPLINGS,
    "--bp-distances",
    DISTANCES,
    "--bp-max-reference-errors",
    "0",
    "--sigma",
    SIGMAS,
    "--noise-samples",
    "100",
    "--eigenvalues",
    "3",
)


def methods(quick: bool) -> dict[str, tuple[str, ...]]:
    """Label -> the method's flags: the paper's five algorithms with their stopping rules (the
    steps are caps, above what each needed in the measurements of the methods' pages), then the
    engine's IS and Replicated-SGD for a fixed number of updates; ``--quick``: the three that
    stop within seconds."""
    cap = 2000 if quick else 100_000
    batch = ("--batch-size", "9" if quick else "100")
    every = {
        "fBP (binary)": ("--baseline", "fbp", "--steps", "10" if quick else "30"),
        "fBP (continuous)": ("--baseline", "fbp", "--bp-weights", "continuous", "--steps", "30"),
        "eLAL": ("--baseline", "elal", *batch, "--steps", str(min(cap, 20_000))),
        "ceSGD-slow": ("--baseline", "cesgd-slow", *batch, "--steps", str(cap)),
        "ceSGD-fast": ("--baseline", "cesgd-fast", *batch, "--steps", str(cap)),
        "LAL": ("--baseline", "lal", *batch, "--steps", str(min(cap, 20_000))),
        "IS (engine)": ("--estimator", "is", *batch, "--steps", "200" if quick else "3000"),
        "rsgd": ("--baseline", "rsgd", *batch, "--steps", "200" if quick else "3000"),
    }
    return {k: v for k, v in every.items() if k in QUICK} if quick else every


def pnas_minima(s: Scale) -> Experiment:
    n = 45 if s.smoke_test else 999
    seeds = (0,) if s.smoke_test else (0, 1, 2)
    network = ("--model", "committee", "--model-opt", f"hidden={UNITS}")
    data = ("--data", "random-patterns", "--data-opt", f"n={n}", "--data-opt", f"alpha={ALPHA}")
    experiment = Experiment(
        "pnas-minima",
        "PNAS 2020 Figs. 4-5: the minima of fBP, eLAL, ceSGD and LAL",
        f"Tree committee machine, K = {UNITS}, N = {n}, {round(ALPHA * n)} random patterns "
        f"(alpha = {ALPHA}), {len(seeds)} samples (pattern set and method seeded alike), each "
        "method at its defaults until its stopping rule (the paper's five; the engine's IS and "
        "Replicated-SGD for a fixed number of updates). The paper's Fig. 4 is at alpha ~ 1; "
        f"alpha = {ALPHA} is the largest load at which our binary-weight fBP converges, and "
        "all methods share the instances. Each final point is probed with two BP local "
        "entropies (Fig. 4): V1(d), the paper's quantity for real weights (the log-fraction "
        "of the configurations with each unit on its sphere at distance d = (1 - q) / 2 from "
        "w that are solutions; `--probes bp-local-entropy-continuous`), for every method, "
        "and S(d) - H2(d), the same log-fraction among the ±1 configurations around sign(w) "
        "(`bp-local-entropy`), where sign(w) is a solution (fBP only). The two share the "
        "distance axis but count different sets: compare curves of one kind; fBP's solutions "
        "(±1, rescaled to the spheres) get both. Also: the top Hessian eigenvalues of the "
        "normalised network (every unit at norm 1; Fig. 5) and the training error under "
        "multiplicative weight noise w + sigma z w. Each BP curve is computed only around a "
        "solution (`--bp-max-reference-errors 0`: sign(w) for the binary one, w for the continuous "
        "one), as the paper's. The stopping rules of "
        "LAL, eLAL and ceSGD check the patterns an epoch visits: with 599 patterns and "
        "minibatches of 100, an epoch of 5 updates leaves 99 out, so a run may stop with one "
        "or two of them wrong (the train errors column). fBP runs twice: with continuous "
        "weights (`--bp-weights continuous`, the paper's fBP, the one the ordering uses) and "
        "with binary weights (ours by default: solutions at corners of the hypercube, the only "
        "ones the binary probe applies to).",
        flatness=True,
        flatness_flags=PROBES + QUICK_PROBES if s.smoke_test else PROBES,
        render=render,
    )
    for label, flags in methods(s.smoke_test).items():
        for seed in seeds:
            run = (*network, *data, "--data-seed", str(seed), *flags, "--eval-every", "0")
            experiment.add(label, run, [seed])
    return experiment
