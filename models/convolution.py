"""Whether a model has convolutions: the engine picks other defaults for such models (a layer-wise
proposal, tau on each layer's own scale and a lower ESS target of ``--beta auto``,
``sampler.estimators.importance_sampling`` and ``sampler.scheme.tau_scale``; measured in the
docs, "Gradient-free training of CNNs").

A model has convolutions when it is a ``torch.nn`` module (``models.torch_module``) holding an
``nn.Conv1d``, ``nn.Conv2d`` or ``nn.Conv3d`` anywhere (the zoo's ``small-conv``, ``tiny-conv``,
the ResNets and Musso's CNNs). A Keras model is not inspected and counts as without.
"""

from __future__ import annotations

from torch import nn

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def has_convolution(model) -> bool:
    """True when ``model`` is a torch module with a convolution layer anywhere in it."""
    module = getattr(model, "module", None)
    if not isinstance(module, nn.Module):
        return False
    return any(isinstance(child, CONVOLUTIONS) for child in module.modules())
