"""The run-level settings of ``sampler train``: one dataclass, ``RunConfig``, is the single
source of the command line's flags, a TOML file's keys and a run directory's ``config.json``.

Run-level settings are fields (model, data, method choice, steps, batch size, seed, output,
device, ...). What belongs to one model, data set or training method is a table of that owner's
declared options:

* ``model_options`` (``--model-opt KEY=VALUE``, TOML ``[model_options]``), see ``sampler models``;
* ``data_options`` (``--data-opt KEY=VALUE``, TOML ``[data_options]``); ``--gm-dim``,
  ``--gm-delta``, ``--gm-train``, ``--gm-test`` and ``--test-fraction`` remain as aliases of
  options of ``gaussian-mixture`` and ``mnist``;
* ``method_options``: each option is its own flag (``--samples``, ``--tau``, ...) or a TOML key
  (flat, or in a ``[method_options]`` table), see ``sampler methods`` and
  ``sampler.config.method_options``.

Where the layers of settings come from and how they merge: ``sampler.config.sources``; how they
are checked and typed, once: ``sampler.config.resolution``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from sampler.models.naming import TABLE_FLAGS, setting

SUPPLIED = "python:"  # the label of a model or data set given as a Python object (the API)


class ConfigError(ValueError):
    """A bad setting; the message names the flag."""


@dataclass
class RunConfig:
    # what is trained
    model: str = "linear"
    model_options: dict[str, Any] = field(default_factory=dict)
    data: str = "mnist"
    data_options: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    data_seed: int = 0
    # how: the method and its options (sampler.config.method_options)
    estimator: str = "is"
    baseline: str | None = None
    method_options: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None
    steps: int = 300
    batch_size: int = 20
    seed: int = 0
    # where and what is written
    eval_every: int = 100
    signal_every: int = 0
    checkpoint_every: int = 100
    out: str | None = None
    device: str = "auto"
    threads: int = 0  # intra-op threads per process; 0: OMP_NUM_THREADS if set, else 1
    tensorboard: bool = False
    quiet: bool = False
    stop_on_divergence: bool = False  # stop on a divergence warning (sampler.training.health)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def two_step(self) -> bool:
        """The one rule of a run's method: a baseline replaces the two-step scheme (and its
        estimator, recorded but unused); without one the scheme runs around the estimator."""
        return self.baseline is None

    @property
    def method_name(self) -> str:
        return self.estimator if self.two_step else self.baseline

    @property
    def method(self) -> str:
        return f"{'estimator' if self.two_step else 'baseline'}:{self.method_name}"


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
# Settings a resumed run may change; everything else must match the original run.
RESUMABLE = {
    "steps",
    "eval_every",
    "signal_every",
    "checkpoint_every",
    "device",
    "quiet",
    "stop_on_divergence",
    "threads",  # how it runs, not what it trains
    "tensorboard",
}
# Option tables: field -> its repeatable KEY=VALUE flag (method options have a flag each).
TABLES = dict(TABLE_FLAGS)
# Old flags that name a data set's option: alias -> (data set, option).
DATA_ALIASES = {
    "gm_dim": ("gaussian-mixture", "dim"),
    "gm_delta": ("gaussian-mixture", "delta"),
    "gm_train": ("gaussian-mixture", "train_size"),
    "gm_test": ("gaussian-mixture", "test_size"),
    "test_fraction": ("mnist", "test_fraction"),
}
# What a run directory's config.json records beside the settings: dropped when it is reused
# as --config (a rerun goes to a new directory).
RUN_RECORD_KEYS = ("objective", "num_params", "out")


def flag(name: str) -> str:
    """How messages name the setting ``name``: ``--batch-size``, or ``batch_size=`` inside the
    Python API (``sampler.models.naming``)."""
    return setting(name)
