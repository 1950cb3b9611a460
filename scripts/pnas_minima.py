"""The minima of fBP, eLAL, ceSGD-fast/slow and LAL on random patterns, side by side (Baldassi,
Pittorino and Zecchina, PNAS 2020, Figs. 4-5, at a size this machine allows): for each sample
(data seed), each method trains a tree committee to its stopping rule at its defaults, then
``sampler flatness`` probes the solution with the local energy of the training error
(multiplicative noise ``w + sigma z * w``, which does not depend on each unit's norm, so LAL's
unit-norm, eLAL's and fBP's ±1 weights compare directly) and the BP local entropy around
``sign(w)`` (binary solutions at distance d; for real-weight solutions ``sign(w)`` need not be a
solution, and its errors are printed); and the top Hessian eigenvalue of the normalised network
(``top_eigenvalue``). Prints one table row per method: mean ± standard deviation over samples.

    OMP_NUM_THREADS=1 python scripts/pnas_minima.py --samples 3 --out DIR
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from sampler.baselines.least_action import normalise, sign_units
from sampler.cli.main import main
from sampler.flatness.report import hessian_report
from sampler.models import Batch
from sampler.setup.run_point import load_point

METHODS = {
    "fbp": ["--baseline", "fbp", "--steps", "30"],
    "elal": ["--baseline", "elal", "--batch-size", "100", "--steps", "40000"],
    "lal": ["--baseline", "lal", "--batch-size", "100", "--steps", "40000"],
    "cesgd-fast": ["--baseline", "cesgd-fast", "--batch-size", "100", "--steps", "40000"],
    "cesgd-slow": ["--baseline", "cesgd-slow", "--batch-size", "100", "--steps", "40000"],
}
SIGMAS = "0.1,0.2,0.3,0.5,0.7"
COUPLINGS = "0.5,1,2,4"


def run_one(out: Path, method: str, n: int, k: int, alpha: float, seed: int) -> dict:
    run = out / f"{method}-{seed}"
    data = ["--data", "random-patterns", "--data-opt", f"n={n}", "--data-opt", f"alpha={alpha}"]
    data += ["--data-seed", str(seed)]
    model = ["--model", "committee", "--model-opt", f"hidden={k}"]
    common = ["--seed", str(seed), "--quiet", "--eval-every", "0", "--out", str(run)]
    if not (run / "summary.json").exists():
        assert main(["train", *data, *model, *METHODS[method], *common]) == 0
    probes = ["--probes", "local-energy,bp-local-entropy", "--sigma", SIGMAS]
    probes += ["--bp-couplings", COUPLINGS, "--examples", str(round(alpha * n))]
    assert main(["flatness", str(run), *probes, "--noise-samples", "100"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    report = json.loads((run / "flatness.json").read_text())
    return {"summary": summary, "report": report, "lambda_max": top_eigenvalue(run)}


def top_eigenvalue(run: Path) -> float:
    """The largest Hessian eigenvalue of the smooth loss (f_gamma on tanh(beta h) units, the
    model's beta = 2 and gamma = 5) on the whole training set, at the point with every unit
    rescaled to norm 1: the normalised network, so that solutions of any norm compare."""
    _, model, dataset, params, _ = load_point(str(run))
    units = sign_units(model, "lal")
    point = normalise(params, units)
    batch = Batch(dataset.train_x, dataset.train_y)
    return hessian_report(model, batch, point, 1, 0)["eigenvalues"][0]


def row(method: str, results: list[dict]) -> str:
    def spread(values):
        mean = statistics.fmean(values)
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{mean:.3f} ± {sd:.3f}"

    errors = [r["summary"]["final_test_errors"] for r in results]
    steps = [r["summary"]["steps"] for r in results]
    energy = list(
        zip(*[[p["local_energy"] for p in r["report"]["local_energy"]["error"]] for r in results])
    )
    bp = [r["report"]["bp_local_entropy"] for r in results]
    ref = [b["reference_errors"] for b in bp]
    curves = list(
        zip(*[[(p["distance"], p["normalised"], p["converged"]) for p in b["points"]] for b in bp])
    )
    cells = [method, f"{statistics.fmean(steps):.0f}", str(max(errors))]
    cells.append(spread([r["lambda_max"] for r in results]))
    cells += [spread(list(col)) for col in energy]
    cells.append(str(ref))
    cells += [
        f"d {spread([c[0] for c in col])}: {spread([c[1] for c in col])}"
        + ("" if all(c[2] for c in col) else " (some not converged)")
        for col in curves
    ]
    return "| " + " | ".join(cells) + " |"


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3, help="data seeds 0..S-1 (default: 3)")
    parser.add_argument("--n", type=int, default=333, help="inputs N (default: 333)")
    parser.add_argument("--hidden", type=int, default=9, help="units K (default: 9)")
    parser.add_argument("--alpha", type=float, default=0.6, help="P / N (default: 0.6)")
    parser.add_argument("--out", required=True, help="folder of the runs")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse()
    out = Path(args.out)
    print(
        f"| method | updates | max errors | lambda_max | dE_error at sigma = {SIGMAS} "
        f"| sign(w) errors | BP normalised local entropy, d: value (couplings {COUPLINGS} "
        "from the right) |"
    )
    for method in METHODS:
        results = [
            run_one(out, method, args.n, args.hidden, args.alpha, s) for s in range(args.samples)
        ]
        print(row(method, results), flush=True)
