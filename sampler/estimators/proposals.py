"""How an importance-sampling update draws its proposals, block by block (``--proposal``), and
what a block adds to the weighted sums of ``sampler.estimators.tilted_sums``.

Every scheme gives each proposal the law ``N(x, tau I)`` (coordinatewise ``tau``), so the
self-normalised estimate ``m = sum_j w_j x_j / sum_j w_j`` stays consistent; they differ in how
the J proposals depend on each other and in how many Gaussian numbers they draw:

* ``literal`` (Algorithm 4): ``x_j = x + sqrt(tau) e_j``, ``e_j ~ N(0, I_d)`` independent; block
  ``b`` draws ``rows x d`` numbers from the stream ``(seed, IS_NOISE, step, b)``.
* ``antithetic``: pairs ``x + sqrt(tau) e_i`` and ``x - sqrt(tau) e_i``. Block ``b`` draws ``h =
  ceil(rows / 2)`` vectors ``e_i`` from the same stream; its rows ``0..h-1`` are the ``+`` samples,
  rows ``h..rows-1`` the ``-`` samples of ``e_0, e_1, ...`` (an odd block leaves its last ``e``
  unpaired). Half the noise for the same number of forward passes. A block's weighted sum is
  taken in noise space, ``sum_j w_j x_j = W_b x + sqrt(tau) sum_i (w_i^+ - w_i^-) e_i``. Blocks
  stay independent given ``x`` (pairs never straddle blocks), so the batch-means variance holds
  as it is. (``rm-stein`` already evaluates antithetic pairs, ``sampler.estimators.robbins_monro``.)
* ``marginal``: the dense first layer's noise is sampled through the products the loss sees
  (``sampler.estimators.marginal``).
* ``layerwise`` / ``layerwise-size``: one layer per update (cyclically / drawn in proportion to
  its size), the rest fixed; a different law, the
  partial local entropy of that layer, evaluated from the layer's input activations
  (``sampler.estimators.layerwise``).

A scheme's draw covers a *group* of consecutive owned blocks at once (one forward call for the
whole group: on a GPU a rank's blocks are batched as far as memory allows, on the CPU one block
at a time keeps memory flat); each block still draws from its own stream and is summed as its
own block, so the numbers do not depend on the grouping. What a draw holds and reuses is in
``sampler.estimators.draws``.
"""

from __future__ import annotations

import torch

from sampler.estimators.draws import Drawn, Reused, dense_input, offsets_of
from sampler.estimators.layerwise import (
    LayerWise,
    LayerWiseBySize,
    LayerWiseBySqrtSize,
    LayerWiseFloor,
    LayerWisePaired,
)
from sampler.estimators.marginal import Marginal
from sampler.models import streams

PROPOSALS = (
    "auto",
    "literal",
    "antithetic",
    "marginal",
    "layerwise",
    "layerwise-size",
    "layerwise-sqrt",
    "layerwise-floor",
    "layerwise-pairs",
)


class Literal:
    """``x_j = x + sqrt(tau) e_j``: the paper's proposals."""

    name = "literal"

    def __init__(self) -> None:
        self._points = Reused()

    def prepare(self, key, center: torch.Tensor, tau, problem) -> None:
        self.scale = torch.sqrt(torch.as_tensor(tau, dtype=center.dtype, device=center.device))
        self.dim = center.shape[0]
        self.mean = center

    def points_mean(self) -> torch.Tensor:
        """The known mean of the points the sums add up (the control variate's)."""
        return self.mean

    def start(self, sums) -> None:
        """A new pass over the blocks: nothing beside the plain sums."""

    def numbers_per_sample(self) -> float:
        return float(self.dim)

    def bytes_per_sample(self) -> int:
        return 8 * self.dim  # the point and the forward pass's reads

    def draw(self, key, blocks, block_size: int, center: torch.Tensor) -> Drawn:
        offsets = offsets_of(blocks)
        total = offsets[-1] + blocks[-1][1]
        buffer = self._points.get(max(total, block_size), (center.shape[0],), center)
        for (block, rows), offset in zip(blocks, offsets):
            generator = streams.torch_generator(
                key.seed, streams.IS_NOISE, key.step, block, center.device
            )
            buffer[offset : offset + rows].normal_(generator=generator)
        points = buffer[:total].mul_(self.scale).add_(center)
        return Drawn(blocks, offsets, points)

    def losses(self, drawn: Drawn, problem) -> torch.Tensor:
        return problem.losses(drawn.points).to(torch.float64)

    def weighted(self, drawn: Drawn, i: int):
        offset, rows = drawn.offsets[i], drawn.blocks[i][1]
        return drawn.points[offset : offset + rows]

    def finish(self, key, estimate, center, tau, comm) -> tuple[torch.Tensor, torch.Tensor]:
        return estimate.target, estimate.variance


class Antithetic(Literal):
    """Pairs ``x ± sqrt(tau) e_i`` within each block. On a model with a dense first layer
    (``models.interface.InputLayer``) a pair's first-layer products ``u (W ± sqrt(tau) E_i)^T =
    u W^T ± sqrt(tau) u E_i^T`` share one product ``u E_i^T``: half the first layer's forward
    cost as well, and no perturbed first-layer weights are formed."""

    name = "antithetic"

    def __init__(self) -> None:
        super().__init__()
        self._noise, self._products = Reused(), Reused()

    def prepare(self, key, center, tau, problem) -> None:
        super().prepare(key, center, tau, problem)
        self.center64 = center.to(torch.float64)
        self.layer = dense_input(getattr(problem, "model", None))
        if self.layer is not None:
            inputs = problem.batch.inputs.reshape(problem.batch_size, -1).to(center.dtype)
            self.inputs = inputs
            weight = center[self.layer.weight].view(self.layer.n_out, self.layer.n_in)
            self.base = inputs @ weight.T  # u W^T [B, h]
            first = self.scale if self.scale.dim() == 0 else self.scale[: self.first]
            constant = first.dim() == 0 or bool((first == first[0]).all())
            # one scale for the whole weight (per-layer tau): applied to the shared product
            self.first_scale = first.reshape(-1)[0] if constant else None
            self.weight_scale = None if constant else first.view(self.layer.n_out, -1)
            self.rest_scale = self.scale if self.scale.dim() == 0 else self.scale[self.first :]

    @property
    def first(self) -> int:
        return self.layer.weight.stop

    def numbers_per_sample(self) -> float:
        return self.dim / 2

    def bytes_per_sample(self) -> int:
        return 10 * self.dim

    def draw(self, key, blocks, block_size: int, center: torch.Tensor) -> Drawn:
        offsets = offsets_of(blocks)
        total = offsets[-1] + blocks[-1][1]
        halves = [(rows + 1) // 2 for _, rows in blocks]
        d = center.shape[0]
        noise = self._noise.get(max(sum(halves), (block_size + 1) // 2), (d,), center)
        width = d if self.layer is None else d - self.first
        points = self._points.get(max(total, block_size), (width,), center)
        shift = center if self.layer is None else center[self.first :]
        scale = self.scale if self.layer is None else self.rest_scale
        start = 0
        for (block, rows), offset, half in zip(blocks, offsets, halves):
            generator = streams.torch_generator(
                key.seed, streams.IS_NOISE, key.step, block, center.device
            )
            e = noise[start : start + half].normal_(generator=generator)[:, d - width :]
            torch.addcmul(shift, e, scale, out=points[offset : offset + half])
            minus = points[offset + half : offset + rows]
            torch.addcmul(shift, e[: rows - half], scale, value=-1.0, out=minus)
            start += half
        drawn = Drawn(blocks, offsets, points[:total], noise[:start])
        if self.layer is not None:
            drawn.products = self._pair_products(drawn, max(total, block_size))
        return drawn

    def _pair_products(self, drawn: Drawn, rows: int) -> torch.Tensor:
        """``u W^T ± sqrt(tau) u E_i^T`` ``[rows, B, h]``, one ``u E_i^T`` per pair."""
        layer, batch = self.layer, self.inputs.shape[0]
        weights = drawn.noise[:, : self.first].view(-1, layer.n_out, layer.n_in)
        if self.first_scale is None:
            weights = weights * self.weight_scale
        shared = torch.matmul(self.inputs, weights.transpose(1, 2))  # [pairs, B, h]
        if self.first_scale is not None:
            shared.mul_(self.first_scale)
        products = self._products.get(rows, (batch, layer.n_out), shared)
        start = 0
        for (_, count), offset in zip(drawn.blocks, drawn.offsets):
            half = (count + 1) // 2
            pair = shared[start : start + half]
            torch.add(self.base, pair, out=products[offset : offset + half])
            torch.sub(self.base, pair[: count - half], out=products[offset + half : offset + count])
            start += half
        return products[: drawn.offsets[-1] + drawn.blocks[-1][1]]

    def losses(self, drawn: Drawn, problem) -> torch.Tensor:
        if self.layer is None:
            return super().losses(drawn, problem)
        return problem.losses_from_input_products(drawn.products, drawn.points).to(torch.float64)

    def weighted(self, drawn: Drawn, i: int):
        rows = drawn.blocks[i][1]
        half = (rows + 1) // 2
        start = sum((r + 1) // 2 for _, r in drawn.blocks[:i])
        e = drawn.noise[start : start + half]
        scale64 = self.scale.to(torch.float64)

        def block_sum(w: torch.Tensor) -> torch.Tensor:
            difference = w[:, :half].clone()
            difference[:, : rows - half] -= w[:, half:]
            noise_sum = (difference.to(e.dtype) @ e).to(torch.float64)  # [G, d]
            return w.sum(dim=1)[:, None] * self.center64 + scale64 * noise_sum

        return block_sum


def group_size(device: torch.device, bytes_per_block: int, owned: int) -> int:
    """How many of a rank's ``owned`` blocks one pass draws and evaluates together: on a GPU
    as many as a quarter of its free memory holds, on the CPU one (memory flat in J, the
    block's noise still in cache for its sums)."""
    if device.type != "cuda" or owned <= 1:
        return 1
    free, _ = torch.cuda.mem_get_info(device)
    return max(1, min(owned, int(free // 4 // max(bytes_per_block, 1))))


def build_proposal(name: str, residual: str = "sample"):
    """The scheme ``name``; ``residual`` (``sampler.estimators.marginal``) for the schemes that
    marginalise a dense layer (``marginal`` and the layer-wise ones' dense blocks)."""
    if name == "literal":
        return Literal()
    if name == "antithetic":
        return Antithetic()
    if name == "layerwise":
        return LayerWise(residual)
    if name == "layerwise-size":
        return LayerWiseBySize(residual)
    if name == "layerwise-sqrt":
        return LayerWiseBySqrtSize(residual)
    if name == "layerwise-floor":
        return LayerWiseFloor(residual)
    if name == "layerwise-pairs":
        return LayerWisePaired(residual)
    return Marginal(residual)
