"""Batched-vs-loop benchmark of every model of the zoo: the time of ``model.losses(params, batch)``
for K parameter vectors as one computation against a Python loop over the K vectors, each on its
default data shape (``ModelSpec.default_shape``) with a minibatch of B inputs (the paper's B = 20).

    python scripts/bench_models.py [--models linear,mlp] [--batch 20] [--repeats 3]
    python scripts/bench_models.py --models mlp,keras:sampler.models.keras.examples:mlp \
        --grads --is-update

K is 100 for the small models and smaller for the large ones (memory: K x d floats). Prints one
line per model: parameters, K, seconds per call batched and looped (best of ``repeats``), the
speedup and the largest difference between the two (they must agree). A Keras model
(``keras:MODULE:FACTORY``, needs the ``tensorflow`` extra) runs on the MNIST shape. ``--grads``
adds the same comparison for ``loss_and_grad``; ``--is-update`` the seconds of one
importance-sampling update (J = ``--samples``, blocks of 100, tau = 0.01; best of ``repeats``).
"""

from __future__ import annotations

import argparse
import time

import torch

from sampler.estimators.base import StepKey
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.models import MODELS, Batch, model_spec
from sampler.models.streams import torch_generator
from sampler.mpi import SerialComm
from sampler.problem import Problem

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


def speedup(batched, loop, repeats: int) -> tuple[float, float, float]:
    """``(batched s, loop s, largest difference of the first outputs)``."""
    difference = float((batched()[0] - loop()[0]).abs().max())
    return best_time(batched, repeats), best_time(loop, repeats), difference


def bench(name: str, batch_size: int, repeats: int, grads: bool, samples: int) -> str:
    spec = model_spec(name)
    model = spec(spec.default_shape, spec.default_classes)
    k = SAMPLES.get(name, 100)
    g = torch_generator(0, 1000)
    inputs = torch.randn(batch_size, *spec.default_shape, generator=g)
    batch = Batch(inputs, torch.randint(0, spec.default_classes, (batch_size,), generator=g))
    params = model.init_params(0) + 0.01 * torch.randn(k, model.num_params, generator=g)

    def looped(method):
        def run():
            rows = [method(p.unsqueeze(0), batch) for p in params]
            rows = [row if isinstance(row, tuple) else (row,) for row in rows]
            return [torch.cat(parts) for parts in zip(*rows)]

        return run

    t_batched, t_loop, difference = speedup(
        lambda: [model.losses(params, batch)], looped(model.losses), repeats
    )
    label = name if len(name) <= 12 else name.rsplit(":", 1)[-1] + " (keras)"
    line = (
        f"{label:<14} {model.num_params:>11,} {k:>4} {t_batched:>10.4f} {t_loop:>10.4f} "
        f"{t_loop / t_batched:>8.2f}x {difference:>9.1e}"
    )
    if grads:
        g_batched, g_loop, _ = speedup(
            lambda: list(model.loss_and_grad(params, batch)), looped(model.loss_and_grad), repeats
        )
        line += f" {g_batched:>10.4f} {g_loop:>10.4f} {g_loop / g_batched:>8.2f}x"
    if samples:
        estimator = ImportanceSampling(samples, 1.0, 100)
        center, tau, comm = params[0].clone(), torch.tensor(0.01), SerialComm()

        def update():
            return estimator.step(StepKey(0, 0), {}, center, tau, Problem(model, batch), comm)

        line += f" {best_time(update, repeats):>10.3f}"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated names")
    parser.add_argument("--batch", type=int, default=20, help="minibatch size B")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions (best kept)")
    parser.add_argument("--grads", action="store_true", help="also time loss_and_grad")
    parser.add_argument(
        "--is-update", action="store_true", help="also time one importance-sampling update"
    )
    parser.add_argument("--samples", type=int, default=1000, help="J of the IS update")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, B = {args.batch}")
    header = (
        f"{'model':<14} {'params':>11} {'K':>4} {'batched s':>10} {'loop s':>10} "
        f"{'speedup':>9} {'max diff':>9}"
    )
    if args.grads:
        header += f" {'grad bat s':>10} {'grad loop':>10} {'speedup':>9}"
    if args.is_update:
        header += f" {'IS s/upd':>10}"
    print(header)
    for name in args.models.split(","):
        samples = args.samples if args.is_update else 0
        print(bench(name, args.batch, args.repeats, args.grads, samples), flush=True)


if __name__ == "__main__":
    main()
