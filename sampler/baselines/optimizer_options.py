"""The step options every backprop baseline shares: ``--lr`` (a number or a schedule over
updates), ``--momentum`` (heavy ball, PyTorch's convention) and ``--nesterov``, their check, and
the update rule they select (``sampler.scheme.optimizers``)."""

from __future__ import annotations

from typing import Any

from sampler.models.naming import setting
from sampler.models.options import Option, OptionError, within
from sampler.schedules import check_range, schedule_check


def optimizer_options(lr_default: str, lr_help: str, momentum_help: str) -> dict[str, Option]:
    """``lr``, ``momentum`` and ``nesterov`` with a baseline's own default and help texts."""
    return {
        "lr": Option(
            "any",
            lr_default,
            f"{lr_help}; a number or a schedule over updates",
            check=schedule_check("--lr"),
            label="schedule",
        ),
        "momentum": Option("float", 0.0, momentum_help, check=within(0.0, 1.0)),
        "nesterov": Option("bool", False, "Nesterov momentum (needs --momentum)"),
    }


def check_optimizer(values: dict[str, Any], steps: int) -> None:
    """``--nesterov`` needs momentum; the ``--lr`` schedule stays in float32's range over the
    run's ``steps`` updates. ``OptionError`` naming the flag."""
    if values["nesterov"] and values["momentum"] == 0:
        raise OptionError(f"{setting('nesterov')}: needs {setting('momentum')} in (0, 1), e.g. 0.9")
    try:
        check_range(values["lr"], "--lr", steps)
    except ValueError as error:
        raise OptionError(str(error)) from None
