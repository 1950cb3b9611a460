"""Layer-wise proposals (``--proposal layerwise``): each update perturbs one layer, the others
fixed, and the J perturbed networks are evaluated from that layer's input activations up.

The law. At update k the layer ``l = layers[k mod L]`` (the model's layers in order, cyclically)
is the update's block ``B``; the proposals are ``x_j = x + sqrt(tau_B) e_j`` on ``B``'s
coordinates, ``e_j ~ N(0, I_{|B|})`` independent, and ``x_j = x`` elsewhere. The estimate
``m = sum_j w_j x_j / sum_j w_j`` (``log w_j = -beta f(x_j)``) is then the self-normalised IS
estimate of ``E_{q_B}[X]`` with

    ``q_B(x') ∝ exp(-beta f(x') - |x'_B - x_B|^2 / (2 tau_B))  delta(x'_{-B} - x_{-B})``,

the tilted measure of the block with the rest fixed: the partial local entropy of Musso
("Partial local entropy and anisotropy in deep weight spaces", 2021, section 3) with ``tau -> 0``
outside ``B``, i.e. the law of the literal update (García Trillos, Kaplan, Sanz-Alonso,
Algorithm 4) with ``tau`` zero off the block. Off the block ``m = x`` exactly, so
``g = (x - m) / tau`` is zero there and the outer step moves only ``B`` (block-coordinate
descent on the local entropy, one layer per update).

What it saves. Block ``b`` draws ``rows x |B|`` numbers (not ``rows x d``) from the stream
``(seed, IS_NOISE, step, b)``, and where the model splits (``models.split_forward``: an
``nn.Sequential`` of layers, the CNNs and dense nets of the zoo) the forward pass of the J
networks starts from the activations ``a_B`` of the centre below ``B``, computed once per
update (DeepZero's feature reuse, Chen et al., ICLR 2024); elsewhere the full vectors are
formed and evaluated whole (the same losses). The weighted sums, blocks, ranks, ``beta``
search and batch-means variance are those of ``sampler.estimators.importance_sampling``, over
the block's coordinates; the variance is 0 off the block.
"""

from __future__ import annotations

import torch

from sampler.estimators.draws import Drawn, Reused, offsets_of
from sampler.models import streams


def block_of(model, step: int) -> str:
    """The layer update ``step`` perturbs: the model's layers cyclically, in order."""
    names = list(model.layers)
    return names[step % len(names)]


class LayerWise:
    """One layer per update, the rest fixed; the forward from the layer's input activations."""

    name = "layerwise"

    def __init__(self) -> None:
        self._points = Reused()

    def prepare(self, key, center: torch.Tensor, tau, problem) -> None:
        model = getattr(problem, "model", None)
        if model is None or not getattr(model, "layers", None):
            raise ValueError("--proposal layerwise: needs a model with named layers")
        self.layer = block_of(model, key.step)
        self.part = model.layers[self.layer]
        scale = torch.sqrt(torch.as_tensor(tau, dtype=center.dtype, device=center.device))
        self.scale = scale if scale.dim() == 0 else scale[self.part]
        self.center = center
        self.dim = self.part.stop - self.part.start
        split = getattr(model, "split_layers", None)
        self.activations = None
        if split and self.layer in split and hasattr(problem, "layer_input"):
            self.activations = problem.layer_input(center, self.layer)

    def start(self, sums) -> None:
        """A new pass over the blocks: nothing beside the plain sums."""

    def numbers_per_sample(self) -> float:
        return float(self.dim)

    def bytes_per_sample(self) -> int:
        return 8 * self.dim

    def draw(self, key, blocks, block_size: int, center: torch.Tensor) -> Drawn:
        offsets = offsets_of(blocks)
        total = offsets[-1] + blocks[-1][1]
        buffer = self._points.get(max(total, block_size), (self.dim,), center)
        for (block, rows), offset in zip(blocks, offsets):
            generator = streams.torch_generator(
                key.seed, streams.IS_NOISE, key.step, block, center.device
            )
            buffer[offset : offset + rows].normal_(generator=generator)
        points = buffer[:total].mul_(self.scale).add_(center[self.part])
        return Drawn(blocks, offsets, points)

    def full_points(self, drawn: Drawn) -> torch.Tensor:
        """The J vectors ``x_j`` ``[rows, d]``: the centre with the block's rows in place."""
        full = self.center.expand(drawn.points.shape[0], -1).clone()
        full[:, self.part] = drawn.points
        return full

    def losses(self, drawn: Drawn, problem) -> torch.Tensor:
        if self.activations is None:
            return problem.losses(self.full_points(drawn)).to(torch.float64)
        values = problem.losses_from_layer(self.layer, drawn.points, self.center, self.activations)
        return values.to(torch.float64)

    def weighted(self, drawn: Drawn, i: int):
        offset, rows = drawn.offsets[i], drawn.blocks[i][1]
        return drawn.points[offset : offset + rows]

    def finish(self, key, estimate, center, tau, comm) -> tuple[torch.Tensor, torch.Tensor]:
        """The block's target in place in the centre; variance 0 off the block."""
        target = center.to(torch.float64).clone()
        target[self.part] = estimate.target.to(target.device)
        variance = torch.zeros_like(target)
        variance[self.part] = estimate.variance.to(target.device)
        return target, variance
