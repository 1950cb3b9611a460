"""The comparison table: the shape of Tables 6.1 and 6.2 of García Trillos, Kaplan,
Sanz-Alonso (test accuracy of each method at chosen updates; seconds per update), with the
final accuracy and test loss, the costs (loss and gradient evaluations, training examples,
forward-equivalents, and those spent by the first evaluation at test accuracy .85 and .90: the
frontier of accuracy against cost), the top Hessian eigenvalue where ``sampler flatness`` ran,
and the settings that differ between the runs. One row per group of repetitions: ``mean ± sd`` over
its seeds (sample standard deviation; ``n=`` when fewer runs than the group's have the value).
Rendered aligned for the terminal, as Markdown and as CSV (mean and sd in separate columns).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sampler.compare import series
from sampler.compare.groups import Group
from sampler.compare.runs import Run

UNFINISHED = "*"
REACHED = (0.85, 0.90)  # test accuracies whose forward-equivalents the table gives


@dataclass
class Column:
    header: str
    key: str  # CSV name
    digits: str = ".3f"  # format of a number; "" for text columns
    cells: list = field(default_factory=list)  # per group: text, or (mean, sd, n, group size)


def default_steps(runs: Sequence[Run], count: int = 5) -> list[int]:
    """``count`` evenly spaced updates among those where every run has a test accuracy."""
    common = None
    for run in runs:
        steps = set(series.at_steps(run, "test_accuracy"))
        common = steps if common is None else common & steps
    steps = sorted(common or ())
    if len(steps) <= count:
        return steps
    return [steps[round((i + 1) * len(steps) / count) - 1] for i in range(count)]


def _numbers(groups: Sequence[Group], value: Callable[[Run], float | None]) -> list[tuple]:
    cells = []
    for group in groups:
        values = [v for v in (value(run) for run in group.runs) if v is not None]
        mean, sd = series.mean_sd(values)
        cells.append((mean, sd, len(values), len(group.runs)))
    return cells


def _top_eigenvalue(run: Run) -> float | None:
    values = ((run.flatness or {}).get("hessian") or {}).get("eigenvalues")
    return float(values[0]) if values else None


def build_columns(groups: Sequence[Group], steps: Sequence[int], grad_cost: float) -> list[Column]:
    def runs_text(group: Group) -> str:
        n = len(group.runs)
        return f"{n} (seeds {','.join(group.seeds)})" if n > 1 else "1"

    def updates_text(group: Group) -> str:
        done = [run.steps for run in group.runs]
        mark = "" if all(run.finished for run in group.runs) else UNFINISHED
        return ("/".join(map(str, sorted(set(done))))) + mark

    columns = [
        Column("method", "method", "", [g.method for g in groups]),
        Column("settings", "settings", "", [g.settings for g in groups]),
        Column("runs", "runs", "", [runs_text(g) for g in groups]),
        Column("updates", "updates", "", [updates_text(g) for g in groups]),
    ]
    for step in steps:
        columns.append(
            Column(
                f"acc@{step}",
                f"accuracy_at_{step}",
                ".3f",
                _numbers(groups, lambda r, s=step: series.at_steps(r, "test_accuracy").get(s)),
            )
        )
    costs = {id(run): series.totals(run, grad_cost) for g in groups for run in g.runs}
    columns += [
        Column(
            "final acc",
            "final_accuracy",
            ".3f",
            _numbers(groups, lambda r: series.final(r, "test_accuracy", "final_test_accuracy")),
        ),
        Column(
            "test loss",
            "final_test_loss",
            ".3f",
            _numbers(groups, lambda r: series.final(r, "test_loss", "final_test_loss")),
        ),
        Column(
            "s/update", "seconds_per_update", ".4g", _numbers(groups, series.seconds_per_update)
        ),
    ]
    for name, key in (
        ("loss evals", "loss_evals"),
        ("grad evals", "grad_evals"),
        ("examples", "examples"),
        (f"fwd-equiv (grad={grad_cost:g})", "forward_equivalents"),
    ):
        columns.append(
            Column(name, key, ",.0f", _numbers(groups, lambda r, k=key: costs[id(r)][k]))
        )
    for level in REACHED:  # the frontier: what each method spends to reach an accuracy
        columns.append(
            Column(
                f"fwd-equiv to {level:g}",
                f"forward_equivalents_to_{level:g}",
                ",.0f",
                _numbers(groups, lambda r, a=level: series.forward_equivalents_to(r, a, grad_cost)),
            )
        )
    if any(_top_eigenvalue(run) is not None for g in groups for run in g.runs):
        columns.append(
            Column("lambda_1", "hessian_top_eigenvalue", ".4g", _numbers(groups, _top_eigenvalue))
        )
    return columns


def _format(column: Column, cell) -> str:
    if not column.digits:
        return str(cell)
    mean, sd, n, size = cell
    if mean is None:
        return "-"
    text = format(mean, column.digits)
    if sd:  # a spread of exactly 0 (equal costs over seeds) is not shown
        text += " ± " + format(sd, ".2g" if column.digits.endswith("g") else column.digits)
    if 0 < n < size:
        text += f" (n={n})"
    return text


def rows(columns: Sequence[Column]) -> list[list[str]]:
    count = len(columns[0].cells)
    return [[_format(c, c.cells[i]) for c in columns] for i in range(count)]


def render_terminal(columns: Sequence[Column]) -> str:
    table = [[c.header for c in columns], *rows(columns)]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]

    def line(row: list[str]) -> str:
        cells = [
            text.ljust(width) if not column.digits else text.rjust(width)
            for text, width, column in zip(row, widths, columns)
        ]
        return "  ".join(cells).rstrip()

    return "\n".join([line(table[0]), "  ".join("-" * w for w in widths), *map(line, table[1:])])


def render_markdown(columns: Sequence[Column]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    align = ["---" if not c.digits else "---:" for c in columns]
    return "\n".join([line([c.header for c in columns]), line(align), *map(line, rows(columns))])


def render_csv(columns: Sequence[Column], paths: Sequence[str]) -> str:
    header = []
    for column in columns:
        header += [column.key] if not column.digits else [column.key, column.key + "_sd"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*header, "run_directories"])
    for i in range(len(columns[0].cells)):
        row = []
        for column in columns:
            cell = column.cells[i]
            if not column.digits:
                row.append(cell)
            else:
                row += ["" if cell[0] is None else repr(cell[0])]
                row += ["" if cell[1] is None else repr(cell[1])]
        writer.writerow([*row, paths[i]])
    return buffer.getvalue()
