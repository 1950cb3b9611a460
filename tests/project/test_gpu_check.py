"""``scripts/gpu_check.py`` rehearsed on the CPU (``--device cpu --quick``), as a user without a
GPU, or CI, runs it: every section passes, every estimator and baseline trained on the device
asked for, 1 and 2 ranks agree within float64 rounding on the CPU, both resume directions
complete, and the bench part holds its workloads and the J sweep."""

from __future__ import annotations

import json
import subprocess
import sys

from sampler.baselines import BASELINES
from sampler.estimators import ESTIMATORS
from tests.helpers.checkout import ROOT


def test_the_gpu_check_rehearses_on_the_cpu(tmp_path):
    out = tmp_path / "report"
    command = [sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--device", "cpu"]
    result = subprocess.run(
        [*command, "--quick", "--out", str(out)], capture_output=True, text=True, timeout=900
    )
    report = json.loads((out / "report.json").read_text())
    failed = {k: v for k, v in report.items() if isinstance(v, dict) and not v.get("passed", 1)}
    assert result.returncode == 0, (result.stdout, json.dumps(failed)[:3000])
    assert "5 of 5 sections passed" in result.stdout
    trained = {row["method"]: row for row in report["train"]["runs"]}
    assert set(trained) == set(ESTIMATORS) | set(BASELINES)
    assert all(row["device"] == "cpu" and row["seconds_per_update"] > 0 for row in trained.values())
    if "skipped" not in report["ranks"]:
        assert all(row["rel"] < 1e-5 for row in report["ranks"]["runs"])
    directions = {(r["checkpointed_on"], r["resumed_on"]) for r in report["resume"]["runs"]}
    assert directions == {("cpu", "cpu")} and len(report["resume"]["runs"]) == 2
    bench = report["bench"]["report"]
    assert [row["samples"] for row in bench["sweep"]] == [100, 1000]
    assert {w["workload"] for w in bench["workloads"]} >= {"is literal", "is defaults", "sgd step"}
    assert "# GPU check on cpu" in (out / "report.md").read_text()
