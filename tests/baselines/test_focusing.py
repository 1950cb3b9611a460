"""The focusing schedule gamma_t = gamma0 (1 + gamma1)^t of eSGD and rSGD, and its options."""

from __future__ import annotations

import math

import pytest

from sampler.baselines.focusing import GROWTH, Focusing, auto_gamma1, focusing_options
from sampler.config.method_options import method, resolve
from sampler.models.options import OptionError


def test_focusing_values():
    focusing = Focusing(0.5, 0.1)
    assert [focusing(t) for t in range(4)] == pytest.approx([0.5, 0.55, 0.605, 0.6655])
    assert Focusing(2.0, 0.0)(1000) == 2.0


@pytest.mark.parametrize("steps", [2, 10, 500])
def test_auto_gamma1_grows_gamma_by_ten_thousand_over_the_run(steps):
    focusing = Focusing(0.3, auto_gamma1(steps))
    assert focusing(steps - 1) / focusing(0) == pytest.approx(GROWTH, rel=1e-9)
    assert auto_gamma1(1) == 0.0


def test_options_take_numbers_or_auto():
    options = focusing_options(0.1, "auto", auto_gamma0=True)
    assert options["gamma0"].parse("auto") == "auto" and options["gamma0"].parse("0.5") == 0.5
    assert options["gamma1"].parse(1e-3) == 1e-3
    without_auto = focusing_options(0.1, 0.0, auto_gamma0=False)
    with pytest.raises(OptionError, match="--gamma0: must be a number >= 0, got 'auto'"):
        without_auto["gamma0"].parse("auto")
    with pytest.raises(OptionError, match="--gamma1: must be a number >= 0 or 'auto'"):
        options["gamma1"].parse("-0.5")
    with pytest.raises(OptionError, match="--gamma1"):
        options["gamma1"].parse(math.nan)


def test_a_schedule_that_overflows_is_refused_before_the_run():
    with pytest.raises(OptionError, match="--gamma1: .*overflows"):
        resolve(method("is", "esgd"), {"gamma1": 10.0}, steps=1000)


def test_an_overflowing_auto_gamma0_schedule_is_refused_too():
    with pytest.raises(OptionError, match="--gamma1: .*overflows"):
        resolve(method("is", "rsgd"), {"gamma1": 10.0}, steps=1000)
