"""The loss a trainer sees at one outer step: a model and that step's minibatches.

Minibatch stream 0 is the step's own minibatch (``batch``), the one every estimator weighs all
its samples on. A method that needs more (Entropy-SGD's L inner steps, one stream per replica
of Replicated-SGD) asks for stream ``s``; ``draw(s)`` gives it, a pure function of
(seed, step, s) through ``Dataset.minibatch``. The problem counts what it is asked for, so every
run reports its cost: loss evaluations (one forward pass of one parameter vector over one
minibatch), gradient evaluations, and the training examples of the distinct minibatches used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from sampler.models import Batch, Model
from sampler.models.interface import loss_and_grad_each


class Problem:
    def __init__(
        self,
        model: Model,
        batch: Batch,
        draw: Callable[[int], Batch] | None = None,
        train_size: int | None = None,
    ) -> None:
        self.model = model
        self.batch = batch
        self.train_size = train_size  # examples in the training set, where known
        self._draw = draw
        self._batches: dict[int, Batch] = {0: batch}
        self._used: set[int] = set()
        self.loss_evals = 0
        self.grad_evals = 0

    @property
    def num_params(self) -> int:
        return self.model.num_params

    @property
    def batch_size(self) -> int:
        return int(self.batch.targets.shape[0])

    @property
    def examples_seen(self) -> int:
        """Training examples in the distinct minibatch streams evaluated so far."""
        return sum(int(self._batches[s].targets.shape[0]) for s in self._used)

    def minibatch(self, stream: int = 0) -> Batch:
        """The step's minibatch of stream ``stream`` (0: ``batch``)."""
        if stream not in self._batches:
            if self._draw is None:
                raise ValueError(f"this problem holds one minibatch; stream {stream} was asked for")
            self._batches[stream] = self._draw(stream)
        return self._batches[stream]

    def losses(self, params: torch.Tensor, stream: int = 0) -> torch.Tensor:
        """``params: [K, d] -> [K]`` on minibatch stream ``stream``."""
        batch = self.minibatch(stream)
        self._used.add(stream)
        self.loss_evals += params.shape[0]
        return self.model.losses(params, batch)

    def losses_from_input_products(
        self, products: torch.Tensor, rest: torch.Tensor, stream: int = 0
    ) -> torch.Tensor:
        """The model's dense-first-layer losses (``models.interface.InputLayer``): ``products
        [K, B, n_out]``, ``rest [K, d - n_in n_out] -> [K]``, counted as K loss evaluations."""
        batch = self.minibatch(stream)
        self._used.add(stream)
        self.loss_evals += products.shape[0]
        return self.model.losses_from_input_products(products, rest, batch)

    def layer_input(self, params: torch.Tensor, layer: str, stream: int = 0) -> torch.Tensor:
        """The activations of ``params [d]`` below ``layer`` on minibatch stream ``stream``
        (``models.split_forward``), once per update; not counted as a loss evaluation."""
        return self.model.layer_input(params, self.minibatch(stream).inputs, layer)

    def losses_from_layer(
        self,
        layer: str,
        block: torch.Tensor,
        params: torch.Tensor,
        activations: torch.Tensor,
        stream: int = 0,
    ) -> torch.Tensor:
        """``[K]`` losses of ``params [d]`` with ``layer`` replaced by each row of ``block``,
        from the activations below it (``models.split_forward``); K loss evaluations."""
        batch = self.minibatch(stream)
        self._used.add(stream)
        self.loss_evals += block.shape[0]
        return self.model.losses_from_layer(layer, block, params, activations, batch.targets)

    def losses_from_layer_products(
        self,
        layer: str,
        products: torch.Tensor,
        rest: torch.Tensor,
        params: torch.Tensor,
        stream: int = 0,
    ) -> torch.Tensor:
        """``[K]`` losses from a dense ``layer``'s products ``[K, B, n_out]`` and bias rows
        ``rest`` (``models.split_forward``); K loss evaluations."""
        batch = self.minibatch(stream)
        self._used.add(stream)
        self.loss_evals += products.shape[0]
        return self.model.losses_from_layer_products(layer, products, rest, params, batch.targets)

    def loss_and_grad(
        self, params: torch.Tensor, stream: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``params: [K, d] -> ([K], [K, d])`` on minibatch stream ``stream``."""
        batch = self.minibatch(stream)
        self._used.add(stream)
        self.grad_evals += params.shape[0]
        return self.model.loss_and_grad(params, batch)

    def loss_and_grad_streams(
        self, params: torch.Tensor, streams: Sequence[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``params: [K, d] -> ([K], [K, d])``, network k on minibatch stream ``streams[k]``: one
        batched call where the model takes one minibatch per network, else a loop
        (``models.interface.loss_and_grad_each``)."""
        batches = [self.minibatch(stream) for stream in streams]
        self._used.update(streams)
        self.grad_evals += params.shape[0]
        return loss_and_grad_each(self.model, params, batches)
