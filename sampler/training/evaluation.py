"""Test-set evaluation of a parameter vector: accuracy, error count and the model's own loss.

``loss`` is the model's training loss on the test set (mean cross-entropy, or the ``f_gamma``
margin loss of the binary models, through ``models.interface.loss_from_logits``); ``errors`` is
the number of misclassified test inputs, ``N (1 - accuracy)``: for the perceptron and the committee
machine the error count of the storage / teacher problem (on ``random-patterns`` the test set is
the training set). Evaluated in chunks of ``chunk`` inputs; a model with batch-statistics
normalisation (``resnet18``) normalises each chunk with its own statistics.
"""

from __future__ import annotations

import torch

from sampler.models import Model
from sampler.models.interface import loss_from_logits


def evaluate(
    model: Model,
    params: torch.Tensor,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    chunk: int = 2000,
) -> dict[str, float]:
    """``params: [d]``, ``inputs: [N, ...]``, ``targets: [N]`` -> accuracy, errors, mean loss."""
    correct, loss_sum = 0, 0.0
    with torch.no_grad():
        for start in range(0, inputs.shape[0], chunk):
            logits = model.predict(params, inputs[start : start + chunk])
            labels = targets[start : start + chunk]
            correct += int((logits.argmax(dim=1) == labels).sum())
            loss_sum += float(loss_from_logits(model, logits.unsqueeze(0), labels)[0]) * len(labels)
    n = inputs.shape[0]
    return {"accuracy": correct / n, "errors": n - correct, "loss": loss_sum / n}
