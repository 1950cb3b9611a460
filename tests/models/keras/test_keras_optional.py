"""TensorFlow is optional: the project imports without it, and a Keras model without it is one
clear line saying how to install it. These tests run with or without TensorFlow installed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sampler.cli.main import main
from sampler.models.keras import runtime


def test_the_project_imports_without_importing_tensorflow():
    code = (
        "import sys, sampler, sampler.cli.main, sampler.models, sampler.training.loop\n"
        "import sampler.cli.listings\n"
        "from sampler.models import KerasModel, model_spec\n"
        "sampler.cli.listings.zoo_listing()\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_keras_model_without_tensorflow_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # import tensorflow -> ImportError
    with pytest.raises(runtime.TensorFlowMissingError, match="tensorflow\\]"):
        runtime.import_tensorflow()
    with pytest.raises(SystemExit):
        main(["train", "--model", "keras:sampler.models.keras.examples:mlp", "--steps", "1"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--model keras:sampler.models.keras.examples:mlp: TensorFlow is not installed" in error
    assert "pip install 'local-entropy-sampler[tensorflow]'" in error
