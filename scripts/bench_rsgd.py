"""Replicated-SGD's seconds per update with the replicas' gradients as one batched call against
a loop of one call per replica, measured in one run.

    OMP_NUM_THREADS=1 python scripts/bench_rsgd.py [--model mlp] [--steps 50] [--replicas 3]

Each mode runs the same ``--steps`` rSGD updates (minibatch 20, the method's defaults) on the
embedded MNIST training images through the trainer and the real minibatch streams:

* ``batched``: each replica on its own minibatch stream, the y gradients one
  ``loss_and_grad_each`` call (``[y, B, ...]`` inputs; the default);
* ``loop``: the same, through a model that lacks ``loss_and_grad_each``, so one
  ``loss_and_grad`` call of ``[1, d]`` per replica (what rSGD did before);
* ``shared``: ``--shared-batch``, all replicas on the step's one minibatch, one call.

The modes alternate for ``--rounds`` rounds; the table gives each mode's median seconds per
update over its rounds, and the ratio of the loop's to the batched path's (also the median of
the ratios within a round, which a shared machine's load disturbs less). The centers of
``batched`` and ``loop`` are compared (float rounding only).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sampler.baselines import BASELINES, RunContext  # noqa: E402
from sampler.config.method_options import method, resolve  # noqa: E402
from sampler.models import MODELS  # noqa: E402
from sampler.models.data.mnist import load_mnist  # noqa: E402
from sampler.mpi import SerialComm  # noqa: E402
from sampler.problem import Problem  # noqa: E402


class WithoutEach:
    """The model with every attribute but ``loss_and_grad_each``: the loop fallback."""

    def __init__(self, model) -> None:
        self._model = model

    def __getattr__(self, name: str):
        if name == "loss_and_grad_each":
            raise AttributeError(name)
        return getattr(self._model, name)


def run(model, data, values: dict, steps: int, seed: int = 0):
    """``steps`` rSGD updates: (seconds per update, final center)."""
    trainer = BASELINES["rsgd"].build(values, RunContext(seed, steps, model))
    params = model.init_params(seed)
    state = trainer.init(params)
    start = time.perf_counter()
    for k in range(steps):
        batch = data.minibatch(seed, k, 20)
        problem = Problem(model, batch, partial(data.minibatch, seed, k, 20))
        params, state, _ = trainer.step(k, params, state, problem, SerialComm())
    return (time.perf_counter() - start) / steps, params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = load_mnist(None, 0.2, 0)
    model = MODELS[args.model](data.input_shape, data.num_classes)
    own = resolve(method("is", "rsgd"), {"replicas": args.replicas}, steps=args.steps)
    shared = resolve(
        method("is", "rsgd"), {"replicas": args.replicas, "shared_batch": True}, steps=args.steps
    )
    modes = {
        "batched": (model, own),
        "loop": (WithoutEach(model), own),
        "shared": (model, shared),
    }
    run(model, data, own, 2)  # warm-up
    seconds = {name: [] for name in modes}
    centers = {}
    for _ in range(args.rounds):
        for name, (chosen, values) in modes.items():
            per_update, centers[name] = run(chosen, data, values, args.steps)
            seconds[name].append(per_update)
    print(
        f"rSGD on {args.model}, y = {args.replicas}, B = 20, {args.steps} updates, "
        f"{args.rounds} rounds (median s/update):"
    )
    for name, values in seconds.items():
        rounds = ", ".join(f"{v:.5f}" for v in values)
        print(f"  {name:<8} {statistics.median(values):.5f}  ({rounds})")
    ratio = statistics.median(seconds["loop"]) / statistics.median(seconds["batched"])
    paired = statistics.median(a / b for a, b in zip(seconds["loop"], seconds["batched"]))
    difference = float((centers["batched"] - centers["loop"]).abs().max())
    print(
        f"  loop / batched: {ratio:.2f}x (median of the rounds' ratios {paired:.2f}x); "
        f"centers of batched and loop differ by {difference:.2e}"
    )


if __name__ == "__main__":
    main()
