"""Shared fixtures: small quadratic problems with closed-form tilted measures, tiny data."""

from __future__ import annotations

import pytest
import torch

from sampler.models.data.gaussian_mixture import make_gaussian_mixture


@pytest.fixture(scope="session")
def tiny_mixture():
    return make_gaussian_mixture(dim=10, delta=0.5, train_size=200, test_size=100, data_seed=3)


@pytest.fixture(autouse=True)
def _in_a_temporary_directory(tmp_path, monkeypatch):
    """Every test runs in its own temporary directory, so a run without --out (which goes to
    runs/<time>-...) never lands in the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _no_global_rng_drift():
    """Code under test must not draw from torch's global generator."""
    state = torch.random.get_rng_state()
    yield
    assert torch.equal(state, torch.random.get_rng_state()), "the global torch RNG was used"
