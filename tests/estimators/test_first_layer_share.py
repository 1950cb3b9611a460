"""The marginalised first layer's finish split over ranks by hidden units
(``sampler.estimators.marginal.row_share``): every rank forms the target and variance of its
pieces of ``RESIDUAL_ROWS`` units and one gather of rows puts them together. On 1, 2 and 3
ranks (threads standing in for MPI ranks) the update, its reported variance and its beta are the
1-rank ones; the residual drawn piece by piece is the whole residual's rows; a gather that
leaves a rank's rows out is caught."""

from __future__ import annotations

import pytest
import torch

from sampler.estimators import StepKey
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.estimators.marginal import RESIDUAL_ROWS, row_share
from sampler.estimators.temperature import Temperature
from sampler.models.data.gaussian_mixture import make_gaussian_mixture
from sampler.models.zoo import build_mlp
from sampler.mpi import SerialComm
from sampler.problem import Problem
from tests.helpers.thread_comm import ThreadComm, run_on_ranks

WIDTH = 2 * RESIDUAL_ROWS + 20  # three pieces: split 50 / 70 on two ranks, 50 / 50 / 20 on three


class Ranks:
    """Rank ``rank`` of ``size`` (no collective is called)."""

    def __init__(self, rank: int, size: int) -> None:
        self.rank, self.size = rank, size

    def allgather_rows(self, values, counts, out):  # pragma: no cover - never called
        raise AssertionError


def test_row_share_covers_the_units_once_in_pieces():
    for width in (1, RESIDUAL_ROWS, RESIDUAL_ROWS + 1, WIDTH, 200, 1000):
        for size in (1, 2, 3, 4, 7):
            shares = [row_share(width, Ranks(rank, size)) for rank in range(size)]
            counts = shares[0][0]
            assert all(share[0] == counts for share in shares)
            if len(counts) == 1:  # not split: every rank forms every unit
                assert all(rows == slice(0, width) for _, rows in shares)
                continue
            assert len(counts) == size and sum(counts) == width
            start = 0
            for count, (_, rows) in zip(counts, shares):
                assert rows == slice(start, start + count)
                assert rows.start % RESIDUAL_ROWS == 0  # a piece starts every share
                start += count
    assert row_share(WIDTH, SerialComm()) == ([WIDTH], slice(0, WIDTH))
    no_gather = type("NoGather", (), {"rank": 1, "size": 2})()  # a communicator without it
    assert row_share(WIDTH, no_gather) == ([WIDTH], slice(0, WIDTH))


def wide_problem():
    data = make_gaussian_mixture(dim=30, train_size=60, test_size=10, data_seed=1)
    model = build_mlp(data.input_shape, data.num_classes, widths=(WIDTH,))
    return model, Problem(model, data.minibatch(0, 0, 8))


def estimator(control_variate: str, residual: str = "sample") -> ImportanceSampling:
    beta = Temperature(None, 0.3)
    return ImportanceSampling(
        60, beta, 8, "grid", "marginal", control_variate=control_variate, residual=residual
    )


def test_the_residual_in_pieces_is_the_whole_residual():
    model, problem = wide_problem()
    center = model.init_params(3)
    scheme = estimator("none").scheme(problem)
    key = StepKey(5, 2)
    scheme.prepare(key, center, torch.tensor(0.02), problem)
    whole = scheme.residual(key, torch.device("cpu"))
    assert whole.shape == (WIDTH, model.input_layer.n_in)
    for rows in (slice(0, RESIDUAL_ROWS), slice(RESIDUAL_ROWS, WIDTH), slice(0, WIDTH)):
        part = scheme.residual(key, torch.device("cpu"), rows)  # the same draws; the projection
        assert torch.allclose(part, whole[rows], rtol=0.0, atol=1e-12)  # rounds by its shape
    with pytest.raises(ValueError, match="start at a piece"):
        scheme.residual(key, torch.device("cpu"), slice(1, WIDTH))


def updates(control_variate: str, comm, steps: int = 2, residual: str = "sample"):
    model, problem = wide_problem()
    center = model.init_params(3)
    tau = torch.full((model.num_params,), 0.02)
    tau[: model.layers["fc0"].stop] = 0.05
    scheme, state, x, seen = estimator(control_variate, residual), {}, center, []
    for step in range(steps):
        x, state, info = scheme.step(StepKey(5, step), state, x, tau, problem, comm)
        seen.append((x, info.target_variance, info.beta))
    return seen


@pytest.mark.parametrize(
    "control_variate, residual",
    [("none", "sample"), ("proposal-mean", "sample"), ("proposal-mean", "mean")],
)
def test_split_finish_gives_the_one_rank_update_and_variance(control_variate, residual):
    reference = updates(control_variate, SerialComm(), residual=residual)
    first = model_first_cells()
    for size in (2, 3):
        ranks = run_on_ranks(size, lambda comm: updates(control_variate, comm, residual=residual))
        for per_rank in ranks:
            for (x, variance, beta), (x1, variance1, beta1) in zip(per_rank, reference):
                assert torch.allclose(x, x1, rtol=1e-5, atol=1e-6)
                # float64 sums merged in another order: measured within 2e-6 (the split rows'
                # within 5e-7, the coordinates the split does not touch within 2e-6)
                assert torch.allclose(variance, variance1, rtol=1e-5, atol=0.0)
                assert torch.isfinite(variance[first]).all()
                assert beta == pytest.approx(beta1, rel=1e-5)


def model_first_cells() -> slice:
    model, _ = wide_problem()
    return model.input_layer.weight


class LosesRows(ThreadComm):
    """Wrong: the gather keeps only this rank's rows (the others' left as allocated)."""

    def allgather_rows(self, values, counts, out):
        super().allgather_rows(values, counts, out.clone())
        start = sum(counts[: self.rank])
        out.zero_()[start : start + values.shape[0]] = values
        return out


def test_a_gather_that_drops_rows_is_caught():
    reference = updates("proposal-mean", SerialComm(), steps=1)[0][0]

    def wrong(comm):
        return updates("proposal-mean", LosesRows(comm._group, comm.rank), steps=1)[0][0]

    per_rank = run_on_ranks(2, wrong)
    assert not torch.allclose(per_rank[0], reference, rtol=1e-5, atol=1e-6)
