"""Where it runs: communicator (MPI or serial), device per rank, threads per process,
collectives.

``mpi`` knows nothing of ``sampler`` or ``models``.
"""

from sampler.mpi.comm import Comm, MPIComm, SerialComm, world_comm
from sampler.mpi.device import rank_device
from sampler.mpi.threads import set_threads

__all__ = ["Comm", "MPIComm", "SerialComm", "rank_device", "set_threads", "world_comm"]
