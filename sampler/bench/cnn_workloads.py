"""The CNN workloads of ``sampler bench --models small-conv,tiny-conv`` (issue 21).

For a convolutional network of the zoo on the embedded MNIST (minibatch 20, tau = 0.01, the
seeded initialisation): the literal IS update (J given, fixed beta) beside its noise + forward
floor; the layer-wise update of every layer (``--proposal layerwise``, each beside its own noise
+ forward floor: the block's numbers, the forward from its input activations); the estimator's
defaults; and an SGD step. Derived rows: ``layerwise`` (cyclic) costs the mean over the layers
per update, ``layerwise-size`` the mean weighted by each layer's share of the parameters (the
probability it is drawn), each with the same average of its floors.
"""

from __future__ import annotations

import torch

from sampler.bench.workloads import (
    CPU,
    FIXED_BETA,
    TAU,
    default_is,
    is_workload,
    reference_problem,
    sgd_workload,
)
from sampler.estimators.importance_sampling import ImportanceSampling

CNN_MODELS = ("small-conv", "tiny-conv")


def cnn_workloads(model_name: str, settings, device: torch.device = CPU) -> tuple[list, dict]:
    model, problem = reference_problem(model_name, device)
    center = model.init_params(0).to(device)
    tau = torch.tensor(TAU, device=device)
    samples = settings.samples
    literal = ImportanceSampling(samples, FIXED_BETA, 100)
    workloads = [is_workload("is literal", literal, problem, center, tau)]
    for index, layer in enumerate(model.layers):
        estimator = ImportanceSampling(samples, FIXED_BETA, 100, proposal="layerwise")
        workloads.append(
            is_workload(f"is layerwise {layer}", estimator, problem, center, tau, step=index)
        )
    default = default_is(samples)
    workloads += [is_workload("is defaults", default, problem, center, tau)]
    workloads.append(sgd_workload(problem, center))
    shares = {
        layer: (part.stop - part.start) / model.num_params for layer, part in model.layers.items()
    }
    described = {
        "num_params": model.num_params,
        "default_proposal": default.scheme(problem).name,
        "layer_shares": shares,
    }
    return workloads, described


def layerwise_rows(model: str, workloads, shares: dict[str, float]) -> list[dict]:
    """The per-update seconds of ``layerwise`` (cyclic) and ``layerwise-size`` (by size), with
    their floors, from the per-layer workloads."""
    by_name = {w.name: w for w in workloads}
    layers = [by_name[f"is layerwise {layer}"] for layer in shares]
    rows = []
    for name, weights in (
        ("is layerwise (cyclic, mean)", [1 / len(layers)] * len(layers)),
        ("is layerwise-size (expected)", list(shares.values())),
    ):
        seconds = sum(p * w.seconds() for p, w in zip(weights, layers))
        floors = {
            key: sum(p * w.floor(key) for p, w in zip(weights, layers)) for key in layers[0].floors
        }
        rows.append({"model": model, "workload": name, "seconds": seconds, "floors": floors})
    return rows
