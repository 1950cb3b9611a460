"""Adapter: a Keras 3 model (TensorFlow backend) and its loss as a flat-vector model (see
``models.interface``), so that every estimator and baseline trains it.

The flat vector ``x`` is the model's ``trainable_variables`` in order, each flattened row-major
(a ``Dense`` kernel is ``[n_in, n_out]``, Keras' layout). The loss of the K networks is

    f(x_k) = loss(y, model.stateless_call(split(x_k), frozen, u, training=False))

evaluated as one computation: the ``[K, d]`` block is split once into one ``[K, *shape]``
tensor per variable and ``tf.vectorized_map`` (TensorFlow's pfor) turns the one-network graph
into batched kernels, compiled with XLA unless ``xla=False``; ``vmap=False`` loops over the K
networks instead (the same numbers). Gradients: a ``GradientTape`` per network inside the same
map (TensorFlow's per-example gradients). One tape around the whole map gives the same numbers
but, under XLA, folds the parameters in as constants and recompiles on every call (measured:
6 s instead of 0.24 s for K = 100 on the 784-200-10 network). One minibatch per network
(``loss_and_grad_each``, inputs ``[K, B, ...]``): the same map over parameters and minibatches
together. Hessian-vector products (``hessian_vector_product``, for ``sampler flatness``):
forward-over-backward, a ``ForwardAccumulator`` around the gradient's tape. These graphs are
built in ``models.keras.graphs``; this module is the model interface around them.
Nothing here draws a random number: the Keras model's own variables are neither read for
parameters nor changed (``init_params`` draws from the project's counter-based streams).

Layers (per-layer tau): a variable's layer is its Keras path without the variable name and
without the outer model's name (``sequential/hidden/kernel`` -> ``hidden``;
``models.keras.layout``).

Non-trainable state (BatchNorm moving statistics, the seed of a Dropout or GaussianNoise layer)
is refused unless ``inference=True``: then every network runs in inference mode
(``training=False``: BatchNorm uses the stored statistics, frozen; dropout and noise are off),
the stored non-trainable values entering as constants. Training mode would update that state
once per network, or make the loss random: a silently wrong answer.

The loss: ``loss`` (a Keras loss object, a name such as ``"sparse_categorical_crossentropy"``,
or a function ``(targets [B], outputs [B, C]) -> [B] or scalar``), else the loss the model was
compiled with, else ``SparseCategoricalCrossentropy(from_logits=True)`` (the zoo's mean
cross-entropy). A per-example result is averaged over the minibatch. The losses the model
adds itself (``model.losses``: ``kernel_regularizer`` and other weight regularizers, activity
regularizers, ``add_loss``) are part of each network's training loss, added to that minibatch
loss as Keras' ``fit`` adds them: ``stateless_call(..., return_losses=True)`` returns them for
the network's own variables, inside the vectorized map, and the gradient is taken through them.
The test loss (``loss_from_logits``, a function of the outputs alone) is the minibatch loss
without them, as the zoo models' test loss has no penalty either.

Images: a ``[B, C, H, W]`` batch is handed to Keras channels-last, ``[B, H, W, C]`` (Keras'
default layout), unless ``channels_last=False``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from sampler.models import streams
from sampler.models.interface import Batch, check_params
from sampler.models.keras import runtime
from sampler.models.keras.graphs import NetworkGraphs
from sampler.models.keras.layout import layer_slices, resolve_loss

# 1-d variables of normalisation layers (LayerNormalization, GroupNormalization, BatchNorm):
# their name -> initial value (no fan-in of their own)
NORM_INITIAL = {"gamma": 1.0, "beta": 0.0}


class KerasModel:
    """``KerasModel(keras_model, loss=None, inference=False, vmap=True, xla=True)``."""

    def __init__(
        self,
        model: Any,
        loss: Any = None,
        *,
        inference: bool = False,
        vmap: bool = True,
        xla: bool = True,
        channels_last: bool = True,
    ) -> None:
        runtime.configure()
        keras = runtime.import_keras()
        self._tf = runtime.import_tensorflow()
        if not isinstance(model, keras.Model):
            raise TypeError(f"KerasModel needs a keras.Model, got {type(model).__name__}")
        variables = list(model.trainable_variables)
        if not variables:
            raise ValueError(
                f"Keras model {model.name!r} has no trainable weights: build it first "
                "(start it with keras.Input(shape), or call it once)"
            )
        frozen = list(model.non_trainable_variables)
        if frozen and not inference:
            names = ", ".join(v.path for v in frozen[:3]) + (", ..." if len(frozen) > 3 else "")
            raise ValueError(
                f"Keras model {model.name!r} has non-trainable state ({names}) that training "
                "mode would update once per network or draw at random: pass inference=True "
                "(--model-opt inference=true) to run every network in inference mode "
                "(stored statistics frozen, dropout off), or remove those layers"
            )
        for side in ("inputs", "outputs"):
            if len(getattr(model, side, None) or [None]) > 1:
                raise ValueError(f"Keras model {model.name!r}: one input and one output, please")
        self.model = model
        self.inference = inference
        self.batched = vmap
        self.xla = xla
        self.channels_last = channels_last
        self._shapes = [tuple(v.shape) for v in variables]
        self._sizes = [math.prod(shape) for shape in self._shapes]
        self._names = [v.name for v in variables]
        self._paths = [v.path for v in variables]
        self.num_params = sum(self._sizes)
        self.layers = layer_slices(model.name, [v.path for v in variables], self._sizes)
        self._network = NetworkGraphs(
            self._tf,
            model,
            [self._tf.convert_to_tensor(v) for v in frozen],
            resolve_loss(keras, loss if loss is not None else getattr(model, "loss", None)),
            self._shapes,
            self._sizes,
            vmap,
        )
        self._graphs: dict[tuple, Any] = {}  # (kind, input shape) -> compiled tf.function

    # --- the model interface -------------------------------------------------------------

    def init_params(self, seed: int) -> torch.Tensor:
        """``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (PyTorch's default for Linear and Conv) for
        every kernel, ``fan_in = prod(shape[:-1])`` in Keras' layout, and for the 1-d variables
        after it (biases); ``gamma`` 1 and ``beta`` 0 for normalisation layers. Drawn from the
        counter-based stream ``(seed, INIT)``: ``-> [d]``."""
        generator = streams.torch_generator(seed, streams.INIT)
        params = torch.empty(self.num_params)
        offset, fan_in = 0, 1
        for name, shape, size in zip(self._names, self._shapes, self._sizes):
            part = params[offset : offset + size]
            offset += size
            if len(shape) >= 2:
                fan_in = math.prod(shape[:-1])
            elif name in NORM_INITIAL:
                part.fill_(NORM_INITIAL[name])
                continue
            bound = 1.0 / math.sqrt(fan_in)
            part.uniform_(-bound, bound, generator=generator)
        return params

    def state_dict(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        """``params: [d]`` as ``{variable.path: tensor}`` in Keras' shapes (a Dense kernel is
        ``[n_in, n_out]``), in ``trainable_variables`` order."""
        tensors, offset = {}, 0
        for path, shape, size in zip(self._paths, self._shapes, self._sizes):
            tensors[path] = params[offset : offset + size].view(shape)
            offset += size
        return tensors

    def load_into(self, model: Any, params: torch.Tensor) -> Any:
        """Assign ``params: [d]`` to the ``trainable_variables`` of the Keras ``model`` (one of
        the architecture built from; another is refused with ``ValueError`` naming what
        differs, before any assignment)."""
        variables = list(getattr(model, "trainable_variables", None) or [])
        if len(variables) != len(self._shapes):
            raise ValueError(
                f"has {len(variables)} trainable variables, the trained network {len(self._shapes)}"
            )
        for variable, path, shape in zip(variables, self._paths, self._shapes):
            if tuple(variable.shape) != tuple(shape):
                raise ValueError(
                    f"variable {getattr(variable, 'path', path)!r} has shape "
                    f"{tuple(variable.shape)}, the trained network's {path!r} {tuple(shape)}"
                )
        for variable, tensor in zip(variables, self.state_dict(params.detach().cpu()).values()):
            variable.assign(tensor.numpy())
        return model

    def losses(self, params: torch.Tensor, batch: Batch) -> torch.Tensor:
        """``params: [K, d] -> [K]`` mean minibatch loss of each network."""
        check_params(params, self.num_params)
        inputs, targets = self._batch(batch)
        graph = self._graph("losses", inputs)
        values = [graph(self._params(rows), inputs, targets) for rows in self._row_blocks(params)]
        return runtime.to_torch(self._tf.concat(values, 0), params.device)

    def loss_and_grad(
        self, params: torch.Tensor, batch: Batch
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``params: [K, d] -> ([K], [K, d])`` losses and their gradients."""
        check_params(params, self.num_params)
        inputs, targets = self._batch(batch)
        graph = self._graph("loss_and_grad", inputs)
        pairs = [graph(self._params(rows), inputs, targets) for rows in self._row_blocks(params)]
        values = self._tf.concat([value for value, _ in pairs], 0)
        grads = self._tf.concat([grad for _, grad in pairs], 0)
        device = params.device
        return (
            runtime.to_torch(values, device),
            runtime.to_torch(grads, device),
        )

    def loss_and_grad_each(
        self, params: torch.Tensor, batch: Batch
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``params: [K, d]``, ``batch``: inputs ``[K, B, ...]``, targets ``[K, B]`` -> network
        k's loss and gradient on minibatch k: one vectorized map over both (or the loop)."""
        check_params(params, self.num_params)
        inputs = self._inputs(batch.inputs, each=True)
        targets = runtime.to_tensorflow(batch.targets.long())
        graph = self._graph("loss_and_grad_each", inputs)
        rows = [slice(None)] if self.batched else [slice(k, k + 1) for k in range(len(params))]
        pairs = [graph(self._params(params[r]), inputs[r], targets[r]) for r in rows]
        values = self._tf.concat([value for value, _ in pairs], 0)
        grads = self._tf.concat([grad for _, grad in pairs], 0)
        device = params.device
        return (
            runtime.to_torch(values, device),
            runtime.to_torch(grads, device),
        )

    def hessian_vector_product(self, params: torch.Tensor, batch: Batch):
        """``params: [d]`` -> ``v [d] -> H v [d]``, the Hessian of the network's training loss
        (``losses``' loss) on ``batch`` at ``params`` times ``v``, exactly, without forming H:
        forward-over-backward, a ``tf.autodiff.ForwardAccumulator`` (tangent ``v``) around the
        gradient's ``GradientTape``, one compiled graph traced once (about the cost of a few
        gradients per product)."""
        check_params(params.unsqueeze(0), self.num_params)
        inputs, targets = self._batch(batch)
        graph = self._graph("hessian", inputs)
        point = self._params(params.unsqueeze(0))

        def product(vector: torch.Tensor) -> torch.Tensor:
            result = graph(point, self._params(vector.unsqueeze(0)), inputs, targets)
            return runtime.to_torch(result, vector.device).to(vector.dtype)

        return product

    def _row_blocks(self, params: torch.Tensor) -> list[torch.Tensor]:
        """All K rows at once when batched, else one row at a time (the loop)."""
        if self.batched:
            return [params]
        return [params[k : k + 1] for k in range(params.shape[0])]

    def predict(self, params: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """``params: [d], inputs: [N, ...] -> [N, C]`` the model's outputs (logits, or whatever
        its last layer gives: the loss reads them through ``loss_from_logits``)."""
        check_params(params.unsqueeze(0), self.num_params)
        keras_inputs = self._inputs(inputs)
        outputs = self._graph("outputs", keras_inputs)(
            self._params(params.unsqueeze(0)), keras_inputs
        )
        return runtime.to_torch(outputs, params.device)

    def loss_from_logits(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``logits: [K, B, C]`` (``predict``'s outputs), ``targets: [B] -> [K]``: its loss."""
        outputs = runtime.to_tensorflow(logits.float())
        labels = runtime.to_tensorflow(targets)
        values = [self._network.network_loss(outputs[k], labels) for k in range(logits.shape[0])]
        return runtime.to_torch(self._tf.stack(values), logits.device)

    # --- compiled graphs (models.keras.graphs) -------------------------------------------

    def _graph(self, kind: str, inputs: Any) -> Any:
        """The compiled function of ``kind`` for inputs of this shape (traced once per shape)."""
        each = kind.endswith("_each")  # inputs [K, B, ...], targets [K, B]
        key = (kind, tuple(inputs.shape[2 if each else 1 :]))
        if key not in self._graphs:
            signature = self._network.signature(kind, key[1], inputs.dtype, self.num_params)
            self._graphs[key] = self._tf.function(
                self._network.function(kind), input_signature=signature, jit_compile=self.xla
            )
        return self._graphs[key]

    # --- tensors from torch --------------------------------------------------------------

    def _params(self, params: torch.Tensor) -> Any:
        return runtime.to_tensorflow(params.to(torch.float32))

    def _inputs(self, inputs: torch.Tensor, each: bool = False) -> Any:
        """``[B, ...]`` (with ``each``, ``[K, B, ...]``) as Keras takes it: images
        channels-last."""
        if self.channels_last and inputs.dim() == 4 + each:
            inputs = inputs.permute(*range(1 + each), 2 + each, 3 + each, 1 + each)
        return runtime.to_tensorflow(inputs.to(torch.float32).contiguous())

    def _batch(self, batch: Batch) -> tuple[Any, Any]:
        return self._inputs(batch.inputs), runtime.to_tensorflow(batch.targets.long())
