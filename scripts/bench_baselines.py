"""The entropic backprop baselines next to SGD: test accuracy at equal updates and at equal
gradient evaluations, with seconds per update, measured in one run.

Each method trains ``--model`` (default the paper's ``mlp``, 784-200-10) for ``--steps``
updates of minibatch 20 on the embedded MNIST training images with its default options (plus
``--extra NAME=FLAGS``), evaluating every ``--every`` updates; SGD runs long enough to match the
most gradient evaluations of any method, so the second table reads SGD's accuracy after as many
gradient evaluations as the method has spent. With ``--data-dir`` pointing at the official
``t10k-*`` files, training uses all 5,000 embedded images and testing the 10,000 test images.
Seconds per update exclude evaluation; the machine is shared, so compare within one run.

    python scripts/bench_baselines.py --data-dir DIR [--model mlp] [--steps 500] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sampler.config.resolution import resolve_settings  # noqa: E402
from sampler.config.sources import make_config  # noqa: E402
from sampler.mpi import SerialComm  # noqa: E402
from sampler.training.loop import train  # noqa: E402

METHODS = ("sgd", "esgd", "rsgd", "pla", "plea")


def run(method: str, flags: list[str], args, steps: int, out: Path) -> dict:
    settings = {
        "model": args.model,
        "baseline": method,
        "steps": steps,
        "batch_size": 20,
        "seed": args.seed,
        "eval_every": args.every,
        "quiet": True,
        "out": str(out),
    }
    if args.data_dir:
        settings["data_dir"] = args.data_dir
    for key, value in zip(flags[::2], flags[1::2]):
        settings[key.lstrip("-").replace("-", "_")] = value
    result = train(resolve_settings(make_config(settings)), SerialComm())
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    grads, curve = 0, {}
    for record in metrics:
        grads += record["grad_evals"]
        if "test_accuracy" in record:
            curve[record["step"]] = (record["test_accuracy"], grads)
    return {
        "curve": curve,
        "seconds_per_update": result.summary["seconds_per_update"],
        "grad_evals_per_update": metrics[-1]["grad_evals"],
        "flags": flags,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sgd-lr", action="append", default=None, help="learning rate(s) of the SGD reference"
    )
    parser.add_argument("--extra", action="append", default=[], help="NAME='--flag value ...'")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    extra = {k: shlex.split(v) for k, v in (item.split("=", 1) for item in args.extra)}
    rates = args.sgd_lr or ["0.01"]
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        for method in METHODS[1:]:
            flags = extra.get(method, [])
            results[method] = run(method, flags, args, args.steps, Path(directory) / method)
        most = max(r["grad_evals_per_update"] for r in results.values()) * args.steps
        for rate in rates:
            flags = ["--lr", rate, *extra.get("sgd", [])]
            results[f"sgd {rate}"] = run("sgd", flags, args, most, Path(directory) / f"sgd{rate}")
    marks = list(range(args.every, args.steps + 1, args.every))
    references = {
        rate: {grads: accuracy for accuracy, grads in results[f"sgd {rate}"]["curve"].values()}
        for rate in rates
    }
    columns = " | ".join(f"SGD lr {rate} at equal grad evals" for rate in rates)
    print(f"test accuracy at {'/'.join(map(str, marks))} updates ({args.model}, minibatch 20)")
    print(f"| method | flags | equal updates | grad evals | {columns} | s/update |")
    print("|---" * (5 + len(rates)) + "|")
    for name, r in results.items():
        at = [r["curve"][m] for m in marks]
        same = [
            " / ".join("-" if ref.get(g) is None else f"{ref[g]:.3f}" for _, g in at)
            for ref in references.values()
        ]
        print(
            f"| {name.split()[0]} | {' '.join(r['flags'])} | "
            + " / ".join(f"{a:.3f}" for a, _ in at)
            + f" | {'/'.join(str(g) for _, g in at)} | "
            + " | ".join(same)
            + f" | {r['seconds_per_update']:.4f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
