"""Counter-based random streams: every draw is a pure function of (seed, stream, step, index).

A stream key ``(seed, stream, step, index)`` is turned into a 63-bit seed with
``numpy.random.SeedSequence(seed, spawn_key=(stream, step, index))`` (a hash of the whole key,
so neighbouring keys give unrelated streams). Nothing here touches a global generator, so a run
needs no RNG state in its checkpoint and any piece of work can be recomputed anywhere, on any
rank, in any order.
"""

from __future__ import annotations

import numpy as np
import torch

# Stream identifiers. New streams get new numbers; existing numbers never change meaning.
INIT = 0  # parameter initialisation
DATA = 1  # minibatch order (one permutation per epoch)
SPLIT = 2  # train/test split and synthetic data sets
BATCH_STREAMS = 3  # further minibatch orders (index = stream number >= 1), one per (epoch, stream)
REPLICA_INIT = 4  # initialisation seeds of the replicas of Replicated-SGD (index = replica)
IS_NOISE = 10  # importance-sampling proposals, one stream per (step, block)
SGLD_NOISE = 11
RM_NOISE = 12
ESGD_NOISE = 13  # Entropy-SGD's Langevin noise, one stream per (outer step, inner step)
PERTURBATION = 14  # PLA/PLEA perturbations, one stream per step
IS_MARGINAL_NOISE = 15  # marginalised importance sampling: first-layer products, per (step, block)
IS_RESIDUAL = 16  # marginalised importance sampling: the first layer's residual, one per step
BP_MESSAGES = 17  # focusing BP's initial messages
IS_LAYER_CHOICE = 21  # layer-wise importance sampling by size: the update's layer, one per step
EVOTORCH = 22  # the generator of an EvoTorch searcher (--baseline evotorch:NAME), one per step
RM_MARGINAL_NOISE = 23  # rm-stein --proposal marginal: one pair's first-layer products and rest
# probes of a trained point (sampler.flatness); numbers kept apart from the training streams
PROBE_SET = 40  # the training examples a probe evaluates on
LOCAL_ENERGY_NOISE = 41  # multiplicative weight noise z, one stream per noise sample
LOCAL_ENTROPY_PROBE = 42  # importance-sampling proposals of the F_tau probe, one per tau
HESSIAN_START = 43  # the start vector of the Lanczos iteration


def stream_seed(seed: int, stream: int, step: int = 0, index: int = 0) -> int:
    """A 63-bit integer seed, a pure function of the key."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    sequence = np.random.SeedSequence(seed, spawn_key=(stream, step, index))
    return int(sequence.generate_state(1, np.uint64)[0]) & ((1 << 63) - 1)


def numpy_generator(seed: int, stream: int, step: int = 0, index: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(stream_seed(seed, stream, step, index)))


def torch_generator(
    seed: int, stream: int, step: int = 0, index: int = 0, device: str | torch.device = "cpu"
) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(stream_seed(seed, stream, step, index))
    return generator
