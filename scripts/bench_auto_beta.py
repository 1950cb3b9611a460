"""What the engine's own temperature costs: one IS update with a fixed beta, with ``--beta auto``
found on a grid of five betas in the same pass, and with the two-pass search (losses first,
then the same counter-based noise drawn again), measured in one run, rounds interleaved.

Reference workload: the paper's ``mlp`` (784-200-10), minibatch 20 of the embedded MNIST,
J = 1000, tau = 0.01, one thread. Printed: median seconds per update and the ratio to the fixed
beta, and the noise draw alone (the literal algorithm's floor) for scale.

    OMP_NUM_THREADS=1 python scripts/bench_auto_beta.py [--rounds 5] [--samples 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from sampler.estimators import StepKey
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.estimators.temperature import Temperature
from sampler.models import DATASETS, DataOptions
from sampler.models.zoo import build_mlp
from sampler.mpi import SerialComm
from sampler.problem import Problem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = DATASETS["mnist"](DataOptions(None, 0, {}))
    model = build_mlp(data.input_shape, data.num_classes)
    problem = Problem(model, data.minibatch(0, 0, 20))
    center, tau = model.init_params(0), torch.tensor(0.01)
    variants = {
        "fixed beta": ImportanceSampling(args.samples, 5.0, 100),
        "auto, grid": ImportanceSampling(args.samples, Temperature(None, 0.3), 100, "grid"),
        "auto, two-pass": ImportanceSampling(args.samples, Temperature(None, 0.3), 100, "two-pass"),
    }
    noise = torch.empty(100, model.num_params)
    generator = torch.Generator().manual_seed(0)
    times: dict[str, list[float]] = {name: [] for name in [*variants, "noise draw alone"]}
    for round_ in range(args.rounds + 1):  # the first round warms up
        for name, estimator in variants.items():
            tick = time.perf_counter()
            estimator.step(StepKey(0, round_), {"beta": 5.0}, center, tau, problem, SerialComm())
            if round_:
                times[name].append(time.perf_counter() - tick)
        tick = time.perf_counter()
        for _ in range(-(-args.samples // 100)):
            noise.normal_(generator=generator)
        if round_:
            times["noise draw alone"].append(time.perf_counter() - tick)
    reference = statistics.median(times["fixed beta"])
    print(f"IS update, mlp, J = {args.samples}, {args.rounds} rounds (median s, ratio to fixed)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<18} {median:8.3f} s   {median / reference:5.2f}x")


if __name__ == "__main__":
    main()
