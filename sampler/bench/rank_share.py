"""What one of R ranks computes in an importance-sampling update, timed in one process.

The estimator's step runs with ``ShareComm``: a communicator that says "rank 0 of R" and whose
collectives hand back the rank's own values (``sampler.mpi.comm``'s protocol), so the rank
draws and weighs only its blocks (``b = 0, R, 2R, ...``) and then does everything an update
does once per rank: the proposal's setup (the minibatch's QR, the products ``X W^T``), the
finish of the merged sums (for the marginalised scheme the first layer's residual ``Z (I - Q
Q^T)`` and its variance). The numbers it produces are not the update's (nothing is summed over
ranks); its time is one rank's work. Timed beside the whole update on one rank, ``T_1 / (R
T_share)`` is the efficiency R ranks would reach if communicating and waiting cost nothing: what
keeps it below 1 is the work that every rank repeats (Amdahl's serial fraction). Unlike the
1-against-R runs under ``mpiexec`` (``sampler.bench.timed_runs``) it needs no free core per
rank, so a loaded machine measures it as well as an idle one. Only the grid's single pass
(``--beta-search grid``, the default) is timed so: ``two-pass`` gathers the losses of every
rank.
"""

from __future__ import annotations

from typing import Any

import torch

from sampler.bench.workloads import TAU, Workload, default_is, reference_problem
from sampler.estimators import StepKey
from sampler.mpi import SerialComm


class ShareComm(SerialComm):
    """Rank ``rank`` of ``size`` with every collective the identity (timing one rank's work)."""

    def __init__(self, rank: int, size: int) -> None:
        self.rank, self.size = rank, size
        self.local_rank, self.local_size = rank, size

    def allgather(self, obj: Any) -> list[Any]:
        raise NotImplementedError("ShareComm times the grid's single pass only")

    def allgather_rows(
        self, values: torch.Tensor, counts: list[int], out: torch.Tensor
    ) -> torch.Tensor:
        """This rank's rows in their place (the others' as they were: not this rank's work)."""
        start = sum(counts[: self.rank])
        out[start : start + values.shape[0]] = values
        return out


def share_workload(model_name: str, samples: int, ranks: int, device=None) -> Workload:
    """``share of R ranks, is defaults``: rank 0's share of the default update (J = ``samples``)
    on ``model_name``'s reference problem, the same as the ``is defaults`` workload's."""
    device = device or torch.device("cpu")
    model, problem = reference_problem(model_name, device)
    center = model.init_params(0).to(device)
    tau = torch.tensor(TAU, device=device)
    estimator = default_is(samples)

    def share(round_: int) -> None:
        estimator.step(StepKey(0, round_), {}, center, tau, problem, ShareComm(0, ranks))

    return Workload(f"share of {ranks} ranks, is defaults", share)


def share_row(model: str, workloads: list[Workload], ranks: int) -> dict:
    """``T_1 / (R T_share)`` of the ``is defaults`` workload and its share."""
    by_name = {w.name: w for w in workloads}
    one, part = by_name["is defaults"], by_name[f"share of {ranks} ranks, is defaults"]
    return {
        "model": model,
        "workload": f"is defaults, 1 of {ranks} ranks' work",
        "ratio": "efficiency without communication",
        "value": one.seconds() / (ranks * part.seconds()),
        "target": None,
        "met": None,
    }
