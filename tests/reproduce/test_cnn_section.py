"""The ``cnn`` section of ``sampler reproduce`` (``sampler.reproduce.cnn``): its runs at both
scales, and its render on fake runs (accuracy against updates and wall time, the equal-time
table, two PNGs)."""

from __future__ import annotations

from pathlib import Path

from sampler.compare.runs import Run
from sampler.reproduce.cnn import accuracy_within, cnn, render_cnn, seconds_to
from sampler.reproduce.scale import Scale


def fake_run(seconds_per_update: float, accuracies: dict[int, float]) -> Run:
    metrics = [
        {"step": step, "time": step * seconds_per_update, "test_accuracy": value}
        for step, value in sorted(accuracies.items())
    ]
    last = max(accuracies)
    summary = {"steps": last, "seconds_per_update": seconds_per_update}
    return Run(Path("fake"), {}, metrics, summary)


def test_the_section_runs_is_and_sgd_on_both_cnns_quick_smaller():
    full, quick = cnn(Scale.full()), cnn(Scale.quick())
    labels = {run.label for run in full.runs}
    both = ("IS (defaults)", "SGD", "SGD (--batch-size 40)")
    assert labels == {f"{m}, {n}" for m in both for n in ("tiny-conv", "small-conv")} | {
        "IS (global settings), tiny-conv",  # tiny-conv declares its own IS settings
        "IS (tiny-conv's settings), small-conv",  # small-conv declares none
    }
    assert {run.seed for run in full.runs} == {0, 1} and {run.seed for run in quick.runs} == {0}
    is_flags = next(r.flags for r in full.runs if r.label == "IS (defaults), small-conv")
    assert "--proposal" not in is_flags and "--tau" not in is_flags  # the defaults
    assert "--beta" not in is_flags and "--samples" not in is_flags
    assert "--batch-size" not in is_flags
    earlier = next(r.flags for r in full.runs if r.label == "IS (global settings), tiny-conv")
    given = dict(zip(earlier[::2], earlier[1::2]))
    assert given["--samples"] == "1000" and given["--batch-size"] == "20"
    assert given["--tau"] == "0.01" and given["--lr"] == "anneal" and given["--beta"] == "auto"
    own = next(r.flags for r in full.runs if r.label == "IS (tiny-conv's settings), small-conv")
    given = dict(zip(own[::2], own[1::2]))
    assert given["--samples"] == "4000" and given["--batch-size"] == "40"
    assert given["--lr"] == "anneal:5,2" and given["--beta"] == "auto:0.1"
    assert given["--tau"] == "scoping:0.01,0.0016"


def test_render_writes_both_plots_and_the_equal_time_table(tmp_path):
    rows = {
        "IS (defaults), tiny-conv": [
            fake_run(1.0, {10: 0.5, 20: 0.8}),
            fake_run(1.0, {10: 0.6, 20: 0.9}),
        ],
        "SGD, tiny-conv": [
            fake_run(0.1, {10: 0.91, 20: 0.95}),
            fake_run(0.1, {10: 0.85, 20: 0.93}),
        ],
    }
    experiment = cnn(Scale.quick())
    experiment.at = (10, 20)
    parts = render_cnn(experiment, rows, tmp_path, tmp_path)
    text = "\n\n".join(parts)
    assert "| IS (defaults), tiny-conv | 2 of 1 | 0.550 ± 0.071 | 0.850 ± 0.071 | 1 |" in text
    assert "| accuracy within 20 s |" in text  # the IS row's training time is the budget
    assert "| IS (defaults), tiny-conv | 0.850 ± 0.071 | not reached |" in text  # one seed did
    assert "| SGD, tiny-conv | 0.940 ± 0.014 | 1.5 |" in text  # 0.91 at 1 s, 0.93 at 2 s
    assert (tmp_path / "cnn.png").is_file() and (tmp_path / "cnn-seconds.png").is_file()
    assert "![CNNs: test accuracy against wall time](cnn-seconds.png)" in parts


def test_equal_time_helpers_on_one_run():
    run = fake_run(2.0, {5: 0.7, 10: 0.88, 15: 0.92})
    assert accuracy_within(run, 21.0) == 0.88 and accuracy_within(run, 5.0) is None
    assert seconds_to(run, 0.9) == 30.0 and seconds_to(run, 0.95) is None
