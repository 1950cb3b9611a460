"""The GPU check: everything of the engine's device path, run on one device, in one report.

    python scripts/gpu_check.py --device cuda --out gpu-report     # on a CUDA machine, < 8 min
    python scripts/gpu_check.py --device cpu --quick --out /tmp/r  # the rehearsal (and CI's test)

Sections, each timed and judged on its own (a failing one does not stop the others):

* ``tests``: two test modules with ``SAMPLER_TEST_DEVICE`` set: the device path
  (``tests/estimators/test_device_path.py``: the block loop against the host-synchronising
  reference on the device, equal bit for bit on the CPU and within float32 rounding on a GPU)
  and every estimator against its closed form on a quadratic
  (``tests/estimators/test_estimators_closed_form.py``, within 5 standard errors: a GPU's
  generators draw other numbers than the CPU's, so the devices meet at the closed form);
* ``train``: ``sampler train --device D`` for every estimator and baseline of the registries,
  a few updates of ``mlp`` each (small settings), with its accuracy, seconds per update and the
  rank's peak memory from ``summary.json``;
* ``ranks``: ``mpiexec -n 2`` (both ranks on the one device, local rank modulo devices) against
  one rank, importance sampling at its defaults and literal: the final parameters agree within
  ``RANK_RTOL`` relative (the ranks' partial sums add up in another order: about 1e-7 on the
  CPU);
* ``resume``: a run checkpointed on D resumed on the CPU and one checkpointed on the CPU
  resumed on D (on the CPU both halves are the CPU: the continuation is then bit-identical);
* ``bench``: ``sampler bench --device D --json``: every reference workload beside its floor
  (timers synchronised with the device), each one's peak device memory, 1 against 2 ranks, and
  the literal update at J = 10^3 .. 10^6 (``--quick``: 10^2, 10^3) to show where it stops being
  launch-bound.

Writes ``OUT/report.json`` (everything) and ``OUT/report.md`` (the tables); exit 0 when every
section passed. Needs the project installed with its ``test`` and ``mpi`` extras (the ``ranks``
section is skipped, with the reason, without ``mpiexec``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from gpu_check_report import SECTIONS, markdown  # beside this script

from sampler.baselines import BASELINES
from sampler.bench import timed_runs
from sampler.estimators import ESTIMATORS
from sampler.mpi.device import rank_device
from sampler.runs.device_usage import device_name

ROOT = Path(__file__).resolve().parent.parent
TEST_MODULES = [
    "tests/estimators/test_device_path.py",
    "tests/estimators/test_estimators_closed_form.py",
]
RANK_RTOL = 1e-4  # 1 vs 2 ranks: partial sums added in another order
# Small settings per method (a few updates each); a method not listed runs at its defaults.
METHOD_FLAGS = {
    "is": ["--samples", "200"],
    "sgld": ["--sgld-steps", "20", "--chains", "2"],
    "rm": ["--rm-samples", "6", "--rm-iterations", "4"],
    "rm-stein": ["--rm-samples", "6", "--rm-iterations", "4"],
    "sgd": [],
    "esgd": ["--esgd-steps", "5"],
    "rsgd": ["--replicas", "3"],
    "pla": ["--perturbations", "3"],
    "plea": ["--perturbations", "3"],
    "es": ["--population", "40"],
    **{f"evotorch:{name}": ["--population", "40"] for name in ("PGPE", "SNES", "CEM", "CMAES")},
}
# the sign-unit methods train a tree committee on random patterns (their own model and data)
SIGN_UNITS = [
    *("--model", "committee", "--model-opt", "hidden=3", "--data", "random-patterns"),
    *("--data-opt", "n=21", "--data-opt", "alpha=2", "--batch-size", "10"),
]
METHOD_FLAGS |= {
    "lal": SIGN_UNITS,
    "elal": [*SIGN_UNITS, "--replicas", "3"],
    "fbp": [*SIGN_UNITS, "--stages", "2", "--bp-iterations", "10"],
    "cesgd-fast": SIGN_UNITS,
    "cesgd-slow": SIGN_UNITS,
}
FULL = {
    "steps": 5,
    "bench": ["--models", "mlp,tiny-conv,small-conv", "--rounds", "5", "--ranks", "2"],
}
FULL["sweep"] = "1000,10000,100000,1000000"
QUICK = {"steps": 2, "sweep": "100,1000"}
QUICK["bench"] = [
    *("--models", "linear", "--rounds", "1", "--samples", "100", "--sgld-steps", "10"),
    *("--rm-samples", "4", "--rm-iterations", "4", "--ranks", "0", "--memory-samples", ""),
]


def run(command: list[str], env: dict | None = None, timeout: float = 600) -> dict:
    """A subprocess, its exit status, seconds and the tail of its output."""
    tick = time.perf_counter()
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=environment, timeout=timeout, cwd=ROOT
        )
        code, stdout, out = done.returncode, done.stdout, done.stdout + done.stderr
    except subprocess.TimeoutExpired:
        code, stdout, out = -1, "", f"timed out after {timeout:.0f} s"
    seconds = time.perf_counter() - tick
    return {"rc": code, "seconds": seconds, "tail": out[-3000:], "stdout": stdout}


def sampler_train(out: Path, flags: list[str], launcher: list[str] = ()) -> dict:
    command = [*launcher, sys.executable, "-m", "sampler", "train", "--out", str(out), "--quiet"]
    return run([*command, "--eval-every", "0", *flags])


def tests_section(device: str, quick: bool) -> dict:
    """``--quick``: the device path alone (the suite runs the closed forms on the CPU anyway)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    modules = TEST_MODULES[:1] if quick else TEST_MODULES
    result = run([*command, *modules], {"SAMPLER_TEST_DEVICE": device})
    return {"passed": result["rc"] == 0, "seconds": result["seconds"], "tail": result["tail"]}


def train_section(device: str, steps: int, scratch: Path) -> dict:
    rows = []
    for kind, names in (("--estimator", ESTIMATORS), ("--baseline", BASELINES)):
        for name in names:
            flags = ["--model", "mlp", "--steps", str(steps), "--device", device, kind, name]
            folder = scratch / f"train-{name.replace(':', '-')}"
            result = sampler_train(folder, [*flags, *METHOD_FLAGS.get(name, [])])
            row = {"method": name, "rc": result["rc"], "seconds": result["seconds"]}
            summary_file = folder / "summary.json"
            if result["rc"] == 0 and summary_file.exists():
                summary = json.loads(summary_file.read_text())
                meta = summary["metadata"]
                row |= {
                    "device": summary["device"],
                    "accuracy": summary["final_test_accuracy"],
                    "seconds_per_update": summary["seconds_per_update"],
                    "peak_memory_mb": meta.get("rank_peak_memory_mb", [None])[0],
                }
            else:
                row["tail"] = result["tail"]
            row["passed"] = result["rc"] == 0 and row.get("device", "").startswith(device)
            rows.append(row)
    return {"passed": all(r["passed"] for r in rows), "runs": rows}


def parameters(run_dir: Path) -> torch.Tensor:
    state = torch.load(run_dir / "state_dict.pt", map_location="cpu", weights_only=True)
    return torch.cat([value.flatten().double() for value in state.values()])


def agreement(one: Path, two: Path) -> dict:
    a, b = parameters(one), parameters(two)
    difference = float((a - b).abs().max())
    relative = difference / max(float(a.abs().max()), 1e-30)
    return {"identical": bool(torch.equal(a, b)), "max_abs_diff": difference, "rel": relative}


def ranks_section(device: str, steps: int, scratch: Path) -> dict:
    executable = timed_runs.mpiexec()
    if executable is None:
        return {"passed": True, "skipped": "no mpiexec (pip install mpich mpi4py)"}
    launch = timed_runs.launcher_flags(executable)
    rows = []
    for name, flags in {
        "is defaults": ["--samples", "400"],
        "is literal": ["--samples", "400", "--proposal", "literal", "--beta", "1"],
    }.items():
        common = ["--model", "mlp", "--steps", str(steps), "--device", device, *flags]
        outs = [scratch / f"ranks-{name.replace(' ', '-')}-{n}" for n in (1, 2)]
        results = [
            sampler_train(outs[0], common),
            sampler_train(outs[1], common, [executable, *launch, "-n", "2"]),
        ]
        row = {"workload": name, "rc": [r["rc"] for r in results]}
        if all(r["rc"] == 0 for r in results):
            row |= agreement(*outs)
            row["passed"] = row["rel"] <= RANK_RTOL
        else:
            row |= {"passed": False, "tail": [r["tail"] for r in results if r["rc"]][0]}
        rows.append(row)
    return {"passed": all(r["passed"] for r in rows), "runs": rows}


def resume_section(device: str, steps: int, scratch: Path) -> dict:
    """Half the updates on ``first``, resumed on ``second``; against the uninterrupted run."""
    rows = []
    for index, (first, second) in enumerate(((device, "cpu"), ("cpu", device))):
        common = ["--model", "mlp", "--samples", "200", "--checkpoint-every", "1"]
        whole, split = scratch / f"whole-{index}", scratch / f"split-{index}"
        done = sampler_train(whole, [*common, "--steps", str(2 * steps), "--device", first])
        half = sampler_train(split, [*common, "--steps", str(steps), "--device", first])
        command = [sys.executable, "-m", "sampler", "train", "--resume", str(split), "--quiet"]
        resumed = run([*command, "--steps", str(2 * steps), "--device", second])
        row = {"checkpointed_on": first, "resumed_on": second}
        codes = [done["rc"], half["rc"], resumed["rc"]]
        if codes == [0, 0, 0]:
            summary = json.loads((split / "summary.json").read_text())
            row |= agreement(whole, split) | {
                "steps": summary["steps"],
                "device": summary["device"],
            }
            same_kind = first == second
            row["passed"] = summary["steps"] == 2 * steps and (row["identical"] or not same_kind)
        else:
            row |= {"passed": False, "rc": codes, "tail": resumed["tail"] + half["tail"]}
        rows.append(row)
    return {"passed": all(r["passed"] for r in rows), "runs": rows}


def bench_section(device: str, settings: dict) -> dict:
    command = [sys.executable, "-m", "sampler", "bench", "--device", device, "--json"]
    result = run([*command, *settings["bench"], "--sweep-samples", settings["sweep"]])
    if result["rc"] != 0:
        return {"passed": False, "rc": result["rc"], "tail": result["tail"]}
    return {"passed": True, "seconds": result["seconds"], "report": json.loads(result["stdout"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--quick", action="store_true", help="CI-sized: fewer updates and J")
    parser.add_argument("--out", type=Path, default=Path("gpu-report"), help="report folder")
    args = parser.parse_args(argv)
    try:
        device = rank_device(0, args.device)
    except ValueError as error:
        parser.error(str(error))
    settings = QUICK if args.quick else FULL
    tick, load = time.perf_counter(), ", ".join(f"{v:.2f}" for v in os.getloadavg())
    report = {
        "command": " ".join(["gpu_check.py", *(argv or sys.argv[1:])]),
        "torch": torch.__version__,
    }
    report |= {"device": str(device), "load_average": load, "quick": args.quick}
    report["device_name"] = device_name(device)
    name = device.type if device.type == "cpu" else str(device)
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        sections = {
            "tests": lambda: tests_section(name, args.quick),
            "train": lambda: train_section(name, settings["steps"], scratch),
            "ranks": lambda: ranks_section(name, settings["steps"], scratch),
            "resume": lambda: resume_section(name, settings["steps"], scratch),
            "bench": lambda: bench_section(name, settings),
        }
        for section, check in sections.items():
            started = time.perf_counter()
            report[section] = check() | {"seconds": time.perf_counter() - started}
    report["seconds"] = time.perf_counter() - tick
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    (args.out / "report.md").write_text(markdown(report))
    failed = [section for section in SECTIONS if not report[section]["passed"]]
    print(
        f"gpu check on {report['device_name']}: {len(SECTIONS) - len(failed)} of "
        f"{len(SECTIONS)} sections passed in {report['seconds']:.0f} s; report in {args.out}"
    )
    for section in failed:
        print(f"  FAILED {section}: see report.json")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
