"""``sampler flatness`` on a tiny run, ``--signal-every`` in training, the flatness curves in
``sampler compare``, and one-line errors."""

from __future__ import annotations

import json

import matplotlib.image
import pytest

from sampler.cli.main import main

TINY = ["--data", "gaussian-mixture", "--gm-dim", "4", "--gm-train", "60", "--gm-test", "40"]
PROBES = [
    *("--examples", "30", "--noise-samples", "4", "--samples", "20", "--eigenvalues", "2"),
    *("--sigma", "0.1,0.3", "--taus", "0.001,0.01"),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("flat") / "run"
    argv = ["train", *TINY, "--steps", "5", "--batch-size", "10", "--signal-every", "2"]
    assert main([*argv, "--samples", "20", "--quiet", "--out", str(out)]) == 0
    return out


def test_signal_is_logged_every_n_updates_and_at_the_end(run):
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [m["step"] for m in metrics if "signal_fc0" in m]
    assert logged == [2, 4, 5] and all(m["signal_fc0"] > 0 for m in metrics if m["step"] in logged)
    assert json.loads((run / "config.json").read_text())["signal_every"] == 2


def test_flatness_writes_its_report_and_figure(run, tmp_path, capsys):
    assert main(["flatness", str(run), *PROBES]) == 0
    assert "lambda_max" in capsys.readouterr().out
    report = json.loads((run / "flatness.json").read_text())
    assert report["step"] == 5 and report["finished"] and report["examples"] == 30
    assert [p["sigma"] for p in report["local_energy"]["loss"]] == [0.1, 0.3]
    assert [p["sigma"] for p in report["local_energy"]["error"]] == [0.1, 0.3]
    assert [p["tau"] for p in report["local_entropy"]] == [0.001, 0.01]
    assert all(0 < p["ess"] <= 20 for p in report["local_entropy"])
    first, second = report["hessian"]["eigenvalues"]
    assert first >= second
    assert set(report["signal"]) == {"fc0"}
    assert matplotlib.image.imread(run / "flatness.png").ndim == 3
    # the curves of sampler compare: a single run's band is its Monte Carlo standard error
    out = tmp_path / "cmp"
    assert main(["compare", str(run), "--out", str(out)]) == 0
    plots = {p["name"]: p for p in json.loads((out / "plots.json").read_text())}
    energy = plots["local_energy_vs_sigma"]["series"][0]
    assert energy["x"] == [0.1, 0.3]
    assert energy["y"] == [p["local_energy"] for p in report["local_energy"]["loss"]]
    assert energy["sd"] == [p["standard_error"] for p in report["local_energy"]["loss"]]
    assert plots["local_entropy_vs_tau"]["series"][0]["x"] == [0.001, 0.01]
    assert "lambda_1" in (out / "table.md").read_text()
    assert (out / "local_energy_vs_sigma.png").is_file()


def test_flatness_is_reproducible_and_writes_to_out(run, tmp_path):
    chosen = ["--probes", "local-energy,signal", "--sigma", "0.2", "--noise-samples", "3"]
    assert main(["flatness", str(run), *chosen, "--out", str(tmp_path / "a")]) == 0
    assert main(["flatness", str(run), *chosen, "--out", str(tmp_path / "b")]) == 0
    first, second = (json.loads((tmp_path / d / "flatness.json").read_text()) for d in "ab")
    assert first["local_energy"] == second["local_energy"] and "hessian" not in first


@pytest.mark.parametrize(
    "args, message",
    [
        (["{empty}"], "not a run directory (no config.json)"),
        (["{no_checkpoint}"], "no checkpoint.pt yet"),
        (["{run}", "--sigma", "0.1,-1"], "--sigma: must be a comma-separated list of positive"),
        (["{run}", "--taus", "x"], "--taus: must be a comma-separated list of positive"),
        (["{run}", "--probes", "hessian,curvature"], "--probes: must be a comma-separated subset"),
        (["{run}", "--noise-samples", "1"], "--noise-samples: must be an integer >= 2"),
        (["{run}", "--beta", "0"], "--beta: must be a positive number"),
        (["{run}", "--eigenvalues", "10"], "--eigenvalues: must be less than the model's 10"),
    ],
)
def test_bad_inputs_stop_with_one_line(run, tmp_path, capsys, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    no_checkpoint = tmp_path / "no-checkpoint"
    no_checkpoint.mkdir()
    (no_checkpoint / "config.json").write_text((run / "config.json").read_text())
    filled = [a.format(run=run, empty=empty, no_checkpoint=no_checkpoint) for a in args]
    with pytest.raises(SystemExit) as stopped:
        main(["flatness", *filled])
    assert stopped.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0]


def test_signal_every_must_not_be_negative(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", *TINY, "--signal-every", "-1", "--out", str(tmp_path / "x")])
    assert "--signal-every: must be 0 (never) or a positive integer" in capsys.readouterr().err


def test_an_out_that_is_a_file_stops_before_any_work(run, tmp_path, capsys):
    existing = tmp_path / "report.json"
    existing.write_text("{}")
    with pytest.raises(SystemExit) as stopped:
        main(["flatness", str(run), *PROBES, "--out", str(existing)])
    assert stopped.value.code == 2
    printed = capsys.readouterr()
    errors = [line for line in printed.err.splitlines() if "error:" in line]
    assert len(errors) == 1 and f"--out {existing}: exists and is not a folder" in errors[0]
    assert printed.out == "" and existing.read_text() == "{}"


def test_every_probe_of_a_keras_run(tmp_path):
    """The default probes, Hessian included, on a Keras model's run: its eigenvalues come from the
    adapter's own Hessian-vector products."""
    pytest.importorskip("tensorflow")
    out = tmp_path / "keras-run"
    model = ["--model", "keras:tests.helpers.keras_factories:tiny_mlp", "--model-opt", "xla=false"]
    argv = ["train", *TINY, *model, "--steps", "2", "--batch-size", "10", "--samples", "20"]
    assert main([*argv, "--quiet", "--out", str(out)]) == 0
    assert main(["flatness", str(out), *PROBES]) == 0
    report = json.loads((out / "flatness.json").read_text())
    first, second = report["hessian"]["eigenvalues"]
    assert first >= second and report["hessian"]["matvecs"] > 0
    assert set(report["signal"]) == {"hidden", "logits"}
    assert {"local_energy", "local_entropy"} <= set(report)


def test_a_model_without_hessian_vector_products_is_told_which_probes_work():
    from sampler.flatness.report import HESSIAN_UNAVAILABLE, has_hessian

    class ForwardOnly:  # the model interface without a differentiable graph of its own
        num_params, layers = 3, {"w": slice(0, 3)}

    assert not has_hessian(ForwardOnly())
    assert "--probes local-energy,local-entropy,signal" in HESSIAN_UNAVAILABLE
