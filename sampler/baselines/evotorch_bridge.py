"""EvoTorch's distribution-based searchers as baselines (``--baseline evotorch:PGPE``, ``SNES``,
``CEM``, ``CMAES``), driven through the engine's loop on the engine's batched model losses; the
optional extra ``pip install '.[evotorch]'`` (EvoTorch pulls in ray, gymnasium, pandas and cma).

EvoTorch (Toklu et al., "EvoTorch: Scalable Evolutionary Computation in Python",
arXiv:2302.12600, 2023) implements PGPE (Sehnke et al. 2010, with ClipUp, Toklu et al. 2020),
SNES (Schaul et al. 2011), the cross-entropy method (Rubinstein 1999) and CMA-ES (Hansen 2016);
they are run as the library has them, not rewritten. Each update is one ``searcher.step()``: the
searcher draws its population from the EvoTorch problem's generator, seeded before the step with
the counter-based stream ``(seed, EVOTORCH, step, 0)`` (so the draws are a function of (seed,
step), on any rank and after a resume), and evaluates it with one vectorised call that is the
engine's ``Problem.losses`` on the update's minibatch. The population is cut into blocks of
``--block-size`` rows, block ``b`` evaluated on rank ``b mod R``, the losses gathered on every
rank in block order; every rank then runs the same searcher update, so the run is the same on
any rank count (EvoTorch's own Ray actors are not used: one process per rank). The model's
parameters are the searcher's center. The searcher (its distribution and optimiser) is kept in
the checkpoint as its pickled state, so a resumed run continues it bit for bit.

CMA-ES keeps a d x d covariance: above ``CMAES_MAX_DIM`` parameters the bridge runs its
separable (diagonal) form, sep-CMA-ES (Ros and Hansen 2008), as EvoTorch has it. The entries
are in ``BASELINES`` where EvoTorch is installed (``sampler methods`` lists them then); their
options are named as ``es``'s, so the command's flags are the same with or without the extra.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import pickle
import threading
import warnings
from typing import Any

import torch

from sampler.baselines.base import BaselineSpec, RunContext
from sampler.models import streams
from sampler.models.options import Option, at_least, within
from sampler.mpi import Comm
from sampler.problem import Problem

CMAES_MAX_DIM = 2000
SEARCHERS = ("PGPE", "SNES", "CEM", "CMAES")
PGPE_STDEV_LR, CEM_PARENTHOOD = 0.1, 0.5


def installed() -> bool:
    return importlib.util.find_spec("evotorch") is not None


_GLOBAL_RNG = threading.Lock()  # torch's global generator is one per process
_entered = 0  # contained sections open in this process (ranks run as threads in the tests)
_saved: list[torch.Tensor] = []  # the generator states before the outermost one


@contextlib.contextmanager
def contained(seed: int, device: torch.device):
    """EvoTorch as the engine's rules want it: what it draws from torch's global generator (CMA-ES
    does) from one seeded by the update's key, the global one left as it was; its warnings at
    import (torch.jit.script deprecated) and of its tensor copies silenced. Sections that overlap
    in one process (ranks as threads) share the seeded generator, and the last to close restores
    the state from before the first (``torch.random.fork_rng`` would restore in the wrong order
    there and leave the global generator moved)."""
    global _entered
    cuda = device.type == "cuda"
    with _GLOBAL_RNG:
        if _entered == 0:
            _saved[:] = [torch.random.get_rng_state()]
            if cuda:
                _saved.append(torch.cuda.get_rng_state(device))
        _entered += 1
        torch.manual_seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        with _GLOBAL_RNG:
            _entered -= 1
            if _entered == 0:
                torch.random.set_rng_state(_saved[0])
                if cuda:
                    torch.cuda.set_rng_state(_saved[1], device)


class EvoTorchSearcher:
    objective = "loss"

    def __init__(self, name: str, values: dict[str, Any], seed: int, model) -> None:
        self.name, self.values, self.seed = name, values, seed
        # full CMA-ES keeps a d x d covariance: above CMAES_MAX_DIM its separable form
        self.separable = model is not None and model.num_params > CMAES_MAX_DIM
        self.searcher = None
        self.problem: Problem | None = None
        self.comm: Comm | None = None

    def losses(self, points: torch.Tensor) -> torch.Tensor:
        """EvoTorch's vectorised objective: this rank's blocks, gathered in block order."""
        size = self.values["block_size"]
        starts = list(range(0, points.shape[0], size))
        mine = {
            b: self.problem.losses(points[starts[b] : starts[b] + size]).cpu()
            for b in range(self.comm.rank, len(starts), self.comm.size)
        }
        gathered: dict[int, torch.Tensor] = {}
        for part in self.comm.allgather(mine):
            gathered.update(part)
        self.evaluated += points.shape[0]
        values = torch.cat([gathered[b] for b in range(len(starts))])
        return values.to(device=points.device, dtype=points.dtype)

    def make(self, params: torch.Tensor):
        # deferred: EvoTorch imports ray (seconds), an optional extra
        import evotorch
        from evotorch import algorithms

        logging.getLogger("evotorch").setLevel(logging.WARNING)  # its INFO lines on every run

        problem = evotorch.Problem(
            "min",
            self.losses,
            solution_length=params.shape[0],
            initial_bounds=(-1.0, 1.0),
            dtype=params.dtype,
            device=params.device,
            vectorized=True,
        )
        v = self.values
        common = {"popsize": v["population"], "center_init": params.clone()}
        if self.name == "PGPE":
            return algorithms.PGPE(
                problem,
                **common,
                stdev_init=v["sigma"],
                center_learning_rate=v["lr"],
                stdev_learning_rate=PGPE_STDEV_LR,
            )
        if self.name == "SNES":
            return algorithms.SNES(problem, **common, stdev_init=v["sigma"])
        if self.name == "CEM":
            return algorithms.CEM(
                problem, **common, stdev_init=v["sigma"], parenthood_ratio=CEM_PARENTHOOD
            )
        return algorithms.CMAES(problem, **common, stdev_init=v["sigma"], separable=self.separable)

    def init(self, params: torch.Tensor) -> dict:
        return {}

    def restore(self, params: torch.Tensor, state: dict) -> None:
        with contained(streams.stream_seed(self.seed, streams.EVOTORCH, 0, 1), params.device):
            self.searcher = self.make(params)
        if "searcher" in state:
            problem = self.searcher._problem
            self.searcher = pickle.loads(state["searcher"].cpu().numpy().tobytes())
            self.searcher._problem = problem

    def snapshot(self) -> torch.Tensor:
        """The searcher pickled whole (its distribution, optimiser, population, counters),
        without its problem, which holds the run's model and minibatch."""
        problem, self.searcher._problem = self.searcher._problem, None
        try:
            data = pickle.dumps(self.searcher)
        finally:
            self.searcher._problem = problem
        return torch.frombuffer(bytearray(data), dtype=torch.uint8)

    def step(self, step: int, params, state, problem: Problem, comm: Comm):
        if self.searcher is None:
            self.restore(params, state)
        self.problem, self.comm, self.evaluated = problem, comm, 0
        seed = streams.stream_seed(self.seed, streams.EVOTORCH, step, 0)
        self.searcher.problem.manual_seed(seed)
        with contained(seed, params.device):
            self.searcher.step()
            center = self.searcher.status["center"]
            mean = self.searcher.status.get("mean_eval")
            snapshot = self.snapshot()
        new_params = center.detach().to(device=params.device, dtype=params.dtype).clone()
        record = {
            "es_loss": float(mean) if mean is not None else float("nan"),
            "loss_evals": self.evaluated,
            "grad_evals": 0,
            "examples_seen": problem.batch_size,
        }
        return new_params, {"searcher": snapshot}, record


def options(name: str) -> dict[str, Option]:
    """Named as ``es``'s options (no flag of its own: the flags are the same with or without
    the extra); PGPE's stdev step is EvoTorch's suggested 0.1, CEM keeps the better half."""
    table = {
        "population": Option("int", 100, "EvoTorch: population size", check=at_least(2)),
        "sigma": Option(
            "float",
            0.01,
            "EvoTorch: initial standard deviation of the search distribution",
            check=within(0.0, float("inf"), closed_low=False),
        ),
        "block_size": Option("int", 100, "networks evaluated per forward call", check=at_least(1)),
    }
    if name == "PGPE":
        table["lr"] = Option("float", 0.01, "PGPE: ClipUp step of the center", check=at_least(0))
    return table


def builder(name: str):
    def build(values: dict[str, Any], run: RunContext | None = None) -> EvoTorchSearcher:
        run = run or RunContext()
        return EvoTorchSearcher(name, values, run.seed, run.model)

    return build


SPECS = {
    f"evotorch:{name}": BaselineSpec(
        build=builder(name),
        summary=f"EvoTorch's {name} searcher on the engine's batched losses (optional extra)",
        options=options(name),
    )
    for name in SEARCHERS
}
