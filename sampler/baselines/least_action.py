"""Least-action learning (LAL), the minimum-change rule for committee machines with sign units
and the number-of-errors loss (Baldassi, Pittorino and Zecchina, "Shaping the learning landscape
in neural networks around wide flat minima", PNAS 2020, section "LAL and eLAL" and Materials and
Methods; after Mitchison and Durbin 1989 and Nilsson 1965), minibatched as in the paper.

The network: K units ``h_u = w_u . xi_u`` (``models.committee``: tree-like, unit u reads its own
block of the input, or fully connected; ``models.perceptron``: one unit, K = 1), output
``sigma = sign(sum_u sign(h_u))``. One update on a minibatch: the fields of every pattern are
computed once at the update's weights; for each pattern mu with a wrong output
(``y_mu sum_u sign(h_u) <= 0``), among the units with a wrong sign (``y_mu h_u <= 0``) the one
closest to its threshold (smallest ``|h_u| / |w_u|``) is chosen, ``u(mu)``, and gets the
perceptron rule. Applied for each pattern in turn with the fields computed beforehand, the
updates add up::

    w_u <- normalise(w_u / |w_u| + eta sum_{mu: u(mu) = u} y_mu xi_mu^u),

every unit kept at unit norm (``normalise(v) = v / |v|``; the loss is invariant under this
per-unit rescaling, which fixes what ``eta`` means). With K = 1 this is the minibatch perceptron
rule. Correct patterns change nothing.

Stopping rule (the paper's: zero training errors): an update whose minibatch had no wrong output
changes no weight, so an epoch of such updates (the minibatch stream's permutation of the
training set, ``floor(P / B)`` updates) proves every pattern it visited is classified correctly
at the final weights; the trainer then reports ``stop`` and the run loop ends the run there.
With ``B`` not dividing ``P`` the ``P mod B`` patterns an epoch leaves out are not checked (the
run's final evaluation counts them; on ``random-patterns`` the test set is the training set).

Defaults: ``eta = 5e-3``, minibatches of 100 (``--batch-size``), the paper's random-pattern
settings; the initialisation is the model's (Gaussian, so each unit's direction is uniform),
normalised per unit at the first update.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from sampler.baselines.base import BaselineSpec, RunContext
from sampler.models import Batch, Model
from sampler.models.committee import Committee
from sampler.models.naming import setting
from sampler.models.options import Option, OptionError
from sampler.models.perceptron import Perceptron
from sampler.mpi import Comm
from sampler.problem import Problem
from sampler.schedules import Schedule, check_range, schedule_check


class Units(NamedTuple):
    """The sign units of a model: ``count`` units of ``fan_in`` weights each (unit u is
    ``params[u * fan_in : (u + 1) * fan_in]``); ``tree``: unit u reads input block u, else the
    whole input."""

    count: int
    fan_in: int
    tree: bool


def sign_units(model: Model | None, method: str) -> Units:
    """The units of a committee machine or a perceptron; ``ValueError`` naming the method else."""
    if isinstance(model, Committee):
        return Units(model.hidden, model.fan_in, model.tree)
    if isinstance(model, Perceptron):
        return Units(1, model.num_params, True)
    raise ValueError(
        f"{setting('baseline', method)}: needs a network of sign units, --model committee or "
        f"perceptron, got {type(model).__name__}"
    )


def unit_norms(params: torch.Tensor, units: Units) -> torch.Tensor:
    """``params: [..., d] -> [..., K]``: the norm of each unit's weights."""
    return params.reshape(*params.shape[:-1], units.count, units.fan_in).norm(dim=-1)


def normalise(params: torch.Tensor, units: Units) -> torch.Tensor:
    """``[..., d]``: every unit's weights divided by their norm."""
    shaped = params.reshape(*params.shape[:-1], units.count, units.fan_in)
    return (shaped / shaped.norm(dim=-1, keepdim=True)).reshape(params.shape)


def unit_inputs(inputs: torch.Tensor, units: Units) -> torch.Tensor:
    """``[B, ...] -> [B, K, n]``: the input each unit reads."""
    flat = inputs.reshape(inputs.shape[0], -1)
    if units.tree:
        return flat.reshape(flat.shape[0], units.count, units.fan_in)
    return flat.unsqueeze(1).expand(flat.shape[0], units.count, units.fan_in)


def signed(targets: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return (2 * targets - 1).to(dtype)


def lal_update(w: torch.Tensor, batch: Batch, eta: float, units: Units):
    """One LAL update of the unit-norm weights ``w: [d]`` on ``batch``: ``(new w, wrong
    outputs)``, the rule of the module docstring."""
    xi = unit_inputs(batch.inputs, units).to(w.dtype)  # [B, K, n]
    y = signed(batch.targets, w.dtype)  # [B]
    weights = w.reshape(units.count, units.fan_in)
    h = torch.einsum("bkn,kn->bk", xi, weights)  # unit norm: h is the normalised field
    wrong_units = y.unsqueeze(1) * h <= 0  # [B, K]
    wrong = y * torch.sign(h).sum(dim=1) <= 0  # [B]
    errors = int(wrong.sum())
    if errors == 0:
        return w, 0
    distance = torch.where(wrong_units, h.abs(), torch.full_like(h, torch.inf))
    chosen = distance.argmin(dim=1)  # the wrong unit closest to its threshold
    select = torch.zeros_like(h)
    select[wrong.nonzero().squeeze(1), chosen[wrong]] = 1.0
    delta = torch.einsum("bk,b,bkn->kn", select, y, xi)  # sum over the chosen patterns
    return normalise(w + eta * delta.reshape(-1), units), errors


class CleanEpochs:
    """The zero-errors stopping rule: whether every update of an epoch (``floor(P / B)``
    updates of the step's minibatch stream) met no wrong output."""

    def __init__(self, per_epoch: int) -> None:
        self.per_epoch = max(1, per_epoch)

    def done(self, step: int, clean_since: int) -> bool:
        """``clean_since``: the first update of the current run of error-free updates."""
        start = -(-clean_since // self.per_epoch) * self.per_epoch  # its first whole epoch
        return step + 1 >= start + self.per_epoch


def per_epoch(problem: Problem) -> int:
    size = problem.train_size or problem.batch_size
    return max(1, size // problem.batch_size)


class LeastAction:
    """LAL as a trainer: the state is the first update of the current error-free stretch."""

    objective = "errors"

    def __init__(self, lr: Schedule, model: Model | None) -> None:
        self.lr = lr
        self.units = sign_units(model, "lal")

    def init(self, params: torch.Tensor) -> dict:
        return {"clean_since": 0}

    def step(self, step: int, params, state, problem: Problem, comm: Comm):
        lr = self.lr(step)
        w, errors = lal_update(normalise(params, self.units), problem.minibatch(0), lr, self.units)
        clean_since = state["clean_since"] if errors == 0 else step + 1
        record: dict[str, Any] = {"lr": lr, "batch_errors": errors}
        if CleanEpochs(per_epoch(problem)).done(step, clean_since):
            record["stop"] = "zero training errors (an epoch without a wrong output)"
        record.update(loss_evals=1, grad_evals=0, examples_seen=problem.batch_size)
        return w, {"clean_since": clean_since}, record


def lr_option(default: str) -> Option:
    return Option(
        "any",
        default,
        "eta: the perceptron rule's learning rate (units at norm 1); a number or a schedule",
        check=schedule_check("--lr"),
        label="schedule",
    )


def check_lr(values: dict[str, Any], steps: int) -> None:
    try:
        check_range(values["lr"], "--lr", steps)
    except ValueError as error:
        raise OptionError(str(error)) from None


def build(values: dict[str, Any], run: RunContext | None = None) -> LeastAction:
    run = run or RunContext()
    return LeastAction(values["lr"], run.model)


SPEC = BaselineSpec(
    build=build,
    summary="least-action learning: the minimum-change perceptron rule of sign-unit committees",
    options={"lr": lr_option("0.005")},
    check=check_lr,
    objective="errors",
)
