"""BP for the binary tree committee: exact on a tree factor graph (one pattern, exact fields),
close to exact enumeration on a tiny loopy instance (a few patterns, Gaussian fields), and a
deliberately wrong variant (the labels flipped) fails the same comparison."""

from __future__ import annotations

import itertools

import pytest
import torch

from sampler.baselines.belief_propagation import TreeCommitteeBP, converge


def instance(patterns: int, k: int, n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    xi = torch.randint(0, 2, (patterns, k * n), generator=g).double() * 2 - 1
    y = torch.randint(0, 2, (patterns,), generator=g).double() * 2 - 1
    return xi, y


def enumerate_solutions(xi, y, k: int, h: torch.Tensor):
    """``(log sum_W sol(W) e^{h.W}, magnetisations)`` by listing all 2^N configurations."""
    n_all = xi.shape[1]
    configs = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=n_all)), dtype=torch.float64)
    blocks = xi.reshape(len(xi), k, -1).unsqueeze(0)  # [1, P, K, n]
    unit = (blocks * configs.reshape(-1, 1, k, n_all // k)).sum(-1)  # [2^N, P, K]
    correct = (y * torch.sign(unit).sum(-1) > 0).all(-1)
    weight = torch.exp(configs @ h) * correct
    z = weight.sum()
    return float(z.log()), (weight.unsqueeze(1) * configs).sum(0) / z


def run_bp(xi, y, k, h, exact):
    bp = TreeCommitteeBP(xi, y, k, exact=exact)
    u = torch.zeros_like(xi)
    u, _, converged = converge(bp, u, lambda _: h, damping=0.0, tol=1e-12, iterations=500)
    assert converged
    return bp.free_entropy(u, h), bp.marginals(u, h)


@pytest.mark.parametrize("k, n", [(1, 9), (3, 3), (3, 5)])
def test_exact_on_one_pattern(k, n):
    xi, y = instance(1, k, n, seed=k + n)
    h = 0.3 * instance(1, k, n, seed=7)[0][0]
    log_z, m = enumerate_solutions(xi, y, k, h)
    free, marg = run_bp(xi, y, k, h, exact=True)
    assert free == pytest.approx(log_z, abs=1e-9)
    assert torch.allclose(marg, m, atol=1e-9)


def test_close_to_enumeration_on_a_loopy_instance():
    """Gaussian fields, 3 patterns on K = 3 units of 5: BP is approximate; its errors are much
    smaller than those of the wrong variant (labels flipped)."""
    k, n = 3, 5
    xi, y = instance(3, k, n, seed=4)
    h = 0.2 * instance(1, k, n, seed=9)[0][0]
    log_z, m = enumerate_solutions(xi, y, k, h)
    free, marg = run_bp(xi, y, k, h, exact=False)
    err = float((marg - m).abs().max())
    wrong_free, wrong_marg = run_bp(xi, -y, k, h, exact=False)
    wrong = float((wrong_marg - m).abs().max())
    assert err < 0.1 and abs(free - log_z) < 0.1 * abs(log_z)
    assert wrong > 3 * err and wrong > 0.1


def test_a_deliberately_wrong_variant_fails_the_exact_check():
    k, n = 3, 3
    xi, y = instance(1, k, n, seed=6)
    h = 0.5 * instance(1, k, n, seed=8)[0][0]
    log_z, m = enumerate_solutions(xi, y, k, h)
    flipped, _ = enumerate_solutions(xi, -y, k, h)
    free, marg = run_bp(xi, -y, k, h, exact=True)
    assert free == pytest.approx(flipped, abs=1e-9)  # exact for the problem it was given
    assert abs(free - log_z) > 0.1 and float((marg - m).abs().max()) > 0.1
