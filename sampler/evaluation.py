"""Test-set evaluation of a parameter vector: accuracy and mean cross-entropy, in chunks."""

from __future__ import annotations

import torch

from models import Model


def evaluate(
    model: Model,
    params: torch.Tensor,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    chunk: int = 2000,
) -> dict[str, float]:
    """``params: [d]``, ``inputs: [N, ...]``, ``targets: [N]`` -> accuracy and mean loss."""
    correct, loss_sum = 0, 0.0
    with torch.no_grad():
        for start in range(0, inputs.shape[0], chunk):
            logits = model.predict(params, inputs[start : start + chunk])
            labels = targets[start : start + chunk]
            correct += int((logits.argmax(dim=1) == labels).sum())
            loss_sum += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
    n = inputs.shape[0]
    return {"accuracy": correct / n, "loss": loss_sum / n}
