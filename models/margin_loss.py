"""The cross-entropy loss of binary classifiers with ±1 labels (Baldassi, Pittorino, Zecchina,
"Shaping the learning landscape in neural networks around wide flat minima", PNAS 2020):

    f_gamma(x) = -x / 2 + log(2 cosh(gamma x)) / (2 gamma),

applied to the margin ``x = y s`` of an output ``s`` and a label ``y = ±1``. As gamma -> inf it
tends to ``max(0, -x)``, the perceptron loss; ``log 2cosh z = |z| + log1p(exp(-2|z|))`` keeps it
finite for any ``gamma x``.

Binary models fit the shared interface by storing labels as classes ``{0, 1}`` (``y = 2t - 1``)
and returning two logits ``[-s/2, s/2]`` per input, so ``argmax`` is the sign of ``s`` (``s = 0``
counts as class 0, i.e. an error for a ``+1`` label) and ``logit_1 - logit_0 = s``.
"""

from __future__ import annotations

import torch


def f_gamma(x: torch.Tensor, gamma: float) -> torch.Tensor:
    # -x/2 + |gamma x| / (2 gamma) = relu(-x): written so, the loss is exactly non-negative
    z = (gamma * x).abs()
    return torch.relu(-x) + torch.log1p(torch.exp(-2 * z)) / (2 * gamma)


def margin_logits(s: torch.Tensor) -> torch.Tensor:
    """``s: [..., B] -> [..., B, 2]`` logits ``[-s/2, s/2]``."""
    return torch.stack((-s / 2, s / 2), dim=-1)


def signed_labels(targets: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Classes ``{0, 1} -> {-1, +1}``."""
    return (2 * targets - 1).to(dtype)


def mean_margin_loss(s: torch.Tensor, targets: torch.Tensor, gamma: float) -> torch.Tensor:
    """``s: [K, B], targets: [B] -> [K]``: ``(1/B) sum_mu f_gamma(y_mu s_mu)``."""
    return f_gamma(signed_labels(targets, s.dtype) * s, gamma).mean(dim=-1)


def check_binary(model: str, num_classes: int) -> None:
    if num_classes != 2:
        raise ValueError(
            f"--model {model}: a binary (±1 label) classifier needs a data set with 2 classes, "
            f"got {num_classes} (use --data random-patterns, teacher or gaussian-mixture)"
        )
