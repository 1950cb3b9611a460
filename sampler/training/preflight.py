"""Checks made before a run's first update, so that a run fails before it spends any work.

* ``check_run_directory`` (the command line, before any work): ``--out`` can become a new
  run's directory (``sampler.runs.new_directory``) and no live run holds it; for ``--resume``,
  no live run holds it, its checkpoint loads and fits the run (``check_resume``).
* ``check_resume``: the checkpoint's update count is at most ``--steps`` (a resumed run never
  goes back), and the settings recorded in the checkpoint are those of the run's
  ``config.json`` (both files belong to one run: ``sampler.config.resume_rules.check_one_run``).
* ``check_data`` (after the data set and the model are built, before the first update): the test
  set is not empty, its examples have the training examples' shape (the model's input), and
  every label is a class of the data set.
"""

from __future__ import annotations

from pathlib import Path

from sampler.config.resume_rules import check_one_run
from sampler.config.run_config import ConfigError, RunConfig
from sampler.runs.directory import RunDirectory
from sampler.runs.files import CHECKPOINT, RunFileError
from sampler.runs.lock import check_unlocked
from sampler.runs.new_directory import check_new_out


def check_run_directory(config: RunConfig, resume: bool, writer: bool) -> None:
    """``RunFileError``/``RunLockedError``/``ConfigError`` naming the directory or the flag.
    ``writer``: this process will write the directory (rank 0)."""
    if resume:
        if writer:
            check_unlocked(config.out, "--resume")
        check_resume(config, RunDirectory(config.out).load_checkpoint(), Path(config.out))
    elif config.out is not None and writer:
        check_new_out(Path(config.out))
        check_unlocked(config.out, "--out")


def check_resume(
    config: RunConfig,
    checkpoint: dict,
    directory: Path,
    num_params: int | None = None,
    supplied: frozenset[str] = frozenset(),
) -> None:
    """``num_params``: the model's (once built), which the checkpoint's parameters must match;
    ``supplied``: the parts the Python API built itself (``Settings.supplied``)."""
    step = checkpoint["step"]
    size = checkpoint["params"].numel()
    if num_params is not None and size != num_params:
        raise RunFileError(
            f"{directory / CHECKPOINT}: holds {size} parameters, the run's --model "
            f"{config.model} has {num_params}"
        )
    if config.steps < step:
        raise ConfigError(
            f"--steps: the run in {directory} has done {step} updates ({CHECKPOINT}); a resumed "
            f"run continues from there: give --steps {step} or more, got {config.steps}"
        )
    check_one_run(directory, config, checkpoint["config"], supplied)


def check_data(dataset, data_flag: str) -> None:
    """``ConfigError`` naming ``data_flag`` (``--data NAME`` or ``--data-dir DIR``)."""
    train_x, test_x = dataset.train_x, dataset.test_x
    if test_x.shape[0] == 0 or dataset.test_y.shape[0] == 0:
        raise ConfigError(f"{data_flag}: the test set is empty")
    if tuple(test_x.shape[1:]) != tuple(train_x.shape[1:]):
        raise ConfigError(
            f"{data_flag}: the test examples have shape {tuple(test_x.shape[1:])}, the training "
            f"examples (the model's input) {tuple(train_x.shape[1:])}"
        )
    if test_x.shape[0] != dataset.test_y.shape[0]:
        raise ConfigError(
            f"{data_flag}: {test_x.shape[0]} test examples but {dataset.test_y.shape[0]} labels"
        )
    for split, labels in (("training", dataset.train_y), ("test", dataset.test_y)):
        if labels.numel() and not (
            0 <= int(labels.min()) and int(labels.max()) < dataset.num_classes
        ):
            raise ConfigError(
                f"{data_flag}: a {split} label lies outside the {dataset.num_classes} classes "
                f"0..{dataset.num_classes - 1}"
            )
