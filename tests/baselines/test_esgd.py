"""Entropy-SGD against the updates derived by hand in its documented limits: L = 1 (one
Langevin step, noise and alpha kept) and eps = alpha = gamma = 0 (Lookahead: the outer step
toward the end of L SGD steps); its inner coupling; costs and the stability check."""

from __future__ import annotations

import math
from functools import partial

import torch

from sampler.baselines import BASELINES, RunContext
from sampler.baselines.esgd import langevin_noise
from sampler.config.method_options import method, resolve
from sampler.models.data.gaussian_mixture import make_gaussian_mixture
from sampler.models.zoo import build_mlp
from sampler.mpi import SerialComm
from sampler.problem import Problem

SEED, STEP = 4, 3


def setting(**changes):
    return resolve(method("is", "esgd"), changes, steps=10)


def network():
    data = make_gaussian_mixture(dim=5, train_size=120, test_size=10, data_seed=1)
    model = build_mlp(data.input_shape, data.num_classes, widths=(4,))
    return data, model


def one_update(values, params, data, model):
    trainer = BASELINES["esgd"].build(values, RunContext(SEED, 10, model))
    problem = Problem(
        model, data.minibatch(SEED, STEP, 20), partial(data.minibatch, SEED, STEP, 20)
    )
    new, _, record = trainer.step(STEP, params, trainer.init(params), problem, SerialComm())
    return new, record


def test_one_inner_step_is_the_update_derived_by_hand():
    """L = 1: w' = w - eta' g + sqrt(eta') eps xi, mu = alpha w + (1 - alpha) w', and
    w - eta (w - mu) = w - eta (1 - alpha) (eta' g - sqrt(eta') eps xi)."""
    data, model = network()
    params = model.init_params(0)
    eta, inner_lr, eps, alpha = 0.7, 0.05, 0.3, 0.6
    values = setting(
        lr=eta, esgd_steps=1, esgd_lr=inner_lr, esgd_noise=eps, esgd_alpha=alpha, gamma0=2.0
    )
    new, record = one_update(values, params, data, model)
    _, grad = model.loss_and_grad(params.unsqueeze(0), data.minibatch(SEED, STEP, 20))
    xi = langevin_noise(SEED, STEP, 0, params)
    by_hand = params - eta * (1 - alpha) * (inner_lr * grad[0] - math.sqrt(inner_lr) * eps * xi)
    assert torch.allclose(new, by_hand, rtol=1e-5, atol=1e-7)
    assert record["grad_evals"] == 1 and record["examples_seen"] == 20


def test_without_noise_averaging_and_coupling_it_is_lookahead():
    """eps = alpha = gamma = 0: mu is the end w_L of L SGD steps of size eta' on the L
    minibatch streams of the update, and w <- w - eta (w - w_L)."""
    data, model = network()
    params = model.init_params(0)
    eta, inner_lr, inner = 0.5, 0.1, 4
    values = setting(
        lr=eta, esgd_steps=inner, esgd_lr=inner_lr, esgd_noise=0, esgd_alpha=0, gamma0=0
    )
    new, record = one_update(values, params, data, model)
    walk = params.clone()
    for stream in range(inner):
        _, grad = model.loss_and_grad(walk.unsqueeze(0), data.minibatch(SEED, STEP, 20, stream))
        walk = walk - inner_lr * grad[0]
    assert torch.allclose(new, params - eta * (params - walk), rtol=1e-5, atol=1e-7)
    assert record["grad_evals"] == inner and record["examples_seen"] == inner * 20


def test_the_coupling_pulls_the_chain_back_to_the_center():
    """gamma enters as gamma (w' - w): with alpha = eps = 0 and L = 2, the second step is
    w'' = w' - eta' (g(w') + gamma (w' - w))."""
    data, model = network()
    params = model.init_params(0)
    gamma, inner_lr = 3.0, 0.1
    values = setting(lr=1, esgd_steps=2, esgd_lr=inner_lr, esgd_noise=0, esgd_alpha=0)
    values.update(gamma0=gamma, gamma1=0.0)
    new, record = one_update(values, params, data, model)
    _, g0 = model.loss_and_grad(params.unsqueeze(0), data.minibatch(SEED, STEP, 20, 0))
    first = params - inner_lr * g0[0]
    _, g1 = model.loss_and_grad(first.unsqueeze(0), data.minibatch(SEED, STEP, 20, 1))
    second = first - inner_lr * (g1[0] + gamma * (first - params))
    assert torch.allclose(new, second, rtol=1e-5, atol=1e-7) and record["gamma"] == gamma


def test_a_strong_coupling_is_capped_at_the_center():
    """eta' gamma >= 1: each inner step starts again from w, w'' = w - eta' grad L(w'; batch)."""
    data, model = network()
    params = model.init_params(0)
    values = setting(lr=1, esgd_steps=2, esgd_lr=0.1, esgd_noise=0, esgd_alpha=0)
    values.update(gamma0=50.0, gamma1=0.0)
    new, record = one_update(values, params, data, model)
    _, g0 = model.loss_and_grad(params.unsqueeze(0), data.minibatch(SEED, STEP, 20, 0))
    first = params - 0.1 * g0[0]
    _, g1 = model.loss_and_grad(first.unsqueeze(0), data.minibatch(SEED, STEP, 20, 1))
    assert torch.allclose(new, params - 0.1 * g1[0], rtol=1e-5, atol=1e-7)
    assert record["coupling"] == 1.0
