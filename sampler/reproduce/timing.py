"""Table 6.2 of García Trillos, Kaplan and Sanz-Alonso (2019): seconds per update of each method,
the literal algorithm and the engine's fast paths, on the paper's 784-200-10 network.

Each row is a real ``sampler train`` run of ``steps`` updates (minibatch 20, tau = 0.01, no
evaluation, no checkpoints, one torch thread per process) timed by ``sampler.bench.timed_runs``: the
median time between consecutive updates, the first update dropped. The rows run one after
another with nothing else started by ``sampler reproduce`` beside them; the machine's load
average is recorded before and after.
"""

from __future__ import annotations

import os

from sampler.bench import timed_runs
from sampler.reproduce.experiments import PAPER_CHAIN, PAPER_RM

ROWS = (  # (paper row, label, flags, ranks)
    ("SGD", "SGD (one gradient)", ("--baseline", "sgd", "--lr", "0.03"), 1),
    (
        "IS",
        "IS literal (Algorithm 4, J = 1000)",
        ("--estimator", "is", "--beta", "1", "--proposal", "literal"),
        1,
    ),
    ("IS", "IS literal, 2 ranks", ("--estimator", "is", "--beta", "1", "--proposal", "literal"), 2),
    (
        "IS",
        "IS antithetic pairs",
        ("--estimator", "is", "--beta", "1", "--proposal", "antithetic"),
        1,
    ),
    (
        "IS",
        "IS marginalised first layer",
        ("--estimator", "is", "--beta", "1", "--proposal", "marginal"),
        1,
    ),
    ("IS", "IS defaults (marginal, --beta auto grid)", ("--estimator", "is"), 1),
    ("IS", "IS defaults, 2 ranks", ("--estimator", "is"), 2),
    (
        "SGLD",
        "SGLD (Algorithm 3, L = 1000, 1 chain)",
        ("--estimator", "sgld", "--beta", "20", *PAPER_CHAIN),
        1,
    ),
    (
        "SGLD",
        "SGLD, 2 chains on 2 ranks",
        ("--estimator", "sgld", "--beta", "20", "--chains", "2", *PAPER_CHAIN),
        2,
    ),
    ("SGLD", "SGLD defaults (gradient average, L = 100)", ("--estimator", "sgld"), 1),
    ("HR", "HR: rm (Algorithm 5, M = J = 30)", ("--estimator", "rm", "--beta", "20", *PAPER_RM), 1),
    (
        "HR",
        "HR: rm, 2 ranks (the M samples split)",
        ("--estimator", "rm", "--beta", "20", *PAPER_RM),
        2,
    ),
    ("HR", "HR: rm defaults (M = J = 10)", ("--estimator", "rm", "--beta", "20"), 1),
    (
        "HR",
        "HR: rm-stein (gradient-free, M = 30 pairs)",
        ("--estimator", "rm-stein", "--beta", "20"),
        1,
    ),
)


def measure(steps: int, ranks_available: bool, say=print) -> dict:
    """``{"rows": [{paper, label, flags, ranks, seconds}], "load_before", "load_after"}``."""
    result = {"load_before": list(os.getloadavg()), "rows": [], "steps": steps}
    for paper, label, flags, ranks in ROWS:
        if ranks > 1 and not ranks_available:
            continue
        seconds = timed_runs.seconds_per_update(ranks, list(flags), "mlp", steps)
        say(f"timed {label}: {seconds:.4f} s per update")
        result["rows"].append(
            {
                "paper": paper,
                "label": label,
                "flags": list(flags),
                "ranks": ranks,
                "seconds": seconds,
            }
        )
    result["load_after"] = list(os.getloadavg())
    return result
