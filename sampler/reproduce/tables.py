"""The Markdown tables of ``docs/results.md``, one kind per experiment shape, from the run
directories (``sampler.compare.runs``): means ± sample sd over seeds (Bessel-corrected; one seed:
the value alone), ``—`` where a run did not reach the column.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from sampler.compare import series
from sampler.compare.runs import Run
from sampler.reproduce import figures, paper
from sampler.reproduce.figures import Rows


def number(values: Sequence[float | None], digits: int = 3) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    mean, sd = series.mean_sd(values)
    text = f"{mean:.{digits}f}"
    return text if sd is None else f"{text} ± {sd:.{digits}f}"


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.4f}" if value < 0.1 else f"{value:.3g}"


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    return "\n".join([_line(header), _line(["---"] * len(header)), *map(_line, body)])


def _seeds(runs: Sequence[Run], wanted: int) -> str:
    """Finished runs of the row ("1 of 2": one seed still missing or cut)."""
    done = sum(run.finished for run in runs)
    return f"{done}" if done == wanted else f"{done} of {wanted}"


def _paper_row(label: str) -> tuple[float, ...] | None:
    return paper.TABLE_6_1.get(label.split(" ")[0])


def accuracy_table(
    rows: Rows, wanted: dict[str, int], at: Sequence[int], x: str, with_paper: bool = False
) -> str:
    values = figures.accuracy_by_gradients if x == "grads" else figures.accuracy
    unit = "gradient evaluations" if x == "grads" else "updates"
    header = ["row", "seeds", *(f"{step:,}" for step in at), "s / update (under load)"]
    if with_paper:
        header.append(f"paper Table 6.1 at {', '.join(map(str, paper.TABLE_6_1_STEPS))}")
    body = []
    for label, runs in rows.items():
        cells = [label, _seeds(runs, wanted[label])]
        cells += [number([values(r).get(step) for r in runs]) for step in at]
        cells.append(seconds(series.mean_sd([series.seconds_per_update(r) for r in runs])[0]))
        if with_paper:
            row = _paper_row(label)
            cells.append(" / ".join(f"{v:.2f}" for v in row) if row else "")
        body.append(cells)
    return f"Test accuracy after the given {unit}:\n\n" + table(header, body)


def tau_table(rows: Rows, wanted: dict[str, int], taus: Sequence[float]) -> str:
    methods: dict[str, dict[float, list[Run]]] = {}
    for label, runs in rows.items():
        method, tau = label.split(", tau = ")
        methods.setdefault(method, {})[float(tau)] = runs
    header = ["method", *(f"tau = {t:g}" for t in taus)]
    body = [
        [method, *(number([figures.final_accuracy(r) for r in by_tau.get(t, [])]) for t in taus)]
        for method, by_tau in methods.items()
    ]
    return "Final test accuracy (mean ± sd over seeds):\n\n" + table(header, body)


def _median_over(run: Run, key: str, first: int | None = None, last: int | None = None):
    values = list(series.at_steps(run, key).values())
    if first is not None:
        values = values[:first]
    if last is not None:
        values = values[-last:]
    return statistics.median(values) if values else None


def temperature_table(rows: Rows) -> str:
    header = [
        "row",
        "beta, first 20 updates",
        "beta, last 100",
        "beta_eff, first 20",
        "beta_eff, last 100",
        "final accuracy",
    ]
    body = []
    for label, runs in rows.items():
        cells = [label]
        for key in ("beta", "beta_eff"):
            for window in ({"first": 20}, {"last": 100}):
                cells.append(_sci([_median_over(r, key, **window) for r in runs]))
        cells.append(number([figures.final_accuracy(r) for r in runs]))
        body.append(cells)
    return "Medians over the updates, mean over seeds:\n\n" + table(header, body)


def _sci(values: Sequence[float | None]) -> str:
    mean = series.mean_sd(values)[0]
    return "—" if mean is None else f"{mean:.3g}"


def flatness_table(reports: dict[str, dict | None], sigmas=(0.1, 0.3, 0.5)) -> str:
    header = [
        "final point (seed 0)",
        "train loss",
        *(f"dE loss, sigma {s:g}" for s in sigmas),
        *(f"dE error, sigma {s:g}" for s in sigmas),
        "top Hessian eigenvalue",
    ]
    body = []
    for label, report in reports.items():
        if not report:
            body.append([label, *["—"] * (len(header) - 1)])
            continue
        cells = [label, f"{report.get('train_loss', float('nan')):.4f}"]
        for kind in ("loss", "error"):
            entries = {e["sigma"]: e for e in report.get("local_energy", {}).get(kind, [])}
            for sigma in sigmas:
                e = entries.get(sigma)
                cells.append(
                    "—" if e is None else f"{e['local_energy']:.4f} ± {e['standard_error']:.4f}"
                )
        eigenvalues = (report.get("hessian") or {}).get("eigenvalues") or []
        cells.append(f"{max(eigenvalues):.3g}" if eigenvalues else "—")
        body.append(cells)
    return (
        "Local energy dE = E_z E_train(w + sigma z * w) - E_train(w) (± its Monte Carlo "
        "standard error) on 1,000 training examples:\n\n" + table(header, body)
    )


def timing_table(timing: dict | None) -> str:
    if not timing or not timing.get("rows"):
        return "Not measured in this run of the command."
    rows = timing["rows"]
    sgd = next((r["seconds"] for r in rows if r["paper"] == "SGD"), None)
    header = ["update", "ranks", "s / update", "vs SGD", "paper Table 6.2 (s / update)"]
    body = [
        [
            r["label"],
            str(r["ranks"]),
            seconds(r["seconds"]),
            f"{r['seconds'] / sgd:,.0f}x" if sgd else "—",
            f"{paper.TABLE_6_2[r['paper']]:g} ({r['paper']})",
        ]
        for r in rows
    ]
    load = ", ".join(f"{v:.2f}" for v in timing["load_before"])
    return (
        f"Median seconds between consecutive updates of a {timing['steps']}-update "
        f"`sampler train` run (first update dropped), one after another; load average "
        f"before: {load}.\n\n" + table(header, body)
    )
