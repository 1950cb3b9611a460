"""The README's Python API example runs unchanged serially and under a real ``mpiexec -n 2``,
with the same result, and the site's Python API page shows the same example; a run's metadata
gathers every rank's device."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import torch

from tests.helpers.mpi_launch import ROOT, requires_mpi, run_mpi

MARKER = "<!-- python-api-example"


def readme_example(page: str = "README.md") -> str:
    text = (ROOT / page).read_text()
    after = text[text.index(MARKER) :]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


def test_the_python_api_page_shows_the_readme_example():
    assert readme_example("docs/python-api.md") == readme_example()


def accuracy_line(stdout: str) -> tuple[str, int]:
    found = re.search(r"test accuracy ([0-9.]+) on (\d+) rank\(s\)", stdout)
    assert found, stdout
    return found.group(1), int(found.group(2))


@requires_mpi
def test_the_readme_example_runs_serially_and_under_mpiexec(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(readme_example())
    serial, parallel = tmp_path / "serial", tmp_path / "mpi"
    serial.mkdir(), parallel.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    one = subprocess.run(
        [sys.executable, str(script)],
        cwd=serial,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr
    two = run_mpi(2, [str(script)], timeout=300, cwd=parallel)
    assert two.returncode == 0, two.stderr
    (accuracy_1, ranks_1), (accuracy_2, ranks_2) = (
        accuracy_line(one.stdout),
        accuracy_line(two.stdout),
    )
    assert (ranks_1, ranks_2) == (1, 2)
    assert two.stdout.count("test accuracy") == 1  # rank 0 alone prints
    assert accuracy_1 == accuracy_2
    a, b = (torch.load(d / "net.pt") for d in (serial, parallel))
    # the importance-sampling sums are reduced across ranks in float64, but each rank's block
    # sums and the update are float32: rounding of order float32's eps (6e-8) per update, over
    # 200 updates
    for name in a:
        assert torch.allclose(a[name], b[name], rtol=0, atol=1e-5 * float(a[name].abs().max()))


@requires_mpi
def test_the_summary_gathers_every_ranks_device_and_threads(tmp_path):
    out = tmp_path / "run"
    args = [
        "-m",
        "sampler",
        "train",
        "--data",
        "gaussian-mixture",
        "--steps",
        "2",
        "--quiet",
        "--samples",
        "20",
        "--out",
        str(out),
    ]
    result = run_mpi(2, args)
    assert result.returncode == 0, result.stderr
    metadata = json.loads((out / "summary.json").read_text())["metadata"]
    assert metadata["ranks"] == 2
    assert metadata["rank_devices"] == ["cpu", "cpu"]
    assert metadata["rank_threads"] == [1, 1]
    assert len(metadata["rank_hosts"]) == 2 and metadata["mpi4py"]
