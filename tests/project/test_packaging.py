"""``pip install .`` into a fresh virtual environment, used from a directory that holds a user's
own ``models.py`` and ``mpi/``: both the user's modules and ours import, and the installed
command and API run.

The fresh environment reuses this one's installed dependencies (torch, numpy, ...) through a
``.pth`` line instead of installing them again (which takes minutes and an index), and is
built without build isolation from this environment's setuptools, so nothing is downloaded.
The project's own files are copied first, so the build writes nothing into the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

import sampler
from tests.helpers.checkout import ROOT

SOURCES = ("sampler", "models", "mpi", "pyproject.toml", "README.md")


def run(command, cwd, **kwargs):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=300, env=env, **kwargs
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """``(python, bin directory)`` of a fresh venv with the project installed by pip."""
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy(origin, source / name)
    venv = base / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], base)
    python = venv / "bin" / "python"
    purelib = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], base
    ).strip()
    Path(purelib, "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-build-isolation",
            "--no-index",
            str(source),
        ],
        base,
    )
    return python, venv / "bin", Path(purelib)


@pytest.fixture
def user_directory(tmp_path):
    (tmp_path / "models.py").write_text('WHO = "the user\'s models.py"\n')
    (tmp_path / "mpi").mkdir()
    (tmp_path / "mpi" / "__init__.py").write_text('WHO = "the user\'s mpi/"\n')
    return tmp_path


def test_the_package_installs_under_its_own_namespace(fresh):
    _, _, purelib = fresh
    assert (purelib / "sampler" / "models" / "zoo.py").is_file()
    assert (purelib / "sampler" / "mpi" / "comm.py").is_file()
    assert not (purelib / "models").exists() and not (purelib / "mpi").exists()
    assert any(p.name.startswith("local_entropy_sampler-") for p in purelib.iterdir())


def test_a_users_models_py_and_ours_both_import(fresh, user_directory):
    python, _, purelib = fresh
    code = textwrap.dedent(
        """
        import models, mpi
        import sampler, sampler.models, sampler.mpi
        from sampler.models import MODELS
        print(models.WHO, "|", mpi.WHO, "|", sampler.models.__file__, "|", "mlp" in MODELS)
        """
    )
    out = run([str(python), "-c", code], user_directory).strip().split(" | ")
    assert out[:2] == ["the user's models.py", "the user's mpi/"]
    assert Path(out[2]).is_relative_to(purelib) and out[3] == "True"


def test_the_installed_command_and_api_run_beside_the_users_modules(fresh, user_directory):
    python, bin_directory, _ = fresh
    version = run([str(bin_directory / "sampler"), "--version"], user_directory).strip()
    assert version == f"sampler {sampler.__version__}"
    # python -m puts the working directory first on sys.path, where the user's models.py is
    run(
        [
            str(python),
            "-m",
            "sampler",
            "train",
            "--data",
            "gaussian-mixture",
            "--steps",
            "2",
            "--quiet",
            "--out",
            "run",
        ],
        user_directory,
    )
    metadata = json.loads((user_directory / "run" / "summary.json").read_text())["metadata"]
    assert metadata["git_commit"] is None  # an installed copy is no checkout
    script = user_directory / "train_mine.py"
    script.write_text(
        textwrap.dedent(
            """
        import torch, models, sampler
        x = torch.linspace(-1, 1, 40).reshape(20, 2)
        y = (x[:, 0] > 0).long()
        net = torch.nn.Linear(2, 2)
        result = sampler.train(net, (x, y), baseline="sgd", lr=0.5, steps=3, quiet=True)
        print(models.WHO, result.summary["steps"])
        """
        )
    )
    assert run([str(python), str(script)], user_directory).strip() == "the user's models.py 3"
