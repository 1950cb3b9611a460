"""Further minibatch streams of a step: pure functions of (seed, step, stream), each walking the
training set epoch by epoch; the problem counts the examples of the streams it evaluated."""

from __future__ import annotations

from functools import partial

import torch

from sampler.models.zoo import build_mlp
from sampler.problem import Problem


def test_stream_zero_is_the_runs_minibatch_and_others_differ(tiny_mixture):
    a = tiny_mixture.minibatch(0, 7, 20)
    assert torch.equal(a.inputs, tiny_mixture.minibatch(0, 7, 20, stream=0).inputs)
    others = [tiny_mixture.minibatch(0, 7, 20, stream=s).targets for s in (1, 2)]
    assert not torch.equal(others[0], others[1])
    again = tiny_mixture.to("cpu").minibatch(0, 7, 20, stream=2)  # a fresh cache
    assert torch.equal(again.targets, others[1])


def test_every_stream_visits_each_example_once_per_epoch(tiny_mixture):
    n = tiny_mixture.train_x.shape[0]
    for stream in (1, 5):
        seen = torch.cat([tiny_mixture.minibatch(0, k, 20, stream).inputs for k in range(n // 20)])
        assert torch.equal(seen.sort(0).values, tiny_mixture.train_x.sort(0).values)


def test_interleaved_streams_give_the_same_batches(tiny_mixture):
    """The epoch cache holds one permutation per stream: interleaving changes nothing."""
    alone = [tiny_mixture.to("cpu").minibatch(0, k, 30, 1).targets for k in range(20)]
    mixed = tiny_mixture.to("cpu")
    interleaved = []
    for k in range(20):
        mixed.minibatch(0, k, 30, 0)
        interleaved.append(mixed.minibatch(0, k, 30, 1).targets)
        mixed.minibatch(0, k, 30, 2)
    assert all(torch.equal(a, b) for a, b in zip(alone, interleaved))


def test_problem_counts_the_examples_of_the_streams_it_used(tiny_mixture):
    model = build_mlp(tiny_mixture.input_shape, tiny_mixture.num_classes, widths=(4,))
    batch = tiny_mixture.minibatch(0, 3, 20)
    problem = Problem(model, batch, partial(tiny_mixture.minibatch, 0, 3, 20))
    params = model.init_params(0).unsqueeze(0)
    assert problem.examples_seen == 0
    problem.losses(params)
    problem.loss_and_grad(params)
    assert problem.examples_seen == 20 and problem.loss_evals == 1 and problem.grad_evals == 1
    problem.loss_and_grad(params.expand(3, -1), stream=2)
    assert problem.examples_seen == 40 and problem.grad_evals == 4
    assert torch.equal(problem.minibatch(2).targets, tiny_mixture.minibatch(0, 3, 20, 2).targets)
