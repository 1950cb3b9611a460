"""The per-layer training signal ``s_I`` (Musso 2021, "Partial local entropy and anisotropy in
deep weight spaces", Phys. Rev. E 103, 042303, Eq. 2): how strongly the training loss pulls on
the weights of layer ``I``,

    s_I(w) = (1/N_I) sum_{i in I} |dE_train(w) / dw_i|

the mean absolute component of the loss gradient over the ``N_I`` parameters of layer ``I``
(weights and biases, the model's layer slices). Layers with a weak signal are the flat
directions that partial local entropy smooths. ``E_train`` is the mean loss over the probe
examples (``sampler.flatness.probe_set``); logged during training with ``--signal-every N``
(keys ``signal_<layer>`` of metrics.jsonl; these gradients are diagnostics and are not counted
in ``grad_evals``) and at the final point by ``sampler flatness``.

Unverified against Eq. 2. Checked again (the project's stored-page search, queries on the title,
arXiv 2007.09091, Phys. Rev. E 103, 042303, "training signal", "layer temperature"): the store
holds only the abstract and the first paragraphs of the introduction (ar5iv.arxiv.org/html/
2007.09091, tomesphere.com/paper/2007.09091, aitopics.org), none of Section 2 or its equations,
and no public code of the paper was found in the stored repositories. The abstract speaks of a
"temperature" of each layer that follows a common cooling law late in training; whether that
quantity, or Eq. 2, is this mean absolute gradient or, e.g., a mean square, a norm or a
noise-to-signal ratio of minibatch gradients could not be read. The formula above is what is
implemented and tested (``tests/flatness/test_flatness_probes.py``); treat it as this project's
definition until it is checked against the paper's text.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from sampler.models import Batch, Model

SIGNAL_EXAMPLES = 1000  # probe examples of the signal logged during training (--signal-every)


def layer_signal(gradient: torch.Tensor, layers: Mapping[str, slice]) -> dict[str, float]:
    """``gradient: [d]`` -> ``{layer: s_I}``."""
    return {name: float(gradient[part].abs().mean()) for name, part in layers.items()}


def signal_record(model: Model, params: torch.Tensor, batch: Batch) -> dict[str, float]:
    """The metrics.jsonl entries ``signal_<layer>`` of ``params: [d]`` on ``batch``."""
    _, gradient = model.loss_and_grad(params.unsqueeze(0), batch)
    return {
        f"signal_{name}": value for name, value in layer_signal(gradient[0], model.layers).items()
    }
