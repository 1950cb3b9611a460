"""The variance ``tau`` of the tilted measure: one schedule, or one schedule per named layer.

``q_{x,tau}(x') ∝ exp(-beta f(x') - sum_i (x_i - x'_i)^2 / (2 tau_i))``: with a tau per layer
the Gaussian is anisotropic, the "partial" / anisotropic local entropy of Musso (2021), and
``g_k = (x_k - m_k) / tau`` is taken coordinatewise. Every estimator accepts ``tau`` as a
scalar tensor or a ``[d]`` vector, so per-layer tau needs nothing estimator-specific.

Spec (``--tau``): a schedule (``0.01``, ``scoping:0.01,0.001``, see ``sampler.schedules``), or
``LAYER=SCHEDULE`` entries separated by commas, ``*`` naming every layer not listed::

    --tau fc0=0.01,fc1=0.001
    --tau "fc0=scoping:0.01,0.001,*=0.01"

A comma-separated part without ``=`` continues the previous entry's schedule arguments. In a
TOML file ``tau`` may also be a table, ``tau = {fc0 = 0.01, fc1 = "scoping:0.01,0.001"}``; from
Python (``sampler.api.train``) a dict whose values may also be functions ``k -> tau_k``, or one such
function for every layer.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch

from sampler.models.naming import setting
from sampler.models.options import OptionError
from sampler.schedules import Recorded, Schedule, parse_schedule

DEFAULT_LAYER = "*"


def tau_spec_text(value) -> str:
    """A TOML/JSON ``tau`` value (number, string or table) as the ``--tau`` text."""
    if isinstance(value, Mapping):
        return ",".join(f"{layer}={schedule}" for layer, schedule in value.items())
    return str(value)


def _is_function(value: Any) -> bool:
    return isinstance(value, Schedule) or callable(value)


def tau_check(value: Any) -> TauSchedule:
    """The ``tau`` option's ``check``: a number, a schedule, ``LAYER=SCHEDULE,...`` text or a
    TOML table (kept as the ``--tau`` text); from Python also a function or a dict with
    functions among its values. Returns the parsed ``TauSchedule``; a bad value raises
    ``OptionError`` naming ``--tau``."""
    functions = _is_function(value) or (
        isinstance(value, Mapping) and any(_is_function(v) for v in value.values())
    )
    try:
        return TauSchedule(value if functions else tau_spec_text(value))
    except ValueError as error:
        raise OptionError(str(error)) from None


def _entries(spec: Any, flag: str) -> dict[str, Any]:
    if isinstance(spec, Mapping):
        return {str(layer).strip(): value for layer, value in spec.items()}
    if _is_function(spec):
        return {DEFAULT_LAYER: spec}
    text = str(spec).strip()
    if "=" not in text:
        return {DEFAULT_LAYER: text}
    entries: dict[str, list[str]] = {}
    current = None
    for part in text.split(","):
        if "=" in part:
            layer, _, schedule = part.partition("=")
            layer = layer.strip()
            if not layer:
                raise ValueError(
                    f"{setting(flag)}: empty layer name in {text!r}; use LAYER=VALUE,..."
                )
            if layer in entries:
                raise ValueError(f"{setting(flag)}: layer {layer!r} given twice in {text!r}")
            entries[layer] = [schedule]
            current = layer
        elif current is None:
            raise ValueError(f"{setting(flag)}: {text!r} must start with LAYER=VALUE")
        else:
            entries[current].append(part)
    return {layer: ",".join(parts) for layer, parts in entries.items()}


class TauSchedule(Recorded):
    """Parsed ``--tau``: ``layer -> Schedule``; ``*`` is the default for unlisted layers.
    ``spec``: text, a number, a function, or a dict ``layer -> any of those``."""

    def __init__(self, spec: Any, flag: str = "--tau") -> None:
        if isinstance(spec, TauSchedule):
            spec = spec.spec
        self.spec = spec if isinstance(spec, Mapping) or _is_function(spec) else str(spec)
        self.flag = flag
        self.schedules: dict[str, Schedule] = {
            layer: parse_schedule(text, f"{flag} ({layer})" if layer != DEFAULT_LAYER else flag)
            for layer, text in _entries(spec, flag).items()
        }
        self._slices: dict[str, slice] | None = None
        self._num_params = 0
        self._scales: dict[str, float] | None = None  # --tau-scale (sampler.scheme.tau_scale)

    def recorded(self) -> str | dict[str, str]:
        """What ``config.json`` records: the ``--tau`` text, or for Python functions their
        ``python:MODULE.NAME`` specs (one, or one per layer)."""
        if isinstance(self.spec, Mapping):
            return {str(layer): self.schedules[str(layer).strip()].spec for layer in self.spec}
        if _is_function(self.spec):
            return self.schedules[DEFAULT_LAYER].spec
        return self.spec

    def bound(
        self,
        layers: Mapping[str, slice],
        num_params: int,
        scales: Mapping[str, float] | None = None,
    ) -> TauSchedule:
        """A copy of this tau bound to a model's layers (``bind``), this one left unbound."""
        return copy.copy(self).bind(layers, num_params, scales)

    @property
    def per_layer(self) -> bool:
        return set(self.schedules) != {DEFAULT_LAYER} or self._scales is not None

    def bind(
        self,
        layers: Mapping[str, slice],
        num_params: int,
        scales: Mapping[str, float] | None = None,
    ) -> TauSchedule:
        """Check the layer names against the model; raise ``ValueError`` naming the flag.
        ``scales`` (layer -> factor, ``--tau-scale``) multiply each layer's schedule."""
        named = [layer for layer in self.schedules if layer != DEFAULT_LAYER]
        unknown = [layer for layer in named if layer not in layers]
        if unknown:
            raise ValueError(
                f"{setting(self.flag)}: unknown layer(s) {', '.join(unknown)}; the model's "
                "layers: " + ", ".join(layers)
            )
        missing = [layer for layer in layers if layer not in self.schedules]
        if missing and DEFAULT_LAYER not in self.schedules:
            raise ValueError(
                f"{setting(self.flag)}: no tau for layer(s) {', '.join(missing)}; give them or "
                f"a default '*=VALUE' (the model's layers: {', '.join(layers)})"
            )
        self._slices = dict(layers)
        self._num_params = num_params
        self._scales = None if scales is None else {layer: scales[layer] for layer in layers}
        return self

    def layer_values(self, step: int) -> dict[str, float]:
        if self._slices is None:
            return {DEFAULT_LAYER: self.schedules[DEFAULT_LAYER](step)}
        default = self.schedules.get(DEFAULT_LAYER)
        scales = self._scales or {}
        return {
            layer: (self.schedules.get(layer) or default)(step)  # type: ignore[operator]
            * scales.get(layer, 1.0)
            for layer in self._slices
        }

    def __call__(self, step: int, device=None, dtype=torch.float32) -> torch.Tensor:
        """``tau_k``: a scalar tensor, or ``[d]`` when tau differs per layer."""
        if not self.per_layer:
            return torch.tensor(self.schedules[DEFAULT_LAYER](step), dtype=dtype, device=device)
        if self._slices is None:
            raise RuntimeError(
                f"{setting(self.flag)}: per-layer tau needs bind(model.layers) first"
            )
        vector = torch.empty(self._num_params, dtype=dtype, device=device)
        for layer, value in self.layer_values(step).items():
            vector[self._slices[layer]] = value
        return vector

    def record(self, step: int) -> dict[str, float]:
        """What a metrics line shows: ``tau`` or ``tau_<layer>`` for each layer."""
        if not self.per_layer:
            return {"tau": self.schedules[DEFAULT_LAYER](step)}
        return {f"tau_{layer}": value for layer, value in self.layer_values(step).items()}
