"""The loss an estimator sees at one outer step: a model and that step's minibatch.

It counts what it is asked for, so every run reports its cost in loss evaluations (one forward
pass of one parameter vector over the minibatch) and gradient evaluations.
"""

from __future__ import annotations

import torch

from sampler.models import Batch, Model


class Problem:
    def __init__(self, model: Model, batch: Batch) -> None:
        self.model = model
        self.batch = batch
        self.loss_evals = 0
        self.grad_evals = 0

    @property
    def num_params(self) -> int:
        return self.model.num_params

    def losses(self, params: torch.Tensor) -> torch.Tensor:
        """``params: [K, d] -> [K]``."""
        self.loss_evals += params.shape[0]
        return self.model.losses(params, self.batch)

    def loss_and_grad(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``params: [K, d] -> ([K], [K, d])``."""
        self.grad_evals += params.shape[0]
        return self.model.loss_and_grad(params, self.batch)
