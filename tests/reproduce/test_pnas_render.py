"""The ``pnas-minima`` section of ``sampler reproduce`` (``sampler.reproduce.pnas_render``) on
fake runs and flatness reports: the curve read at the table's distances by interpolation between
converged points (a non-converged point ignored, a distance outside the range left empty), mean
± sd over samples, lambda_max, the noise columns, the ordering sentence against the paper's, and
real PNGs; and the experiment at both scales (every run on random patterns, no --data-dir)."""

from __future__ import annotations

import json

import pytest

from sampler.compare.runs import Run
from sampler.reproduce import launch
from sampler.reproduce.experiment import Experiment
from sampler.reproduce.pnas_minima import pnas_minima
from sampler.reproduce.pnas_render import PAPER_ORDER, curve_at, render
from sampler.reproduce.scale import Scale


def report(shift: float, top: float, noise: float) -> dict:
    """A flatness report: S - H2 = shift - d on converged points at d = 0.0, 0.02, 0.05, 0.2 and
    a wrong (non-converged) one at 0.04; the continuous V1 = 2 (shift - d) at the table's
    distances and 0.2, and a non-converged point (no value) at 0.05."""
    points = [
        {"distance": d, "normalised": shift - d, "converged": True} for d in (0.0, 0.02, 0.05, 0.2)
    ]
    points.append({"distance": 0.04, "normalised": 5.0, "converged": False})
    continuous = [
        {"distance": d, "normalised": 2 * (shift - d), "converged": True}
        for d in (0.01, 0.03, 0.1, 0.2)
    ]
    continuous.append({"distance": 0.05, "normalised": None, "converged": False})
    return {
        "bp_local_entropy": {"points": points, "reference_errors": 0},
        "bp_local_entropy_continuous": {"points": continuous, "reference_errors": 0},
        "hessian": {"eigenvalues": [top, top / 2, top / 4]},
        "local_energy": {
            "error": [{"sigma": s, "local_energy": noise * s} for s in (0.1, 0.3, 0.7)]
        },
    }


def test_curve_at_interpolates_between_converged_points():
    curve = [(0.0, 0.0), (0.02, -0.1), (0.05, -0.4)]
    assert curve_at(curve, 0.01) == pytest.approx(-0.05)
    assert curve_at(curve, 0.03) == pytest.approx(-0.2)
    assert curve_at(curve, 0.1) is None


def test_render_table_ordering_and_plots(tmp_path):
    out, docs = tmp_path / "out", tmp_path / "docs"
    experiment = Experiment("pnas-minima", "t", "a", flatness=True, flatness_flags=("--x",))
    widths = dict(zip(PAPER_ORDER, range(5, 0, -1)))  # fBP widest ... LAL narrowest
    rows = {}
    for label, width in widths.items():
        experiment.add(label, ("--baseline", label.split()[0].lower()), [0, 1])
        rows[label] = []
        for spec in experiment.runs[-2:]:
            folder = experiment.flatness_directory(out, spec)
            folder.mkdir(parents=True)
            fake = report(0.1 * width + 0.01 * spec.seed, top=1.0 / width, noise=1.0 / width)
            (folder / "flatness.json").write_text(json.dumps(fake))
            summary = {"steps": 10 * width, "final_test_errors": 0}
            rows[label].append(Run(tmp_path, {}, [], summary))
    parts = render(experiment, rows, out, docs)
    lines = parts[0].splitlines()
    fbp = next(line for line in lines if line.startswith("| fBP"))
    # d = 0.03 from the points at 0.02 and 0.05: 0.5 + 0.01 s - 0.03, mean over s = 0, 1
    assert "0.475 ± 0.007" in fbp and "| 50 ± 0 |" in fbp
    assert "0.200 ± 0.000" in fbp  # lambda_max = 1/5
    assert "| — |" not in fbp  # d = 0.1 lies between 0.05 and 0.2
    # the continuous V1 at d = 0.03: 2 (0.5 + 0.01 s - 0.03) over s = 0, 1
    assert "0.950 ± 0.014" in fbp
    assert parts[1].count("(10 of 10 pairs in the paper's order)") == 5
    assert "continuous BP V1(d) at d = 0.1 (higher: wider)" in parts[1]
    pictures = [p for p in parts if p.startswith("![")]
    assert len(pictures) == 3
    for name in ("pnas-minima-fig4", "pnas-minima-fig5", "pnas-minima-noise"):
        assert (docs / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("scale", [Scale.full(), Scale.quick()])
def test_experiment_runs_on_random_patterns_without_data_dir(scale, tmp_path):
    experiment = pnas_minima(scale)
    labels = {run.label for run in experiment.runs}
    assert set(PAPER_ORDER) <= labels or scale.smoke_test
    for run in experiment.runs:
        assert "random-patterns" in run.flags and not launch.reads_files(run.flags)
        command = launch.train_command(run, tmp_path, "/some/mnist")
        assert "--data-dir" not in command


def test_stopped_run_counts_as_finished(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"steps": 7}))
    lines = [{"step": 6}, {"step": 7, "stop": "zero errors"}]
    (tmp_path / "metrics.jsonl").write_text("\n".join(map(json.dumps, lines)) + "\n")
    assert launch.stopped_at(tmp_path) == 7
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 7}) + "\n")
    assert launch.stopped_at(tmp_path) is None
