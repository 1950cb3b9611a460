"""The focusing schedule of the coupling gamma in Entropy-SGD and Replicated-SGD:
``gamma_t = gamma0 (1 + gamma1)^t``, t the update (from 0).

Source: Pittorino et al., "Entropic gradient descent algorithms and wide flat minima" (2021),
section on the focusing protocol, after Baldassi et al. (PNAS 2016, robust ensembles) and the
"scoping" of Chaudhari et al.'s Entropy-SGD. Growing gamma draws the replicas (rSGD) or the
inner Langevin chain (eSGD) ever closer to the center, so the run ends at a minimum of the loss
itself, inside a wide flat region.

``--gamma1 auto`` chooses gamma1 so that gamma grows by ``GROWTH`` = 10^4 over the run:
``(1 + gamma1)^(T - 1) = 10^4`` for a run of T updates (the paper's choice). Replicated-SGD also
takes ``--gamma0 auto``, ``gamma0 = sum_a L(w^a) / sum_a |w^a - w_bar|^2`` at the first update
(the paper's balance of loss and coupling); both are fixed when first resolved and kept in the
trainer state, so a run extended on ``--resume`` keeps its schedule.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from sampler.models.naming import setting
from sampler.models.options import Option, OptionError

AUTO = "auto"
GROWTH = 1e4
FLOAT32_MAX = 3.4028234663852886e38  # gamma multiplies float32 parameters


class Focusing(NamedTuple):
    gamma0: float
    gamma1: float

    def __call__(self, step: int) -> float:
        """``gamma_t = gamma0 (1 + gamma1)^t``."""
        return self.gamma0 * (1.0 + self.gamma1) ** step


def auto_gamma1(steps: int) -> float:
    """The gamma1 with ``(1 + gamma1)^(steps - 1) = GROWTH`` (0 for a one-update run)."""
    if steps <= 1:
        return 0.0
    return math.expm1(math.log(GROWTH) / (steps - 1))


def _number_or_auto(flag: str, allow_auto: bool, low: float) -> Any:
    accepted = f"a number >= {low:g}" + (" or 'auto'" if allow_auto else "")

    def check(value: Any) -> float | str:
        if allow_auto and str(value).strip() == AUTO:
            return AUTO
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise OptionError(f"{setting(flag)}: must be {accepted}, got {value!r}") from None
        if isinstance(value, bool) or not math.isfinite(number) or number < low:
            raise OptionError(f"{setting(flag)}: must be {accepted}, got {value!r}")
        return number

    return check


def focusing_options(gamma0: float | str, gamma1: float | str, auto_gamma0: bool) -> dict:
    """The two options ``gamma0`` and ``gamma1`` with the method's defaults."""
    return {
        "gamma0": Option(
            "any",
            gamma0,
            "coupling gamma at update 0"
            + (" ('auto': sum_a L(w^a) / sum_a |w^a - w_bar|^2)" if auto_gamma0 else ""),
            check=_number_or_auto("--gamma0", auto_gamma0, 0.0),
            label="number|auto" if auto_gamma0 else "number",
        ),
        "gamma1": Option(
            "any",
            gamma1,
            "focusing: gamma_t = gamma0 (1 + gamma1)^t ('auto': gamma grows by 10^4 over the run)",
            check=_number_or_auto("--gamma1", True, 0.0),
            label="number|auto",
        ),
    }


def resolve_gamma1(value: float | str, steps: int) -> float:
    return auto_gamma1(steps) if value == AUTO else float(value)


def check_focusing(values: dict[str, Any], steps: int) -> None:
    """``OptionError`` if gamma leaves the float range within the run's ``steps`` updates."""
    gamma1 = resolve_gamma1(values["gamma1"], steps)
    gamma0 = 1.0 if values["gamma0"] == AUTO else float(values["gamma0"])
    try:
        last = Focusing(gamma0, gamma1)(max(steps - 1, 0))
    except OverflowError:
        last = math.inf
    if not math.isfinite(last) or last > FLOAT32_MAX:  # the parameters are float32
        raise OptionError(
            f"{setting('gamma1')}: gamma0 (1 + {gamma1:g})^t overflows float32 within the "
            f"{steps} updates; lower {setting('gamma1')}"
        )
