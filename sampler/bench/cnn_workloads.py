"""The CNN workloads of ``sampler bench --models small-conv,tiny-conv`` (issue 21).

For a convolutional network of the zoo on the embedded MNIST (minibatch 20, tau = 0.01, the seeded
initialisation): the literal IS update (J given, fixed beta) beside its noise + forward floor; the
layer-wise update of every layer (``--proposal layerwise``, each beside its own noise + forward
floor: the block's numbers, the forward from its input activations); what ``sampler train --model
NAME`` runs by default, one update per layer (on a CNN ``layerwise-size`` at ``--tau-scale auto``,
with the model's own IS settings where it declares them, ``ModelSpec.trains_with``: on ``tiny-conv``
J = 4,000 on minibatches of 40 whatever ``--samples`` says, which the ``vs is literal`` label of
these rows states); and an SGD step. Derived rows: ``layerwise`` (cyclic) costs the mean over the
layers per update, ``layerwise-size`` and the defaults the mean weighted by each layer's share of
the parameters (the probability it is drawn), each with the same average of its floors.
"""

from __future__ import annotations

import torch

from sampler.bench.workloads import (
    BATCH,
    CPU,
    FIXED_BETA,
    TAU,
    default_is,
    is_workload,
    reference_problem,
    sgd_workload,
)
from sampler.config.sources import make_config
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.estimators.layerwise import block_of, layer_weights
from sampler.scheme.tau import DEFAULT_LAYER, TauSchedule
from sampler.scheme.tau_scale import DEFAULT_TAU, layer_scales

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
    own = make_config({"model": model_name, "data": "mnist"})  # the model's own defaults
    options = dict(own.method_options)
    default = default_is(options.pop("samples", samples), options)
    default_tau = first_tau(options) * per_layer(model, layer_scales("auto", model, 0), device)
    default_problem = reference_problem(model_name, device, own.batch_size)[1]
    scheme = default.scheme(default_problem)
    for layer in model.layers:  # the default perturbs one layer per update
        step = drawn_at(model, layer, scheme)
        name = f"is defaults {layer}"
        workloads.append(
            is_workload(name, default, default_problem, center, default_tau, step=step)
        )
    workloads.append(sgd_workload(problem, center))
    described = {
        "num_params": model.num_params,
        "default_proposal": scheme.name,
        "default_samples": default.samples,
        "default_batch_size": own.batch_size,
        "layer_shares": draw_shares(model, by_size=True, power=1.0),
        "default_shares": draw_shares(model, scheme.by_size, scheme.power, scheme.floor),
    }
    return workloads, described


def defaults_differ(args, described: dict) -> str:
    """How the defaults rows' J and minibatch differ from the literal update's (``--samples``,
    minibatch ``BATCH``); empty where they do not."""
    samples, batch = described["default_samples"], described["default_batch_size"]
    if (samples, batch) == (args.samples, BATCH):
        return ""
    return f"J {samples} on {batch} images against J {args.samples} on {BATCH}"


def first_tau(options: dict) -> float:
    """The tau of update 0 of a model's own ``--tau`` (one schedule for every layer), in the
    units of ``--tau-scale auto``; the default 0.01 where it declares none."""
    return TauSchedule(options.get("tau", DEFAULT_TAU)).schedules[DEFAULT_LAYER](0)


def draw_shares(model, by_size: bool, power: float, floor: float = 0.0) -> dict[str, float]:
    """Each layer's probability of being an update's block (``layerwise.layer_weights``
    normalised)."""
    weights = layer_weights(model, by_size, power, floor)
    total = sum(weights.values())
    return {layer: weight / total for layer, weight in weights.items()}


def per_layer(model, scales: dict[str, float] | None, device) -> torch.Tensor:
    """The ``[d]`` vector of the layers' factors (``None``: 1 everywhere)."""
    vector = torch.ones(model.num_params, device=device)
    for layer, part in model.layers.items():
        vector[part] = 1.0 if scales is None else scales[layer]
    return vector


def drawn_at(model, layer: str, scheme, seed: int = 0) -> int:
    """The first update at which the layer-wise ``scheme`` (seed ``seed``) perturbs ``layer``."""
    return next(
        s
        for s in range(100_000)
        if block_of(model, s, scheme.by_size, seed, scheme.power, scheme.floor) == layer
    )


def layerwise_rows(
    model: str, workloads, shares: dict[str, float], default_shares: dict[str, float]
) -> list[dict]:
    """The per-update seconds of ``layerwise`` (cyclic), ``layerwise-size`` (by size) and the
    defaults (each layer weighted by its share of the default's updates, at their tau and
    beta), with their floors, from the per-layer workloads."""
    by_name = {w.name: w for w in workloads}
    rows = []
    for name, weights, prefix in (
        ("is layerwise (cyclic, mean)", [1 / len(shares)] * len(shares), "is layerwise"),
        ("is layerwise-size (expected)", list(shares.values()), "is layerwise"),
        ("is defaults (expected)", [default_shares[layer] for layer in shares], "is defaults"),
    ):
        layers = [by_name[f"{prefix} {layer}"] for layer in shares]
        seconds = sum(p * w.seconds() for p, w in zip(weights, layers))
        floors = {
            key: sum(p * w.floor(key) for p, w in zip(weights, layers)) for key in layers[0].floors
        }
        rows.append({"model": model, "workload": name, "seconds": seconds, "floors": floors})
    return rows
