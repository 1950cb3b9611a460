"""Inputs that were once accepted silently (the run trained on something else than what was
asked, or ignored a setting) are refused with one line naming the input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sampler.cli.main import main
from tests.cli.test_reliability import run_in_process
from tests.helpers.bad_case import MIXTURE

pytestmark = pytest.mark.reliability
RUN = [*MIXTURE, "--steps", "2", "--batch-size", "10", "--quiet"]

CASES = [
    (["--baseline", "esgd", "--gamma1", "10", "--steps", "50"], "--gamma1"),
    (["--baseline", "rsgd", "--gamma1", "1e30", "--steps", "5"], "--gamma1"),
    (["--beta", "auto:"], "--beta"),
    (["--beta", "auto: "], "--beta"),
    (["--model", "mlp", "--model-opt", "widths= "], "widths"),
    (["--model", "mlp", "--model-opt", "widths=,"], "widths"),
    (["--out", " "], "--out"),
    (["--out", "a\0b"], "--out"),
    (["--threads", "4096"], "--threads"),
    (["--threads", "100000000000000000000"], "--threads"),
]


@pytest.mark.parametrize("argv, names", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_refused_with_one_line(argv, names, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcome = run_in_process(["train", *RUN, *argv])
    assert outcome.verdict(names) == "clean", outcome.stderr


@pytest.mark.parametrize(
    "text, names",
    [
        ("out = 5\n", "--out"),
        ("out = -1.5\n", "--out"),
        ("batch-size = 5\nbatch_size = 6\n", "twice"),
    ],
)
def test_config_files_refused(text, names, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(text)
    outcome = run_in_process(["train", *MIXTURE, "--quiet", "--config", str(tmp_path / "c.toml")])
    assert outcome.verdict(names) == "clean", outcome.stderr


def test_noise_below_zero_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--data", "synthetic-images", "--data-opt", "noise=-1", "--steps", "1"]
    assert run_in_process(argv).verdict("noise") == "clean"


def test_resume_of_a_baseline_run_refuses_an_estimator(tmp_path):
    run = tmp_path / "sgd"
    assert main(["train", *RUN, "--baseline", "sgd", "--out", str(run)]) == 0
    outcome = run_in_process(["train", "--resume", str(run), "--estimator", "is", "--steps", "3"])
    assert outcome.verdict("--estimator") == "clean", outcome.stderr
    assert Path(run / "checkpoint.pt").is_file()


def test_resume_takes_a_number_written_another_way_but_no_other_number(tmp_path):
    run = tmp_path / "run"
    assert main(["train", *RUN, "--samples", "20", "--tau", "0.01", "--out", str(run)]) == 0
    assert main(["train", "--resume", str(run), "--steps", "3", "--tau", "0.010"]) == 0
    outcome = run_in_process(["train", "--resume", str(run), "--steps", "4", "--tau", "0.02"])
    assert outcome.verdict("--tau") == "clean", outcome.stderr


def test_a_report_of_no_runs_is_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    outcome = run_in_process(["reproduce", "--report-only", "--out", str(empty)])
    assert outcome.verdict("--report-only") == "clean", outcome.stderr
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize(
    "command, edit, names",
    [
        ("compare", {"method_options": [1, 2]}, "method_options must be a table"),
        ("compare", {"model_options": 3}, "model_options must be a table"),
        ("flatness", None, "not of one run"),
        ("export", None, "not of one run"),
        ("export", {"model": "mlp"}, "not of one run"),
    ],
)
def test_an_edited_config_is_refused_by_the_tools(tmp_path, command, edit, names):
    run = tmp_path / "run"
    assert main(["train", *RUN, "--samples", "20", "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({} if edit is None else {**config, **edit}))
    outcome = run_in_process([command, str(run), "--out", str(tmp_path / "out")])
    assert outcome.verdict(names) == "clean", outcome.stderr
