"""First-order update rules: the outer optimizers of the two-step scheme (fed with
``g_k = (x_k - m_k) / tau_k``) and the step of the backprop baselines (fed with a gradient).

For local entropy ``g_k = grad F_tau(x_k)``; for heat regularization it is the gradient of the
mode-seeking fit. The two-step scheme's step ``eta_k`` (``--lr``) defaults to ``tau_k``
(coordinatewise when tau is per layer), so that ``sgd`` gives ``x_{k+1} = m_k``, the paper's
algorithm.

* ``sgd``        ``x_{k+1} = x_k - eta g``
* ``momentum``   ``v = mu v + g``, ``x_{k+1} = x_k - eta v`` (heavy ball, PyTorch's convention)
* ``nesterov``   ``v = mu v + g``, ``x_{k+1} = x_k - eta (g + mu v)``
* ``adam``       Kingma & Ba: ``m = b1 m + (1-b1) g``, ``s = b2 s + (1-b2) g^2``,
  ``x_{k+1} = x_k - eta (m / (1-b1^t)) / (sqrt(s / (1-b2^t)) + 1e-8)``, ``b1 = --momentum``
  (0.9 if 0), ``b2 = 0.999``; as in Entropy-SGD (Chaudhari et al.), which feeds ``g`` to Adam

Each is a small object in the manner of an optax transformation: ``init(params) -> state`` and
``update(params, gradient, eta, state) -> (params, state)`` with ``params, gradient: [d]`` and
``eta`` a float or a tensor broadcastable to ``[d]``; the state is a dict of tensors (saved with
the checkpoint). ``langevin_step(eta)`` is the step as a Langevin step size, what the Monte
Carlo error criterion needs (``sampler.scheme.mc_error``): ``eta``, over ``1 - mu`` with
momentum, ``None`` for Adam (its step has no such reading).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

ADAM_BETA1 = 0.9  # Adam's first-moment decay when --momentum is 0
ADAM_BETA2 = 0.999
ADAM_EPS = 1e-8


class Sgd:
    name = "sgd"

    def init(self, params: torch.Tensor) -> dict:
        return {}

    def update(self, params: torch.Tensor, gradient: torch.Tensor, eta, state: dict):
        return params - eta * gradient, state

    def langevin_step(self, eta):
        return eta


@dataclass(frozen=True)
class HeavyBall:
    momentum: float
    name = "momentum"

    def init(self, params: torch.Tensor) -> dict:
        return {"velocity": torch.zeros_like(params)}

    def update(self, params: torch.Tensor, gradient: torch.Tensor, eta, state: dict):
        velocity = state["velocity"].mul(self.momentum).add_(gradient)
        return params - eta * self.direction(gradient, velocity), {"velocity": velocity}

    def direction(self, gradient: torch.Tensor, velocity: torch.Tensor) -> torch.Tensor:
        return velocity

    def langevin_step(self, eta):
        return eta / (1.0 - self.momentum)


@dataclass(frozen=True)
class Nesterov(HeavyBall):
    name = "nesterov"

    def direction(self, gradient: torch.Tensor, velocity: torch.Tensor) -> torch.Tensor:
        return gradient + self.momentum * velocity


@dataclass(frozen=True)
class Adam:
    beta1: float = ADAM_BETA1
    name = "adam"

    def init(self, params: torch.Tensor) -> dict:
        zeros = torch.zeros_like(params)
        return {"m": zeros, "s": zeros.clone(), "t": 0}

    def update(self, params: torch.Tensor, gradient: torch.Tensor, eta, state: dict):
        b1, t = self.beta1, state["t"] + 1
        m = state["m"].mul(b1).add_(gradient, alpha=1 - b1)
        s = state["s"].mul(ADAM_BETA2).addcmul_(gradient, gradient, value=1 - ADAM_BETA2)
        m_hat = m / (1 - b1**t)
        s_hat = s / (1 - ADAM_BETA2**t)
        return params - eta * m_hat / (s_hat.sqrt() + ADAM_EPS), {"m": m, "s": s, "t": t}

    def langevin_step(self, eta):
        return None


# --optimizer NAME -> the optimizer for --momentum MU
OPTIMIZERS = {
    "sgd": lambda momentum: Sgd(),
    "momentum": HeavyBall,
    "nesterov": Nesterov,
    "adam": lambda momentum: Adam(momentum if momentum > 0 else ADAM_BETA1),
}


def make_optimizer(name: str, momentum: float = 0.0):
    """The optimizer ``name`` of ``OPTIMIZERS``; ``ValueError`` naming ``--optimizer``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](momentum)


def momentum_step(momentum: float, nesterov: bool):
    """The backprop baselines' step: heavy ball or Nesterov; plain SGD without momentum."""
    if momentum == 0:
        return Sgd()
    return Nesterov(momentum) if nesterov else HeavyBall(momentum)
