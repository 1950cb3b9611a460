"""Layer-wise proposals (``--proposal layerwise``): each update perturbs one layer, the others
fixed, and the J perturbed networks are evaluated from that layer's input activations up.

The law. At update k one layer is the update's block ``B``: ``layers[k mod L]`` (the model's
layers in order, cyclically; ``layerwise``) or, with ``layerwise-size``, layer ``l`` with
probability ``|l| / d`` (its share of the parameters) from the stream ``(seed, IS_LAYER_CHOICE,
k)``, so each coordinate is perturbed equally often and most updates go to the widest layer
(``layerwise-sqrt``: with probability ``sqrt|l| / sum_l' sqrt|l'|``, the small layers more often;
``layerwise-floor``: with probability ``f + (1 - L f) |l| / d``, i.e. with probability ``L f`` a
layer uniformly and else by size, so each of the ``L`` layers gets at least ``f = LAYER_FLOOR``
of the updates and the widest still most of them).
The proposals are ``x_j = x + sqrt(tau_B) e_j`` on ``B``'s coordinates, ``e_j ~ N(0, I_{|B|})``
independent, and ``x_j = x`` elsewhere. The estimate
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
formed and evaluated whole (the same losses). A dense block (``nn.Linear``) whose input
activations have fewer rows than it has inputs has its weight marginalised exactly given them
(``sampler.estimators.dense_block``: the products ``a W^T`` sampled, the same law). The weighted
sums, blocks, ranks, ``beta``
search and batch-means variance are those of ``sampler.estimators.importance_sampling``, over
the block's coordinates; the variance is 0 off the block.
"""

from __future__ import annotations

import torch

from sampler.estimators.dense_block import DenseBlock, applies
from sampler.estimators.draws import Drawn, Reused, offsets_of
from sampler.models import streams

LAYER_FLOOR = 0.03  # layerwise-floor: each layer's least share of the updates


def layer_weights(model, by_size: bool, power: float = 1.0, floor: float = 0.0) -> dict[str, float]:
    """Each layer's weight in the choice of an update's block: its number of parameters to the
    ``power`` (``by_size``), else 1 (cyclic: each layer equally often); with a ``floor`` ``f``
    the mixture ``f S + (1 - L f) size`` (``S`` the sum of the sizes, ``L`` the layers), so that
    each layer has at least ``f`` of the updates. A layer's share is its weight over the sum."""
    sizes = {
        layer: float(part.stop - part.start) ** power if by_size else 1.0
        for layer, part in model.layers.items()
    }
    if not floor:
        return sizes
    if not 0.0 < floor * len(sizes) <= 1.0:
        raise ValueError(f"a layer floor must lie in (0, 1 / layers], got {floor}")
    total = sum(sizes.values())
    return {layer: floor * total + (1.0 - floor * len(sizes)) * s for layer, s in sizes.items()}


def block_of(
    model, step: int, by_size: bool = False, seed: int = 0, power: float = 1.0, floor: float = 0.0
) -> str:
    """The layer update ``step`` perturbs: the model's layers cyclically, in order, or (``by_size``)
    one drawn with probability proportional to ``layer_weights`` (its number of parameters to
    the ``power``, mixed with the uniform law by ``floor``)."""
    names = list(model.layers)
    if not by_size:
        return names[step % len(names)]
    sizes = list(layer_weights(model, by_size, power, floor).values())
    u = streams.numpy_generator(seed, streams.IS_LAYER_CHOICE, step).random() * sum(sizes)
    total = 0
    for name, size in zip(names, sizes):
        total += size
        if u < total:
            return name
    return names[-1]


class LayerWise:
    """One layer per update, the rest fixed; the forward from the layer's input activations."""

    name = "layerwise"
    by_size = False
    power = 1.0  # by_size: a layer drawn in proportion to its size to this power
    floor = 0.0  # by_size: each layer's least share of the updates (layer_weights)
    paired = False

    def __init__(self, residual: str = "sample") -> None:
        self._points = Reused()
        self._dense = DenseBlock(residual)  # kept with its buffers
        self.inner: DenseBlock | None = None

    def prepare(self, key, center: torch.Tensor, tau, problem) -> None:
        model = getattr(problem, "model", None)
        if model is None or not getattr(model, "layers", None):
            raise ValueError("--proposal layerwise: needs a model with named layers")
        self.layer = block_of(model, key.step, self.by_size, key.seed, self.power, self.floor)
        self.beta_key = f"beta:{self.layer}"  # --beta auto's grid: this block's own last beta
        self.part = model.layers[self.layer]
        self.perturbed = self.part  # what the outer step's annealing and beta_eff average over
        scale = torch.sqrt(torch.as_tensor(tau, dtype=center.dtype, device=center.device))
        self.scale = scale if scale.dim() == 0 else scale[self.part]
        self.center = center
        self.dim = self.part.stop - self.part.start
        split = getattr(model, "split_layers", None)
        self.activations = None
        if split and self.layer in split and hasattr(problem, "layer_input"):
            self.activations = self.layer_input(problem, center)
        self.inner = None
        shape = None if self.paired else applies(model, self.layer, self.activations)
        if shape is not None:  # a dense block: its weight marginalised given a_l
            self.inner = self._dense
            self.inner.prepare_block(self.layer, self.part, shape, center, tau, self.activations)
            self.dim = self.inner.dim

    def layer_input(self, problem, center: torch.Tensor) -> torch.Tensor:
        """The activations below the block, once per update."""
        return problem.layer_input(center, self.layer)

    def points_mean(self) -> torch.Tensor:
        return self.inner.points_mean() if self.inner is not None else self.center[self.part]

    def start(self, sums) -> None:
        """A new pass over the blocks: nothing beside the plain sums (a dense block's own)."""
        if self.inner is not None:
            self.inner.start(sums)

    def numbers_per_sample(self) -> float:
        return self.inner.numbers_per_sample() if self.inner is not None else float(self.dim)

    def bytes_per_sample(self) -> int:
        return self.inner.bytes_per_sample() if self.inner is not None else 8 * self.dim

    def draw(self, key, blocks, block_size: int, center: torch.Tensor) -> Drawn:
        if self.inner is not None:
            return self.inner.draw(key, blocks, block_size, self.center[self.part])
        offsets = offsets_of(blocks)
        total = offsets[-1] + blocks[-1][1]
        buffer = self._points.get(max(total, block_size), (self.dim,), center)
        for (block, rows), offset in zip(blocks, offsets):
            generator = streams.torch_generator(
                key.seed, streams.IS_NOISE, key.step, block, center.device
            )
            if not self.paired:
                buffer[offset : offset + rows].normal_(generator=generator)
                continue
            half = (rows + 1) // 2  # rows 0..half-1: +e_i; rows half..rows-1: -e_0, -e_1, ...
            plus = buffer[offset : offset + half].normal_(generator=generator)
            torch.neg(plus[: rows - half], out=buffer[offset + half : offset + rows])
        points = buffer[:total].mul_(self.scale).add_(center[self.part])
        return Drawn(blocks, offsets, points)

    def full_points(self, drawn: Drawn) -> torch.Tensor:
        """The J vectors ``x_j`` ``[rows, d]``: the centre with the block's rows in place."""
        full = self.center.expand(drawn.points.shape[0], -1).clone()
        full[:, self.part] = drawn.points
        return full

    def losses(self, drawn: Drawn, problem) -> torch.Tensor:
        if self.inner is not None:
            return self.inner.losses(drawn, problem)
        if self.activations is None:
            return problem.losses(self.full_points(drawn)).to(torch.float64)
        values = problem.losses_from_layer(self.layer, drawn.points, self.center, self.activations)
        return values.to(torch.float64)

    def weighted(self, drawn: Drawn, i: int):
        if self.inner is not None:
            return self.inner.weighted(drawn, i)
        offset, rows = drawn.offsets[i], drawn.blocks[i][1]
        return drawn.points[offset : offset + rows]

    def finish(self, key, estimate, center, tau, comm) -> tuple[torch.Tensor, torch.Tensor]:
        """The block's target in place in the centre; variance 0 off the block."""
        block, block_variance = estimate.target, estimate.variance
        if self.inner is not None:
            block, block_variance = self.inner.finish(key, estimate, center, tau, comm)
        target = center.to(torch.float64).clone()
        target[self.part] = block.to(target.device)
        variance = torch.zeros_like(target)
        variance[self.part] = block_variance.to(target.device)
        return target, variance


class LayerWiseBySize(LayerWise):
    """``layerwise-size``: the update's layer drawn in proportion to its size."""

    name = "layerwise-size"
    by_size = True


class LayerWiseBySqrtSize(LayerWiseBySize):
    """``layerwise-sqrt``: the update's layer drawn in proportion to the square root of its
    size, so the small layers (a CNN's convolutions) are perturbed more often than by size."""

    name = "layerwise-sqrt"
    power = 0.5


class LayerWiseFloor(LayerWiseBySize):
    """``layerwise-floor``: the layer drawn by size, each layer at least ``LAYER_FLOOR`` of the
    updates (a CNN's first convolution, 0.1% of ``small-conv``'s parameters, gets 3%)."""

    name = "layerwise-floor"
    floor = LAYER_FLOOR


class LayerWisePaired(LayerWiseBySize):
    """``layerwise-pairs``: the layer drawn by size, its proposals in antithetic pairs."""

    name = "layerwise-pairs"
    paired = True
