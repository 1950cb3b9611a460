"""The top eigenvalues of the Hessian of the training loss, from Hessian-vector products.

``H v = grad_w (grad E_train(w) . v)`` (Pearlmutter's trick), computed exactly by double
backward: the gradient is built once with ``create_graph=True`` and each product is one more
backward pass through it (``torch.autograd.grad``), never forming the ``d x d`` matrix.
``torch.func`` (``vjp`` of ``grad``) gives the same numbers, but its first call imports
``torch._dynamo`` (5 s measured on the project's machine) and it needs a loss that functorch
can transform; its forward mode also loads TorchScript decompositions that warn of their
deprecation. ``scipy.sparse.linalg.eigsh`` (implicitly restarted Lanczos, ARPACK) runs on a
``LinearOperator`` whose matvec is that product and returns the ``k`` largest (algebraic)
eigenvalues ``lambda_1 >= ... >= lambda_k``: the sharpest directions of the minimum (Keskar
et al. 2017; Pittorino et al. 2021 compare them with the local energy). The Lanczos start
vector is drawn from the stream ``(seed, HESSIAN_START)``, not from numpy's global generator.
A model that is not a torch graph gives its own exact products instead (the Keras adapter's
``hessian_vector_product``, forward-over-backward in TensorFlow), passed as ``product``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from sampler.models import streams


def hessian_vector_product(
    loss: Callable[[torch.Tensor], torch.Tensor], params: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``loss: [d] -> []`` (differentiable), ``params: [d]`` -> ``v [d] -> H v [d]``."""
    with torch.enable_grad():
        point = params.detach().requires_grad_(True)
        (gradient,) = torch.autograd.grad(loss(point), point, create_graph=True)

    def product(vector: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            # the gradient of the scalar g . v: passing v as grad_outputs instead gives the same
            # numbers but makes torch import sympy (seconds) to check its shape
            (result,) = torch.autograd.grad(gradient @ vector, point, retain_graph=True)
        return result

    return product


def top_eigenvalues(
    loss: Callable[[torch.Tensor], torch.Tensor] | None,
    params: torch.Tensor,
    k: int = 3,
    seed: int = 0,
    tol: float = 1e-4,
    product: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict:
    """The ``k`` largest Hessian eigenvalues of ``loss`` at ``params: [d]``, descending, with
    the number of Hessian-vector products spent (``{"eigenvalues", "matvecs"}``). ``product``
    (``v [d] -> H v [d]`` at ``params``), where given, replaces the double backward of
    ``loss`` (which may then be None)."""
    # deferred: scipy.sparse.linalg takes about a second to import, and every `sampler` command
    # would pay it (the command line imports sampler.flatness.command, which imports the probes)
    from scipy.sparse.linalg import LinearOperator, eigsh

    d = params.shape[0]
    if not 1 <= k < d:
        raise ValueError(f"the number of eigenvalues must be in [1, {d - 1}], got {k}")
    if product is None:
        product = hessian_vector_product(loss, params.detach())
    count = [0]

    def matvec(vector: np.ndarray) -> np.ndarray:
        count[0] += 1
        v = torch.as_tensor(np.ravel(vector), dtype=params.dtype, device=params.device)
        return product(v).detach().to(torch.float64).cpu().numpy()

    operator = LinearOperator((d, d), matvec=matvec, dtype=np.float64)
    start = streams.numpy_generator(seed, streams.HESSIAN_START).standard_normal(d)
    values = eigsh(operator, k=k, which="LA", v0=start, tol=tol, return_eigenvectors=False)
    return {"eigenvalues": sorted((float(v) for v in values), reverse=True), "matvecs": count[0]}
