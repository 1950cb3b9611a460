"""How many forward passes one gradient evaluation costs: the ratio behind the default of
``sampler compare --grad-cost``.

    python scripts/bench_grad_cost.py [--models linear,mlp] [--batch 20] [--repeats 200]

For each model on its default data shape with a minibatch of B inputs, times
``model.losses(x[None], batch)`` (one forward pass of one network over the minibatch: the unit of
forward-equivalents) and ``model.loss_and_grad(x[None], batch)`` (what a gradient evaluation
costs the SGD, SGLD and Robbins-Monro trainers), best of ``repeats`` calls each in one run, and
prints the ratio.
"""

from __future__ import annotations

import argparse
import time

import torch

from sampler.models import MODELS, Batch
from sampler.models.streams import torch_generator


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
    g = torch_generator(0, 1000)
    inputs = torch.rand((batch_size, *spec.default_shape), generator=g)
    targets = torch.randint(0, spec.default_classes, (batch_size,), generator=g)
    batch = Batch(inputs, targets)
    params = model.init_params(0).unsqueeze(0)
    forward = best_time(lambda: model.losses(params, batch), repeats)
    gradient = best_time(lambda: model.loss_and_grad(params, batch), repeats)
    return (
        f"{name:<8} d={model.num_params:>7,} B={batch_size} forward {forward * 1e3:8.3f} ms  "
        f"forward+gradient {gradient * 1e3:8.3f} ms  ratio {gradient / forward:5.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="linear,mlp")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    for name in args.models.split(","):
        print(bench(name, args.batch, args.repeats), flush=True)


if __name__ == "__main__":
    main()
