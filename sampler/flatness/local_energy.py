"""Local energy with multiplicative noise (Pittorino et al. 2021, "Entropic gradient descent
algorithms and wide flat minima", ICLR, Eq. 4): how much the training loss (or error) rises
when every weight is jiggled in proportion to its own size,

    dE_train(w, sigma) = E_z E_train(w + sigma z * w) - E_train(w),    z ~ N(0, I_d)

(``*`` elementwise). Multiplicative noise makes the measure insensitive to the rescaling of a
layer's weights that leaves a ReLU network's function unchanged. Estimated by Monte Carlo over
``n`` draws ``z_k``: ``dE = (1/n) sum_k [E_train(w + sigma z_k * w) - E_train(w)]`` with standard
error ``sd_k / sqrt(n)``. The same ``z_k`` serve every sigma (common random numbers, so the
curve is smooth in sigma) and every measured quantity (loss and error). ``z_k`` comes from the
stream ``(seed, LOCAL_ENERGY_NOISE, 0, k)``; ``chunk`` draws at a time are one batched
evaluation ``[K, d] -> [K]`` (``chunk`` sets memory and speed, never the numbers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from sampler.models import streams


def local_energy(
    evaluate: Callable[[torch.Tensor], torch.Tensor],
    params: torch.Tensor,
    sigmas: Sequence[float],
    samples: int,
    seed: int,
    chunk: int = 25,
) -> list[dict[str, float]]:
    """``evaluate: [K, d] -> [K]`` (e.g. the mean training loss of K networks), ``params: [d]``.
    Returns one ``{"sigma", "local_energy", "standard_error", "samples"}`` per sigma."""
    if samples < 2:
        raise ValueError(f"local energy needs at least 2 noise samples, got {samples}")
    base = float(evaluate(params.unsqueeze(0))[0])
    rises = torch.empty(len(sigmas), samples, dtype=torch.float64)
    for first in range(0, samples, chunk):
        rows = min(chunk, samples - first)
        noise = torch.empty((rows, params.shape[0]), dtype=params.dtype, device=params.device)
        for row in range(rows):
            generator = streams.torch_generator(
                seed, streams.LOCAL_ENERGY_NOISE, 0, first + row, params.device
            )
            noise[row].normal_(generator=generator)
        scaled = noise * params  # z * w, [rows, d]
        for i, sigma in enumerate(sigmas):
            values = evaluate(params + sigma * scaled).to(torch.float64).cpu()
            rises[i, first : first + rows] = values - base
    curve = []
    for i, sigma in enumerate(sigmas):
        row = rises[i]
        curve.append(
            {
                "sigma": float(sigma),
                "local_energy": float(row.mean()),
                "standard_error": float(row.std() / math.sqrt(samples)),
                "samples": samples,
            }
        )
    return curve
