"""Where a run executes: a tiny communicator protocol with a serial and an MPI implementation.

``SerialComm`` needs no mpi4py, so ``sampler train ...`` and ``mpirun -n 4 sampler train ...``
are the same command. ``MPIComm`` wraps mpi4py's world communicator; collectives on tensors are
staged through host memory (CUDA-aware MPI is brittle across stacks) and summed in float64.
The local rank (rank among the processes of one node) comes from a shared-memory split of the
world communicator (``MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)``).

A GPU tensor goes through page-locked (pinned) float64 host buffers that are kept between
collectives (``HostStaging``): the device-to-host and host-to-device copies are then DMA
transfers, and no buffer is allocated per collective. CPU tensors are reduced in place of their
float64 numpy view, as before.
"""

from __future__ import annotations

import math
import os
from typing import Any, Protocol

import numpy as np
import torch

# Variables that MPI launchers (MPICH/Hydra, Open MPI, Slurm's PMI) set in every rank.
LAUNCHER_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


class Comm(Protocol):
    rank: int
    size: int
    local_rank: int  # rank among the processes of this node
    local_size: int  # processes on this node

    def allreduce_sum(self, values: torch.Tensor) -> torch.Tensor: ...
    def allreduce_max(self, values: torch.Tensor) -> torch.Tensor: ...
    def allgather(self, obj: Any) -> list[Any]: ...
    def allgather_rows(
        self, values: torch.Tensor, counts: list[int], out: torch.Tensor
    ) -> torch.Tensor: ...
    def bcast(self, obj: Any, root: int = 0) -> Any: ...
    def barrier(self) -> None: ...
    def abort(self, code: int = 1) -> None: ...


class SerialComm:
    """One process: every collective is the identity."""

    rank = 0
    size = 1
    local_rank = 0
    local_size = 1

    def allreduce_sum(self, values: torch.Tensor) -> torch.Tensor:
        return values.to(torch.float64)

    def allreduce_max(self, values: torch.Tensor) -> torch.Tensor:
        return values.to(torch.float64)

    def allgather(self, obj: Any) -> list[Any]:
        return [obj]

    def allgather_rows(
        self, values: torch.Tensor, counts: list[int], out: torch.Tensor
    ) -> torch.Tensor:
        """Every rank's rows ``values [counts[rank], ...]`` into ``out [sum(counts), ...]``
        (float64), in rank order."""
        return out.copy_(values)

    def bcast(self, obj: Any, root: int = 0) -> Any:
        return obj

    def barrier(self) -> None:
        pass

    def abort(self, code: int = 1) -> None:
        raise SystemExit(code)


class HostStaging:
    """Float64 host buffers for the collectives of device tensors, one send and one receive
    buffer grown to the largest size seen, page-locked where CUDA is available (``pin``).
    Copies are blocking, so a buffer is never reused while a transfer is in flight."""

    def __init__(self, pin: bool | None = None) -> None:
        self.pin = torch.cuda.is_available() if pin is None else pin
        self.buffers: dict[str, torch.Tensor] = {}

    def buffer(self, name: str, size: int) -> torch.Tensor:
        kept = self.buffers.get(name)
        if kept is None or kept.numel() < size:
            kept = torch.empty(size, dtype=torch.float64, pin_memory=self.pin)
            self.buffers[name] = kept
        return kept[:size]

    def send(self, values: torch.Tensor) -> np.ndarray:
        """``values`` (any device) as a float64 numpy array in the send buffer."""
        staged = self.buffer("send", values.numel())
        staged.copy_(values.detach().reshape(-1))
        return staged.numpy()

    def receive(self, size: int) -> np.ndarray:
        return self.buffer("receive", size).numpy()

    def back(self, like: torch.Tensor) -> torch.Tensor:
        """The receive buffer as a new tensor of ``like``'s shape on ``like``'s device."""
        received = self.buffers["receive"][: like.numel()]
        return received.to(like.device, copy=True).view(like.shape)


class MPIComm:
    """mpi4py's COMM_WORLD. Tensors go through float64 numpy buffers on the host (pinned and
    kept between collectives for GPU tensors: ``HostStaging``)."""

    def __init__(self) -> None:
        from mpi4py import MPI

        self._mpi = MPI
        self._world = MPI.COMM_WORLD
        self.rank = self._world.Get_rank()
        self.size = self._world.Get_size()
        node = self._world.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank = node.Get_rank()
        self.local_size = node.Get_size()
        node.Free()
        self._staging = HostStaging()

    def _allreduce(self, values: torch.Tensor, op) -> torch.Tensor:
        if values.device.type != "cpu":
            send = self._staging.send(values)
            self._world.Allreduce(send, self._staging.receive(send.size), op=op)
            return self._staging.back(values)
        send = np.ascontiguousarray(values.detach().to("cpu", torch.float64).numpy())
        receive = np.empty_like(send)
        self._world.Allreduce(send, receive, op=op)
        return torch.from_numpy(receive)

    def allreduce_sum(self, values: torch.Tensor) -> torch.Tensor:
        return self._allreduce(values, self._mpi.SUM)

    def allreduce_max(self, values: torch.Tensor) -> torch.Tensor:
        return self._allreduce(values, self._mpi.MAX)

    def allgather(self, obj: Any) -> list[Any]:
        return self._world.allgather(obj)

    def allgather_rows(
        self, values: torch.Tensor, counts: list[int], out: torch.Tensor
    ) -> torch.Tensor:
        """One ``Allgatherv`` of float64 rows: rank ``r``'s ``values [counts[r], ...]`` land in
        ``out`` (``[sum(counts), ...]``, float64) after the rows of ranks ``< r``; received in
        place where ``out`` is a contiguous float64 CPU tensor."""
        row = math.prod(out.shape[1:])
        send = np.ascontiguousarray(values.detach().to("cpu", torch.float64).numpy()).reshape(-1)
        in_place = out.device.type == "cpu" and out.is_contiguous() and out.dtype == torch.float64
        receive = out.numpy().reshape(-1) if in_place else np.empty(out.numel())
        sizes = [count * row for count in counts]
        offsets = [sum(sizes[:r]) for r in range(len(sizes))]
        self._world.Allgatherv(send, [receive, sizes, offsets, self._mpi.DOUBLE])
        if not in_place:
            out.copy_(torch.from_numpy(receive).view(out.shape))
        return out

    def bcast(self, obj: Any, root: int = 0) -> Any:
        return self._world.bcast(obj, root=root)

    def barrier(self) -> None:
        self._world.Barrier()

    def abort(self, code: int = 1) -> None:
        self._world.Abort(code)


def launched_by_mpi() -> bool:
    return any(os.environ.get(name) for name in LAUNCHER_VARIABLES)


def world_comm(require_mpi: bool = False) -> Comm:
    """``MPIComm`` when started by an MPI launcher (or ``require_mpi``), else ``SerialComm``.

    Started by ``mpirun`` without mpi4py installed is an error, not a silent serial run, because
    every rank would then do the whole job alone."""
    if not (require_mpi or launched_by_mpi()):
        return SerialComm()
    try:
        import mpi4py  # noqa: F401
    except ImportError as error:
        raise RuntimeError(
            "started by an MPI launcher but mpi4py is not installed: "
            "pip install 'local-entropy-sampler[mpi]'"
        ) from error
    comm = MPIComm()
    return comm if comm.size > 1 or require_mpi else SerialComm()
