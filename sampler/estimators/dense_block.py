"""The layer-wise update of a dense layer with its weight marginalised exactly, given the layer's
input activations (``--proposal layerwise`` on an ``nn.Linear`` block).

When the update's block ``B`` (``sampler.estimators.layerwise``) is a dense layer ``W [h, n]``
(then its bias) whose input activations ``a [B, n]`` (the centre's forward below it, fixed for
the update) have fewer rows than the layer has inputs (``B < n``), the losses see the weight
noise ``E_j`` only through ``a E_j^T``. This is the setting of ``sampler.estimators.marginal``
with ``X = a``: the products ``a W^T + sqrt(tau_B) R^T G_j`` are sampled (``a^T = Q R``,
``G_j [B, h]`` standard normal), the weighted sum of the weight noise is
``(sum_j w_j G_j)^T Q^T + sqrt(sum_j w_j^2) Z (I - Q Q^T)``, and the bias is sampled literally:
exactly the law of the literal layer-wise update (the same argument as for a first layer,
García Trillos, Kaplan, Sanz-Alonso, Algorithm 4, with the activations in place of the data),
``B h`` numbers per proposal instead of ``n h``, and the layers above run once on the ``J B``
rows from the products (``models.split_forward``). Streams, sums and variance are the marginal
scheme's.
"""

from __future__ import annotations

import torch

from sampler.estimators.marginal import Marginal
from sampler.models.interface import InputLayer


def applies(model, layer: str, activations) -> tuple[int, int] | None:
    """``(n_in, n_out)`` where the block ``layer`` can be marginalised, else ``None``."""
    hook = getattr(model, "dense_block", None)
    shape = hook(layer) if hook is not None and activations is not None else None
    if shape is None or activations.shape[0] >= shape[0]:
        return None
    return shape


class DenseBlock(Marginal):
    """The marginal scheme on the block's own vector ``[weight, bias]``."""

    name = "layerwise"

    def prepare_block(self, layer: str, part: slice, shape, center, tau, activations) -> None:
        n_in, n_out = shape
        self.block_layer, self.full_center, self.activations = layer, center, activations
        tau = torch.as_tensor(tau, dtype=center.dtype, device=center.device)
        block_tau = tau if tau.dim() == 0 else tau[part]
        inputs = activations.reshape(activations.shape[0], -1)
        dense = InputLayer(slice(0, n_in * n_out), n_in, n_out)
        self.setup(dense, inputs, center[part], block_tau)

    def losses(self, drawn, problem) -> torch.Tensor:
        values = problem.losses_from_layer_products(
            self.block_layer, drawn.products, drawn.points, self.full_center
        )
        return values.to(torch.float64)
