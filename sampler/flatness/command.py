"""``sampler flatness RUN_DIR``: the flatness probes of the seed papers at a run's parameters.

Reads ``config.json`` and ``checkpoint.pt`` of the run (an unfinished run is probed at its
last checkpoint), rebuilds its model and data, and measures on ``--examples`` training examples
(``sampler.flatness.probe_set``): the local energy of the loss and of the error over a grid of
``--sigma`` (``local_energy``), the importance-sampling estimate of ``F_tau`` with its ESS over
``--taus`` (``local_entropy``), the top ``--eigenvalues`` Hessian eigenvalues (``hessian``) and
the per-layer signal ``s_I`` (``layer_signal``). Writes ``flatness.json`` and ``flatness.png``
to the run directory (or ``--out``), where ``sampler compare`` finds them.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from sampler.run_directory import CHECKPOINT, CONFIG, RunDirectory, write_json_atomic

PROBES = ("local-energy", "local-entropy", "hessian", "signal")
REPORT, FIGURE = "flatness.json", "flatness.png"


def _numbers(flag: str, positive: bool = True):
    def parse(text: str) -> list[float]:
        try:
            values = [float(part) for part in text.split(",") if part.strip()]
        except ValueError:
            values = []
        if not values or not all(math.isfinite(v) and (v > 0 or not positive) for v in values):
            raise argparse.ArgumentTypeError(
                f"{flag}: must be a comma-separated list of positive numbers, got {text!r}"
            )
        return values

    return parse


def _positive(flag: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"{flag}: must be a positive number, got {text!r}")
        return value

    return parse


def _at_least(flag: str, low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"{flag}: must be an integer >= {low}, got {text!r}")
        return value

    return parse


def _probes(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    if not chosen or any(p not in PROBES for p in chosen):
        raise argparse.ArgumentTypeError(
            f"--probes: must be a comma-separated subset of {','.join(PROBES)}, got {text!r}"
        )
    return chosen


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "flatness", help="probe the flatness of a run's parameters (JSON and PNG)"
    )
    parser.add_argument("run", metavar="RUN_DIR", help="a run directory (sampler train --out)")
    add = parser.add_argument
    add(
        "--sigma",
        type=_numbers("--sigma"),
        default=[0.05, 0.1, 0.2, 0.3, 0.4, 0.5],
        help="noise levels of the local energy (default: 0.05,0.1,0.2,0.3,0.4,0.5)",
    )
    add(
        "--noise-samples",
        type=_at_least("--noise-samples", 2),
        default=50,
        help="Monte Carlo draws z per sigma (default: 50)",
    )
    add(
        "--taus",
        type=_numbers("--taus"),
        default=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
        help="variances of the local entropy (default: 0.0001,0.0003,0.001,0.003,0.01)",
    )
    add(
        "--samples",
        type=_at_least("--samples", 2),
        default=200,
        help="importance samples J per tau (default: 200)",
    )
    add(
        "--beta",
        type=_positive("--beta"),
        default=1.0,
        help="inverse temperature of the local entropy (default: 1)",
    )
    add(
        "--eigenvalues",
        type=_at_least("--eigenvalues", 1),
        default=3,
        help="how many top Hessian eigenvalues (default: 3)",
    )
    add(
        "--examples",
        type=_at_least("--examples", 1),
        default=1000,
        help="training examples the probes evaluate on (default: 1000)",
    )
    add(
        "--probes",
        type=_probes,
        default=list(PROBES),
        help=f"which probes (default: {','.join(PROBES)})",
    )
    add("--seed", type=_at_least("--seed", 0), default=0, help="seed of every probe's noise")
    add("--out", metavar="DIR", help="where to write flatness.json/.png (default: RUN_DIR)")
    parser.set_defaults(handler=lambda args: run(args, parser))


def load_point(run_dir: str):
    """``(config, model, dataset, params [d], step)`` of the run's last checkpoint."""
    import torch

    from sampler.config import _from_run_record, make_config
    from sampler.models import DATASETS, MODELS
    from sampler.run import data_options

    directory = RunDirectory(run_dir)
    if not (directory.path / CONFIG).is_file():
        raise ValueError(f"RUN_DIR {run_dir}: not a run directory (no {CONFIG})")
    if not (directory.path / CHECKPOINT).is_file():
        raise ValueError(
            f"RUN_DIR {run_dir}: no {CHECKPOINT} yet (a run writes one every --checkpoint-every "
            "updates)"
        )
    config = make_config(_from_run_record(directory.read_config()))
    dataset = DATASETS[config.data](data_options(config))
    model = MODELS[config.model](dataset.input_shape, dataset.num_classes, **config.model_options)
    checkpoint = directory.load_checkpoint()
    params = checkpoint["params"].to(torch.float32)
    return config, model, dataset, params, int(checkpoint["step"])


def _error_rates(model, batch):
    """``[K, d] -> [K]``: the misclassified fraction of each network (a loop of predictions)."""
    import torch

    def evaluate(params: torch.Tensor) -> torch.Tensor:
        wrong = [
            (model.predict(p, batch.inputs).argmax(dim=1) != batch.targets).float().mean()
            for p in params
        ]
        return torch.stack(wrong)

    return evaluate


def probe(args: argparse.Namespace, config, model, dataset, params, step) -> dict:
    """Run the chosen probes; the report that flatness.json holds."""
    from sampler.flatness.hessian import top_eigenvalues
    from sampler.flatness.layer_signal import layer_signal
    from sampler.flatness.local_energy import local_energy
    from sampler.flatness.local_entropy import local_entropy_curve
    from sampler.flatness.probe_set import probe_batch
    from sampler.problem import Problem

    batch = probe_batch(dataset, args.seed, args.examples)
    problem = Problem(model, batch)
    report: dict = {
        "run": str(args.run),
        "step": step,
        "finished": (Path(args.run) / "summary.json").is_file(),
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
            report["hessian"] = top_eigenvalues(
                differentiable_loss(model, batch), params, args.eigenvalues, args.seed
            )
        elif name == "signal":
            _, gradient = model.loss_and_grad(params.unsqueeze(0), batch)
            report["signal"] = layer_signal(gradient[0], model.layers)
        report["seconds"][name] = time.perf_counter() - tick
    return report


def differentiable_loss(model, batch):
    """``[d] -> []``: the mean loss on ``batch`` as a function torch.func can differentiate
    twice (the graph-capable loss of every model of the zoo, ``AutogradModel._losses``)."""
    losses = getattr(model, "_losses", None)
    if losses is None:
        raise ValueError(
            f"--probes hessian: the model {type(model).__name__} has no differentiable loss; "
            "leave hessian out of --probes"
        )
    return lambda params: losses(params.unsqueeze(0), batch)[0]


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        config, model, dataset, params, step = load_point(args.run)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    if "hessian" in args.probes and args.eigenvalues >= model.num_params:
        parser.error(
            f"--eigenvalues: must be less than the model's {model.num_params} parameters, "
            f"got {args.eigenvalues}"
        )
    out = Path(args.out) if args.out else Path(args.run)
    out.mkdir(parents=True, exist_ok=True)
    report = probe(args, config, model, dataset, params, step)
    write_json_atomic(out / REPORT, report)
    from sampler.flatness.plot import plot_flatness

    method = config.baseline or config.estimator
    plot_flatness(report, out / FIGURE, f"{method} on {config.model}, update {step}: {args.run}")
    print(summary_line(report))
    print(f"wrote {out / REPORT} and {out / FIGURE}")
    return 0


def summary_line(report: dict) -> str:
    parts = [f"update {report['step']}: train loss {report['train_loss']:.4f}"]
    for point in report.get("local_energy", {}).get("loss", []):
        parts.append(f"dE(sigma={point['sigma']:g}) {point['local_energy']:.4f}")
    if "hessian" in report:
        parts.append(f"lambda_max {report['hessian']['eigenvalues'][0]:.4g}")
    if "signal" in report:
        parts.append(
            "s_I " + ", ".join(f"{name} {value:.3g}" for name, value in report["signal"].items())
        )
    return "; ".join(parts)
