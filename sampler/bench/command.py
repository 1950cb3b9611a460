"""``sampler bench [--json]``: the reference workloads, ratios first.

Measured in one run, so that a shared, noisy machine loads every number alike: for each model
(``linear`` and ``mlp`` of the paper, embedded MNIST, minibatch 20, tau = 0.01) an importance-
sampling update with each proposal scheme (``literal``, ``antithetic``, ``marginal``, at a fixed
beta), the literal one with ``--beta auto`` (grid) and the estimator's defaults, the naive
Python loop, an SGLD update (1000 steps, one chain), ``rm`` and ``rm-stein`` (M = J = 30) and an
SGD step, each beside its floors (``sampler.bench.workloads``); then 1 against R ranks under a
real ``mpiexec`` and the peak memory of an update at two sample counts
(``sampler.bench.timed_runs``). The first table is the ratios with the targets of issue 13 (on one
core): literal IS at most 1.2x its noise draw plus forward passes, antithetic at most 0.65x
literal, marginalised at most 0.08x literal, SGLD at most 1.2x its noise plus gradients, 2-rank
efficiency at least 90%, peak memory independent of J. ``--models small-conv,tiny-conv`` adds
the CNN workloads of issue 21 (``sampler.bench.cnn_workloads``: literal, layer-wise per layer
and by size, the defaults, SGD; target: the layer-wise update by size at most 2 s on
``small-conv``). ``--json`` prints everything as one JSON object instead. ``--device cuda``
runs it all on a GPU (timers synchronised with the device, each workload's peak device memory;
the ranks share the GPUs by local rank), and ``--sweep-samples`` adds the literal update at
growing J (``sampler.bench.sample_sweep``).
"""

from __future__ import annotations

import argparse
import json
import os

import torch

from sampler.bench import sample_sweep, timed_runs
from sampler.bench.cnn_workloads import CNN_MODELS, cnn_workloads, layerwise_rows
from sampler.bench.workloads import measure, model_workloads
from sampler.mpi.device import rank_device

TARGETS = {  # (ratio name, workload) -> (bound, "<=" or ">="), on the reference model mlp
    ("noise + forward", "is literal"): (1.2, "<="),
    ("vs is literal", "is antithetic"): (0.65, "<="),
    ("vs is literal", "is marginal"): (0.08, "<="),
    ("noise + gradient", "sgld 1000 steps, 1 chain"): (1.2, "<="),
}
EFFICIENCY_TARGET = 0.9
CNN_TARGET_SECONDS = ("small-conv", "is defaults (expected)", 2.0)  # issue 21, one core


MODELS = ("linear", "mlp")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _ranks(text: str) -> int:
    if text.strip() == "0":
        return 0
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be 0 (skip) or at least 2, got {text!r}")
    return value


def _models(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names or any(m not in MODELS + CNN_MODELS for m in names):
        accepted = ", ".join(MODELS + CNN_MODELS)
        raise argparse.ArgumentTypeError(f"must be some of {accepted}, got {text!r}")
    return names


def _memory(text: str) -> list[int]:
    if not text.strip():
        return []
    parts = [p for p in text.split(",") if p.strip()]
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"must be two sample counts J1,J2 or '', got {text!r}")
    return [positive_int(p) for p in parts]


def _device(text: str) -> torch.device:
    try:
        return rank_device(0, text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).split(": ", 1)[-1]) from None


def _counts(text: str) -> list[int]:
    return [positive_int(p) for p in text.split(",") if p.strip()] if text.strip() else []


def add_parser(commands) -> None:
    parser = commands.add_parser("bench", help="time the reference workloads: ratios first")
    add = parser.add_argument
    add(
        "--models",
        type=_models,
        default=list(MODELS),
        help="linear,mlp (default: both), and/or the CNNs small-conv,tiny-conv",
    )
    add("--rounds", type=positive_int, default=5, help="timed rounds (default: 5)")
    add("--samples", type=positive_int, default=1000, help="IS samples J (default: 1000)")
    add("--sgld-steps", type=positive_int, default=1000, help="SGLD steps (default: 1000)")
    add("--rm-samples", type=positive_int, default=30, help="RM samples M (default: 30)")
    add("--rm-iterations", type=positive_int, default=30, help="RM iterations J (default: 30)")
    add("--ranks", type=_ranks, default=2, help="ranks to compare with 1 (0: skip; default: 2)")
    add("--ranks-model", choices=MODELS, default="mlp", help="model of the rank comparison (mlp)")
    add("--ranks-steps", type=positive_int, default=5, help="updates per rank run (default: 5)")
    add(
        "--memory-samples",
        type=_memory,
        default=[1000, 100000],
        help="two J for the peak memory of an IS update on linear ('': skip; default: 1000,100000)",
    )
    add(
        "--device",
        type=_device,
        default=torch.device("cpu"),
        help="where to time: cpu (default), cuda or cuda:N",
    )
    add(
        "--sweep-samples",
        type=_counts,
        default=[],
        help="J1,J2,...: the literal IS update on --ranks-model at each J ('': skip; default)",
    )
    add("--json", action="store_true", help="print one JSON object instead")
    parser.set_defaults(handler=run)


def ratios(model: str, workloads, default_scheme: str) -> list[dict]:
    """Each workload against its floors, each IS workload against the literal one, and the
    defaults (``--beta auto`` on a grid) against their scheme at a fixed beta."""
    by_name = {w.name: w for w in workloads}
    literal = by_name["is literal"].seconds()
    rows = []

    def row(workload, kind, value):
        target = TARGETS.get((kind, workload)) if model == "mlp" else None
        met = None
        if target is not None:
            bound, sense = target
            met = value <= bound if sense == "<=" else value >= bound
        rows.append(
            {
                "model": model,
                "workload": workload,
                "ratio": kind,
                "value": value,
                "target": None if target is None else f"{target[1]} {target[0]}",
                "met": met,
            }
        )

    for workload in workloads:
        seconds = workload.seconds()
        if workload.floors:
            row(workload.name, " + ".join(workload.floors), seconds / workload.floor_total())
        if workload.name.startswith("is ") and workload.name != "is literal":
            row(workload.name, "vs is literal", seconds / literal)
    default, scheme = by_name["is defaults"], by_name[f"is {default_scheme}"]
    row("is defaults", f"vs {scheme.name} (fixed beta)", default.seconds() / scheme.seconds())
    return rows


def cnn_ratios(model: str, workloads, derived: list[dict]) -> list[dict]:
    """A CNN's workloads and the derived layer-wise rows against their floors and the literal
    update; the seconds target of ``small-conv``'s layer-wise update by size."""
    literal = next(w for w in workloads if w.name == "is literal").seconds()
    entries = [
        (w.name, w.seconds(), w.floor_total() if w.floors else None, " + ".join(w.floors))
        for w in workloads
    ]
    entries += [
        (r["workload"], r["seconds"], sum(r["floors"].values()), " + ".join(r["floors"]))
        for r in derived
    ]
    rows = []
    for name, seconds, floor, label in entries:
        target = None
        if (model, name) == CNN_TARGET_SECONDS[:2]:
            target = f"<= {CNN_TARGET_SECONDS[2]} s: {seconds:.3f} s"
        met = None if target is None else seconds <= CNN_TARGET_SECONDS[2]
        if floor:
            rows.append(_row(model, name, label, seconds / floor, target, met))
            target = met = None
        if name.startswith("is ") and name != "is literal":
            rows.append(_row(model, name, "vs is literal", seconds / literal, target, met))
    return rows


def _row(model, workload, ratio, value, target, met) -> dict:
    return {
        "model": model,
        "workload": workload,
        "ratio": ratio,
        "value": value,
        "target": target,
        "met": met,
    }


def run(args) -> int:
    torch.set_num_threads(1)
    device = args.device
    report = {"load_average": list(os.getloadavg()), "cpus": os.cpu_count(), "ratios": []}
    report["device"] = sample_sweep.describe(device)
    report["workloads"], report["models"] = [], {}
    for model in args.models:
        cnn = model in CNN_MODELS
        workloads, described = (cnn_workloads if cnn else model_workloads)(model, args, device)
        measure(workloads, args.rounds, device)
        report["models"][model] = described
        for w in workloads:
            floors = {name: w.floor(name) for name in w.floors}
            report["workloads"].append(
                {
                    "model": model,
                    "workload": w.name,
                    "seconds": w.seconds(),
                    "floors": floors,
                    "peak_mb": w.peak_mb,
                }
            )
        if cnn:
            derived = layerwise_rows(model, workloads, described["layer_shares"])
            report["workloads"] += derived
            report["ratios"] += cnn_ratios(model, workloads, derived)
        else:
            report["ratios"] += ratios(model, workloads, described["default_proposal"])
    report["ranks"] = []
    missing = timed_runs.mpi_missing() if args.ranks > 1 else "skipped (--ranks 0)"
    if missing is None:
        flags = timed_runs.scaling_workloads(args)
        if device.type != "cpu":
            flags = {name: [*f, "--device", device.type] for name, f in flags.items()}
        report["ranks"] = timed_runs.scaling(args.ranks_model, args.ranks, args.ranks_steps, flags)
    report["ranks_note"] = missing
    report["memory"] = []
    counts = args.memory_samples if device.type == "cpu" else []  # a GPU: peak_mb per workload
    for proposal in ("literal", "auto") if counts else ():
        for samples in counts:
            megabytes = timed_runs.peak_memory("linear", samples, proposal)
            report["memory"].append(
                {"model": "linear", "proposal": proposal, "samples": samples, "peak_mb": megabytes}
            )
    report["sweep"] = sample_sweep.sweep(args.ranks_model, args.sweep_samples, args.rounds, device)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report))
    return 0


def render(report) -> str:
    load = ", ".join(f"{v:.2f}" for v in report["load_average"])
    lines = [
        f"sampler bench: one thread, medians of the rounds; load average {load} on "
        f"{report['cpus']} CPUs, on {report['device']} (ratios are within this run)",
        "",
        "ratios",
    ]
    for r in report["ratios"]:
        verdict = "" if r["met"] is None else ("  ok" if r["met"] else "  MISSED")
        target = f"  (target {r['target']}){verdict}" if r["target"] else ""
        lines.append(f"  {r['model']:7} {r['workload']:32} {r['value']:8.3f}x {r['ratio']}{target}")
    for r in report["ranks"]:
        verdict = "ok" if r["efficiency"] >= EFFICIENCY_TARGET else "MISSED"
        name = f"{r['workload']}, 1 vs {r['ranks']} ranks"
        lines.append(
            f"  {r['model']:7} {name:32} "
            f"{r['speedup']:8.3f}x speedup, efficiency {r['efficiency']:.0%} "
            f"(target >= {EFFICIENCY_TARGET:.0%}) {verdict}"
        )
    if report["ranks_note"]:
        lines.append(f"  ranks: {report['ranks_note']}")
    memory = {}
    for m in report["memory"]:
        memory.setdefault(m["proposal"], []).append(m)
    for proposal, rows in memory.items():
        shown = ", ".join(f"J = {m['samples']:,}: {m['peak_mb']:.0f} MB" for m in rows)
        ratio = rows[-1]["peak_mb"] / rows[0]["peak_mb"]
        lines.append(
            f"  linear  peak memory, is {proposal:10} {ratio:14.3f}x ({shown}; target: "
            "independent of J)"
        )
    lines += ["", "seconds (median per update; floors measured beside each)"]
    for w in report["workloads"]:
        floors = ", ".join(f"{name} {value:.4f}" for name, value in w["floors"].items())
        memory = "" if w.get("peak_mb") is None else f", peak {w['peak_mb']:.0f} MB"
        lines.append(f"  {w['model']:7} {w['workload']:32} {w['seconds']:9.4f} s  {floors}{memory}")
    for r in report["ranks"]:
        lines.append(
            f"  {r['model']:7} {r['workload'] + ' (sampler train)':32} {r['seconds_1']:9.4f} s "
            f"on 1 rank, {r['seconds_r']:.4f} s on {r['ranks']}"
        )
    if report["sweep"]:
        lines += sample_sweep.render(report["sweep"])
    return "\n".join(lines)
