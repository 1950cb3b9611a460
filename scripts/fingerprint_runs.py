"""Behaviour fingerprints: a fixed set of short ``sampler train`` runs, each reduced to its final
metrics line (wall-clock fields dropped) and a SHA-256 of its ``state_dict.pt`` tensors.

Run it before and after a change that claims to change no result (a restructuring, a speed-up
meant to be exact) and compare the two files: every entry must be identical.

    python scripts/fingerprint_runs.py --out before.json
    ... change the code ...
    python scripts/fingerprint_runs.py --out after.json --compare before.json

The set covers every estimator (and the proposal schemes of ``is``), every outer optimizer,
the warm start, per-layer tau, every baseline, a Keras model, 1 and 2 MPI ranks and a resumed
run. It drives the command line only, so it runs unchanged across a reorganisation of the
package. One torch thread per process; a few minutes on two cores.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch


def keras_examples() -> str:
    """The module of the Keras example factories (it moved in the reorganisation)."""
    for name in ("sampler.models.keras.examples", "sampler.models.keras_examples"):
        try:
            if importlib.util.find_spec(name) is not None:
                return name
        except ModuleNotFoundError:
            continue
    raise SystemExit("no Keras example factories found")


KERAS_EXAMPLES = keras_examples()
COMMON = ["--steps", "4", "--eval-every", "2", "--checkpoint-every", "2", "--quiet"]
IS = "--estimator is --samples 200"
RUNS: dict[str, list[str]] = {
    name: flags.split()
    for name, flags in {
        "is-literal": f"{IS} --proposal literal",
        "is-antithetic": f"{IS} --proposal antithetic",
        "is-marginal-mlp": f"--model mlp {IS} --proposal marginal",
        "is-two-pass": f"{IS} --beta-search two-pass",
        "is-beta-1-momentum": f"{IS} --beta 1 --optimizer momentum --momentum 0.9 --lr 0.005",
        "is-nesterov": f"{IS} --optimizer nesterov --momentum 0.5 --lr 0.005",
        "is-adam-per-layer-tau": f"--model mlp {IS} --optimizer adam --lr 0.001 "
        "--tau fc0=0.01,*=scoping:0.02,0.1",
        "sgld": "--estimator sgld --sgld-steps 20 --chains 2",
        "rm": "--estimator rm --rm-samples 5 --rm-iterations 5",
        "rm-stein": "--estimator rm-stein --rm-samples 5 --rm-iterations 5",
        "switch-after": f"{IS} --switch-after 2",
        "signal": "--model mlp --baseline sgd --signal-every 2",
        "sgd": "--baseline sgd --lr 0.05",
        "sgd-nesterov": "--baseline sgd --lr 0.05 --momentum 0.9 --nesterov",
        "esgd": "--baseline esgd",
        "rsgd": "--baseline rsgd --coupling-every 2",
        "pla": "--model mlp --baseline pla --layers fc0",
        "plea": "--baseline plea",
        "gaussian-mixture": f"--data gaussian-mixture --model mlp {IS}",
        "keras-linear": f"--model keras:{KERAS_EXAMPLES}:linear {IS}",
    }.items()
}
MPI_RUNS = {
    "mpi2-is": RUNS["is-literal"],
    "mpi2-rsgd": RUNS["rsgd"],
    "mpi2-rm": RUNS["rm"],
}
TIMES = ("time",)


def environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def sampler_command() -> list[str]:
    return [sys.executable, "-m", "sampler", "train"]


def fingerprint(run_dir: Path) -> dict:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    metrics = {k: v for k, v in last.items() if k not in TIMES}
    state = torch.load(run_dir / "state_dict.pt", weights_only=True)
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].contiguous().numpy().tobytes())
    return {"metrics": metrics, "state_dict_sha256": digest.hexdigest(), "lines": len(lines)}


def train(flags: list[str], out: Path, prefix: list[str] | None = None) -> None:
    command = [*(prefix or []), *sampler_command(), *flags, *COMMON, "--out", str(out)]
    done = subprocess.run(command, env=environment(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)}\nfailed:\n{done.stderr[-2000:]}")


def record(scratch: Path, only: set[str] | None) -> dict:
    results: dict[str, dict] = {}
    for name, flags in RUNS.items():
        if only and name not in only:
            continue
        train(flags, scratch / name)
        results[name] = fingerprint(scratch / name)
        print(name, results[name]["state_dict_sha256"][:12], flush=True)
    if not only or "resumed" in only:  # 2 updates, then resumed to 4: equals the 4-update run
        cut = [*RUNS["is-literal"], *COMMON, "--out", str(scratch / "resumed")]
        cut[cut.index("--steps") + 1] = "2"
        done = subprocess.run([*sampler_command(), *cut], env=environment(), capture_output=True)
        if done.returncode != 0:
            raise SystemExit(f"the first half of the resumed run failed: {done.stderr[-2000:]}")
        train(["--resume", str(scratch / "resumed")], scratch / "resumed")
        results["resumed"] = fingerprint(scratch / "resumed")
        print("resumed", results["resumed"]["state_dict_sha256"][:12], flush=True)
    mpiexec = shutil.which(
        "mpiexec", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    )
    for name, flags in MPI_RUNS.items():
        if (only and name not in only) or mpiexec is None:
            continue
        train(flags, scratch / name, prefix=[mpiexec, "-n", "2"])
        results[name] = fingerprint(scratch / name)
        print(name, results[name]["state_dict_sha256"][:12], flush=True)
    return results


def compare(now: dict, before: dict) -> list[str]:
    differences = []
    for name in sorted(set(now) | set(before)):
        if now.get(name) != before.get(name):
            differences.append(f"{name}: before {before.get(name)}\n  now {now.get(name)}")
    return differences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the JSON file to write")
    parser.add_argument("--compare", metavar="FILE", help="an earlier output: report differences")
    parser.add_argument("--only", help="comma-separated names of runs (default: all)")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    with tempfile.TemporaryDirectory(prefix="fingerprints-") as scratch:
        results = record(Path(scratch), only)
    Path(args.out).write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    if args.compare:
        before = json.loads(Path(args.compare).read_text())
        if only:
            before = {k: v for k, v in before.items() if k in results}
        differences = compare(results, before)
        for line in differences:
            print(line)
        print(f"{len(results) - len(differences)} of {len(results)} runs identical")
        return 1 if differences else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
