"""An in-process stand-in for an R-rank MPI job: R threads, collectives through a barrier.

Sums are taken in rank order in float64, as MPI would (up to its reduction order), so a test
can check that an estimator gives the same numbers on 1, 2 or 3 "ranks".
"""

from __future__ import annotations

import threading
from typing import Any

import torch


class _Group:
    def __init__(self, size: int) -> None:
        self.size = size
        self.barrier = threading.Barrier(size, timeout=60)
        self.slots: list[Any] = [None] * size


class ThreadComm:
    def __init__(self, group: _Group, rank: int) -> None:
        self._group = group
        self.rank = rank
        self.size = group.size
        self.local_rank = rank

    def _exchange(self, value: Any) -> list[Any]:
        self._group.slots[self.rank] = value
        self._group.barrier.wait()
        values = list(self._group.slots)
        self._group.barrier.wait()
        return values

    def allreduce_sum(self, values: torch.Tensor) -> torch.Tensor:
        parts = self._exchange(values.detach().to("cpu", torch.float64).clone())
        total = parts[0].clone()
        for part in parts[1:]:
            total += part
        return total.to(values.device)

    def allreduce_max(self, values: torch.Tensor) -> torch.Tensor:
        parts = self._exchange(values.detach().to("cpu", torch.float64).clone())
        return torch.stack(parts).amax(dim=0).to(values.device)

    def allgather(self, obj: Any) -> list[Any]:
        return self._exchange(obj)

    def allgather_rows(
        self, values: torch.Tensor, counts: list[int], out: torch.Tensor
    ) -> torch.Tensor:
        parts = self._exchange(values.detach().to("cpu", torch.float64).clone())
        return out.copy_(torch.cat(parts))

    def bcast(self, obj: Any, root: int = 0) -> Any:
        return self._exchange(obj)[root]

    def barrier(self) -> None:
        self._group.barrier.wait()

    def abort(self, code: int = 1) -> None:
        self._group.barrier.abort()


def run_on_ranks(size: int, function) -> list[Any]:
    """``function(comm)`` on ``size`` threads; returns the results in rank order."""
    group = _Group(size)
    results: list[Any] = [None] * size
    errors: list[BaseException] = []

    def work(rank: int) -> None:
        try:
            results[rank] = function(ThreadComm(group, rank))
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller
            errors.append(error)
            group.barrier.abort()

    threads = [threading.Thread(target=work, args=(rank,)) for rank in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
