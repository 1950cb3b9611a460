"""The GPU path, checked on the CPU: the block loop without host synchronisation, the blocks of
a rank drawn and evaluated in groups, and the reused buffers of SGLD and Robbins-Monro give the
numbers of the previous code (``tests/helpers/host_reference.py``) bit for bit on 1, 2 and 3 ranks;
the pinned staging of MPI collectives round-trips its values. They run on the CPU; with
``SAMPLER_TEST_DEVICE=cuda`` (what ``scripts/gpu_check.py`` sets) they run on a GPU, where both
sides use the device's generators and agree within float32 rounding
(``tests.helpers.device_under_test``)."""

from __future__ import annotations

import pytest
import torch

from mpi.comm import HostStaging
from sampler.estimators import StepKey, importance_sampling
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.estimators.robbins_monro import RobbinsMonro
from sampler.estimators.sgld import SGLD
from sampler.estimators.temperature import Temperature
from sampler.models.data.gaussian_mixture import make_gaussian_mixture
from sampler.models.zoo import build_mlp
from sampler.problem import Problem
from sampler.schedules import parse_schedule
from tests.helpers.device_under_test import DEVICE, assert_same_tensor, assert_same_value
from tests.helpers.host_reference import HostTiltedSums, host_local_sums, host_run_chains
from tests.helpers.importance_quadratic import CURVATURE, MINIMUM, PartlyBrokenProblem
from tests.helpers.quadratic import QuadraticProblem
from tests.helpers.thread_comm import run_on_ranks


def network(dim: int = 5, batch: int = 20):
    data = make_gaussian_mixture(dim=dim, train_size=60, test_size=10, data_seed=1)
    model = build_mlp(data.input_shape, data.num_classes, widths=(4,))
    problem = Problem(model, data.minibatch(0, 0, batch).to(DEVICE), train_size=60)
    tau = torch.full((model.num_params,), 0.02)
    tau[: model.layers["fc0"].stop] = 0.05
    return problem, model.init_params(3).to(DEVICE), tau.to(DEVICE)


def quadratic(kind: str):
    zeros = torch.zeros(5, device=DEVICE)
    if kind == "broken":  # NaN and inf losses
        problem = PartlyBrokenProblem(CURVATURE, MINIMUM).to(DEVICE)
        return problem, zeros, torch.tensor(0.8, device=DEVICE)
    offset = {"offset": 1e4, "steep": 0.0}[kind]
    curvature = [1e4] * 5 if kind == "steep" else CURVATURE
    problem = QuadraticProblem(curvature, MINIMUM, offset=offset).to(DEVICE)
    return problem, zeros, torch.tensor(0.5, device=DEVICE)


CASES = {
    "fixed": (lambda: ImportanceSampling(50, 1.0, 8), network),
    "grid": (lambda: ImportanceSampling(50, Temperature(None, 0.3), 8), network),
    "two-pass": (lambda: ImportanceSampling(50, Temperature(None, 0.3), 8, "two-pass"), network),
    "non-finite": (lambda: ImportanceSampling(600, 1.0, 100), lambda: quadratic("broken")),
    "offset": (lambda: ImportanceSampling(500, 3.0, 64), lambda: quadratic("offset")),
    "steep": (lambda: ImportanceSampling(300, 1.0, 100), lambda: quadratic("steep")),
}


def three_updates(make, problem, center, tau, comm):
    estimator, state, x, out = make(), {"beta": 2.0}, center, []
    for step in range(3):
        x, state, info = estimator.step(StepKey(5, step), state, x, tau, problem, comm)
        out.append((x, info))
    return out


def assert_same_updates(new, old):
    for (x, info), (x_old, info_old) in zip(new, old):
        assert_same_tensor(x, x_old)
        assert_same_tensor(info.target_variance, info_old.target_variance)
        for field, value in info._asdict().items():
            if field != "target_variance":
                assert_same_value(value, getattr(info_old, field))


@pytest.mark.parametrize("ranks", [1, 2, 3])
@pytest.mark.parametrize("case", sorted(CASES))
def test_literal_block_loop_equals_the_host_synchronising_loop(case, ranks, monkeypatch):
    make, setup = CASES[case]
    problem, center, tau = setup()
    new = run_on_ranks(ranks, lambda comm: three_updates(make, problem, center, tau, comm))
    monkeypatch.setattr(importance_sampling, "TiltedSums", HostTiltedSums)
    old = run_on_ranks(ranks, lambda comm: three_updates(make, problem, center, tau, comm))
    for per_rank_new, per_rank_old in zip(new, old):
        assert_same_updates(per_rank_new, per_rank_old)


@pytest.mark.parametrize("proposal", ["literal", "antithetic", "marginal"])
@pytest.mark.parametrize("search", ["fixed", "grid", "two-pass"])
def test_blocks_in_groups_equal_one_block_at_a_time(proposal, search):
    """What a GPU does with its free memory (all of a rank's blocks in one forward call) gives
    the numbers of the CPU's one block at a time."""
    problem, center, tau = network(dim=30, batch=8)
    beta = 1.0 if search == "fixed" else Temperature(None, 0.3)
    beta_search = "two-pass" if search == "two-pass" else "grid"

    def make(group):
        return lambda: ImportanceSampling(61, beta, 8, beta_search, proposal, group)

    one = three_updates(make(1), problem, center, tau, _serial())
    for group in (2, 3, 8):
        assert_same_updates(three_updates(make(group), problem, center, tau, _serial()), one)


def _serial():
    from sampler.mpi import SerialComm

    return SerialComm()


SGLD_AND_RM = {
    "sgld": lambda: SGLD(3, 23, parse_schedule("harmonic:1,100", "--sgld-eps")),
    "sgld-auto": lambda: SGLD(
        3, 23, parse_schedule("harmonic:1,100", "--sgld-eps"), Temperature(None, 1000.0)
    ),
    "rm": lambda: RobbinsMonro(7, 4, parse_schedule("power:1,1", "--rm-step")),
    "rm-stein": lambda: RobbinsMonro(7, 4, parse_schedule("power:1,0.7", "--rm-step"), stein=True),
}


@pytest.mark.parametrize("ranks", [1, 3])
@pytest.mark.parametrize("name", sorted(SGLD_AND_RM))
def test_reused_buffers_give_the_previous_numbers(name, ranks, monkeypatch):
    """Robbins-Monro bit for bit. SGLD's step is now four in-place passes instead of six and its
    batch sums are chunked in float32 (``sampler.estimators.batch_means``): the same arithmetic
    in another order, so equal within float32 rounding, not bit for bit."""
    problem, center, tau = network()

    def updates(comm):
        estimator = SGLD_AND_RM[name]()
        state, x, out = estimator.init(center), center, []
        for step in range(3):
            x, state, info = estimator.step(StepKey(5, step), state, x, tau, problem, comm)
            out.append((x, info))
        return out

    new = run_on_ranks(ranks, updates)
    if name.startswith("sgld"):
        monkeypatch.setattr(SGLD, "run_chains", host_run_chains)
    else:
        monkeypatch.setattr(RobbinsMonro, "local_sums", host_local_sums)
    old = run_on_ranks(ranks, updates)
    for per_rank_new, per_rank_old in zip(new, old):
        if name.startswith("rm"):
            assert_same_updates(per_rank_new, per_rank_old)
            continue
        for (x, info), (x_old, info_old) in zip(per_rank_new, per_rank_old):
            torch.testing.assert_close(x, x_old, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(
                info.target_variance, info_old.target_variance, rtol=1e-3, atol=1e-12
            )
            assert info.beta == pytest.approx(info_old.beta, rel=1e-3)


def test_host_staging_round_trips_and_reuses_its_buffers():
    staging = HostStaging(pin=False)  # pinned where CUDA is available; the logic is the same
    values = torch.arange(6, dtype=torch.float32).view(2, 3)
    send = staging.send(values)
    receive = staging.receive(send.size)
    receive[:] = 2 * send  # what the reduction would write
    back = staging.back(values)
    assert back.dtype == torch.float64 and back.shape == (2, 3)
    assert torch.equal(back, 2 * values.double())
    first = staging.buffers["send"].data_ptr()
    staging.send(torch.ones(4))
    assert staging.buffers["send"].data_ptr() == first  # kept, not reallocated
    receive[:] = 0  # the returned tensor owns its data
    assert torch.equal(back, 2 * values.double())
    staging.send(torch.ones(100))
    assert staging.buffers["send"].numel() == 100
