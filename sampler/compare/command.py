"""``sampler compare RUN_DIR... [--out DIR] [--at 100,200,...] [--grad-cost C]``: the runs side
by side.

Prints the table (``sampler.compare.table``: accuracy at the ``--at`` updates, final accuracy
and test loss, seconds per update, costs, the differing settings) aligned, and writes to
``--out`` (default ``comparison/``) ``table.md``, ``table.csv``, one PNG per plot
(``sampler.compare.plots``) and ``plots.json`` with the plotted numbers. Runs that differ only
by ``--seed`` are one row (mean ± sd) and one line with a band. Unfinished runs are read as far
as they got; a directory that is not a run, or an ``--out`` that cannot be a folder (an
existing file), stops the command before any work, with one line.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from sampler.compare.groups import group_runs
from sampler.compare.plots import as_records, build_plots, render
from sampler.compare.runs import NotARunError, read_run
from sampler.compare.table import (
    UNFINISHED,
    build_columns,
    default_steps,
    render_csv,
    render_markdown,
    render_terminal,
)
from sampler.runs.atomic_file import write_text_atomic
from sampler.runs.files import RunWriteError
from sampler.runs.output_folder import out_folder_error

DEFAULT_GRAD_COST = 3.0  # forward + backward ~ 3 forward passes (see the README's measurement)


def _steps(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"--at: must be a comma-separated list of positive update numbers, got {text!r}"
        )
    return sorted(set(values))


def _cost(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(
            f"--grad-cost: must be a number >= 0 (forward passes per gradient), got {text!r}"
        )
    return value


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "compare", help="compare run directories: table (terminal, Markdown, CSV) and plots"
    )
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories")
    parser.add_argument(
        "--out", default="comparison", metavar="DIR", help="output folder (default: comparison)"
    )
    parser.add_argument(
        "--at",
        type=_steps,
        metavar="STEPS",
        help="updates of the accuracy columns, e.g. 100,200,300 (default: up to 5 evenly "
        "spaced updates at which every run evaluated)",
    )
    parser.add_argument(
        "--grad-cost",
        type=_cost,
        default=DEFAULT_GRAD_COST,
        metavar="C",
        help="forward passes one gradient evaluation counts as in forward-equivalents "
        f"(default: {DEFAULT_GRAD_COST:g})",
    )
    parser.add_argument(
        "--plots",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write the PNG plots and plots.json (--no-plots: the tables alone, faster)",
    )
    parser.set_defaults(handler=lambda args: run(args, parser))


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    out = Path(args.out)
    problem = out_folder_error(out)
    if problem:
        parser.error(problem)
    try:
        runs = [read_run(path) for path in args.runs]
    except NotARunError as error:
        parser.error(str(error))
    if len({run.path.resolve() for run in runs}) < len(runs):
        parser.error("RUN_DIR: a run directory is given twice")
    if out.resolve() in {run.path.resolve() for run in runs}:
        parser.error(f"--out {out}: is one of the runs; choose another folder")
    groups = group_runs(runs)
    steps = args.at if args.at is not None else default_steps(runs)
    columns = build_columns(groups, steps, args.grad_cost)
    note = ""
    if not all(run.finished for run in runs):
        note = (
            f"{UNFINISHED} unfinished (no summary.json of its last update): read as far as it went"
        )
    print(render_terminal(columns))
    if note:
        print(note)
    try:
        written = write_files(args, out, groups, columns, note)
    except (RunWriteError, OSError) as error:  # a full disk: one line naming the file
        parser.error(str(error) if isinstance(error, RunWriteError) else cannot_create(out, error))
    print(written)
    return 0


def cannot_create(out: Path, error: OSError) -> str:
    return f"--out {out}: cannot create the folder ({error.strerror or error})"


def write_files(args: argparse.Namespace, out: Path, groups, columns, note: str) -> str:
    """Write the tables (and the plots) into ``out``, each file whole or not at all
    (``sampler.runs.atomic_file``); the line that says what was written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [" ".join(str(run.path) for run in group.runs) for group in groups]
    markdown = render_markdown(columns) + ("\n\n" + note if note else "") + "\n"
    write_text_atomic(out / "table.md", markdown)
    write_text_atomic(out / "table.csv", render_csv(columns, paths))
    if not args.plots:
        return f"wrote table.md and table.csv to {out}"
    plots = build_plots(groups, args.grad_cost)
    for plot in plots:
        render(plot, out / f"{plot.name}.png")
    write_text_atomic(out / "plots.json", json.dumps(as_records(plots), indent=1) + "\n")
    return f"wrote table.md, table.csv and {len(plots)} plots (PNG, plots.json) to {out}"
