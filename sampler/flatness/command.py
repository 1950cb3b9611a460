"""``sampler flatness RUN_DIR``: the flatness probes of the seed papers at a run's parameters.

Reads ``config.json`` and ``checkpoint.pt`` of the run (an unfinished run is probed at its
last checkpoint), rebuilds its model and data, and measures on ``--examples`` training examples
(``sampler.flatness.probe_set``): the local energy of the loss and of the error over a grid of
``--sigma`` (``local_energy``), the importance-sampling estimate of ``F_tau`` with its ESS over
``--taus`` (``local_entropy``), the top ``--eigenvalues`` Hessian eigenvalues (``hessian``) and
the per-layer signal ``s_I`` (``layer_signal``); with ``--normalise-units`` every sign unit of a
committee or perceptron is first rescaled to norm 1 (Baldassi et al., PNAS 2020, Fig. 5's
"normalised network"); asked for, the BP local entropy of the tree
committee / perceptron over ``--bp-couplings`` on the whole training set (``bp_local_entropy``:
binary solutions around sign(w)) and over ``--bp-distances`` (``continuous_bp``: solutions with
real weights, each unit on its sphere, around w).
Writes ``flatness.json`` and ``flatness.png``
to the run directory (or ``--out``), where ``sampler compare`` finds them.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from sampler.baselines.least_action import normalise, sign_units
from sampler.flatness.bp_local_entropy import probe_units
from sampler.flatness.report import HESSIAN_UNAVAILABLE, has_hessian, probe
from sampler.runs.atomic_file import write_json_atomic
from sampler.runs.files import RunWriteError
from sampler.runs.output_folder import out_folder_error
from sampler.setup.run_point import load_point

PROBES = ("local-energy", "local-entropy", "hessian", "signal")
EXTRA_PROBES = ("bp-local-entropy", "bp-local-entropy-continuous")  # only when asked: tree
# committees and perceptrons (binary solutions around sign(w); real ones around w)
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


def _distances(text: str) -> list[float]:
    values = _numbers("--bp-distances")(text)
    if not all(v < 0.5 for v in values):
        raise argparse.ArgumentTypeError(
            f"--bp-distances: must be a comma-separated list of numbers in (0, 0.5), got {text!r}"
        )
    return values


def _probes(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    if not chosen or any(p not in PROBES + EXTRA_PROBES for p in chosen):
        raise argparse.ArgumentTypeError(
            f"--probes: must be a comma-separated subset of "
            f"{','.join(PROBES + EXTRA_PROBES)}, got {text!r}"
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
        help=f"which probes (default: {','.join(PROBES)}; also: {','.join(EXTRA_PROBES)})",
    )
    add(
        "--bp-couplings",
        type=_numbers("--bp-couplings"),
        default=[0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0],
        help="couplings lambda of the BP local-entropy probe, one point (distance) each "
        "(default: 0.25,0.5,1,1.5,2,3,4)",
    )
    add(
        "--bp-distances",
        type=_distances,
        default=[0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2],
        help="distances d = (1 - q) / 2 of the continuous BP local-entropy probe "
        "(bp-local-entropy-continuous), each in (0, 0.5) (default: "
        "0.005,0.01,0.02,0.03,0.05,0.07,0.1,0.15,0.2)",
    )
    add(
        "--bp-iterations",
        type=_at_least("--bp-iterations", 1),
        default=500,
        help="BP iterations per point at most (default: 500)",
    )
    add(
        "--bp-max-reference-errors",
        type=_at_least("--bp-max-reference-errors", 0),
        default=None,
        help="skip a BP local-entropy curve when its reference (sign(w) for bp-local-entropy, w "
        "for bp-local-entropy-continuous) has more training errors than this (it is then no "
        "solution; the errors are still reported; default: never skip)",
    )
    add(
        "--normalise-units",
        action="store_true",
        help="probe the normalised network: every sign unit of a committee or perceptron "
        "rescaled to norm 1 (the network's function unchanged)",
    )
    add("--seed", type=_at_least("--seed", 0), default=0, help="seed of every probe's noise")
    add("--out", metavar="DIR", help="where to write flatness.json/.png (default: RUN_DIR)")
    parser.set_defaults(handler=lambda args: run(args, parser))


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    out = Path(args.out) if args.out else Path(args.run)
    problem = out_folder_error(out) if args.out else None
    if problem:
        parser.error(problem)
    try:
        config, model, dataset, params, step = load_point(args.run)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    if args.normalise_units:
        try:
            params = normalise(params, sign_units(model, "flatness"))
        except ValueError:
            parser.error(
                "--normalise-units: needs a run of --model committee or perceptron, got "
                + type(model).__name__
            )
    for name in ("bp-local-entropy", "bp-local-entropy-continuous"):
        if name in args.probes:
            try:
                probe_units(model, name)
            except ValueError as error:
                parser.error(str(error))
    if "hessian" in args.probes and not has_hessian(model):
        parser.error("--probes hessian: " + HESSIAN_UNAVAILABLE.format(type(model).__name__))
    if "hessian" in args.probes and args.eigenvalues >= model.num_params:
        parser.error(
            f"--eigenvalues: must be less than the model's {model.num_params} parameters, "
            f"got {args.eigenvalues}"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        parser.error(f"--out {out}: cannot create the folder ({error.strerror or error})")
    report = probe(args, config, model, dataset, params, step)
    # deferred: flatness.plot imports matplotlib, heavy, needed only once the probes are done
    from sampler.flatness.plot import plot_flatness

    title = f"{config.method_name} on {config.model}, update {step}: {args.run}"
    try:  # each file whole or not at all; a full disk is one line naming the file
        write_json_atomic(out / REPORT, report)
        plot_flatness(report, out / FIGURE, title)
    except RunWriteError as error:
        parser.error(str(error))
    print(summary_line(report))
    print(f"wrote {out / REPORT} and {out / FIGURE}")
    return 0


def curve_text(points: list[dict], distance: str) -> str:
    """``d=...: value`` per point of a BP local-entropy curve, flagging unconverged points."""
    return ", ".join(
        f"d={format(p['distance'], distance)}: "
        + ("n/a" if p["normalised"] is None else f"{p['normalised']:.4f}")
        + ("" if p["converged"] else " (not converged)")
        for p in points
    )


def summary_line(report: dict) -> str:
    parts = [f"update {report['step']}: train loss {report['train_loss']:.4f}"]
    for point in report.get("local_energy", {}).get("loss", []):
        parts.append(f"dE(sigma={point['sigma']:g}) {point['local_energy']:.4f}")
    if "hessian" in report:
        parts.append(f"lambda_max {report['hessian']['eigenvalues'][0]:.4g}")
    for key, label, distance in (
        ("bp_local_entropy", "BP local entropy", ".3f"),
        ("bp_local_entropy_continuous", "continuous BP local entropy", "g"),
    ):
        if key in report:
            parts.append(f"{label} " + curve_text(report[key]["points"], distance))
    if "signal" in report:
        parts.append(
            "s_I " + ", ".join(f"{name} {value:.3g}" for name, value in report["signal"].items())
        )
    return "; ".join(parts)
