"""``sampler reproduce``: its plan, its refusals, and that its launcher and report do what they
say on small real runs (gaussian mixture, seconds): finished runs kept, a cut run resumed to
the parameters of an uninterrupted one, a changed command started afresh, and a page of
tables (mean ± sd over seeds) and real PNGs without a path of the machine in it.

The whole pipeline at ``--quick`` takes minutes and is run by ``.ci/run`` after the tests.
"""

import json
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sampler.bench import timed_runs
from sampler.cli.main import main
from sampler.reproduce import launch, registry, report
from sampler.reproduce.experiment import Experiment, RunSpec
from sampler.reproduce.scale import Scale
from tests.helpers.mixture_runs import MIXTURE

MODEL = ("--model", "linear", *MIXTURE, "--estimator", "is", "--samples", "40", "--tau", "0.01")


def test_every_experiment_at_both_scales_quick_smaller():
    full, quick = registry.build(Scale.full()), registry.build(Scale.quick())
    assert [e.key for e in full] == [e.key for e in quick]
    for big, small in zip(full, quick):
        assert big.runs and small.runs, big.key
        steps = lambda e: max(int(r.flags[r.flags.index("--steps") + 1]) for r in e.runs)  # noqa: E731
        assert steps(small) < steps(big), big.key
        assert len({r.seed for r in small.runs}) == 1
        if not big.flatness:  # flatness probes the seed-0 final points
            assert len({r.seed for r in big.runs}) >= 2, big.key
    table = full[0]
    assert table.key == "table-6-1" and table.at == (100, 200, 300, 400, 500)
    labels = {r.label for r in table.runs}
    assert {
        "SGD (paper's reading)",
        "IS (defaults)",
        "SGLD (paper's reading)",
        "HR (defaults)",
    } <= labels
    # the J = 1000 / L = 100 runs of Fig. 6.3 are Table 6.1's defaults rows: one directory each
    names = {r.name for r in table.runs}
    shared = [r for r in full[2].runs if r.label in ("IS, J = 1000", "SGLD, L = 100")]
    assert {r.label for r in shared} == {"IS, J = 1000", "SGLD, L = 100"}
    assert shared and all(r.name in names for r in shared)
    runs = registry.all_runs(full)
    assert len({r.name for r in runs}) == len(runs)
    assert len({(r.flags, r.seed, r.ranks) for r in runs}) == len(runs)
    assert any(r.ranks == 2 for r in runs)


def test_plan_prints_every_command_and_runs_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["reproduce", "--quick", "--plan", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    commands = [line for line in lines if not line.startswith("#")]
    total = sum(len(e.runs) for e in registry.build(Scale.quick()))
    assert len(commands) == total
    assert all("sampler train" in line and "--seed" in line for line in commands)
    assert any(line.startswith("mpiexec -n 2 ") for line in commands)
    assert not out.exists()


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--jobs", "0"], "--jobs"),
        (["--only", "table-6-1,bogus"], "--only"),
        (["--data-dir", "{missing}"], "--data-dir"),
        (["--data-dir", "{empty}"], "--data-dir"),
        (["--out", "{file}"], "--out"),
    ],
)
def test_bad_input_is_one_line_naming_the_flag(args, flag, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    places = {
        "missing": tmp_path / "missing",
        "empty": tmp_path / "empty",
        "file": tmp_path / "file",
    }
    args = [a.format(**places) for a in args]
    with pytest.raises(SystemExit) as stop:
        main(["reproduce", "--quick", *args])
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and flag in error, error


def _experiment(steps: int) -> Experiment:
    experiment = Experiment("small", "A small experiment", "Two rows of two seeds.", at=(2, steps))
    flags = ("--steps", str(steps), "--eval-every", "2")
    experiment.add("IS, beta 1", (*MODEL, "--beta", "1", *flags), (0, 1))
    experiment.add("IS, beta 5", (*MODEL, "--beta", "5", *flags), (0, 1))
    return experiment


def _metrics(path):
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def _same_training(a, b):
    """The same updates and the same final test accuracy (the cut run also evaluated at its
    cut, so its evaluations are a superset)."""
    keys = ("step", "train_loss", "ess", "beta", "free_energy")
    final = [json.loads((p / "summary.json").read_text())["final_test_accuracy"] for p in (a, b)]
    return final[0] == final[1] and [{k: r.get(k) for k in keys} for r in _metrics(a)] == [
        {k: r.get(k) for k in keys} for r in _metrics(b)
    ]


def test_launch_keeps_resumes_and_restarts_runs_and_writes_the_page(tmp_path, monkeypatch):
    out, docs, said = tmp_path / "out", tmp_path / "docs", []
    experiment = _experiment(6)
    outcomes = launch.launch(experiment.runs, out, None, jobs=2, say=said.append)
    assert [o.status for o in outcomes] == ["done"] * 4, said

    # run again, the folder spelled another way (relative, from its parent): every run is
    # kept, no process started
    said.clear()
    monkeypatch.chdir(tmp_path)
    outcomes = launch.launch(experiment.runs, Path("out"), None, jobs=2, say=said.append)
    assert [o.status for o in outcomes] == ["kept"] * 4 and not said

    # a run cut after 3 of its 6 updates (its command recorded, its checkpoint at 3) resumes
    # to the parameters of the uninterrupted run
    cut = experiment.runs[0]
    whole = tmp_path / "whole"
    (out / "runs" / cut.name).rename(whole)
    command = launch.train_command(cut, out / "runs" / cut.name, None)
    command[command.index("--steps") + 1] = "3"
    assert main(command[1:]) == 0
    outcomes = launch.launch(experiment.runs, out, None, jobs=2, say=said.append)
    assert [o.status for o in outcomes].count("resumed") == 1
    assert _same_training(out / "runs" / cut.name, whole)

    # a run made another way (here: another data folder) is moved aside and started afresh
    changed = experiment.runs[1]
    record = out / "runs" / f"{changed.name}.command.json"
    made = json.loads(record.read_text())
    record.write_text(json.dumps({**made, "data_dir": "/elsewhere"}))
    outcomes = launch.launch([changed], out, None, jobs=1, say=said.append)
    assert [o.status for o in outcomes] == ["done"]
    aside = [p for p in (out / "replaced").iterdir() if p.is_dir()]
    assert len(aside) == 1 and aside[0].name.startswith(changed.name)
    assert (aside[0] / "summary.json").is_file()  # the earlier run, whole
    assert json.loads(record.read_text()) == made

    class Args:
        data_dir, quick, jobs = None, True, 2

    page = report.write([experiment], Scale.quick(), out, docs, Args)
    text = page.read_text()
    assert "## A small experiment" in text
    # the row's cell at update 6: mean ± sample sd of the two seeds' test accuracy
    values = [
        json.loads((out / "runs" / r.name / "summary.json").read_text())["final_test_accuracy"]
        for r in experiment.runs
        if r.label == "IS, beta 5"
    ]
    row = next(line for line in text.splitlines() if line.startswith("| IS, beta 5 |"))
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    assert cells[1] == "2"
    assert cells[3] == f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"
    assert str(tmp_path) not in text and "OUT/runs/NAME" in text
    picture = docs / "small.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    timings = json.loads((out / "timings.json").read_text())
    assert set(timings) == {r.name for r in experiment.runs}


@pytest.mark.skipif(timed_runs.mpi_missing() is not None, reason="needs mpiexec and mpi4py")
def test_a_run_on_two_ranks_takes_two_slots_and_equals_one_rank(tmp_path):
    flags = (*MODEL, "--beta", "1", "--steps", "4", "--eval-every", "2")
    one, two = RunSpec("one rank", flags, 0, ranks=1), RunSpec("two ranks", flags, 0, ranks=2)
    said = []
    outcomes = launch.launch([two, one], tmp_path, None, jobs=2, say=said.append)
    assert [o.status for o in outcomes] == ["done", "done"], said
    # the 2-rank run filled both slots: the 1-rank run started after it ended
    assert said.index(next(s for s in said if s.startswith(f"done {two.name}"))) < said.index(
        next(s for s in said if s.startswith(f"start {one.name}"))
    )
    assert _same_training(tmp_path / "runs" / one.name, tmp_path / "runs" / two.name)


def _reproduce(out):
    command = [sys.executable, "-m", "sampler", "reproduce", "--quick", "--only", "fig-6-4",
               "--jobs", "2", "--out", str(out)]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.reliability  # about a minute: CI runs it, -m 'not reliability' skips it
def test_sigterm_stops_every_run_at_a_checkpoint_and_the_command_goes_on(tmp_path):
    """SIGTERM to the command: exit 130, the runs stopped at a checkpoint; the same command
    again resumes a cut run to the training of an uninterrupted one."""
    out = tmp_path / "out"
    process = _reproduce(out)
    deadline = time.monotonic() + 240
    cut = []
    while not cut and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)  # an SGLD run (40 updates of 1000 steps) past its checkpoint at 25
        cut = [p.parent for p in out.glob("runs/sgld-*/checkpoint.pt")
               if not (p.parent / "summary.json").exists()]  # fmt: skip
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=300)
    assert cut and process.returncode == 130, output
    assert "interrupted" in output and not (cut[0] / "summary.json").exists()
    again = _reproduce(out)
    output, _ = again.communicate(timeout=300)
    assert again.returncode == 0, output
    assert f"resumed {cut[0].name}" in output, output
    record = json.loads((cut[0].parent / f"{cut[0].name}.command.json").read_text())
    spec = RunSpec("whole", tuple(record["flags"]), record["seed"])
    assert main(launch.train_command(spec, tmp_path / "whole", None)[1:]) == 0
    assert _same_training(cut[0], tmp_path / "whole")
