"""``sampler bench`` with tiny settings: it runs every workload, prints the ratios first, and its
JSON holds the same numbers. (Speed is measured by running the bench, never asserted here.)"""

from __future__ import annotations

import json
import math

import pytest

from sampler.bench import timed_runs
from sampler.bench.command import render
from sampler.cli.main import main
from tests.helpers.mpi_launch import requires_mpi

TINY = [
    *("--models", "linear", "--samples", "40", "--rounds", "1", "--sgld-steps", "3"),
    *("--rm-samples", "4", "--rm-iterations", "2", "--ranks", "0", "--memory-samples", ""),
]


def test_bench_prints_the_ratios_first(capsys):
    assert main(["bench", *TINY]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("sampler bench:") and lines[2] == "ratios"
    table = lines[3 : lines.index("", 3)]
    named = " ".join(table)
    for workload in ("is literal", "is antithetic", "is marginal", "is naive loop", "sgd step"):
        assert workload in named
    assert "noise + forward" in named and "vs is literal" in named
    assert "rm-stein marginal M=4 J=2" in named and "vs rm-stein M=4 J=2" in named
    assert "is defaults, 1 of 2 ranks' work" in named  # --ranks 0: the share of 2 ranks
    assert any("ranks: skipped" in line for line in table)
    assert "seconds (median per update; floors measured beside each)" in lines


def test_bench_json_holds_every_workload_and_ratio(capsys):
    assert main(["bench", *TINY, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    names = {w["workload"] for w in report["workloads"]}
    assert {"is literal", "is antithetic", "is marginal", "is defaults", "sgd step"} <= names
    assert "share of 2 ranks, is defaults" in names
    shares = [r for r in report["ratios"] if r["ratio"] == "efficiency without communication"]
    assert len(shares) == 1 and 0.3 < shares[0]["value"] < 1.5
    assert any(name.startswith("sgld") for name in names)
    assert report["models"]["linear"]["default_proposal"] in ("literal", "antithetic", "marginal")
    for ratio in report["ratios"]:
        assert math.isfinite(ratio["value"]) and ratio["value"] > 0
    for workload in report["workloads"]:
        assert workload["seconds"] > 0 and all(v > 0 for v in workload["floors"].values())


def test_bad_settings_are_refused_with_one_line(capsys):
    for argv, flag in (
        (["--models", "resnet18"], "--models"),
        (["--rounds", "0"], "--rounds"),
        (["--ranks", "1"], "--ranks"),
        (["--memory-samples", "1000"], "--memory-samples"),
    ):
        with pytest.raises(SystemExit) as stop:
            main(["bench", *argv])
        assert stop.value.code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and flag in err, err


def test_peak_memory_probe_reports_a_resident_set():
    assert timed_runs.peak_memory("linear", 50, "literal") > 10  # MB: the interpreter and torch


def test_a_short_update_gets_rank_runs_long_enough_to_time(monkeypatch):
    """``run_length``: at least ``steps`` updates, and about ``seconds`` of them on one rank for
    a short update; ``scaling`` runs every pair at that length, a first run of ``steps``
    updates only to find it (kept as round 1 where it was long enough)."""
    assert timed_runs.run_length(10, 5.0, 0.05) == 100  # 50 ms updates: 100 of them
    assert timed_runs.run_length(10, 5.0, 0.8) == 10  # 10 updates already last 8 s
    assert timed_runs.run_length(10, 5.0, 0.001) == 200  # at most 200
    assert timed_runs.run_length(10, 5.0, 0.0) == 10
    calls = []

    def fake(ranks, flags, model, steps, threads=1):
        calls.append((ranks, flags[0], steps))
        return {"fast": 0.05, "slow": 1.0}[flags[0]] / (1 if ranks == 1 else 1.8)

    monkeypatch.setattr(timed_runs, "seconds_per_update", fake)
    fast, slow = timed_runs.scaling("mlp", 2, 10, {"f": ["fast"], "s": ["slow"]}, rounds=2)
    assert fast["steps"] == 100 and slow["steps"] == 10
    assert calls == [
        (1, "fast", 10),  # the first run finds the length, then every pair has it
        *[(1, "fast", 100), (2, "fast", 100)] * 2,
        (1, "slow", 10),  # long enough: it is round 1's one-rank run
        (2, "slow", 10),
        (1, "slow", 10),
        (2, "slow", 10),
    ]
    assert math.isclose(fast["efficiency"], 0.9) and math.isclose(slow["efficiency"], 0.9)


@requires_mpi
def test_rank_comparison_runs_sampler_train_under_mpiexec():
    flags = {"is": ["--estimator", "is", "--samples", "40", "--block-size", "10"]}
    (result,) = timed_runs.scaling("linear", 2, 3, flags, rounds=3, seconds=0.0)
    assert result["ranks"] == 2 and result["seconds_1"] > 0 and result["seconds_r"] > 0
    assert math.isclose(result["efficiency"], result["speedup"] / 2)
    # the median of the three alternated pairs, each pair's efficiency kept
    assert len(result["efficiencies"]) == 3 and result["rounds"] == 3
    assert result["efficiency"] == sorted(result["efficiencies"])[1]
    assert result["steps"] == 3  # seconds=0: no longer runs (a short update's: the test above)
    assert "median of 3 pairs" in render(
        {
            "load_average": [0, 0, 0],
            "cpus": 2,
            "device": "cpu",
            "ratios": [],
            "ranks": [result],
            "ranks_note": None,
            "memory": [],
            "workloads": [],
            "sweep": [],
        }
    )


def test_bench_times_the_cnn_workloads(capsys):
    tiny = [*TINY[TINY.index("--samples") :], "--models", "tiny-conv", "--json"]
    assert main(["bench", *tiny]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {w["workload"]: w for w in report["workloads"] if w["model"] == "tiny-conv"}
    layers = ("conv1", "conv2", "fc1")
    assert {"is literal", "is defaults (expected)", "sgd step"} <= set(rows)
    assert {f"is layerwise {layer}" for layer in layers} <= set(rows)
    assert {f"is defaults {layer}" for layer in layers} <= set(rows)
    assert report["models"]["tiny-conv"]["default_proposal"] == "layerwise-size"
    shares = report["models"]["tiny-conv"]["layer_shares"]
    expected = sum(shares[layer] * rows[f"is layerwise {layer}"]["seconds"] for layer in layers)
    by_size = rows["is layerwise-size (expected)"]
    assert by_size["seconds"] == pytest.approx(expected)
    assert set(by_size["floors"]) == {"noise", "forward"}
    default_shares = report["models"]["tiny-conv"]["default_shares"]
    assert sum(default_shares.values()) == pytest.approx(1.0)
    defaults = sum(
        default_shares[layer] * rows[f"is defaults {layer}"]["seconds"] for layer in layers
    )
    assert rows["is defaults (expected)"]["seconds"] == pytest.approx(defaults)
    ratios = {(r["workload"], r["ratio"]) for r in report["ratios"]}
    assert ("is layerwise-size (expected)", "vs is literal") in ratios
    assert ("is defaults (expected)", "noise + forward") in ratios
    assert "is defaults (expected)" in render(report)  # the derived rows carry no peak_mb
