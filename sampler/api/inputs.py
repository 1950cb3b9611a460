"""What the Python API accepts as a model and as data, turned into the run loop's own objects.

* a model: a zoo name or ``keras:MODULE:FACTORY`` (built by the run loop, as on the command
  line), a ``torch.nn.Module`` (through ``models.torch_module.TorchModuleModel``: its
  parameters in ``named_parameters()`` order are the flat vector), a ``keras.Model`` (through
  ``models.keras.model.KerasModel``) or any object of the ``models.interface.Model`` protocol;
* data: a data-set name (``sampler models`` lists them), a ``models.Dataset``, a pair
  ``(inputs [N, ...], targets [N])`` of tensors or arrays, or a ``torch.utils.data.Dataset`` of
  ``(input, target)`` pairs, read once into tensors (the minibatch of step k is a pure function
  of (seed, k), so the run needs random access to every example). Inputs become float32,
  targets int64 class indices. The test set is ``test=`` in the same forms; without one the
  training set is evaluated and the summary says ``dataset_test_is_train: 1``.

Messages name the API's arguments (``model=``, ``data=``, ``test=``).
"""

from __future__ import annotations

from typing import Any

import torch

from sampler.config.run_config import FIELDS, SUPPLIED
from sampler.models import Dataset, KerasModel, Model
from sampler.models.naming import setting
from sampler.models.torch_module import TorchModuleModel
from sampler.schedules import function_name

# the run settings among an API call's arguments (a method's options come as **method_options)
RUN_FIELDS = set(FIELDS) - {"method_options"}
MODULE_OPTIONS = {"vmap", "buffers"}  # model_options= of an nn.Module
LOADER_BATCH = 1024  # examples per read when a torch Dataset is turned into tensors


class ArgumentError(ValueError):
    """A bad argument of the Python API; the message names it."""


def _is_keras(model: Any) -> bool:
    return any(
        cls.__module__.split(".")[0] in ("keras", "tf_keras") and cls.__name__ == "Model"
        for cls in type(model).__mro__
    )


def _check_parameters(module: torch.nn.Module) -> None:
    """A module with parameters to train, all of them trainable (sampler trains every one)."""
    named = list(module.named_parameters())
    if not named:
        raise ArgumentError(f"{setting('model')}: the module has no parameters to train")
    frozen = [name for name, parameter in named if not parameter.requires_grad]
    if frozen:
        raise ArgumentError(
            f"{setting('model')}: parameters with requires_grad=False ({', '.join(frozen[:3])}"
            f"{', ...' if len(frozen) > 3 else ''}) would be trained all the same; make them "
            "buffers (register_buffer) to keep them fixed"
        )
    if any(parameter.is_complex() for _, parameter in named):
        raise ArgumentError(f"{setting('model')}: complex parameters are not supported")


def as_model(model: Any, options: dict[str, Any]) -> Model | None:
    """The flat-vector model of ``model`` (``None`` for a name: the run loop builds it)."""
    if isinstance(model, str):
        return None
    if isinstance(model, torch.nn.Module):
        unknown = set(options) - MODULE_OPTIONS
        if unknown:
            raise ArgumentError(
                f"{setting('model_options')}: unknown option(s) {', '.join(sorted(unknown))} of "
                f"an nn.Module; accepted: {', '.join(sorted(MODULE_OPTIONS))}"
            )
        _check_parameters(model)
        try:
            return TorchModuleModel(
                model, force_loop=not options.get("vmap", True), buffers=options.get("buffers")
            )
        except ValueError as error:
            raise ArgumentError(f"{setting('model')}: {error}") from None
    if _is_keras(model):
        return KerasModel(model, **options)
    if isinstance(model, Model):
        if options:
            raise ArgumentError(
                f"{setting('model_options')}: a Model object takes no options; build it with them"
            )
        return model
    raise ArgumentError(
        f"{setting('model')}: must be a zoo name (sampler models), 'keras:MODULE:FACTORY', a "
        f"torch.nn.Module, a keras.Model or a sampler.models.Model, got {type(model).__name__}"
    )


def model_label(model: Any) -> str:
    """What ``config.json`` records as the model: the name, or ``python:MODULE.CLASS``."""
    return model if isinstance(model, str) else SUPPLIED + function_name(type(model))


def _from_torch_dataset(data: torch.utils.data.Dataset, name: str):
    # a generator of its own: a DataLoader draws its base seed, and nothing draws from torch's
    # global generator here
    loader = torch.utils.data.DataLoader(
        data, batch_size=LOADER_BATCH, shuffle=False, generator=torch.Generator()
    )
    inputs, targets = [], []
    try:
        for item in loader:
            if not isinstance(item, (list, tuple)) or len(item) != 2:
                raise ArgumentError(
                    f"{setting(name)}: a torch Dataset must give (input, target) pairs"
                )
            inputs.append(torch.as_tensor(item[0]))
            targets.append(torch.as_tensor(item[1]))
        if inputs:
            return torch.cat(inputs), torch.cat(targets)
    except (RuntimeError, TypeError, ValueError) as error:  # ragged or mixed items
        if isinstance(error, ArgumentError):
            raise
        first = (str(error).splitlines() or [type(error).__name__])[0][:160]
        raise ArgumentError(
            f"{setting(name)}: its items are not pairs of tensors of one shape ({first})"
        ) from None
    raise ArgumentError(f"{setting(name)}: the Dataset is empty")


def as_tensors(data: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs float32 [N, ...], targets int64 [N])`` of a pair or a torch Dataset."""
    if isinstance(data, torch.utils.data.Dataset):
        inputs, targets = _from_torch_dataset(data, name)
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        try:
            inputs, targets = torch.as_tensor(data[0]), torch.as_tensor(data[1])
        except (TypeError, ValueError, RuntimeError) as error:
            raise ArgumentError(f"{setting(name)}: not tensors or arrays ({error})") from None
    else:
        raise ArgumentError(
            f"{setting(name)}: must be a pair (inputs, targets) of tensors or arrays, a "
            f"torch.utils.data.Dataset of such pairs, a sampler.models.Dataset or a data-set "
            f"name, got {type(data).__name__}"
        )
    if inputs.dim() < 1 or targets.dim() != 1 or inputs.shape[0] != targets.shape[0]:
        raise ArgumentError(
            f"{setting(name)}: needs inputs [N, ...] and targets [N], got shapes "
            f"{tuple(inputs.shape)} and {tuple(targets.shape)}"
        )
    if inputs.shape[0] == 0:
        raise ArgumentError(f"{setting(name)}: holds no examples")
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise ArgumentError(
            f"{setting(name)}: targets must be integer class indices, got {targets.dtype}"
        )
    if int(targets.min()) < 0:
        raise ArgumentError(f"{setting(name)}: targets must be class indices >= 0")
    if inputs.is_complex():
        raise ArgumentError(f"{setting(name)}: inputs must be real numbers, got {inputs.dtype}")
    inputs = inputs.to(torch.float32)
    if not bool(torch.isfinite(inputs).all()):
        raise ArgumentError(f"{setting(name)}: inputs must be finite (they hold inf or NaN)")
    return inputs, targets.to(torch.int64)


def as_dataset(data: Any, test: Any, num_classes: int | None) -> Dataset | None:
    """The data set of ``data`` and ``test`` (``None`` for a name: the run loop loads it)."""
    if isinstance(data, (str, Dataset)):
        if test is not None:
            raise ArgumentError(
                f"{setting('test')}: a named or sampler.models.Dataset data set has its own "
                "test set; give test= with tensors only"
            )
        return None if isinstance(data, str) else data
    train_x, train_y = as_tensors(data, "data")
    info: dict[str, Any] = {}
    if test is None:
        test_x, test_y = train_x, train_y
        info["test_is_train"] = 1
    else:
        test_x, test_y = as_tensors(test, "test")
        if test_x.shape[1:] != train_x.shape[1:]:
            raise ArgumentError(
                f"{setting('test')}: inputs of shape {tuple(test_x.shape[1:])}, the training "
                f"inputs have {tuple(train_x.shape[1:])}"
            )
    largest = max(int(train_y.max()), int(test_y.max()))
    classes = largest + 1 if num_classes is None else num_classes
    if classes <= largest:
        raise ArgumentError(
            f"{setting('num_classes')}: the targets hold class {largest}, so it must be more than "
            f"{largest}, got {num_classes}"
        )
    label = SUPPLIED + ("tensors" if isinstance(data, (tuple, list)) else function_name(type(data)))
    return Dataset(label, train_x, train_y, test_x, test_y, classes, info)


def check_data_arguments(data: Any, options: Any, data_dir: Any, num_classes: Any) -> None:
    """``data_options=`` and ``data_dir=`` belong to a named data set, ``num_classes=`` to
    tensors; given with the other kind they would be ignored, so they are refused."""
    named = isinstance(data, str)
    for name, value in (("data_options", options), ("data_dir", data_dir)):
        if value and not named:
            raise ArgumentError(
                f"{setting(name)}: only for a data set given by name (data='mnist')"
            )
    if num_classes is not None and named:
        raise ArgumentError(f"{setting('num_classes')}: only for data given as tensors")


def check_outputs(model: Model, dataset: Dataset) -> None:
    """One forward pass: the network must give at least ``num_classes`` logits per example."""
    probe = model.init_params(0)
    try:
        logits = model.predict(probe, dataset.train_x[:2])
    except Exception as error:  # noqa: BLE001 - whatever the user's network raises
        raise ArgumentError(
            f"{setting('model')}: its forward pass on inputs of shape "
            f"{tuple(dataset.train_x.shape[1:])} failed: {type(error).__name__}: {error}"
        ) from None
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        got = type(logits).__name__ if not isinstance(logits, torch.Tensor) else logits.dtype
        raise ArgumentError(
            f"{setting('model')}: its forward pass must return one tensor of float logits, "
            f"got {got}"
        )
    if logits.dim() != 2 or logits.shape[1] < dataset.num_classes:
        raise ArgumentError(
            f"{setting('model')}: must give [N, C] logits with C >= the {dataset.num_classes} "
            f"classes of the data, got shape {tuple(logits.shape)}"
        )


def same_on_every_rank(dataset: Dataset, comm) -> None:
    """Every rank must hold the same data (each weighs its samples on the same minibatch)."""
    if comm.size == 1:
        return
    digest = [
        (tuple(t.shape), float(t.double().sum()), float(t.double().square().sum()))
        for t in (dataset.train_x, dataset.train_y, dataset.test_x, dataset.test_y)
    ]
    if any(other != digest for other in comm.allgather(digest)):
        raise ArgumentError(
            f"{setting('data')}: the MPI ranks hold different data; build it the same way on "
            "every rank (e.g. from a seeded generator)"
        )
