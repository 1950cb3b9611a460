"""A network evaluated from a layer up: the forward pass of K vectors that differ only in one
layer (and the layers above it) starts from that layer's input activations, computed once.

For an ``nn.Sequential`` whose parameter-owning layers are its direct children, the loss of
``x_j`` that agrees with the centre ``x`` below layer ``l`` is
``f(x_j) = CE(g_{>=l}(x_j; a_l), y)`` with ``a_l = g_{<l}(x; u)``, the activations below ``l``
of the centre on the minibatch ``u``: the layers below see the same weights in every ``x_j``,
so ``a_l`` is shared (DeepZero's feature reuse, Chen et al., ICLR 2024, section 4). The
optional model interface (``models.interface``) is

* ``split_layers -> list[str]``: the layers (in forward order) a split may start at;
* ``layer_input(params [d], inputs [B, ...], layer) -> a_l``: the forward below ``layer``;
* ``losses_from_layer(layer, block [K, n_l], params [d], inputs a_l, targets [B]) -> [K]``:
  the losses of the K vectors equal to ``params`` except ``layer``'s entries ``block``, the
  same numbers (up to float rounding) as ``losses`` of the full vectors.

A dense layer of such a network (``nn.Linear``: the weight ``[n_out, n_in]`` first in the
layer's slice, then its bias) also gives its losses from the products ``a_l W^T [K, B, n_out]``
(``dense_block(layer) -> (n_in, n_out)`` or ``None``;
``losses_from_layer_products(layer, products, rest [K, n_l - n_in n_out], params, targets)``,
``rest`` the bias rows), so that ``sampler.estimators.marginal`` can sample the products of any
dense layer given its input activations, as it does for a first layer. After any block the layers
above run once on the ``K B`` rows (their weights are the centre's, shared by the K networks):
only the block's own layer is evaluated per network (``vmap``; a plain ``nn.Conv2d`` as one
convolution by the ``K C_out`` filters on the shared input), and image rows run through the
layers above channels-last (on one CPU core the forward of 100 networks from ``small-conv``'s
``conv1`` measured 1.35x faster than by ``vmap`` and the default layout; from ``conv2`` the same).

``SplitForward`` gives ``TorchModuleModel`` these methods; a module that is not such a
``Sequential`` (a ResNet's nested blocks, a Keras model) has no ``split_layers`` and is
evaluated whole.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.func import functional_call, vmap

from sampler.models.interface import mean_cross_entropy


def sequential_layers(module: nn.Module, layers) -> list[str] | None:
    """The layers of ``module`` a split may start at, or ``None`` where it cannot split."""
    if not isinstance(module, nn.Sequential):
        return None
    children = [name for name, _ in module.named_children()]
    if any(layer not in children for layer in layers):
        return None
    return list(layers)


def stackable(module: nn.Module) -> bool:
    """A plain 2-D convolution: its K filter banks run as one convolution with K times the output
    channels on the shared input."""
    return isinstance(module, nn.Conv2d) and module.groups == 1 and module.padding_mode == "zeros"


def stacked_convolution(module: nn.Conv2d, block, own, inputs: torch.Tensor) -> torch.Tensor:
    """``[K, B, C, H, W]``: the convolution of ``inputs [B, ...]`` by each row's weight and bias,
    computed as one convolution by the ``K C`` filters (``vmap`` turns the same into a slower
    batched call), laid out channels-last for the layers above."""
    k = block.shape[0]
    tensors = {name: block[:, part].reshape(k, *shape) for name, shape, part in own}
    weight = tensors["weight"].reshape(-1, *tensors["weight"].shape[2:])
    bias = tensors["bias"].reshape(-1) if "bias" in tensors else None
    out = nn.functional.conv2d(inputs, weight, bias, module.stride, module.padding, module.dilation)
    b, _, h, w = out.shape
    # [B, K, C, H, W] -> memory order (K, B, H, W, C), viewed as [K, B, C, H, W]
    return out.view(b, k, -1, h, w).permute(1, 0, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)


class SplitForward:
    """Mixed into ``TorchModuleModel`` (which provides ``module``, ``layers``, ``_names``,
    ``_shapes``, ``_slices`` and ``batched``)."""

    @property
    def split_layers(self) -> list[str] | None:
        return sequential_layers(self.module, self.layers)

    def _children(self, layer: str, below: bool) -> nn.Sequential:
        children = list(self.module.named_children())
        index = [name for name, _ in children].index(layer)
        return nn.Sequential(OrderedDict(children[:index] if below else children[index:]))

    def _tensors(self, flat: torch.Tensor, prefix_of) -> dict[str, torch.Tensor]:
        return {
            name: flat[part].view(shape)
            for name, shape, part in zip(self._names, self._shapes, self._slices)
            if prefix_of(name)
        }

    def layer_input(self, params: torch.Tensor, inputs: torch.Tensor, layer: str) -> torch.Tensor:
        """``a_l``: the forward of ``params [d]`` below ``layer`` on ``inputs [B, ...]``."""
        below = self._children(layer, below=True)
        owners = {name for name, _ in below.named_children()}
        tensors = self._tensors(params, lambda name: name.split(".", 1)[0] in owners)
        with torch.no_grad():
            return functional_call(below, tensors, (inputs,))

    def losses_from_layer(
        self,
        layer: str,
        block: torch.Tensor,
        params: torch.Tensor,
        inputs: torch.Tensor,
        targets: torch.Tensor,
    ) -> torch.Tensor:
        """``[K]`` losses of ``params [d]`` with ``layer``'s entries replaced by each row of
        ``block [K, n_l]``, from the activations ``inputs`` below ``layer``: the layer itself
        for the K rows (one ``vmap``, or a loop), the layers above once on the ``K B`` rows."""
        module = self.module.get_submodule(layer)
        start = self.layers[layer].start
        own = [
            (name.split(".", 1)[1], shape, slice(part.start - start, part.stop - start))
            for name, shape, part in zip(self._names, self._shapes, self._slices)
            if name.split(".", 1)[0] == layer
        ]

        def single(row: torch.Tensor) -> torch.Tensor:
            tensors = {name: row[part].view(shape) for name, shape, part in own}
            return functional_call(module, tensors, (inputs,))

        with torch.no_grad():
            if self.batched and stackable(module):
                outputs = stacked_convolution(module, block, own, inputs)
            elif self.batched:
                outputs = vmap(single)(block)
            else:
                outputs = torch.stack([single(row) for row in block])
        return self._losses_above(layer, outputs, params, targets)

    def _losses_above(self, layer, outputs, params, targets) -> torch.Tensor:
        """``[K]`` losses from ``layer``'s outputs ``[K, B, ...]``, the layers above it at
        ``params`` (shared by the K networks) run once on the ``K B`` rows."""
        above = self._children(layer, below=False)[1:]
        owners = {name for name, _ in above.named_children()}
        fixed = self._tensors(params, lambda name: name.split(".", 1)[0] in owners)
        k, b = outputs.shape[:2]
        rows = outputs.reshape(k * b, *outputs.shape[2:])
        if rows.dim() == 4:  # images: pooling and convolutions above run faster channels-last
            rows = rows.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            logits = functional_call(above, fixed, (rows,))
        return mean_cross_entropy(logits.view(k, b, -1), targets)

    def dense_block(self, layer: str) -> tuple[int, int] | None:
        """``(n_in, n_out)`` where ``layer`` is an ``nn.Linear`` of a split network, else None."""
        if not self.split_layers or layer not in self.split_layers:
            return None
        module = self.module.get_submodule(layer)
        if not isinstance(module, nn.Linear):
            return None
        return module.in_features, module.out_features

    def losses_from_layer_products(
        self,
        layer: str,
        products: torch.Tensor,
        rest: torch.Tensor,
        params: torch.Tensor,
        targets: torch.Tensor,
    ) -> torch.Tensor:
        """``[K]`` losses from the dense ``layer``'s products ``a_l W_k^T`` ``[K, B, n_out]``
        and its bias rows ``rest [K, n_out]`` (``[K, 0]`` without a bias)."""
        outputs = products + rest[:, None, :] if rest.shape[1] else products
        return self._losses_above(layer, outputs, params, targets)
