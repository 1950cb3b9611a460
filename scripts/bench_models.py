"""Batched-vs-loop benchmark of every model of the zoo: the time of ``model.losses(params, batch)``
for K parameter vectors as one computation against a Python loop over the K vectors, each on its
default data shape (``ModelSpec.default_shape``) with a minibatch of B inputs (the paper's B = 20).

    python scripts/bench_models.py [--models linear,mlp] [--batch 20] [--repeats 3]

K is 100 for the small models and smaller for the large ones (memory: K x d floats). Prints one
line per model: parameters, K, seconds per call batched and looped (best of ``repeats``), the
speedup and the largest difference between the two (they must agree).
"""

from __future__ import annotations

import argparse
import time

import torch

from sampler.models import MODELS, Batch
from sampler.models.streams import torch_generator

# K per model: large networks get fewer vectors (the [K, d] block and the activations).
SAMPLES = {"musso-mlp": 20, "musso-cifar": 16, "resnet18": 8, "musso-stl": 4}


def best_time(function, repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def bench(name: str, batch_size: int, repeats: int) -> str:
    spec = MODELS[name]
    model = spec(spec.default_shape, spec.default_classes)
    k = SAMPLES.get(name, 100)
    g = torch_generator(0, 1000)
    inputs = torch.randn(batch_size, *spec.default_shape, generator=g)
    batch = Batch(inputs, torch.randint(0, spec.default_classes, (batch_size,), generator=g))
    params = model.init_params(0) + 0.01 * torch.randn(k, model.num_params, generator=g)

    def batched():
        return model.losses(params, batch)

    def loop():
        return torch.cat([model.losses(p.unsqueeze(0), batch) for p in params])

    difference = float((batched() - loop()).abs().max())
    t_batched, t_loop = best_time(batched, repeats), best_time(loop, repeats)
    return (
        f"{name:<12} {model.num_params:>11,} {k:>4} {t_batched:>10.4f} {t_loop:>10.4f} "
        f"{t_loop / t_batched:>8.2f}x {difference:>9.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated names")
    parser.add_argument("--batch", type=int, default=20, help="minibatch size B")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions (best kept)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, B = {args.batch}")
    print(
        f"{'model':<12} {'params':>11} {'K':>4} {'batched s':>10} {'loop s':>10} "
        f"{'speedup':>9} {'max diff':>9}"
    )
    for name in args.models.split(","):
        print(bench(name, args.batch, args.repeats), flush=True)


if __name__ == "__main__":
    main()
