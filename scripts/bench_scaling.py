"""Strong scaling of one update: seconds per update on 1 and R ranks, measured in one run.

For every estimator (and the SGD baseline for reference) the script launches
``mpiexec -n R python -m sampler train ...`` on the paper's MNIST workload (``mlp``
784-200-10, minibatch 20, tau = 0.01; ``is`` with J = 1000 samples, the settings of
``WORKLOADS`` below), reads the per-update wall times from ``metrics.jsonl`` (median over
updates 2..N, so start-up is excluded) and prints the
speedup ``t_1 / t_R`` and the efficiency ``speedup / R``. Ratios are what to compare: this
machine is shared and noisy. Each rank uses one thread (``OMP_NUM_THREADS=1``) so 1 rank is a
single core and R ranks are R cores.

    python scripts/bench_scaling.py --ranks 2 --steps 8 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sampler.bench.timed_runs import mpiexec, seconds_per_update
from sampler.estimators import ESTIMATORS

# The paper's settings (section 6): J = 1000 IS samples, 1000 SGLD steps, M = J = 30 for RM.
# rm-stein is the gradient-free form of rm (2M loss evaluations per iteration).
WORKLOADS = {
    # the paper's literal algorithm: beta = 1 and literal proposals (the default --beta auto of
    # is adds its grid of betas, see scripts/bench_auto_beta.py; that of rm may redo an update
    # that does not contract)
    "is": ["--estimator", "is", "--samples", "1000", "--beta", "1", "--proposal", "literal"],
    # chains are what SGLD spreads over ranks: one chain per rank of the 2-rank run
    "sgld": [
        *("--estimator", "sgld", "--sgld-steps", "1000", "--sgld-average", "position"),
        *("--chains", "2", "--beta", "1"),
    ],
    "rm": ["--estimator", "rm", "--rm-samples", "30", "--rm-iterations", "30", "--beta", "1"],
    "rm-stein": [
        *("--estimator", "rm-stein", "--rm-samples", "30", "--rm-iterations", "30"),
        *("--beta", "1"),
    ],
    "sgd": ["--baseline", "sgd", "--lr", "0.01"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2, help="ranks to compare with 1 rank")
    parser.add_argument("--steps", type=int, default=8, help="updates per measurement")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    parser.add_argument("--only", nargs="*", help="estimators (or sgd) to measure")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    if mpiexec() is None:
        raise SystemExit("no mpiexec: pip install 'local-entropy-sampler[mpi]'")
    names = args.only or [n for n in WORKLOADS if n in ESTIMATORS]
    results = []
    print(
        f"{'method':8} {'1 rank s/update':>16} {f'{args.ranks} ranks s/update':>18} "
        f"{'speedup':>8} {'efficiency':>10}"
    )
    for name in names:
        workload = WORKLOADS.get(name, ["--estimator", name])
        one = seconds_per_update(1, workload, "mlp", args.steps, args.threads)
        many = seconds_per_update(args.ranks, workload, "mlp", args.steps, args.threads)
        speedup = one / many
        results.append(
            {
                "method": name,
                "ranks": args.ranks,
                "seconds_1": one,
                "seconds_r": many,
                "speedup": speedup,
                "efficiency": speedup / args.ranks,
            }
        )
        print(f"{name:8} {one:16.4f} {many:18.4f} {speedup:8.2f} {speedup / args.ranks:10.1%}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
