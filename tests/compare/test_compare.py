"""``sampler compare``: the table's numbers against those computed by hand from tiny runs'
metrics, seed repetitions as mean ± sd, unfinished runs, the plots and one-line errors."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import statistics

import matplotlib.image
import pytest

from sampler.cli.main import main
from sampler.compare.runs import read_run
from sampler.compare.settings import differing, flatten

TINY = ["--data", "gaussian-mixture", "--gm-dim", "4", "--gm-train", "60", "--gm-test", "40"]
RUN = [*TINY, "--steps", "6", "--batch-size", "10", "--eval-every", "2", "--quiet"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two seeds of importance sampling, and SGD: three tiny run directories."""
    root = tmp_path_factory.mktemp("runs")
    for name, method in (
        ("is-0", ["--seed", "0", "--samples", "20", "--block-size", "8", "--signal-every", "3"]),
        ("is-1", ["--seed", "1", "--samples", "20", "--block-size", "8", "--signal-every", "3"]),
        ("sgd", ["--seed", "0", "--baseline", "sgd", "--lr", "0.1"]),
    ):
        assert main(["train", *RUN, *method, "--out", str(root / name)]) == 0
    return root


def _metrics(path):
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def _compare(*args):
    return main(["compare", *map(str, args)])


def _csv_rows(out):
    with open(out / "table.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def compared(runs, tmp_path_factory):
    """``sampler compare`` of the three runs (plots included): its folder and printed table."""
    out = tmp_path_factory.mktemp("comparison")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert (
            _compare(runs / "is-0", runs / "is-1", runs / "sgd", "--out", out, "--grad-cost", 2)
            == 0
        )
    return out, printed.getvalue()


def test_table_numbers_equal_those_computed_by_hand(runs, compared):
    out, printed = compared
    rows = _csv_rows(out)
    assert [r["method"] for r in rows] == ["is", "sgd"]
    seeds = [_metrics(runs / "is-0"), _metrics(runs / "is-1")]
    summaries = [json.loads((runs / n / "summary.json").read_text()) for n in ("is-0", "is-1")]
    is_row, sgd_row = rows
    for step in (2, 4, 6):  # the default columns: the updates every run evaluated
        values = [next(r["test_accuracy"] for r in m if r["step"] == step) for m in seeds]
        assert float(is_row[f"accuracy_at_{step}"]) == pytest.approx(statistics.mean(values))
        assert float(is_row[f"accuracy_at_{step}_sd"]) == pytest.approx(statistics.stdev(values))
    finals = [s["final_test_accuracy"] for s in summaries]
    assert float(is_row["final_accuracy"]) == pytest.approx(statistics.mean(finals))
    speeds = [s["seconds_per_update"] for s in summaries]
    assert float(is_row["seconds_per_update"]) == pytest.approx(statistics.mean(speeds))
    assert float(is_row["loss_evals"]) == 6 * 20 and float(is_row["grad_evals"]) == 0
    assert float(is_row["examples"]) == 6 * 10
    assert float(is_row["forward_equivalents"]) == 6 * 20
    assert is_row["runs"] == "2 (seeds 0,1)" and is_row["updates"] == "6"
    assert float(sgd_row["grad_evals"]) == 6 and float(sgd_row["forward_equivalents"]) == 2 * 6
    assert sgd_row["accuracy_at_2_sd"] == ""  # one run: no spread
    sgd_metrics = _metrics(runs / "sgd")
    assert float(sgd_row["final_test_loss"]) == pytest.approx(sgd_metrics[-1]["test_loss"])
    mean, sd = statistics.mean(finals), statistics.stdev(finals)
    assert f"{mean:.3f} ± {sd:.3f}" in printed
    assert f"{mean:.3f} ± {sd:.3f}" in (out / "table.md").read_text()
    header = printed.splitlines()[0].split()
    assert header[:4] == ["method", "settings", "runs", "updates"] and "acc@6" in header


def test_at_chooses_the_accuracy_columns(runs, tmp_path):
    out = tmp_path / "cmp"
    assert _compare(runs / "sgd", "--at", "4,3", "--out", out, "--no-plots") == 0
    assert not list(out.glob("*.png"))
    row = _csv_rows(out)[0]
    value = next(r["test_accuracy"] for r in _metrics(runs / "sgd") if r["step"] == 4)
    assert float(row["accuracy_at_4"]) == pytest.approx(value)
    assert row["accuracy_at_3"] == ""  # not evaluated at update 3: an empty cell


def test_an_unfinished_run_is_read_as_far_as_it_got(runs, tmp_path, capsys):
    partial = tmp_path / "partial"
    shutil.copytree(runs / "sgd", partial)
    (partial / "summary.json").unlink()
    lines = (partial / "metrics.jsonl").read_text().splitlines()
    (partial / "metrics.jsonl").write_text("\n".join(lines[:3]) + '\n{"step": 4, "ti')  # torn
    out = tmp_path / "cmp"
    assert _compare(partial, "--out", out, "--at", "2", "--no-plots") == 0
    printed = capsys.readouterr().out
    row = _csv_rows(out)[0]
    assert row["updates"] == "3*" and "unfinished" in printed
    step2 = json.loads(lines[1])
    assert float(row["final_accuracy"]) == pytest.approx(step2["test_accuracy"])
    assert float(row["seconds_per_update"]) == pytest.approx(json.loads(lines[2])["time"] / 3)


def test_a_run_resumed_past_its_summary_is_unfinished(runs, tmp_path):
    extended = tmp_path / "extended"
    shutil.copytree(runs / "sgd", extended)
    line = {"step": 7, "time": 1.0, "train_loss": 0.5, "loss_evals": 0, "grad_evals": 1}
    with open(extended / "metrics.jsonl", "a") as handle:
        handle.write(json.dumps(line) + "\n")
    out = tmp_path / "cmp"
    assert _compare(extended, "--out", out, "--no-plots") == 0
    row = _csv_rows(out)[0]
    assert row["updates"] == "7*" and float(row["grad_evals"]) == 7
    assert float(row["seconds_per_update"]) == pytest.approx(1.0 / 7)


def test_plots_are_png_files_with_the_expected_series(runs, compared):
    out, _ = compared
    plots = {p["name"]: p for p in json.loads((out / "plots.json").read_text())}
    for name in (
        "accuracy_vs_updates",
        "accuracy_vs_seconds",
        "accuracy_vs_forward_equivalents",
        "train_loss_vs_updates",
        "ess_vs_updates",
        "free_energy_vs_updates",
        "signal_vs_updates",
    ):
        path = out / f"{name}.png"
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        assert matplotlib.image.imread(path).ndim == 3
    accuracy = plots["accuracy_vs_updates"]["series"]
    assert [s["label"].split()[0] for s in accuracy] == ["is", "sgd"]
    seeds = [_metrics(runs / "is-0"), _metrics(runs / "is-1")]
    values = [[r["test_accuracy"] for r in m if "test_accuracy" in r] for m in seeds]
    assert accuracy[0]["x"] == [2, 4, 6]
    assert accuracy[0]["y"] == pytest.approx([statistics.mean(v) for v in zip(*values)])
    assert accuracy[0]["sd"] == pytest.approx([statistics.stdev(v) for v in zip(*values)])
    assert accuracy[1]["sd"] is None  # a single run: no band
    costs = plots["accuracy_vs_forward_equivalents"]["series"]
    assert costs[0]["x"] == [40, 80, 120] and costs[1]["x"] == [4, 8, 12]  # --grad-cost 2
    assert [s["label"] for s in plots["ess_vs_updates"]["series"]] == [accuracy[0]["label"]]
    signal = plots["signal_vs_updates"]["series"]
    assert [s["x"] for s in signal] == [[3, 6]] and signal[0]["label"].endswith(": fc0")
    assert not (out / "local_energy_vs_sigma.png").exists()  # no flatness.json yet


def test_settings_that_differ_label_the_runs(runs):
    loaded = [read_run(runs / name) for name in ("is-0", "is-1", "sgd")]
    keys = differing(loaded)
    assert "seed" not in keys and "samples" not in keys  # only is has samples: not a difference
    assert {"estimator", "baseline", "lr"} <= set(keys)
    settings, method_keys = flatten(loaded[0].config)
    assert settings["samples"] == "20" and "samples" in method_keys
    assert settings["data.dim"] == "4" and "out" not in settings


@pytest.mark.parametrize(
    "args, message",
    [
        (["{tmp}"], "not a run directory (no config.json)"),
        (["{tmp}/missing"], "not a directory"),
        (["{run}", "--at", "0,100"], "--at: must be a comma-separated list"),
        (["{run}", "--grad-cost", "-1"], "--grad-cost: must be a number >= 0"),
        (["{run}", "{run}"], "given twice"),
        (["{run}", "--out", "{run}"], "is one of the runs"),
    ],
)
def test_bad_inputs_stop_with_one_line(runs, tmp_path, capsys, args, message):
    filled = [a.format(tmp=tmp_path, run=runs / "sgd") for a in args]
    with pytest.raises(SystemExit) as stopped:
        main(["compare", *filled])
    assert stopped.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0]


def test_a_run_without_updates_and_a_run_of_the_earlier_layout(runs, tmp_path):
    """A run that has logged nothing yet, and a config.json of the earlier flat layout."""
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    config = json.loads((runs / "sgd" / "config.json").read_text())
    (fresh / "config.json").write_text(json.dumps(config))
    (fresh / "metrics.jsonl").write_text("")
    legacy = tmp_path / "legacy"
    shutil.copytree(runs / "is-0", legacy)
    record = json.loads((legacy / "config.json").read_text())
    flat = {k: v for k, v in record.items() if not k.endswith("_options")}
    flat.update(record["method_options"])
    flat.update({"gm_dim": 4, "gm_train": 60, "gm_test": 40})
    (legacy / "config.json").write_text(json.dumps(flat))
    out = tmp_path / "cmp"
    assert _compare(fresh, legacy, runs / "is-1", "--out", out, "--no-plots") == 0
    rows = _csv_rows(out)
    assert rows[0]["updates"] == "0*" and rows[0]["final_accuracy"] == ""
    assert rows[1]["runs"] == "2 (seeds 0,1)"  # the legacy record is a repetition of is-1


@pytest.mark.parametrize("under", [False, True])
def test_an_out_that_is_a_file_stops_before_any_work(runs, tmp_path, capsys, under):
    """``--out FILE`` (or a path under a file): one line naming ``--out``, no table printed."""
    existing = tmp_path / "table.txt"
    existing.write_text("not a folder\n")
    out = existing / "sub" if under else existing
    with pytest.raises(SystemExit) as stopped:
        main(["compare", str(runs / "sgd"), "--out", str(out)])
    assert stopped.value.code == 2
    printed = capsys.readouterr()
    errors = [line for line in printed.err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "--out" in errors[0] and "is not a folder" in errors[0]
    assert printed.out == "" and existing.read_text() == "not a folder\n"
