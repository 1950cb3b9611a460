"""``sampler bench [--json]``: the reference workloads, ratios first.

Measured in one run, so that a shared, noisy machine loads every number alike: for each model
(``linear`` and ``mlp`` of the paper, embedded MNIST, minibatch 20, tau = 0.01) an importance-
sampling update with each proposal scheme (``literal``, ``antithetic``, ``marginal``, at a fixed
beta), the literal one with ``--beta auto`` (grid) and the estimator's defaults, the naive
Python loop, an SGLD update (1000 steps, one chain), ``rm`` and ``rm-stein`` (M = J = 30;
``rm-stein`` also with ``--proposal marginal``, against its literal pairs) and an SGD step, each
beside its floors (``sampler.bench.workloads``); beside the defaults, one rank's share of their
update on R ranks (default R = 2, ``sampler.bench.rank_share``: the efficiency R
ranks reach without communication, i.e. the work every rank repeats); then 1 against R ranks
under a real ``mpiexec`` and the peak memory of an update at two sample counts
(``sampler.bench.timed_runs``). The first table is the ratios with their targets
(``sampler.bench.ratios``; the text report: ``sampler.bench.render``). ``--models
small-conv,tiny-conv`` adds the CNN workloads of issue 21 (``sampler.bench.cnn_workloads``).
``--json`` prints everything as one JSON object instead. ``--device cuda`` runs it all on a GPU
(timers synchronised with the device, each workload's peak device memory; the ranks share the
GPUs by local rank), and ``--sweep-samples`` adds the literal update at growing J
(``sampler.bench.sample_sweep``).
"""

from __future__ import annotations

import argparse
import json
import os

import torch

from sampler.bench import sample_sweep, timed_runs
from sampler.bench.cnn_workloads import CNN_MODELS, cnn_workloads, defaults_differ, layerwise_rows
from sampler.bench.rank_share import share_row, share_workload
from sampler.bench.ratios import cnn_ratios, ratios
from sampler.bench.render import render
from sampler.bench.workloads import measure, model_workloads
from sampler.mpi.device import rank_device

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
    add(
        "--ranks-steps",
        type=positive_int,
        default=10,
        help="updates per rank run, at least (default: 10; a short update gets enough to last "
        f"about {timed_runs.RUN_SECONDS:g} s on one rank)",
    )
    add(
        "--ranks-rounds",
        type=positive_int,
        default=3,
        help="1- and R-rank runs alternated this many times, median of the pairs (default: 3)",
    )
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


def run(args) -> int:
    torch.set_num_threads(1)
    device = args.device
    report = {"load_average": list(os.getloadavg()), "cpus": os.cpu_count(), "ratios": []}
    report["device"] = sample_sweep.describe(device)
    report["workloads"], report["models"] = [], {}
    for model in args.models:
        cnn = model in CNN_MODELS
        workloads, described = (cnn_workloads if cnn else model_workloads)(model, args, device)
        share = max(args.ranks, 2)  # one rank's share of the default update, in this process
        if not cnn:
            workloads.append(share_workload(model, args.samples, share, device))
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
            derived = layerwise_rows(
                model, workloads, described["layer_shares"], described["default_shares"]
            )
            report["workloads"] += derived
            report["ratios"] += cnn_ratios(
                model, workloads, derived, defaults_differ(args, described)
            )
        else:
            report["ratios"] += ratios(model, workloads, described["default_proposal"])
            report["ratios"].append(share_row(model, workloads, share))
    report["ranks"] = []
    missing = timed_runs.mpi_missing() if args.ranks > 1 else "skipped (--ranks 0)"
    if missing is None:
        flags = timed_runs.scaling_workloads(args)
        if device.type != "cpu":
            flags = {name: [*f, "--device", device.type] for name, f in flags.items()}
        report["ranks"] = timed_runs.scaling(
            args.ranks_model, args.ranks, args.ranks_steps, flags, args.ranks_rounds
        )
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
