"""``sampler bench --sweep-samples``: the literal importance-sampling update at growing J.

For each sample count J the update of the paper's Algorithm 1 (García Trillos, Kaplan and
Sanz-Alonso 2019, Section 4; literal Gaussian proposals, fixed beta) on the reference model is
timed beside its floor (its noise draw plus its forward passes, ``sampler.bench.workloads``).
Seconds per sample fall while a device waits on launches and Python (launch-bound) and level
off once the draws and forward passes fill it; the sweep says where: the first J from which
one more decade of samples costs at least ``COMPUTE_BOUND`` times the time (the update has
become proportional to its work).
"""

from __future__ import annotations

import torch

from sampler.bench.workloads import FIXED_BETA, TAU, is_workload, measure, reference_problem
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.runs.device_usage import device_name

COMPUTE_BOUND = 5.0  # x10 samples costing at least 5x the time: no longer launch-bound
BLOCK = 100  # the estimator's default block of samples


def describe(device: torch.device) -> str:
    """``cpu``, or the GPU's index and name."""
    if device.type == "cuda":
        return f"{device} ({device_name(device)})"
    return str(device)


def sweep(model_name: str, counts: list[int], rounds: int, device: torch.device) -> list[dict]:
    """One row per J: seconds per update, floor, seconds per sample, peak device memory."""
    model, problem = reference_problem(model_name, device)
    center = model.init_params(0).to(device)
    tau = torch.tensor(TAU, device=device)
    rows = []
    for samples in counts:
        estimator = ImportanceSampling(samples, FIXED_BETA, BLOCK)
        workload = is_workload(f"is literal J = {samples}", estimator, problem, center, tau)
        measure([workload], rounds, device)
        seconds = workload.seconds()
        rows.append(
            {
                "model": model_name,
                "samples": samples,
                "seconds": seconds,
                "floor": workload.floor_total(),
                "seconds_per_sample": seconds / samples,
                "peak_mb": workload.peak_mb,
            }
        )
    return rows


def launch_bound_until(rows: list[dict]) -> int | None:
    """The first J from which ten times the samples cost ``COMPUTE_BOUND`` times the time
    (``None``: still launch-bound at the largest J swept)."""
    for smaller, larger in zip(rows, rows[1:]):
        grown = larger["samples"] / smaller["samples"]
        if larger["seconds"] / smaller["seconds"] >= COMPUTE_BOUND * grown / 10.0:
            return smaller["samples"]
    return None


def render(rows: list[dict]) -> list[str]:
    lines = ["", f"literal IS at growing J ({rows[0]['model']}, fixed beta)"]
    for r in rows:
        memory = "" if r["peak_mb"] is None else f", peak {r['peak_mb']:.0f} MB"
        lines.append(
            f"  J = {r['samples']:>9,}: {r['seconds']:9.4f} s ({r['seconds'] / r['floor']:.2f}x "
            f"its floor), {r['seconds_per_sample'] * 1e6:9.2f} us per sample{memory}"
        )
    bound = launch_bound_until(rows)
    where = (
        "launch-bound over the whole sweep"
        if bound is None
        else f"proportional to its work from J = {bound:,}"
    )
    lines.append(f"  the update is {where}")
    return lines
