"""The reference workloads of ``sampler bench`` and their floors, timed in one process.

A workload is one update of an estimator (or one SGD step) on the embedded MNIST, minibatch 20,
tau = 0.01, at the network's seeded initialisation. Its *floors* are the parts of the same work
that no implementation of the algorithm avoids, measured in the same round right beside it:

* importance sampling: drawing the scheme's Gaussian numbers (``J x`` its numbers per sample,
  block by block into one buffer) and its forward passes (the scheme's own loss call on a drawn
  block, once per block); the *naive loop* is the literal algorithm one sample at a time (a
  fresh ``randn`` per sample, one forward each, the weighted sum in float64);
* SGLD: L steps of a noise draw of ``d`` numbers and one gradient;
* Robbins-Monro: J iterations of ``M x d`` numbers and M gradients (``rm-stein``: 2M losses;
  with ``--proposal marginal`` ``M (B h + d - n h)`` numbers and 2M losses from the products);
* SGD: one gradient.

Rounds interleave the workloads and their floors so that a shared machine's load falls on all
of them alike; the first round warms up and is dropped; medians are reported (a workload
shorter than 20 ms is repeated within its round and timed as the mean of the repetitions).

On a GPU (``--device cuda``) everything lives on the device, every timed call ends with
``torch.cuda.synchronize`` (so a time covers the kernels it launched, not only their launch),
and each workload's peak device memory is read in the warm-up round
(``torch.cuda.max_memory_allocated`` after a reset of the peak).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from sampler.baselines.sgd import SGDTrainer
from sampler.config.method_options import method, resolve
from sampler.config.sources import make_config
from sampler.estimators import ESTIMATORS, StepKey
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.estimators.marginal import not_applicable
from sampler.estimators.robbins_monro import RobbinsMonro
from sampler.estimators.sgld import SGLD
from sampler.estimators.temperature import Temperature
from sampler.models import streams
from sampler.mpi import SerialComm
from sampler.problem import Problem
from sampler.runs.device_usage import peak_memory_mb
from sampler.schedules import parse_schedule
from sampler.setup.model_and_data import load_dataset, model_on

TAU = 0.01
BATCH = 20
FIXED_BETA = 1.0  # the paper's; the time of an update does not depend on it
CPU = torch.device("cpu")


@dataclass
class Workload:
    name: str
    run: Callable[[int], None]  # one update (the round's number as its step)
    floors: dict[str, Callable[[], None]] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    floor_times: dict[str, list[float]] = field(default_factory=dict)
    peak_mb: float | None = None  # on a GPU: the device memory of one update

    def seconds(self) -> float:
        return statistics.median(self.times)

    def floor(self, name: str) -> float:
        return statistics.median(self.floor_times[name])

    def floor_total(self) -> float:
        return sum(self.floor(name) for name in self.floors)


MIN_SECONDS, MAX_CALLS = 0.02, 50  # a short workload is repeated, its mean taken


def synchronizer(device: torch.device) -> Callable[[], None]:
    """What waits for the device's queued kernels (nothing to wait for on the CPU)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def _timed(function, *args, sync: Callable[[], None] = lambda: None) -> float:
    """Seconds per call: one call, or the mean of as many as fill ``MIN_SECONDS``."""
    calls, total = 0, 0.0
    sync()
    while total < MIN_SECONDS and calls < MAX_CALLS:
        tick = time.perf_counter()
        function(*args)
        sync()
        total += time.perf_counter() - tick
        calls += 1
    return total / calls


def _peak_mb(workload: Workload, device: torch.device) -> float | None:
    """The device memory one update of ``workload`` holds at its peak (GPU only)."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    workload.run(0)
    torch.cuda.synchronize(device)
    return peak_memory_mb(device)


def measure(workloads: list[Workload], rounds: int, device: torch.device = CPU) -> None:
    """``rounds`` timed rounds after one warm-up round, interleaved."""
    sync = synchronizer(device)
    for workload in workloads:
        workload.peak_mb = _peak_mb(workload, device)
    for round_ in range(rounds + 1):
        for workload in workloads:
            seconds = _timed(workload.run, round_, sync=sync)
            floors = {name: _timed(floor, sync=sync) for name, floor in workload.floors.items()}
            if round_:
                workload.times.append(seconds)
                for name, value in floors.items():
                    workload.floor_times.setdefault(name, []).append(value)


def reference_problem(model_name: str, device: torch.device = CPU, batch_size: int = BATCH):
    """The model ``model_name`` on the embedded MNIST, and its minibatch of update 0
    (``batch_size`` images), on ``device``."""
    config = make_config({"model": model_name, "data": "mnist"})
    data = load_dataset(config)
    model = model_on(config, None, data.input_shape, data.num_classes, device)
    batch = data.minibatch(0, 0, batch_size).to(device)
    return model, Problem(model, batch, train_size=data.train_x.shape[0])


def is_workload(
    name: str, estimator: ImportanceSampling, problem, center, tau, step: int | None = None
) -> Workload:
    """An IS update and its floors: the scheme's noise draw and its forward passes (``step``:
    every round is that update, e.g. one layer of ``--proposal layerwise``)."""
    scheme = estimator.scheme(problem)
    key = StepKey(0, 0 if step is None else step)
    scheme.prepare(key, center, tau, problem)
    block = estimator.block_size
    drawn = scheme.draw(key, [(0, block)], block, center)
    buffer = torch.empty(int(math.ceil(scheme.numbers_per_sample() * block)), device=center.device)
    blocks = estimator.blocks()

    def run(round_: int) -> None:
        update = round_ if step is None else step
        estimator.step(StepKey(0, update), {}, center, tau, problem, SerialComm())

    def noise() -> None:
        for b, rows in blocks:
            generator = streams.torch_generator(0, streams.IS_NOISE, 0, b, center.device)
            buffer[: int(scheme.numbers_per_sample() * rows)].normal_(generator=generator)

    def forward() -> None:
        for _ in blocks:
            scheme.losses(drawn, problem)

    return Workload(name, run, {"noise": noise, "forward": forward})


def naive_loop(samples: int, problem, center, tau) -> Workload:
    """The literal algorithm one sample at a time, as a plain Python loop would write it."""
    model, batch = problem.model, problem.batch
    scale = math.sqrt(tau)

    def run(round_: int) -> None:
        device = center.device
        generator = streams.torch_generator(0, streams.IS_NOISE, round_, 0, device)
        best, total = math.inf, 0.0
        weighted = torch.zeros(center.shape[0], dtype=torch.float64, device=device)
        for _ in range(samples):
            noise = torch.randn(center.shape[0], generator=generator, device=device)
            point = center + scale * noise
            loss = float(model.losses(point[None], batch)[0]) * FIXED_BETA
            if loss < best:  # keep the sums relative to the smallest loss
                shrink = math.exp(loss - best) if best < math.inf else 0.0
                total, best = total * shrink, loss
                weighted.mul_(shrink)
            weight = math.exp(best - loss)
            total += weight
            weighted.add_(point.to(torch.float64), alpha=weight)

    return Workload("is naive loop", run)


def sgld_workload(steps: int, problem, center, tau) -> Workload:
    estimator = SGLD(1, steps, parse_schedule("harmonic:1,1000", "--sgld-eps"), 20.0)
    state = estimator.init(center)
    noise = torch.empty_like(center)
    generator = torch.Generator(center.device).manual_seed(0)

    def run(round_: int) -> None:
        estimator.step(StepKey(0, round_), state, center, tau, problem, SerialComm())

    def draws() -> None:
        for _ in range(steps):
            noise.normal_(generator=generator)

    def gradients() -> None:
        for _ in range(steps):
            problem.loss_and_grad(center[None])

    return Workload(f"sgld {steps} steps, 1 chain", run, {"noise": draws, "gradient": gradients})


def rm_workload(
    stein: bool, samples: int, iterations: int, problem, center, tau, proposal="antithetic"
) -> Workload:
    """``rm`` or ``rm-stein`` (``proposal``: its ``--proposal``) beside its floors: J iterations
    of the noise it draws and of its M gradients or 2M forwards (``marginal``: the first layer's
    ``[M, B, h]`` numbers and the rest, the forwards from the products ``X W^T ± R^T G``)."""
    step = parse_schedule("power:1,1", "--rm-step")
    estimator = RobbinsMonro(samples, iterations, step, 20.0, stein=stein, proposal=proposal)
    generator = torch.Generator(center.device).manual_seed(0)
    marginal = estimator.scheme(problem)
    if marginal is not None:
        marginal.prepare(StepKey(0, 0), center, tau, problem)
        m = marginal.marginal
        gauss = torch.empty(samples, m.batch, m.width, device=center.device)
        rest = torch.empty(samples, m.dim, device=center.device)
        noise = [gauss, rest]
        products, points = m.pair_inputs(
            gauss.normal_(generator=generator), rest.normal_(generator=generator)
        )
        forward = lambda: problem.losses_from_input_products(products, points)  # noqa: E731
    else:
        noise = [torch.empty(samples, center.shape[0], device=center.device)]
        drawn = torch.randn(samples, center.shape[0], generator=generator, device=center.device)
        points = center + math.sqrt(tau) * drawn
        both = torch.cat([points, 2 * center - points])
        if stein:
            forward = lambda: problem.losses(both)  # noqa: E731
        else:
            forward = lambda: problem.loss_and_grad(points)  # noqa: E731

    def run(round_: int) -> None:
        estimator.step(StepKey(0, round_), {}, center, tau, problem, SerialComm())

    def draws() -> None:
        for _ in range(iterations):
            for buffer in noise:
                buffer.normal_(generator=generator)

    def evaluations() -> None:
        for _ in range(iterations):
            forward()

    label = "forward" if stein else "gradient"
    kind = ("rm-stein" if stein else "rm") + ("" if marginal is None else " marginal")
    name = f"{kind} M = J = {samples}" if samples == iterations else ""
    name = name or f"{kind} M={samples} J={iterations}"
    return Workload(name, run, {"noise": draws, label: evaluations})


def sgd_workload(problem, center) -> Workload:
    trainer = SGDTrainer(parse_schedule("0.01", "--lr"))
    state = trainer.init(center)

    def run(round_: int) -> None:
        trainer.step(round_, center, state, problem, SerialComm())

    return Workload("sgd step", run, {"gradient": lambda: problem.loss_and_grad(center[None])})


def default_is(samples: int, options: dict | None = None) -> ImportanceSampling:
    """``--estimator is`` with its defaults (the proposal and ``--beta auto``: ESS 0.3 J, 0.1 J
    on a CNN) and ``options`` (a model's own defaults), J given."""
    values = resolve(method("is", None), {**(options or {}), "samples": samples}, 1)
    return ESTIMATORS["is"].build(values)


def model_workloads(
    model_name: str, settings, device: torch.device = CPU
) -> tuple[list[Workload], dict]:
    """Every workload of one model on ``device``; ``settings``: samples, sgld_steps,
    rm_samples, rm_iterations."""
    model, problem = reference_problem(model_name, device)
    center = model.init_params(0).to(device)
    tau = torch.tensor(TAU, device=device)
    samples = settings.samples
    auto = Temperature(None, 0.3)
    default = default_is(samples)
    literal = ImportanceSampling(samples, FIXED_BETA, 100)
    rm = (settings.rm_samples, settings.rm_iterations)
    workloads = [
        is_workload("is literal", literal, problem, center, tau),
        is_workload(
            "is antithetic",
            ImportanceSampling(samples, FIXED_BETA, 100, proposal="antithetic"),
            problem,
            center,
            tau,
        ),
        is_workload(
            "is marginal",
            ImportanceSampling(samples, FIXED_BETA, 100, proposal="marginal"),
            problem,
            center,
            tau,
        ),
        is_workload(
            "is literal, beta auto (grid)",
            ImportanceSampling(samples, auto, 100, proposal="literal"),
            problem,
            center,
            tau,
        ),
        is_workload("is defaults", default, problem, center, tau),
        naive_loop(samples, problem, center, tau),
        sgld_workload(settings.sgld_steps, problem, center, tau),
        rm_workload(False, *rm, problem, center, tau),
        rm_workload(True, *rm, problem, center, tau),
        *(
            [rm_workload(True, *rm, problem, center, tau, proposal="marginal")]
            if not_applicable(model, BATCH) is None
            else []
        ),
        sgd_workload(problem, center),
    ]
    default_scheme = default.scheme(problem).name
    described = {"num_params": model.num_params, "default_proposal": default_scheme}
    return workloads, described
