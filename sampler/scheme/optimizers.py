"""Outer optimizers of the two-step scheme, fed with ``g_k = (x_k - m_k) / tau_k``.

For local entropy ``g_k = grad F_tau(x_k)``; for heat regularization it is the gradient of the
mode-seeking fit. The step ``eta_k`` (``--lr``) defaults to ``tau_k`` (coordinatewise when tau
is per layer), so that ``sgd`` gives ``x_{k+1} = m_k``, the paper's algorithm.

* ``sgd``        ``x_{k+1} = x_k - eta g``
* ``momentum``   ``v = mu v + g``, ``x_{k+1} = x_k - eta v`` (heavy ball, PyTorch's convention)
* ``nesterov``   ``v = mu v + g``, ``x_{k+1} = x_k - eta (g + mu v)``
* ``adam``       Kingma & Ba: ``m = b1 m + (1-b1) g``, ``s = b2 s + (1-b2) g^2``,
  ``x_{k+1} = x_k - eta (m / (1-b1^t)) / (sqrt(s / (1-b2^t)) + 1e-8)``, ``b1 = --momentum``
  (0.9 if 0), ``b2 = 0.999``; as in Entropy-SGD (Chaudhari et al.), which feeds ``g`` to Adam

The optimizer state is a dict of tensors, so it is saved with the checkpoint.
"""

from __future__ import annotations

import torch

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")
ADAM_BETA2 = 0.999
ADAM_EPS = 1e-8


class OuterOptimizer:
    def __init__(self, name: str, momentum: float = 0.0) -> None:
        if name not in OPTIMIZERS:
            raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
        self.name = name
        self.momentum = momentum if name != "adam" or momentum > 0 else 0.9

    def init(self, params: torch.Tensor) -> dict:
        if self.name == "sgd":
            return {}
        if self.name == "adam":
            zeros = torch.zeros_like(params)
            return {"m": zeros, "s": zeros.clone(), "t": 0}
        return {"velocity": torch.zeros_like(params)}

    def update(
        self, params: torch.Tensor, gradient: torch.Tensor, eta, state: dict
    ) -> tuple[torch.Tensor, dict]:
        """``params, gradient: [d]``, ``eta``: a float or a tensor broadcastable to ``[d]``."""
        if self.name == "sgd":
            return params - eta * gradient, state
        if self.name in ("momentum", "nesterov"):
            velocity = state["velocity"].mul(self.momentum).add_(gradient)
            direction = gradient + self.momentum * velocity if self.name == "nesterov" else velocity
            return params - eta * direction, {"velocity": velocity}
        b1, t = self.momentum, state["t"] + 1
        m = state["m"].mul(b1).add_(gradient, alpha=1 - b1)
        s = state["s"].mul(ADAM_BETA2).addcmul_(gradient, gradient, value=1 - ADAM_BETA2)
        m_hat = m / (1 - b1**t)
        s_hat = s / (1 - ADAM_BETA2**t)
        return params - eta * m_hat / (s_hat.sqrt() + ADAM_EPS), {"m": m, "s": s, "t": t}
