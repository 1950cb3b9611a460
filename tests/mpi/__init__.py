"""Tests of ``sampler.mpi``: real MPI jobs, their faults, and threads per process."""
