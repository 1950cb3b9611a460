"""``sampler reproduce [--data-dir DIR] [--quick]`` (also ``python scripts/reproduce.py``): run
the paper's experiments and write ``docs/results.md`` with its plots.

Phases, each resumable: (1) Table 6.2's timings, alone (``sampler.reproduce.timing``;
``OUT/timing.json``, kept when present); (2) every training run, ``--jobs`` at a time
(``sampler.reproduce.launch``); (3) ``sampler flatness`` on the final points
(``OUT/flatness/NAME/flatness.json``, kept when present); (4) the report
(``sampler.reproduce.report``). Interrupted (Ctrl-C, a kill), the same command goes on where it
stopped. ``--plan`` prints every command and runs nothing; ``--report-only`` writes the report
from what is there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from sampler.reproduce import experiments as registry


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--jobs: must be an integer >= 1, got {text!r}")
    return value


def _only(text: str) -> list[str]:
    keys = ["table-6-2", *(e.key for e in registry.build(registry.Scale.quick()))]
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in keys]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"--only: unknown experiment {', '.join(unknown) or repr(text)}; accepted: "
            f"{', '.join(keys)} (comma-separated)"
        )
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="MNIST IDX files; a folder with only "
        "the t10k files is the test set, training on the embedded 5,000 images "
        "(default: the embedded 4,000 / 1,000 split)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one seed, a few updates: the "
        "whole pipeline in minutes (a smoke test; numbers not to be read)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="run directories, logs, timings (default: reproduce/, with --quick reproduce-quick/)",
    )
    parser.add_argument(
        "--docs",
        metavar="DIR",
        help="where results.md and its PNGs go (default: docs/, with --quick OUT/docs/)",
    )
    parser.add_argument(
        "--jobs",
        type=_jobs,
        default=os.cpu_count() or 1,
        metavar="N",
        help="training processes at a time, one thread each (default: the number of CPUs)",
    )
    parser.add_argument(
        "--only",
        type=_only,
        metavar="KEYS",
        help="these experiments alone, "
        "e.g. table-6-1,fig-6-3 (the timings run unless --only omits "
        "table-6-2)",
    )
    parser.add_argument("--plan", action="store_true", help="print every command, run nothing")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="write the report from the runs there are, run nothing",
    )


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "reproduce", help="run the paper's experiments, write docs/results.md and its plots"
    )
    add_arguments(parser)
    parser.set_defaults(handler=lambda args: run(args, parser))


def _check_data_dir(value: str | None, parser: argparse.ArgumentParser) -> None:
    if value is None:
        return
    directory = Path(value)
    if not directory.is_dir():
        parser.error(f"--data-dir: {value} is not a directory")
    if not any(directory.glob("t10k-images-idx3-ubyte*")):
        parser.error(f"--data-dir: {value} holds no t10k-images-idx3-ubyte[.gz] (MNIST IDX files)")


def _flatness(runs, out: Path, say) -> None:
    for run in runs:
        target = out / "flatness" / run.name
        if (target / "flatness.json").is_file():
            continue
        command = [
            sys.executable,
            "-m",
            "sampler",
            "flatness",
            str(out / "runs" / run.name),
            "--probes",
            "local-energy,hessian",
            "--out",
            str(target),
        ]
        say(f"flatness {run.name} ({run.label})")
        result = subprocess.run(
            command, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1")
        )
        if result.returncode != 0:
            say(f"FAILED flatness {run.name}: {result.stderr.strip()[-300:]}")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    _check_data_dir(args.data_dir, parser)
    scale = registry.Scale.quick() if args.quick else registry.Scale.full()
    out = Path(args.out or ("reproduce-quick" if args.quick else "reproduce"))
    docs = Path(args.docs) if args.docs else (out / "docs" if args.quick else Path("docs"))
    if out.exists() and not out.is_dir():
        parser.error(f"--out: {out} exists and is not a directory")
    if docs.exists() and not docs.is_dir():
        parser.error(f"--docs: {docs} exists and is not a directory")
    chosen = [e for e in registry.build(scale) if not args.only or e.key in args.only]
    runs = registry.all_runs(chosen)
    timing_wanted = not args.only or "table-6-2" in args.only
    if args.plan:
        from sampler.reproduce.launch import train_command

        for experiment in chosen:
            print(f"# {experiment.key}: {experiment.title}")
            for spec in experiment.runs:
                ranks = f"mpiexec -n {spec.ranks} " if spec.ranks > 1 else ""
                directory = out / "runs" / spec.name
                print(ranks + " ".join(train_command(spec, directory, args.data_dir)))
        return 0
    out.mkdir(parents=True, exist_ok=True)
    phases_path = out / "phases.json"
    phases = json.loads(phases_path.read_text()) if phases_path.is_file() else {}

    def say(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)

    def phase(name: str, work) -> None:
        tick = time.perf_counter()
        work()
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - tick
        phases_path.write_text(json.dumps(phases, indent=1))

    failed = []
    if not args.report_only:
        timing_path = out / "timing.json"
        if timing_wanted and not timing_path.is_file():
            from sampler import bench_runs
            from sampler.reproduce import timing

            def timings() -> None:
                result = timing.measure(scale.timing_steps, bench_runs.mpi_missing() is None, say)
                timing_path.write_text(json.dumps(result, indent=1))

            phase("timing", timings)
        from sampler.reproduce import launch

        def training() -> None:
            outcomes = launch.launch(runs, out, args.data_dir, args.jobs, say)
            failed.extend(o for o in outcomes if o.status == "failed")

        phase("training", training)
        probed = [r for e in chosen if e.flatness for r in e.runs]
        phase("flatness", lambda: _flatness(probed, out, say))
    from sampler.reproduce import report

    written = report.write(chosen, scale, out, docs, args, timing_wanted)
    say(f"wrote {written}")
    for outcome in failed:
        say(f"failed: {outcome.run.name} ({outcome.run.label}): {outcome.message}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reproduce.py", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args, parser)
