"""Adapter: any ``torch.nn.Module`` as a flat-vector model (see ``models.interface``).

The K networks ``x_1..x_K`` are evaluated as
``vmap(lambda x: functional_call(module, unflatten(x), u))`` (``torch.func``), one batched
computation. A module with buffers (BatchNorm running statistics) is refused unless the caller
says how to treat them: in training mode every one of the K networks would update them (a
silently wrong answer), so ``buffers="eval"`` evaluates a copy of the module in evaluation mode
(the stored statistics are used as they are, and vmap then works); a per-network batch
statistic needs ``track_running_stats=False`` (no buffers; see ``models.resnet``).
One minibatch per network (``loss_and_grad_each``): the same vmap over parameters and inputs.
Layers are the module's parameter-owning submodules, in registration order. A module may be
built on the ``meta`` device: only its parameter shapes are read. An ``nn.Sequential`` of layers
is also evaluated from a layer up (``models.split_forward``).
"""

from __future__ import annotations

import copy
import math

import torch
from torch.func import functional_call, vmap

from sampler.models import streams
from sampler.models.interface import (
    AutogradModel,
    Batch,
    check_params,
    loss_and_grad_by_autograd,
    mean_cross_entropy,
)
from sampler.models.split_forward import SplitForward


class TorchModuleModel(SplitForward, AutogradModel):
    def __init__(
        self, module: torch.nn.Module, force_loop: bool = False, buffers: str | None = None
    ) -> None:
        if any(True for _ in module.buffers()):
            if buffers != "eval":
                raise ValueError(
                    "the module has buffers (e.g. BatchNorm running statistics) that training "
                    "mode would update once per network: pass buffers='eval' to use them frozen "
                    "in evaluation mode, or build it with track_running_stats=False"
                )
            module = copy.deepcopy(module).eval()
        self.module = module
        self._names: list[str] = []
        self._shapes: list[torch.Size] = []
        self._slices: list[slice] = []
        self.layers: dict[str, slice] = {}
        offset = 0
        for name, parameter in module.named_parameters():
            size = parameter.numel()
            self._names.append(name)
            self._shapes.append(parameter.shape)
            self._slices.append(slice(offset, offset + size))
            layer = name.rsplit(".", 1)[0] if "." in name else name
            start = self.layers[layer].start if layer in self.layers else offset
            self.layers[layer] = slice(start, offset + size)
            offset += size
        self.num_params = offset
        self._buffers = {name: b for name, b in module.named_buffers()}
        self.batched = not force_loop

    def init_params(self, seed: int) -> torch.Tensor:
        """``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for every tensor of a layer (PyTorch's default
        for Linear and Conv), drawn from a counter-based stream; 1-d parameters of normalisation
        layers (no fan-in of their own) start at weight 1, bias 0."""
        generator = streams.torch_generator(seed, streams.INIT)
        params = torch.empty(self.num_params)
        fan_in = 1
        for name, shape, part in zip(self._names, self._shapes, self._slices):
            if len(shape) >= 2:
                fan_in = math.prod(shape[1:])
                bound = 1.0 / math.sqrt(fan_in)
                params[part].uniform_(-bound, bound, generator=generator)
            elif self._is_norm_parameter(name):
                params[part] = 1.0 if name.endswith("weight") else 0.0
            else:
                bound = 1.0 / math.sqrt(fan_in)
                params[part].uniform_(-bound, bound, generator=generator)
        return params

    def _is_norm_parameter(self, name: str) -> bool:
        owner = self.module.get_submodule(name.rsplit(".", 1)[0]) if "." in name else self.module
        norms = (torch.nn.modules.batchnorm._NormBase, torch.nn.LayerNorm, torch.nn.GroupNorm)
        return isinstance(owner, norms)

    def _unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        tensors = {
            name: flat[part].view(shape)
            for name, shape, part in zip(self._names, self._shapes, self._slices)
        }
        tensors.update(self._buffers)
        return tensors

    def state_dict(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        """``params: [d]`` as the module's ``state_dict()``: its parameters' names and shapes,
        and its buffers (``module.load_state_dict`` takes it)."""
        return self._unflatten(params)

    def load_into(self, module: torch.nn.Module, params: torch.Tensor) -> torch.nn.Module:
        """Copy ``params: [d]`` into the parameters of ``module`` (the one this model was built
        from, or one of the same architecture), in place, on the module's devices; a module of
        another architecture is refused (``ValueError`` naming what differs), before any copy."""
        if not isinstance(module, torch.nn.Module):
            raise ValueError(f"must be a torch.nn.Module, got {type(module).__name__}")
        check_params(params.reshape(1, -1), self.num_params)
        given = {name: tuple(p.shape) for name, p in module.named_parameters()}
        for name, shape in zip(self._names, self._shapes):
            if name not in given:
                raise ValueError(f"has no parameter {name!r} (of shape {tuple(shape)})")
            if given[name] != tuple(shape):
                raise ValueError(
                    f"parameter {name!r} has shape {given[name]}, the trained network's "
                    f"{tuple(shape)}"
                )
        extra = [name for name in given if name not in set(self._names)]
        if extra:
            raise ValueError(
                f"has parameters the trained network has not: {', '.join(extra[:3])}"
                f"{', ...' if len(extra) > 3 else ''}"
            )
        with torch.no_grad():
            for name, shape, part in zip(self._names, self._shapes, self._slices):
                target = module.get_parameter(name)
                target.copy_(params[part].view(shape))
        return module

    def _single_logits(self, flat: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return functional_call(self.module, self._unflatten(flat), (inputs,))

    def logits(self, params: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """``params: [K, d], inputs: [B, ...] -> [K, B, C]``."""
        if self.batched:
            return vmap(self._single_logits, in_dims=(0, None))(params, inputs)
        return torch.stack([self._single_logits(p, inputs) for p in params])

    def _losses(self, params: torch.Tensor, batch: Batch) -> torch.Tensor:
        return mean_cross_entropy(self.logits(params, batch.inputs), batch.targets)

    def _losses_each(self, params: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Network k on ``inputs[k]``: ``vmap`` over parameters and inputs (or the loop)."""
        if self.batched:
            logits = vmap(self._single_logits, in_dims=(0, 0))(params, batch.inputs)
        else:
            logits = torch.stack([self._single_logits(p, u) for p, u in zip(params, batch.inputs)])
        return mean_cross_entropy(logits, batch.targets)

    def loss_and_grad_each(self, params: torch.Tensor, batch: Batch):
        """``params: [K, d]``, ``batch``: inputs ``[K, B, ...]``, targets ``[K, B]``."""
        check_params(params, self.num_params)
        return loss_and_grad_by_autograd(self._losses_each, params, batch)

    def predict(self, params: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self._single_logits(params, inputs)

    def to(self, device: torch.device | str) -> TorchModuleModel:
        """Moves the buffers (the parameters are the caller's ``[K, d]`` tensors; a module built
        on the ``meta`` device, having no buffers, stays there)."""
        if self._buffers:
            self.module.to(device)
            self._buffers = {name: b for name, b in self.module.named_buffers()}
        return self
