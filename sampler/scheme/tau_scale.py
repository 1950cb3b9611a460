"""How ``--tau`` is measured per layer (``--tau-scale``): on the paper's absolute scale, or as a
multiple of each layer's own initialisation variance.

* ``absolute`` (the paper, García Trillos, Kaplan, Sanz-Alonso, section 6):
  ``tau_l = tau``, one variance for every coordinate, as given.
* ``init-variance``: ``tau_l = tau * v_l`` with ``v_l`` the empirical variance of layer ``l``'s
  entries in the model's initial vector ``init_params(seed)`` (for the PyTorch default
  ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, ``v_l ~ 1 / (3 fan_in)``). A proposal
  ``x + sqrt(tau_l) e`` then perturbs every layer on its own scale (``tau = 1``: by as much as its
  initial spread), the anisotropic Gaussian of Musso ("Partial local entropy and anisotropy in
  deep weight spaces", 2021, section 3), so the filters of a convolution are not perturbed far
  beyond their size while a wide dense layer is. A layer whose initial entries are all equal
  (variance 0) keeps ``tau_l = tau``.

* ``auto`` (the default): ``absolute`` on a model without convolutions (``mlp``, ``linear``:
  unchanged); on a model with convolutions (``models.convolution``) each layer on its own scale,
  ``tau`` read in units of the default ``--tau 0.01``: ``tau_l = (tau / 0.01) * CONV_TAU * v_l``,
  so that the default perturbs every layer by ``CONV_TAU`` times its initial variance (the
  setting measured best on ``tiny-conv`` and ``small-conv``, docs "Gradient-free training of
  CNNs"; the paper's ``tau = 0.01`` per coordinate perturbs a 5x5 filter far beyond its size).

The scale multiplies each layer's schedule (``--tau``, per layer or scoping alike), and every
estimator receives the resulting ``[d]`` vector as it receives a per-layer tau. The scales are a
pure function of the model and the run's seed (the starting point, a checkpoint or
``--init-from`` does not change them), so a resumed run recomputes the same tau.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from sampler.models.convolution import has_convolution

TAU_SCALES = ("auto", "absolute", "init-variance")
DEFAULT_TAU = 0.01  # the default --tau: the unit of tau under auto on a model with convolutions
CONV_TAU = 10.0  # auto on a model with convolutions: the default tau is CONV_TAU times v_l


def layer_variances(layers: Mapping[str, slice], params: torch.Tensor) -> dict[str, float]:
    """The variance of each layer's entries in ``params [d]`` (population variance, float64);
    a constant layer gets 1 (its tau unscaled)."""
    values = {}
    for name, part in layers.items():
        entries = params[part].to(torch.float64)
        variance = float(entries.var(unbiased=False)) if entries.numel() > 1 else 0.0
        values[name] = variance if variance > 0.0 else 1.0
    return values


def layer_scales(scale: str, model, seed: int) -> dict[str, float] | None:
    """The factor ``tau_l / tau`` of every layer of ``model`` under ``--tau-scale scale``
    (``None``: absolute, tau as given)."""
    if scale == "auto":
        if not has_convolution(model):
            return None
        variances = layer_variances(model.layers, model.init_params(seed))
        return {name: CONV_TAU / DEFAULT_TAU * v for name, v in variances.items()}
    if scale == "absolute":
        return None
    if scale == "init-variance":
        return layer_variances(model.layers, model.init_params(seed))
    raise ValueError(f"unknown tau scale {scale!r}; one of {', '.join(TAU_SCALES)}")
