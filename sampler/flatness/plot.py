"""The figure of ``sampler flatness``: the probes of one trained point on four panels.

(a) local energy ``dE_train(w, sigma)`` of the loss and of the error against sigma, with
Monte Carlo standard errors (Pittorino et al. 2021, Eq. 4); (b) the importance-sampling
estimate of ``F_tau(w)`` against tau beside ``beta E_train(w)`` (its tau -> 0 limit), with the
ESS on a second axis; (c) the top Hessian eigenvalues; (d) the per-layer signal ``s_I``
(Musso 2021). Drawn with matplotlib's Agg canvas (no display, no global pyplot state).
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sampler.runs.atomic_file import write_atomic


def plot_flatness(report: dict, path: Path, title: str) -> None:
    """Write the PNG of a flatness ``report`` (the dict written as flatness.json)."""
    figure = Figure(figsize=(11, 8))
    FigureCanvasAgg(figure)
    energy, entropy, hessian, signal = figure.subplots(2, 2).ravel()
    for name, curve in report.get("local_energy", {}).items():
        sigmas = [p["sigma"] for p in curve]
        energy.errorbar(
            sigmas,
            [p["local_energy"] for p in curve],
            yerr=[p["standard_error"] for p in curve],
            marker="o",
            capsize=3,
            label=f"train {name}",
        )
    energy.set(xlabel="sigma (multiplicative noise)", ylabel="local energy dE_train(w, sigma)")
    energy.set_title("local energy (Pittorino et al., Eq. 4)")
    if report.get("local_energy"):
        energy.legend()
    curve = report.get("local_entropy")
    if curve:
        taus = [p["tau"] for p in curve]
        entropy.errorbar(
            taus,
            [p["free_energy"] for p in curve],
            yerr=[p["standard_error"] for p in curve],
            marker="o",
            capsize=3,
            label="IS estimate of F_tau(w)",
        )
        entropy.axhline(
            report["beta"] * report["train_loss"], color="gray", ls="--", label="beta E_train(w)"
        )
        entropy.set_xscale("log")
        entropy.legend(loc="upper left")
        ess = entropy.twinx()
        ess.plot(taus, [p["ess"] for p in curve], color="tab:red", marker="x", label="ESS")
        ess.set_ylabel(f"ESS (of J = {curve[0]['samples']})", color="tab:red")
        ess.set_ylim(0, curve[0]["samples"] * 1.05)
    entropy.set(xlabel="tau", ylabel="F_tau(w)")
    entropy.set_title(f"local entropy, J = {curve[0]['samples'] if curve else '-'} samples")
    values = report.get("hessian", {}).get("eigenvalues", [])
    hessian.bar([f"lambda_{i + 1}" for i in range(len(values))], values, color="tab:purple")
    hessian.set(ylabel="eigenvalue of the training-loss Hessian")
    hessian.set_title("top Hessian eigenvalues")
    layers = report.get("signal", {})
    signal.bar(list(layers), list(layers.values()), color="tab:green")
    signal.set(ylabel="s_I = mean |dE_train / dw_i| over layer I")
    signal.set_title("per-layer training signal (Musso)")
    figure.suptitle(title)
    figure.subplots_adjust(left=0.08, right=0.92, bottom=0.07, top=0.9, hspace=0.35, wspace=0.35)
    write_atomic(path, lambda handle: figure.savefig(handle, format="png", dpi=80), role="")
