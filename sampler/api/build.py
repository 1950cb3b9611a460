"""The step API: ``build(...)`` gives ``init`` and ``step`` with explicit state, for your own loop
(in the style of optax, blackjax and posteriors)::

    algorithm = sampler.build(net, estimator="is", samples=1000, tau=0.01, steps=500)
    state = algorithm.init()                     # or init(params [d]) / init(net): its weights
    for k, (x, y) in zip(range(500), batches):
        state, info = algorithm.step(state, (x, y))
    algorithm.load_into(net, state)              # or algorithm.state_dict(state)

``build`` takes the method settings of ``sampler.train`` (the same ``RunConfig`` defaults,
``resolve_settings`` checks and ``sampler.setup.trainer.build_trainer``; errors name the
arguments); ``steps`` is the number of updates planned (schedules are checked over
it, and rSGD's automatic ``gamma1`` fits it). ``State`` holds the flat parameters ``params [d]``,
the method's own state and the update count ``k`` (schedules and random streams are functions of
``(seed, k)``, so one state and one batch give one result). ``step`` weighs every sample of
the update on the batch given (``train_size``, the number of training examples, is what
``beta="auto"`` of ``estimator="sgld", sgld_average="position"`` targets); a method that needs
further minibatches in one update
(``baseline="esgd"``'s inner steps, ``"rsgd"``'s replicas) asks ``draw(s)`` for stream
``s = 1, 2, ...``. ``info`` is the update's record (the method's diagnostics, loss and gradient
evaluations; what a metrics line of ``sampler train`` holds beside the step). A state is
consumed by ``step``: methods may update its tensors in place, so keep ``state.params.clone()``
to hold on to a point. Under MPI every rank calls ``step`` with the same batch. Threads: as
``sampler.train``, but set by ``build`` for the rest of the process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch

from sampler.api.argument_types import (
    check_comm,
    typed_count,
    typed_field,
    typed_method_options,
)
from sampler.api.inputs import RUN_FIELDS, ArgumentError, as_model, as_tensors, model_label
from sampler.config.method_options import exclusive_choice
from sampler.config.resolution import resolve_settings
from sampler.config.run_config import RunConfig
from sampler.config.sources import make_config
from sampler.models import Batch, Model, model_spec
from sampler.models.interface import model_state_dict
from sampler.models.naming import arguments, setting
from sampler.mpi import Comm, rank_device, set_threads, world_comm
from sampler.problem import Problem
from sampler.setup.model_and_data import model_on
from sampler.setup.trainer import build_trainer
from sampler.training.updates import DivergedError

_DEFAULT = RunConfig()


class State(NamedTuple):
    params: torch.Tensor  # [d]
    inner: Any  # the method's own state (estimator chains, optimizer moments, ...)
    k: int  # updates done


@dataclass
class Algorithm:
    model: Model
    trainer: Any
    config: RunConfig
    comm: Comm
    device: torch.device
    module: Any = None  # the caller's nn.Module or keras.Model, if one was given
    train_size: int | None = None  # the training set's size (auto beta of sgld's position average)
    input_shape: tuple[int, ...] | None = None  # a zoo model's input [...] of one example
    num_classes: int | None = None  # a zoo model's classes; else read from a forward pass
    _classes: dict = field(default_factory=dict, repr=False)  # inputs [...] -> logits' classes

    @property
    def objective(self) -> str:
        return self.trainer.objective

    def init(self, params: Any = None) -> State:
        """``None``: the seeded initialisation of ``sampler train``; a ``[d]`` tensor; or the
        module the algorithm was built from (its current weights)."""
        if params is None:
            start = self.model.init_params(self.config.seed)
        elif isinstance(params, torch.Tensor):
            start = params.detach().reshape(-1).to(torch.float32).clone()
        elif params is self.module and self.module is not None:
            start = torch.cat([p.detach().reshape(-1).cpu() for p in _parameters(params)])
        else:
            raise ArgumentError(
                "init(params): must be None, a [d] tensor or the module given to build()"
            )
        if start.shape != (self.model.num_params,):
            raise ArgumentError(
                f"init(params): needs {self.model.num_params} parameters, got {tuple(start.shape)}"
            )
        start = start.to(self.device)
        return State(start, self.trainer.init(start), 0)

    def step(
        self, state: State, batch: Any, draw: Callable[[int], Any] | None = None
    ) -> tuple[State, dict]:
        """One update on ``batch`` (``(inputs, targets)`` or a ``Batch``)."""
        batch = self._batch(batch, "batch", state.params)
        problem = Problem(self.model, batch, _drawer(self, draw, state.params), self.train_size)
        params, inner, record = self.trainer.step(
            state.k, state.params, state.inner, problem, self.comm
        )
        if not bool(torch.isfinite(params).all()):
            with arguments():
                raise DivergedError(
                    f"update {state.k + 1}: the parameters became non-finite; lower "
                    f"{setting('lr')} or {setting('tau')}"
                )
        return State(params, inner, state.k + 1), record

    def state_dict(self, state: State) -> dict[str, torch.Tensor]:
        return model_state_dict(self.model, state.params.cpu())

    def load_into(self, module: Any, state: State) -> Any:
        """Copy ``state.params`` into ``module`` (an ``nn.Module`` or ``keras.Model`` of the
        architecture built from), in place."""
        if not hasattr(self.model, "load_into"):
            raise TypeError(f"{type(self.model).__name__} has no module to load into")
        try:
            return self.model.load_into(module, state.params)
        except ValueError as error:  # another architecture: named, nothing copied
            with arguments():
                raise ArgumentError(f"load_into({setting('module')}): {error}") from None

    def _batch(self, batch: Any, name: str, params: torch.Tensor) -> Batch:
        with arguments():
            if not isinstance(batch, Batch):
                batch = Batch(*as_tensors(batch, name))
            batch = batch.to(self.device)
            self._check_batch(batch, name, params)
        return batch

    def _check_batch(self, batch: Batch, name: str, params: torch.Tensor) -> None:
        """Inputs of the shape the model takes and targets among its classes, refused with one
        line naming the argument (not an error from within the network)."""
        shape = tuple(batch.inputs.shape[1:])
        if shape not in self._classes:  # one forward pass of one example per new input shape
            try:
                with torch.no_grad():
                    logits = self.model.predict(params, batch.inputs[:1])
            except Exception as error:  # noqa: BLE001 - whatever the network raises
                takes = "" if self.input_shape is None else f" (it takes {self.input_shape})"
                first = (str(error).splitlines() or [""])[0][:160]
                raise ArgumentError(
                    f"{setting(name)}: inputs of shape {shape} per example do not fit the "
                    f"model{takes}: {type(error).__name__}: {first}"
                ) from None
            ok = isinstance(logits, torch.Tensor) and logits.dim() == 2 and len(logits) == 1
            if not ok and self.num_classes is None:  # the caller's network: [N, C] logits
                got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else logits
                raise ArgumentError(
                    f"{setting(name)}: on inputs of shape {shape} per example the model gives "
                    f"logits {got!r} for one example, not [1, C]"
                )
            self._classes[shape] = int(logits.shape[1]) if ok else None
        classes = self.num_classes if self.num_classes is not None else self._classes[shape]
        targets = batch.targets
        if targets.dim() != 1 or targets.shape[0] != batch.inputs.shape[0]:
            raise ArgumentError(
                f"{setting(name)}: needs inputs [N, ...] and targets [N], got shapes "
                f"{tuple(batch.inputs.shape)} and {tuple(targets.shape)}"
            )
        if targets.numel() and int(targets.min()) < 0:
            raise ArgumentError(f"{setting(name)}: targets must be class indices >= 0")
        if classes is not None and targets.numel() and int(targets.max()) >= classes:
            raise ArgumentError(
                f"{setting(name)}: targets hold class {int(targets.max())}, the model has "
                f"{classes} classes (0..{classes - 1})"
            )


def _parameters(module: Any) -> list[torch.Tensor]:
    if isinstance(module, torch.nn.Module):
        return list(module.parameters())
    return [torch.as_tensor(v.numpy()) for v in module.trainable_variables]  # keras


def _drawer(algorithm: Algorithm, draw: Callable[[int], Any] | None, params: torch.Tensor):
    if draw is not None:
        return lambda stream: algorithm._batch(draw(stream), "draw", params)
    method = algorithm.config.method_name

    def missing(stream: int):
        raise ArgumentError(
            f"step(draw=): {method} asks for minibatch stream {stream} within one update; pass "
            "draw=lambda s: (inputs, targets), a further minibatch for each s = 1, 2, ..."
        )

    return missing


def build(
    model: Any = _DEFAULT.model,
    *,
    estimator: str | None = None,
    baseline: str | None = None,
    steps: int = _DEFAULT.steps,
    seed: int = _DEFAULT.seed,
    device: str = _DEFAULT.device,
    threads: int = _DEFAULT.threads,
    model_options: dict | None = None,
    input_shape: tuple[int, ...] | None = None,
    num_classes: int | None = None,
    comm: Comm | None = None,
    train_size: int | None = None,
    **method_options: Any,
) -> Algorithm:
    """The ``init``/``step`` pair of a method on ``model`` (a zoo name needs ``input_shape``
    and ``num_classes`` unless it is meant for them: ``sampler models``)."""
    given = {name: value for name, value in locals().items() if name in RUN_FIELDS}
    with arguments():
        check_comm(comm)
        given = {name: typed_field(name, value) for name, value in given.items()}
        method_options = typed_method_options(method_options)
        num_classes = typed_count("num_classes", num_classes)
        train_size = typed_count("train_size", train_size)
    comm = comm or world_comm()
    with arguments():
        exclusive_choice(given)
        adapter = as_model(model, dict(model_options or {}))
        fields = {
            **given,
            "model": model_label(model),
            "model_options": model_options if adapter is None else None,
        }
        config = make_config({k: v for k, v in fields.items() if v is not None}, method_options)
        supplied = frozenset({"data"} if adapter is None else {"model", "data"})
        settings = resolve_settings(config, supplied=supplied)
        device_ = rank_device(comm.local_rank, config.device)
        set_threads(config.threads)
        module = None if adapter is None else model
        shape = classes = None  # known for a zoo name; a module's are read from its output
        if adapter is None:  # a zoo name: the shapes it is meant for, unless given
            spec = model_spec(config.model)
            input_shape = input_shape or spec.default_shape
            num_classes = num_classes or spec.default_classes
            shape, classes = tuple(input_shape), num_classes
        adapter = model_on(config, adapter, input_shape, num_classes, device_)
        trainer = build_trainer(settings, adapter)
    return Algorithm(adapter, trainer, config, comm, device_, module, train_size, shape, classes)
