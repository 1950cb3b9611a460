"""``sampler reproduce``: its plan, its refusals, and that its launcher and report do what they
say on small real runs (gaussian mixture, seconds): finished runs kept, a cut run resumed to
the parameters of an uninterrupted one, a changed command started afresh, and a page of
tables (mean ± sd over seeds) and real PNGs without a path of the machine in it.

The whole pipeline at ``--quick`` takes minutes and is run by ``.ci/run`` after the tests.
"""

import json

import pytest

from sampler.cli import main
from sampler.reproduce import experiments, launch, report
from sampler.reproduce.experiments import Experiment, RunSpec, Scale
from tests.test_train import MIXTURE

MODEL = ("--model", "linear", *MIXTURE, "--estimator", "is", "--samples", "40", "--tau", "0.01")


def test_every_experiment_at_both_scales_quick_smaller():
    full, quick = experiments.build(Scale.full()), experiments.build(Scale.quick())
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
    # the J = 1000 / L = 1000 runs of Fig. 6.3 are Table 6.1's defaults rows: one directory each
    names = {r.name for r in table.runs}
    shared = [r for r in full[2].runs if r.label in ("IS, J = 1000", "SGLD, L = 1000")]
    assert shared and all(r.name in names for r in shared)
    runs = experiments.all_runs(full)
    assert len({r.name for r in runs}) == len(runs)
    assert len({(r.flags, r.seed, r.ranks) for r in runs}) == len(runs)
    assert any(r.ranks == 2 for r in runs)


def test_plan_prints_every_command_and_runs_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["reproduce", "--quick", "--plan", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    commands = [line for line in lines if not line.startswith("#")]
    total = sum(len(e.runs) for e in experiments.build(Scale.quick()))
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


def test_launch_keeps_resumes_and_restarts_runs_and_writes_the_page(tmp_path):
    out, docs, said = tmp_path / "out", tmp_path / "docs", []
    experiment = _experiment(6)
    outcomes = launch.launch(experiment.runs, out, None, jobs=2, say=said.append)
    assert [o.status for o in outcomes] == ["done"] * 4, said

    # run again: every run is kept, no process started
    said.clear()
    outcomes = launch.launch(experiment.runs, out, None, jobs=2, say=said.append)
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

    # a changed command starts its run afresh
    changed = RunSpec(cut.label, cut.flags, cut.seed)
    record = out / "runs" / f"{changed.name}.command.json"
    record.write_text(json.dumps(["sampler", "train", "something", "else"]))
    outcomes = launch.launch([changed], out, None, jobs=1, say=said.append)
    assert [o.status for o in outcomes] == ["done"]

    class Args:
        data_dir, quick, jobs = None, True, 2

    page = report.write([experiment], Scale.quick(), out, docs, Args, timing_wanted=False)
    text = page.read_text()
    assert "## A small experiment" in text and "IS, beta 5" in text
    assert " ± " in text  # two seeds: mean ± sd
    assert str(tmp_path) not in text and "OUT/runs/NAME" in text
    picture = docs / "small.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    timings = json.loads((out / "timings.json").read_text())
    assert set(timings) == {r.name for r in experiment.runs}
