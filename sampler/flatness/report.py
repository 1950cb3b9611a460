"""The flatness report of a run's trained point: the probes of ``sampler flatness`` in one
dict (what flatness.json holds).

Takes the run's trained point (``sampler.setup.run_point``: the model and data rebuilt from
``config.json``, the parameters of its last ``checkpoint.pt``), and evaluates on the probe
examples (``sampler.flatness.probe_set``): ``E_train(w)`` and the training error, the local
energy of both over the sigma grid (``local_energy``; the error of K perturbed networks is a
loop of ``predict``, the loss one batched evaluation), ``F_tau`` and its ESS over the tau grid
(``local_entropy``), the top Hessian eigenvalues (``hessian``), ``s_I`` (``layer_signal``) and,
asked for, the BP local entropy on the whole training set (``bp_local_entropy``, binary;
``continuous_bp``, real weights on each unit's sphere), with the seconds each probe took.
"""

from __future__ import annotations

import argparse
import time

import torch

from sampler.flatness.bp_local_entropy import bp_local_entropy_curve
from sampler.flatness.continuous_bp import continuous_local_entropy_curve
from sampler.flatness.hessian import top_eigenvalues
from sampler.flatness.layer_signal import layer_signal
from sampler.flatness.local_energy import local_energy
from sampler.flatness.local_entropy import local_entropy_curve
from sampler.flatness.probe_set import probe_batch
from sampler.problem import Problem
from sampler.runs.directory import SUMMARY, RunDirectory
from sampler.runs.files import read_json_object

HESSIAN_UNAVAILABLE = (
    "the model {} gives no Hessian-vector products (neither a twice-differentiable torch loss "
    "nor a hessian_vector_product method); the other probes work for it: --probes "
    "local-energy,local-entropy,signal"
)


def has_hessian(model) -> bool:
    """Whether the Hessian probe has Hessian-vector products of the model's loss: its own
    (``hessian_vector_product``, the Keras adapter) or by double backward of its graph-capable
    torch loss (``_losses``, every torch model of the zoo)."""
    return any(
        getattr(model, name, None) is not None for name in ("hessian_vector_product", "_losses")
    )


def _error_rates(model, batch):
    """``[K, d] -> [K]``: the misclassified fraction of each network (a loop of predictions)."""

    def evaluate(params: torch.Tensor) -> torch.Tensor:
        wrong = [
            (model.predict(p, batch.inputs).argmax(dim=1) != batch.targets).float().mean()
            for p in params
        ]
        return torch.stack(wrong)

    return evaluate


def probe(args: argparse.Namespace, config, model, dataset, params, step) -> dict:
    """Run the chosen probes (``args``: the flags of ``sampler flatness``)."""
    batch = probe_batch(dataset, args.seed, args.examples)
    problem = Problem(model, batch)
    report: dict = {
        "run": str(args.run),
        "step": step,
        "finished": _summary_steps(args.run) == step,
        "examples": int(batch.targets.shape[0]),
        "seed": args.seed,
        "beta": args.beta,
        "train_loss": float(model.losses(params.unsqueeze(0), batch)[0]),
        "train_error": float(_error_rates(model, batch)(params.unsqueeze(0))[0]),
        "seconds": {},
    }
    for name in args.probes:
        tick = time.perf_counter()
        if name == "local-energy":
            report["local_energy"] = {
                "loss": local_energy(
                    lambda p: model.losses(p, batch),
                    params,
                    args.sigma,
                    args.noise_samples,
                    args.seed,
                ),
                "error": local_energy(
                    _error_rates(model, batch), params, args.sigma, args.noise_samples, args.seed
                ),
            }
        elif name == "local-entropy":
            report["local_entropy"] = local_entropy_curve(
                problem, params, args.taus, args.samples, args.seed, args.beta
            )
        elif name == "hessian":
            report["hessian"] = hessian_report(model, batch, params, args.eigenvalues, args.seed)
        elif name == "bp-local-entropy":
            report["bp_local_entropy"] = bp_local_entropy_curve(
                model,
                dataset.train_x,
                dataset.train_y,
                params,
                args.bp_couplings,
                args.bp_iterations,
                args.bp_max_reference_errors,
            )
        elif name == "bp-local-entropy-continuous":
            report["bp_local_entropy_continuous"] = continuous_local_entropy_curve(
                model,
                dataset.train_x,
                dataset.train_y,
                params,
                args.bp_distances,
                args.bp_iterations,
                args.bp_max_reference_errors,
            )
        elif name == "signal":
            _, gradient = model.loss_and_grad(params.unsqueeze(0), batch)
            report["signal"] = layer_signal(gradient[0], model.layers)
        report["seconds"][name] = time.perf_counter() - tick
    return report


def hessian_report(model, batch, params, k: int, seed: int) -> dict:
    """The top ``k`` Hessian eigenvalues of the model's training loss on ``batch`` at ``params``:
    from the model's own Hessian-vector products where it has them, else by double backward."""
    own = getattr(model, "hessian_vector_product", None)
    if own is not None:
        return top_eigenvalues(None, params, k, seed, product=own(params, batch))
    return top_eigenvalues(differentiable_loss(model, batch), params, k, seed)


def differentiable_loss(model, batch):
    """``[d] -> []``: the mean loss on ``batch`` as a function torch.func can differentiate
    twice (the graph-capable loss of every model of the zoo, ``AutogradModel._losses``)."""
    losses = getattr(model, "_losses", None)
    if losses is None:
        raise ValueError(f"--probes hessian: {HESSIAN_UNAVAILABLE.format(type(model).__name__)}")
    return lambda params: losses(params.unsqueeze(0), batch)[0]


def _summary_steps(run_dir: str) -> int | None:
    """The update count of the run's summary (None before it finishes)."""
    directory = RunDirectory(run_dir)
    try:
        return read_json_object(directory.path / SUMMARY, "the run's summary").get("steps")
    except (OSError, ValueError):  # RunFileError included: missing, a FIFO, not JSON
        return None
