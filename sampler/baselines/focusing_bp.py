"""Focusing belief propagation (fBP) for the tree committee machine and the perceptron with
binary weights: Baldassi, Ingrosso, Lucibello, Saglietti and Zecchina, "Unreasonable
effectiveness of learning neural networks" (PNAS 2016, Eq. 13 and SI, focusing BP) and Baldassi,
Pittorino and Zecchina (PNAS 2020, section "BP and fBP" and Materials and Methods).

BP (``sampler.baselines.belief_propagation``) on the whole training set, with y replicas of each
weight coupled to a center: summed out, they add to weight i the self-interaction field

    H_i = atanh( tanh(gamma) tanh( (y - 1) atanh( tanh(gamma) tanh(c_i) ) ) ),

``c_i = sum_mu u[mu, i]`` the field of the patterns on w_i (its cavity field with respect to the
focusing factor), recomputed at every iteration. The coupling gamma is annealed: update k of the
run is stage k, ``gamma_k = gamma_start (gamma_end / gamma_start)^(k / (S - 1))`` (S stages;
the paper: 0.5 to 30, exponential, 30 stages, y = 10), BP iterated at that gamma until no message
moves more than ``--bp-tol`` or for ``--bp-iterations`` (200) iterations, damped by ``--damping``.
The run's parameters are the signs of the marginals, ``w_i = sign(m_i)`` (±1; +1 where m_i = 0).

Stopping: after every stage, as soon as the signs classify every training pattern correctly
(the solver's criterion of the 2016 paper; for binary weights the replicas then sit on one
configuration) the trainer reports ``stop``; so it does, with the stages BP failed to converge
in, once the S stages are spent without a solution (the run ends with its errors counted). Messages
that become non-finite stop the run with an error naming ``--damping``.

Weights: binary (±1) by default, as the public references, because the BP factor then only needs
the means ``m`` and variances ``1 - m^2`` of the weights (a closed form), solutions can be
enumerated to test it exactly, and the local-entropy probe (``sampler flatness``) counts binary
solutions at a Hamming distance. ``--bp-weights continuous``: the 2020 paper's continuous
(spherical) weights, Gaussian messages and a Gaussian focusing field
(``sampler.baselines.continuous_focusing``); the parameters are then the marginal means. The
initial messages are small random fields (standard deviation 0.01) from the seed's own stream, so
the symmetric point m = 0 is left.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from sampler.baselines.base import BaselineSpec, RunContext
from sampler.baselines.belief_propagation import TreeCommitteeBP, converge
from sampler.baselines.continuous_focusing import FocusedGaussianBP, initial_state, stage
from sampler.models import Model, streams
from sampler.models.committee import Committee
from sampler.models.naming import setting
from sampler.models.options import Option, OptionError, at_least, within
from sampler.models.perceptron import Perceptron
from sampler.mpi import Comm
from sampler.problem import Problem

EDGE = 1.0 - 1e-7  # atanh's argument kept inside (-1, 1) (float32 messages)


def focusing_field(c: torch.Tensor, gamma: float, replicas: int) -> torch.Tensor:
    """``H_i`` above, for the pattern fields ``c [N]``."""
    t = math.tanh(gamma)
    inner = (replicas - 1) * torch.atanh((t * torch.tanh(c)).clamp(-EDGE, EDGE))
    return torch.atanh((t * torch.tanh(inner)).clamp(-EDGE, EDGE))


def committee_units(model: Model | None) -> int:
    if isinstance(model, Committee) and model.tree:
        return model.hidden
    if isinstance(model, Perceptron):
        return 1
    raise ValueError(
        f"{setting('baseline', 'fbp')}: needs --model committee (tree-like) or perceptron, "
        f"got {type(model).__name__}"
    )


class FocusingBP:
    objective = "local-entropy"

    def __init__(self, values: dict[str, Any], run: RunContext) -> None:
        if run.train is None:
            raise ValueError(f"{setting('baseline', 'fbp')}: needs the run's whole training set")
        units = committee_units(run.model)
        y = 2.0 * run.train.targets.double() - 1.0
        xi = run.train.inputs.reshape(len(y), -1)
        self.continuous = values["bp_weights"] == "continuous"
        if self.continuous:
            self.bp = FocusedGaussianBP(xi, y, units)
        else:
            self.bp = TreeCommitteeBP(xi, y, units, dtype=torch.float32)
        self.values, self.seed = values, run.seed

    def gamma(self, stage: int) -> float:
        v, last = self.values, max(self.values["stages"] - 1, 1)
        ratio = v["gamma_end"] / v["gamma_start"]
        return v["gamma_start"] * ratio ** (min(stage, last) / last)

    def init(self, params: torch.Tensor) -> dict:
        g = streams.torch_generator(self.seed, streams.BP_MESSAGES)
        if self.continuous:
            return initial_state(self.bp, g)
        shape = self.bp.xi.shape[0], self.bp.k * self.bp.n
        u = 0.01 * torch.randn(shape, generator=g, dtype=torch.float32)
        return {"messages": u.to(params.device), "unconverged": []}

    def step(self, step: int, params, state, problem: Problem, comm: Comm):
        v, gamma = self.values, self.gamma(step)
        if self.continuous:
            state, iterations, converged, means = stage(self.bp, state, gamma, v)
            if not bool(torch.isfinite(means).all()):
                raise self.diverged(step)
            return self.finish(step, means.to(params.dtype), state, iterations, converged, problem)

        def fields(u: torch.Tensor) -> torch.Tensor:
            return focusing_field(u.sum(0), gamma, v["replicas"])

        u, iterations, converged = converge(
            self.bp, state["messages"], fields, v["damping"], v["bp_tol"], v["bp_iterations"]
        )
        if not bool(torch.isfinite(u).all()):
            raise self.diverged(step)
        m = self.bp.marginals(u, fields(u))
        w = torch.where(m >= 0, 1.0, -1.0).to(params.dtype)
        state = {"messages": u, "unconverged": state["unconverged"]}
        return self.finish(step, w, state, iterations, converged, problem)

    def diverged(self, step: int) -> ValueError:
        return ValueError(
            f"{setting('baseline', 'fbp')}: the BP messages became non-finite at stage "
            f"{step + 1}; raise {setting('damping')}"
        )

    def finish(self, step: int, w, state: dict, iterations: int, converged: bool, problem):
        """The update's weights, state and record: stop at a solution or after the stages."""
        v, gamma = self.values, self.gamma(step)
        errors = self.bp.errors(w)
        unconverged = state["unconverged"] + ([] if converged else [step + 1])
        record: dict[str, Any] = {"gamma": gamma, "bp_iterations": iterations}
        record.update(converged=int(converged), train_errors=errors)
        if errors == 0:
            record["stop"] = f"a solution at stage {step + 1}"
        elif step + 1 >= v["stages"]:
            record["stop"] = (
                f"no solution after {v['stages']} stages (BP did not converge at stages "
                f"{unconverged or 'none'})"
            )
        # cost in the loop's unit (a forward pass over one minibatch): each BP iteration is a
        # pass over the whole training set
        passes = iterations * -(-len(self.bp.y) // problem.batch_size)
        record.update(loss_evals=passes, grad_evals=0, examples_seen=len(self.bp.y))
        return w, dict(state, unconverged=unconverged), record


OPTIONS = {
    "replicas": Option(
        "int", 10, "y: replicas of the focusing interaction (paper: 10)", check=at_least(1)
    ),
    "gamma_start": Option(
        "float", 0.5, "coupling at the first stage (paper: 0.5)", check=at_least(1e-6)
    ),
    "gamma_end": Option(
        "float", 30.0, "coupling at the last stage (paper: 30)", check=at_least(1e-6)
    ),
    "stages": Option(
        "int", 30, "S: annealing stages, one per update (paper: 30)", check=at_least(1)
    ),
    "bp_iterations": Option(
        "int", 200, "BP iterations per stage at most (paper: 200)", check=at_least(1)
    ),
    "bp_tol": Option(
        "float", 1e-4, "a stage has converged when no tanh(message) moves more", check=at_least(0.0)
    ),
    "damping": Option("float", 0.5, "u <- d u_old + (1 - d) u_new", check=within(0.0, 1.0)),
    "bp_weights": Option(
        "str",
        "binary",
        "binary (±1, the 2016 paper's) or continuous (each unit on its sphere, Gaussian "
        "messages, the 2020 paper's; bp-tol then bounds the marginal means' moves)",
        choices=("binary", "continuous"),
    ),
}


def check(values: dict[str, Any], steps: int) -> None:
    if values["gamma_end"] < values["gamma_start"]:
        raise OptionError(
            f"{setting('gamma_end')}: must be at least {setting('gamma_start')} "
            f"({values['gamma_start']:g}), got {values['gamma_end']:g}"
        )


def build(values: dict[str, Any], run: RunContext | None = None) -> FocusingBP:
    return FocusingBP(values, run or RunContext())


SPEC = BaselineSpec(
    build=build,
    summary="focusing BP: BP on the training set with y-replica self-interactions, annealed",
    options=OPTIONS,
    check=check,
    objective="local-entropy",
)
