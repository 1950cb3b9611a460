"""Seconds per update with one intra-op thread against torch's default, idle and under load.

For SGD, IS and SGLD updates of the MNIST ``mlp`` (784-200-10, minibatch 20, embedded data) the
script runs each update kind in a fresh process per thread setting: ``1`` (the default of
``sampler train`` since ``sampler.mpi.threads``) and ``torch`` (torch's own default, one thread
per core: what a serial run used before). Each process builds the method with
``sampler.build``, runs ``--warmup`` updates, then times ``N`` updates and reports the median.
It measures once with the machine as it is ("idle"), then again while a busy loop
(``python -c 'while True: pass'``) occupies one core ("loaded"), and prints every time and the
ratio torch/1 in one table. The load average and the busiest other processes are printed
before each phase: on a shared machine "idle" is only as idle as the others let it be.

    python scripts/bench_threads.py [--is-samples 1000] [--sgld-steps 100] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SETTINGS = ("1", "torch")


def workloads(args) -> dict[str, tuple[dict, int]]:
    """update kind -> (sampler.build options, timed updates)."""
    return {
        "sgd": ({"baseline": "sgd", "lr": 0.01}, args.sgd_updates),
        "is": ({"estimator": "is", "samples": args.is_samples, "tau": 0.01}, args.updates),
        "sgld": (
            {"estimator": "sgld", "sgld_steps": args.sgld_steps, "tau": 0.01},
            args.updates,
        ),
    }


def worker(options: dict, updates: int, warmup: int, threads: str) -> dict:
    """Runs in the child process: time ``updates`` updates, return seconds per update."""
    import torch

    default_threads = torch.get_num_threads()  # before sampler sets its own
    import sampler
    from sampler.models import DATASETS, DataOptions

    dataset = DATASETS["mnist"](DataOptions())
    algorithm = sampler.build(
        "mlp", steps=warmup + updates, input_shape=dataset.input_shape, num_classes=10, **options
    )
    if threads == "torch":
        torch.set_num_threads(default_threads)
    state = algorithm.init()
    times = []
    for k in range(warmup + updates):
        batch = dataset.minibatch(0, k, 20)
        tick = time.perf_counter()
        state, _ = algorithm.step(state, batch)
        if k >= warmup:
            times.append(time.perf_counter() - tick)
    return {"seconds": statistics.median(times), "threads": torch.get_num_threads()}


def measure(options: dict, updates: int, warmup: int, threads: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    payload = json.dumps([options, updates, warmup, threads])
    result = subprocess.run(
        [sys.executable, __file__, "--worker", payload],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def machine_state() -> str:
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    busiest = subprocess.run(
        ["ps", "-eo", "pcpu,args", "--sort=-pcpu", "--no-headers"],
        capture_output=True,
        text=True,
    ).stdout.splitlines()[:4]
    lines = [f"  load average {load}; {os.cpu_count()} cores; busiest processes:"]
    lines += [f"    {line.strip()[:100]}" for line in busiest]
    return "\n".join(lines)


def phase(name: str, args) -> dict[str, dict[str, dict]]:
    print(f"{name}:\n{machine_state()}", flush=True)
    times: dict[str, dict[str, dict]] = {}
    for kind, (options, updates) in workloads(args).items():
        times[kind] = {s: measure(options, updates, args.warmup, s) for s in SETTINGS}
        shown = ", ".join(
            f"{s} ({t['threads']} thr): {t['seconds']:.4g} s" for s, t in times[kind].items()
        )
        print(f"  {kind:<5} {shown}", flush=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--is-samples", type=int, default=1000)
    parser.add_argument("--sgld-steps", type=int, default=100)
    parser.add_argument("--updates", type=int, default=5, help="timed IS and SGLD updates")
    parser.add_argument("--sgd-updates", type=int, default=200, help="timed SGD updates")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--json", help="also write the times to this file")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*json.loads(args.worker))))
        return
    results = {"idle": phase("idle", args)}
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        results["loaded"] = phase("loaded (one busy-loop process)", args)
    finally:
        busy.kill()
        busy.wait()
    print("\nseconds per update of the mlp (median); ratio = torch default / 1 thread")
    print(
        f"{'update':<24}{'idle 1':>10}{'idle torch':>12}{'ratio':>8}"
        f"{'loaded 1':>11}{'loaded torch':>14}{'ratio':>8}"
    )
    suffix = {"is": f" J={args.is_samples}", "sgld": f" L={args.sgld_steps}"}
    for kind in workloads(args):
        label = kind + suffix.get(kind, "")
        row = f"{label:<24}"
        for name in ("idle", "loaded"):
            one, many = (results[name][kind][s]["seconds"] for s in SETTINGS)
            row += f"{one:>10.4g}{many:>12.4g}{many / one:>7.2f}x"
        print(row)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
