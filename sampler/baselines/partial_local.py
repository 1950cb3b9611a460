"""Musso's partial local losses PLA and PLEA (D. Musso, "Partial local entropy and anisotropy in
deep weight spaces", Phys. Rev. E 103, 042303, 2021), minimised by SGD.

At update t, y perturbations ``dW^a`` are drawn uniform in the hypercube ``[-R, R]`` on the
coordinates of the chosen layers (zero on the others), from the stream (seed, PERTURBATION, t).
With ``L_0 = L(W)`` and ``L_a = L(W + dW^a)`` on the step's minibatch::

    PLA   = (1/(1+y)) [L_0 + sum_a L_a]
    PLEA  = -log( (1/(1+y)) [exp(-L_0) + sum_a exp(-L_a)] )

PLA is a Monte Carlo local average of the loss (heat regularisation with a uniform kernel, the
center kept in the average), PLEA a Monte Carlo local entropy. Both gradients are weighted sums
``sum_j p_j grad L_j`` with ``p_j = 1/(1+y)`` (PLA) or ``p = softmax(-L)`` (PLEA), all 1 + y
networks evaluated in one batched ``loss_and_grad`` on ``[1 + y, d]``. The sums are taken as
``L_0 + sum_a p_a (L_a - L_0)`` (likewise for the gradient), equal in exact arithmetic and exactly
SGD's gradient when ``R = 0``. The step is SGD's (optionally heavy-ball / Nesterov momentum).
Every rank runs the same update (nothing to combine).

Defaults (ours, not the paper's): y = 4, R = 0.02 (about half the initial weight scale
1/sqrt(784) of the mlp's first layer) on all layers, lr = 0.05, chosen among a few values by
accuracy on the embedded MNIST's own 1,000-image validation split (docs: backprop baselines).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from sampler.baselines.base import BaselineSpec, RunContext
from sampler.baselines.optimizer_options import check_optimizer, optimizer_options
from sampler.models import streams
from sampler.models.naming import setting
from sampler.models.options import Option, at_least
from sampler.mpi import Comm
from sampler.problem import Problem
from sampler.schedules import Schedule
from sampler.scheme.optimizers import momentum_step

ALL_LAYERS = "all"


def perturbations(
    seed: int, step: int, count: int, radius: float, slices: list[slice], like: torch.Tensor
) -> torch.Tensor:
    """``[count, d]``: uniform in ``[-radius, radius]`` on ``slices`` (in their order), else 0."""
    generator = streams.torch_generator(seed, streams.PERTURBATION, step, 0, like.device)
    noise = torch.zeros(count, like.shape[-1], device=like.device, dtype=like.dtype)
    for part in slices:
        width = part.stop - part.start
        draw = torch.rand(count, width, generator=generator, device=like.device, dtype=like.dtype)
        noise[:, part] = (2.0 * draw - 1.0) * radius
    return noise


def combine(losses: torch.Tensor, grads: torch.Tensor, entropic: bool):
    """``losses: [1 + y]``, ``grads: [1 + y, d]`` (row 0 the unperturbed network) -> the PLA or
    PLEA loss (float) and its gradient ``[d]``."""
    shifted = (losses - losses[0]).double()  # L_j - L_0
    count = losses.shape[0]
    if entropic:
        weights = torch.softmax(-shifted, dim=0)
        loss = float(losses[0]) - float(torch.logsumexp(-shifted, dim=0) - math.log(count))
    else:
        weights = torch.full_like(shifted, 1.0 / count)
        loss = float(losses[0]) + float((weights * shifted).sum())
    weights = weights[1:].to(grads.dtype).unsqueeze(1)
    gradient = grads[0] + (weights * (grads[1:] - grads[0])).sum(dim=0)
    return loss, gradient


class PartialLocalSGD:
    def __init__(
        self,
        entropic: bool,
        lr: Schedule,
        count: int,
        radius: float,
        slices: list[slice] | None,
        seed: int = 0,
        momentum: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        self.entropic = entropic
        self.objective = "partial-local-entropy" if entropic else "partial-local-average"
        self.lr = lr
        self.count = count
        self.radius = radius
        self.slices = slices  # None: every coordinate
        self.seed = seed
        self.optimizer = momentum_step(momentum, nesterov)

    def init(self, params: torch.Tensor) -> dict:
        return self.optimizer.init(params)

    def loss_and_grad(self, step: int, params: torch.Tensor, problem) -> tuple[float, torch.Tensor]:
        """The PLA/PLEA loss of update ``step`` at ``params: [d]`` and its gradient ``[d]``."""
        slices = self.slices or [slice(0, params.shape[0])]
        noise = perturbations(self.seed, step, self.count, self.radius, slices, params)
        points = torch.cat([params.unsqueeze(0), params.unsqueeze(0) + noise])
        losses, grads = problem.loss_and_grad(points)
        return combine(losses, grads, self.entropic)

    def step(self, step: int, params, state, problem: Problem, comm: Comm):
        loss, gradient = self.loss_and_grad(step, params, problem)
        lr = self.lr(step)
        new_params, state = self.optimizer.update(params, gradient, lr, state)
        record = {
            "lr": lr,
            ("plea_loss" if self.entropic else "pla_loss"): loss,
            "loss_evals": 0,
            "grad_evals": 1 + self.count,
            "examples_seen": problem.batch_size,
        }
        return new_params, state, record


def _layers_check(value: Any) -> str:
    names = [part.strip() for part in str(value).split(",") if part.strip()]
    if not names:
        raise ValueError(f"'{ALL_LAYERS}' or comma-separated layer names (see: sampler models)")
    return ",".join(names)


OPTIONS = {
    **optimizer_options("0.05", "learning rate", "heavy-ball momentum mu"),
    "perturbations": Option("int", 4, "y: perturbed networks per update", check=at_least(1)),
    "radius": Option(
        "float", 0.02, "R: perturbations uniform in [-R, R] per coordinate", check=at_least(0)
    ),
    "layers": Option(
        "any",
        ALL_LAYERS,
        "the layers perturbed: 'all' or names, e.g. fc0,fc1 (see: sampler models)",
        check=_layers_check,
        label="layers",
    ),
}


def check(values: dict[str, Any], steps: int) -> None:
    check_optimizer(values, steps)


def layer_slices(layers: str, model) -> list[slice] | None:
    """The slices of the chosen layers (None: all); ``ValueError`` naming an unknown one."""
    if layers == ALL_LAYERS:
        return None
    names = layers.split(",")
    known = dict(model.layers) if model is not None else {}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"{setting('layers')}: unknown layer(s) {', '.join(unknown)}; the model's layers: "
            + ", ".join(known)
        )
    return [known[name] for name in names]


def _builder(entropic: bool):
    def build(values: dict[str, Any], run: RunContext | None = None) -> PartialLocalSGD:
        run = run or RunContext()
        return PartialLocalSGD(
            entropic,
            values["lr"],
            values["perturbations"],
            values["radius"],
            layer_slices(values["layers"], run.model),
            run.seed,
            values["momentum"],
            values["nesterov"],
        )

    return build


PLA_SPEC = BaselineSpec(
    build=_builder(False),
    summary="Musso's PLA: SGD on the loss averaged over y uniform perturbations of chosen layers",
    options=OPTIONS,
    check=check,
    objective="partial-local-average",
)
PLEA_SPEC = BaselineSpec(
    build=_builder(True),
    summary="Musso's PLEA: SGD on -log of the mean exp(-loss) over y uniform perturbations",
    options=OPTIONS,
    check=check,
    objective="partial-local-entropy",
)
