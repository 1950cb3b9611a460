"""The section of ``sampler reproduce --only pnas-minima`` (``sampler.reproduce.pnas_minima``):
Figs. 4 and 5 of Baldassi, Pittorino and Zecchina (PNAS 117(1), 2020) from the runs' final
points and their ``sampler flatness`` reports.

* Fig. 4: the normalised BP local entropy against the distance d from each solution, two
  quantities: ``V1(d)`` (``sampler.flatness.continuous_bp``, the paper's quantity for real
  weights: the log-fraction of the real-weight configurations, each unit on its sphere, at
  distance d from ``w`` that are solutions; every method) and ``S(d) - H2(d)``
  (``sampler.flatness.bp_local_entropy``: the same log-fraction among the ±1 configurations
  around ``sign(w)``; only where ``sign(w)`` is a solution, i.e. fBP). Both are 0 where every
  configuration at distance d is a solution, more negative = narrower; they share the axis
  ``d = (1 - q) / 2`` but count different sets, so only curves of one kind compare. Each run's curve
  is read at the distances of ``DISTANCES`` by linear interpolation between its two converged
  points around d (a distance outside the converged range is left empty), then mean ± sd over
  the samples; the plot does the same on a grid of d.
* Fig. 5: the top Hessian eigenvalues of the normalised network (every unit at norm 1,
  ``--normalise-units``), mean ± sd per rank.
* The rise of the training error under multiplicative weight noise ``w + sigma z w``
  (``local_energy`` of the error; for a solution, the error itself): the width measure that
  needs no binary reference.

The paper's ordering, widest first: fBP, eLAL, ceSGD-slow, ceSGD-fast, LAL (``PAPER_ORDER``);
the section says how many of its pairs each measure puts in that order.
"""

from __future__ import annotations

import json
from pathlib import Path

from sampler.compare.groups import Curve, combine
from sampler.compare.plots import Plot
from sampler.reproduce import figures
from sampler.reproduce.tables import number, table

DISTANCES = (0.01, 0.03, 0.1)
BINARY, CONTINUOUS = "bp_local_entropy", "bp_local_entropy_continuous"  # the two BP probes
PAPER_ORDER = ("fBP (continuous)", "eLAL", "ceSGD-slow", "ceSGD-fast", "LAL")  # the paper's fBP
NOISE = (0.3, 0.7)  # the sigmas of the table's noise columns
GRID = 24  # distances of the plotted curve


def reports(experiment, out: Path) -> dict[str, list[dict]]:
    """Label -> the flatness reports of its runs (those that exist)."""
    found: dict[str, list[dict]] = {}
    for spec in experiment.runs:
        path = experiment.flatness_directory(out, spec) / "flatness.json"
        found.setdefault(spec.label, [])
        try:
            found[spec.label].append(json.loads(path.read_text()))
        except (OSError, ValueError):
            pass
    return found


def converged_curve(report: dict, key: str = BINARY) -> list[tuple[float, float]]:
    """(d, normalised local entropy) of the converged BP points of probe ``key``, by distance."""
    points = report.get(key, {}).get("points", [])
    return sorted((p["distance"], p["normalised"]) for p in points if p["converged"])


def curve_at(curve: list[tuple[float, float]], d: float) -> float | None:
    """Linear interpolation at ``d`` between the converged points around it; None outside."""
    for (d0, s0), (d1, s1) in zip(curve, curve[1:]):
        if d0 <= d <= d1 and d1 > d0:
            return s0 + (s1 - s0) * (d - d0) / (d1 - d0)
    return None


def noise_error(report: dict, sigma: float) -> float | None:
    rows = report.get("local_energy", {}).get("error", [])
    return next((r["local_energy"] for r in rows if abs(r["sigma"] - sigma) < 1e-12), None)


def lambda_max(report: dict) -> float | None:
    values = report.get("hessian", {}).get("eigenvalues")
    return values[0] if values else None


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def summary_table(rows: dict, found: dict[str, list[dict]]) -> str:
    header = ["method", "samples", "updates", "train errors", "sign(w) errors"]
    header += [f"S(d) - H2(d) at d = {d:g}" for d in DISTANCES]
    header += ["V1 curves"] + [f"V1(d) at d = {d:g}" for d in DISTANCES]
    header += ["lambda_max"] + [f"error rise at sigma = {s:g}" for s in NOISE]
    body = []
    for label, runs in rows.items():
        reps = found.get(label, [])
        summaries = [run.summary or {} for run in runs]
        errors = [s.get("final_test_errors") for s in summaries if "final_test_errors" in s]
        references = [
            r["bp_local_entropy"]["reference_errors"] for r in reps if "bp_local_entropy" in r
        ]
        cells = [label, str(len(reps)), number([s.get("steps") for s in summaries], 0)]
        cells += [_span(errors), _span(references)]
        cells += [number([curve_at(converged_curve(r), d) for r in reps]) for d in DISTANCES]
        cells.append(str(sum(bool(converged_curve(r, CONTINUOUS)) for r in reps)))
        cells += [
            number([curve_at(converged_curve(r, CONTINUOUS), d) for r in reps]) for d in DISTANCES
        ]
        cells.append(number([lambda_max(r) for r in reps]))
        cells += [number([noise_error(r, s) for r in reps]) for s in NOISE]
        body.append(cells)
    return table(header, body)


def _span(values: list) -> str:
    if not values:
        return "—"
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def ordering(found: dict[str, list[dict]]) -> str:
    """One sentence per width measure: the paper's five, widest first, and how many of the ten
    pairs are in the paper's order."""
    measures = {
        f"error rise under weight noise at sigma = {NOISE[0]:g} (lower: wider)": (
            lambda r: noise_error(r, NOISE[0]),
            False,
        ),
        "lambda_max (lower: flatter)": (lambda_max, False),
        **{
            f"continuous BP V1(d) at d = {d:g} (higher: wider)": (
                lambda r, d=d: curve_at(converged_curve(r, CONTINUOUS), d),
                True,
            )
            for d in DISTANCES
        },
    }
    lines = []
    for name, (value, higher) in measures.items():
        means = {m: _mean([value(r) for r in found.get(m, [])]) for m in PAPER_ORDER}
        known = [m for m in PAPER_ORDER if means[m] is not None]
        if len(known) < 2:
            only = ", ".join(known) or "none"
            lines.append(f"* {name}: only {only} (the others' reference is no solution)")
            continue
        ranked = sorted(known, key=lambda m: -means[m] if higher else means[m])
        pairs = [(a, b) for i, a in enumerate(known) for b in known[i + 1 :]]
        agree = sum(ranked.index(a) < ranked.index(b) for a, b in pairs)
        lines.append(
            f"* {name}: {', '.join(ranked)} ({agree} of {len(pairs)} pairs in the paper's order)"
        )
    head = "Measured ordering, widest first (paper: " + ", ".join(PAPER_ORDER) + "):"
    return "\n".join([head, "", *lines]) if lines else head + " no reports yet."


def _bp_curve(reps: list[dict], key: str = BINARY) -> Curve | None:
    curves = [c for c in (converged_curve(r, key) for r in reps) if len(c) >= 2]
    if not curves:
        return None
    low, high = max(c[0][0] for c in curves), min(c[-1][0] for c in curves)
    if high <= low:
        return None
    grid = [low + (high - low) * i / (GRID - 1) for i in range(GRID)]
    series = [{d: curve_at(c, d) for d in grid} for c in curves]
    return combine([{d: v for d, v in s.items() if v is not None} for s in series])


def plots(rows: dict, found: dict[str, list[dict]]) -> list[Plot]:
    fig4 = Plot(
        "pnas-minima-fig4",
        "Fig. 4: normalised BP local entropy around each solution",
        "distance d",
        "normalised local entropy (V1 continuous; S - H2 binary)",
    )
    fig5 = Plot(
        "pnas-minima-fig5",
        "Fig. 5: top Hessian eigenvalues of the normalised network",
        "rank",
        "eigenvalue",
    )
    noise = Plot(
        "pnas-minima-noise",
        "training error under multiplicative weight noise, minus the error at w",
        "sigma",
        "error rise",
    )
    for label in rows:
        reps = found.get(label, [])
        if not reps:
            continue
        fig4.add(label, _bp_curve(reps, CONTINUOUS))
        if any(converged_curve(r) for r in reps):
            fig4.add(label + ": +-1 solutions (binary BP)", _bp_curve(reps))
        ranks = [dict(enumerate(r.get("hessian", {}).get("eigenvalues", []), 1)) for r in reps]
        fig5.add(label, combine(ranks))
        sigmas = [
            {e["sigma"]: e["local_energy"] for e in r.get("local_energy", {}).get("error", [])}
            for r in reps
        ]
        noise.add(label, combine(sigmas))
    return [fig4, fig5, noise]


def render(experiment, rows: dict, out: Path, docs: Path) -> list[str]:
    """The section's markdown after its paragraph: the table, the ordering, the PNGs."""
    found = reports(experiment, out)
    parts = [summary_table(rows, found), ordering(found)]
    docs.mkdir(parents=True, exist_ok=True)
    return parts + figures.embedded(plots(rows, found), docs)
