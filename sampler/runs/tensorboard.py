"""Optional TensorBoard logging (``--tensorboard``): the scalars of ``metrics.jsonl`` as events.

Every numeric value of a metrics line (``train_loss``, ``ess``, ``tau``, ``test_accuracy``, ...;
not ``step`` itself, nor text such as ``phase``) becomes the scalar of that name at global step
``step``, in ``RUN_DIR/tensorboard/`` (``tensorboard --logdir RUN_DIR``). Rank 0 alone writes,
through ``torch.utils.tensorboard.SummaryWriter``, which needs the ``tensorboard`` package
(``pip install 'local-entropy-sampler[tensorboard]'``). A resumed run purges the events after its
checkpoint, as it truncates ``metrics.jsonl``, so each step is logged once.
"""

from __future__ import annotations

import importlib.util
import math
import numbers
import os
from pathlib import Path

SUBDIRECTORY = "tensorboard"
INSTALL_HINT = "pip install 'local-entropy-sampler[tensorboard]'"


class TensorBoardMissingError(ImportError):
    pass


def scalars(entry: dict) -> dict[str, float]:
    """The values of a metrics line that TensorBoard shows: finite numbers but the step."""
    return {
        key: float(value)
        for key, value in entry.items()
        if key != "step"
        and isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
    }


class Board:
    def __init__(self, run_dir: Path, purge_step: int | None = None) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # tensorboard may import TensorFlow
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise TensorBoardMissingError(
                f"the tensorboard package is missing ({error}); install it with: {INSTALL_HINT}"
            ) from None
        self.directory = Path(run_dir) / SUBDIRECTORY
        self._writer = SummaryWriter(str(self.directory), purge_step=purge_step)

    def write(self, entry: dict) -> None:
        for key, value in scalars(entry).items():
            self._writer.add_scalar(key, value, global_step=int(entry["step"]))

    def close(self) -> None:
        self._writer.close()


def open_board(run_dir: Path, purge_step: int | None = None) -> Board:
    return Board(run_dir, purge_step)


def available() -> bool:
    """Whether ``--tensorboard`` can run here."""
    return importlib.util.find_spec("tensorboard") is not None
