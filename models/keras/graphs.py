"""The TensorFlow computations of a ``KerasModel`` (``models.keras.model``), before they are
compiled: one network's training loss, its flat gradient by a ``GradientTape``, its
Hessian-vector product forward-over-backward, and the K networks of a ``[K, d]`` block as one
``tf.vectorized_map`` (or, ``batched=False``, a loop of one-network graphs), with the input
signature each is compiled with.

The training loss of one network is the minibatch loss of its outputs plus the losses the model
adds (``model.losses``), as Keras' ``fit`` adds them; the module docstring of
``models.keras.model`` says why a tape per network and not one around the map.
"""

from __future__ import annotations

from typing import Any


class NetworkGraphs:
    """``NetworkGraphs(tf, keras_model, frozen, loss, shapes, sizes, batched)``: the functions
    of ``KerasModel``'s graphs, on its trainable variables' ``shapes`` and ``sizes``."""

    def __init__(
        self,
        tf: Any,
        model: Any,
        frozen: list,
        loss: Any,
        shapes: list[tuple[int, ...]],
        sizes: list[int],
        batched: bool,
    ) -> None:
        self.tf = tf
        self.model = model
        self.frozen = frozen  # the non-trainable values, constants of every graph
        self.loss = loss
        self.shapes = shapes
        self.sizes = sizes
        self.batched = batched

    def function(self, kind: str) -> Any:
        """The Python function that the graph of ``kind`` compiles."""
        return {
            "losses": self.losses,
            "loss_and_grad": self.loss_and_grad,
            "outputs": self.single_outputs,
            "hessian": self.hessian_product,
            "loss_and_grad_each": self.loss_and_grad_each,
        }[kind]

    def signature(self, kind: str, shape: tuple, dtype: Any, num_params: int) -> list:
        """The input signature of the graph of ``kind`` for inputs of one example's ``shape``."""
        tf = self.tf
        each = kind.endswith("_each")  # inputs [K, B, ...], targets [K, B]
        params = tf.TensorSpec([None, num_params], tf.float32)
        lead = [None, None] if each else [None]
        signature = [params, tf.TensorSpec([*lead, *shape], dtype)]
        if kind != "outputs":
            signature.append(tf.TensorSpec(lead, tf.int64))
        if kind == "hessian":
            signature.insert(1, params)  # the vector
        return signature

    def network_loss(self, outputs: Any, targets: Any) -> Any:
        return self.tf.reduce_mean(self.loss(targets, outputs))  # mean of a per-example loss

    def outputs(self, variables: list, inputs: Any) -> Any:
        outputs, _ = self.model.stateless_call(variables, self.frozen, inputs, training=False)
        return outputs

    def objective(self, variables: list, inputs: Any, targets: Any) -> Any:
        """One network's training loss: the minibatch loss of its outputs plus the sum of the
        losses the model adds (``model.losses``: weight regularizers of ``variables``, activity
        regularizers and ``add_loss`` terms of this call), as Keras' own ``fit`` adds them."""
        outputs, _, added = self.model.stateless_call(
            variables, self.frozen, inputs, training=False, return_losses=True
        )
        loss = self.network_loss(outputs, targets)
        for term in added:
            loss = loss + self.tf.cast(self.tf.reduce_sum(term), loss.dtype)
        return loss

    def split(self, params: Any) -> list:
        """``[K, d] -> [[K, *shape] per variable]`` (one copy: TensorFlow has no strided views)."""
        parts = self.tf.split(params, self.sizes, axis=1)
        return [self.tf.reshape(p, (-1, *shape)) for p, shape in zip(parts, self.shapes)]

    def losses(self, params: Any, inputs: Any, targets: Any) -> Any:
        """``[K, d] -> [K]``: one vectorized computation, or (loop) the network of ``[1, d]``."""

        def one(variables):
            return self.objective(list(variables), inputs, targets)

        if not self.batched:
            return self.tf.reshape(one([v[0] for v in self.split(params)]), (1,))
        return self.tf.vectorized_map(one, self.split(params))

    def network_loss_and_grad(self, variables: list, inputs: Any, targets: Any):
        """One network's loss and flat gradient, by a tape."""
        tf = self.tf
        with tf.GradientTape() as tape:
            tape.watch(variables)
            loss = self.objective(variables, inputs, targets)
        grads = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return loss, tf.concat([tf.reshape(grad, (-1,)) for grad in grads], 0)

    def loss_and_grad(self, params: Any, inputs: Any, targets: Any) -> tuple[Any, Any]:
        """``[K, d] -> ([K], [K, d])``: a tape per network inside the vectorized map."""

        def one(variables):
            return self.network_loss_and_grad(list(variables), inputs, targets)

        if not self.batched:
            loss, grad = one([v[0] for v in self.split(params)])
            return self.tf.reshape(loss, (1,)), grad[None]
        return self.tf.vectorized_map(one, self.split(params))

    def loss_and_grad_each(self, params: Any, inputs: Any, targets: Any) -> tuple[Any, Any]:
        """``[K, d], [K, B, ...], [K, B] -> ([K], [K, d])``: network k on minibatch k, the map
        running over parameters and minibatches together."""

        def one(network):
            variables, x, y = network
            return self.network_loss_and_grad(list(variables), x, y)

        if not self.batched:
            loss, grad = one(([v[0] for v in self.split(params)], inputs[0], targets[0]))
            return self.tf.reshape(loss, (1,)), grad[None]
        return self.tf.vectorized_map(one, (self.split(params), inputs, targets))

    def hessian_product(self, params: Any, vector: Any, inputs: Any, targets: Any) -> Any:
        """``[1, d], [1, d] -> [d]``: the directional derivative along ``vector`` of the
        gradient at ``params``."""
        tf = self.tf
        variables = [v[0] for v in self.split(params)]
        tangents = [t[0] for t in self.split(vector)]
        zero = tf.UnconnectedGradients.ZERO
        with tf.autodiff.ForwardAccumulator(variables, tangents) as accumulator:
            with tf.GradientTape() as tape:
                tape.watch(variables)
                loss = self.objective(variables, inputs, targets)
            grads = tape.gradient(loss, variables, unconnected_gradients=zero)
        products = accumulator.jvp(grads, unconnected_gradients=zero)
        return tf.concat([tf.reshape(p, (-1,)) for p in products], 0)

    def single_outputs(self, params: Any, inputs: Any) -> Any:
        return self.outputs([v[0] for v in self.split(params)], inputs)
