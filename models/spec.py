"""What a zoo entry is: ``ModelSpec``, a model's name, builder, summary, default data, accepted
options, preparation and the settings it trains with by default, called like its builder
(``models.zoo`` holds the built-in entries, ``models.keras.factory`` makes one for
``keras:MODULE:FACTORY``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sampler.models.interface import Model
from sampler.models.naming import setting
from sampler.models.options import Option, parse_options


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[..., Model]
    summary: str
    default_data: str
    default_shape: tuple[int, ...]
    default_classes: int
    options: Mapping[str, Option] = field(default_factory=dict)
    # called with the rank's device before the model is built (TensorFlow's threads and GPU)
    prepare: Callable[[Any], None] | None = None
    # method name -> the settings (run fields and method options, e.g. ``batch_size``,
    # ``samples``) that method trains this model with unless a layer of settings gives them: a
    # measured default of the model's own, under ``--config`` and the flags
    # (``sampler.config.sources.make_config``; ``sampler models`` lists them)
    trains_with: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def parse(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Typed options; an unknown key or bad value raises ``OptionError`` naming the model."""
        return parse_options(setting("model", self.name), self.options, options)

    def __call__(self, input_shape: tuple[int, ...], num_classes: int, **options: Any) -> Model:
        return self.build(tuple(input_shape), num_classes, **self.parse(options))
