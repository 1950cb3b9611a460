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
import signal
import subprocess
import sys
import time
from pathlib import Path

from sampler.bench import timed_runs
from sampler.bench.command import positive_int
from sampler.reproduce import launch, registry, report, timing
from sampler.reproduce.scale import Scale
from sampler.runs.lock import RunLock, RunLockedError


def _only(text: str) -> list[str]:
    keys = ["table-6-2", *(e.key for e in registry.build(Scale.quick()))]
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in keys]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown experiment {', '.join(unknown) or repr(text)}; accepted: "
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
        type=positive_int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="training processes at a time, one thread each (default: the number of CPUs)",
    )
    parser.add_argument(
        "--only",
        type=_only,
        metavar="KEYS",
        help="these experiments alone, e.g. table-6-1,fig-6-3; only their sections of "
        "results.md are rewritten, the others kept (the timings run unless --only omits "
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
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        if not any(directory.glob(stem + "*")):
            parser.error(f"--data-dir: {value} holds no {stem}[.gz] (the MNIST IDX test files)")


def checkout_root() -> Path | None:
    """The source checkout this package runs from (``docs/`` lives there), if it is one."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "docs").is_dir() else None


def _stale(target: Path, run_directory: Path) -> bool:
    """No flatness.json, or one older than the run's summary (the run was trained again)."""
    try:
        probed = (target / "flatness.json").stat().st_mtime
    except OSError:
        return True
    try:
        return probed < (run_directory / "summary.json").stat().st_mtime
    except OSError:
        return False


def _flatness(experiments, out: Path, say) -> list[str]:
    """``sampler flatness`` on every run of the experiments that probe their final points, with
    each experiment's probe flags (a report kept while it is newer than the run)."""
    failed, done = [], set()
    for experiment in experiments:
        for run in experiment.runs if experiment.flatness else ():
            target = experiment.flatness_directory(out, run)
            directory = out / "runs" / run.name
            if target in done or not _stale(target, directory):
                continue
            done.add(target)
            command = [sys.executable, "-m", "sampler", "flatness", str(directory),
                       *experiment.flatness_flags, "--out", str(target)]  # fmt: skip
            say(f"flatness {run.name} ({run.label})")
            env = dict(os.environ, OMP_NUM_THREADS="1")
            result = subprocess.run(command, capture_output=True, text=True, env=env)
            if result.returncode != 0:
                failed.append(f"flatness {run.name}: {result.stderr.strip()[-300:]}")
                say(f"FAILED {failed[-1]}")
    return failed


def _stop_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    _check_data_dir(args.data_dir, parser)
    scale = Scale.quick() if args.quick else Scale.full()
    root = checkout_root() or Path.cwd()
    out = Path(args.out or root / ("reproduce-quick" if args.quick else "reproduce"))
    docs = Path(args.docs) if args.docs else (out / "docs" if args.quick else root / "docs")
    if out.exists() and not out.is_dir():
        parser.error(f"--out: {out} exists and is not a directory")
    if docs.exists() and not docs.is_dir():
        parser.error(f"--docs: {docs} exists and is not a directory")
    every = registry.build(scale)
    chosen = [e for e in every if not args.only or e.key in args.only]
    runs = registry.all_runs(chosen)
    timing_wanted = not args.only or "table-6-2" in args.only
    data_dir = str(Path(args.data_dir).resolve()) if args.data_dir else None
    if args.plan:
        for experiment in chosen:
            print(f"# {experiment.key}: {experiment.title}")
            for spec in experiment.runs:
                ranks = f"mpiexec -n {spec.ranks} " if spec.ranks > 1 else ""
                directory = out / "runs" / spec.name
                print(ranks + " ".join(launch.train_command(spec, directory, args.data_dir)))
        return 0
    if args.report_only and not any(
        (out / "runs" / r.name / "config.json").is_file() for r in runs
    ):
        parser.error(
            f"--report-only: {out} holds none of the runs to report (no runs/NAME/config.json); "
            "run them first (the same command without --report-only)"
        )
    if not args.report_only and any(r.ranks > 1 for r in runs):
        missing = timed_runs.mpi_missing()
        if missing:
            keys = ", ".join(e.key for e in chosen if any(r.ranks > 1 for r in e.runs))
            parser.error(f"{keys} run on several ranks and need mpiexec ({missing}); "
                         "leave them out with --only")  # fmt: skip
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    try:
        lock = RunLock(out, "--out").acquire()
    except RunLockedError as error:
        parser.error(str(error))
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        return _run(args, scale, every, chosen, runs, timing_wanted, data_dir, out, docs, root)
    except KeyboardInterrupt:
        print("sampler reproduce: interrupted; the same command goes on from here",
              file=sys.stderr)  # fmt: skip
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        lock.release()


def _run(args, scale, every, chosen, runs, timing_wanted, data_dir, out, docs, root) -> int:
    phases_path = out / "phases.json"
    phases = json.loads(phases_path.read_text()) if phases_path.is_file() else {}

    def say(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)

    def phase(name: str, work) -> None:
        tick = time.perf_counter()
        try:
            work()
        finally:  # an interrupted phase counts too
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - tick
            phases_path.write_text(json.dumps(phases, indent=1))

    failed: list[str] = []
    if not args.report_only:
        timing_path = out / "timing.json"
        if timing_wanted and not timing_path.is_file():

            def timings() -> None:
                result = timing.measure(scale.timing_steps, timed_runs.mpi_missing() is None, say)
                timing_path.write_text(json.dumps(result, indent=1))

            phase("timing", timings)

        def training() -> None:
            outcomes = launch.launch(runs, out, data_dir, args.jobs, say)
            failed.extend(
                f"{o.run.name} ({o.run.label}): {o.message}"
                for o in outcomes
                if o.status == "failed"
            )

        phase("training", training)
        phase("flatness", lambda: failed.extend(_flatness(chosen, out, say)))
    written = report.write(every, scale, out, docs, args, root)
    say(f"wrote {written}")
    for failure in failed:
        say(f"failed: {failure}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reproduce.py", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args, parser)
