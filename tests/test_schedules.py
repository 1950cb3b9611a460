"""Every schedule form, and malformed specs rejected with a message naming the flag."""

from __future__ import annotations

import math

import pytest

from sampler.config.resolution import resolve_settings
from sampler.config.run_config import ConfigError
from sampler.config.sources import make_config
from sampler.schedules import SCHEDULES, check_range, parse_schedule

CASES = {
    "const": ("const:0.5", [(0, 0.5), (7, 0.5)]),
    "scoping": ("scoping:0.01,0.001", [(0, 0.01), (3, 0.01 / 1.001**3)]),
    "reverse": ("reverse:0.01,0.5", [(0, 0.01), (2, 0.01 * 1.5**2)]),
    "exp": ("exp:1.5,0.01", [(0, 1.5), (10, 1.5 * math.exp(-0.1))]),
    "harmonic": ("harmonic:1,1000", [(0, 1e-3), (5, 1 / 1005)]),
    "power": ("power:2,0.75", [(0, 2.0), (3, 2 * 4**-0.75)]),
    "rising": ("rising:0.1,0.7", [(0, 0.1), (29, 0.1 * 30**0.7)]),
}


def test_every_form_has_a_case():
    assert set(CASES) == set(SCHEDULES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_form_values(name):
    spec, values = CASES[name]
    schedule = parse_schedule(spec, "--x")
    assert schedule.name == name and schedule.spec == spec
    for step, expected in values:
        assert schedule(step) == pytest.approx(expected, rel=1e-12)


def test_a_bare_number_is_a_constant():
    schedule = parse_schedule("0.01", "--tau")
    assert schedule.name == "const" and schedule(100) == 0.01


# each schedule option with the method that has it
OWNERS = {
    "tau": "is",
    "beta": "is",
    "lr": "is",
    "sgld_eps": "sgld",
    "rm_step": "rm",
    "switch_lr": "is",
}


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("exp:1.5", "needs 2"),
        ("cosine:1,2", "unknown schedule"),
        ("power:1,abc", "cannot read"),
        ("harmonic:1,0", "B > 0"),
        ("scoping:-0.1,0.1", "positive"),
        ("nan", "finite"),
        ("", "cannot read"),
    ],
)
@pytest.mark.parametrize("field", sorted(OWNERS))
def test_malformed_spec_names_the_flag(field, spec, fragment):
    flag = "--" + field.replace("_", "-")
    with pytest.raises(ConfigError, match=flag) as error:
        resolve_settings(make_config({"estimator": OWNERS[field], field: spec, "switch_after": 1}))
    assert fragment in str(error.value)


@pytest.mark.parametrize("spec", ["power:1,0.5", "power:1,1.2"])
def test_robbins_monro_exponent_must_be_in_half_one(spec):
    with pytest.raises(ConfigError, match=r"--rm-step: .*ALPHA in \(1/2, 1\]"):
        resolve_settings(make_config({"estimator": "rm", "rm_step": spec}))


def test_accepted_schedules_validate():
    resolve_settings(
        make_config(
            {"estimator": "sgld", "tau": "scoping:0.01,0.001", "sgld_eps": "harmonic:1,1000"}
        )
    )
    resolve_settings(
        make_config({"estimator": "rm", "rm_step": "power:0.5,0.6", "beta": "reverse:1,0.001"})
    )


def test_range_check_takes_constant_time_whatever_the_run_length():
    """Schedules are monotone: the end points decide, so 10^20 steps validate at once."""
    schedule = parse_schedule("scoping:0.01,0.001", "--tau")
    with pytest.raises(ValueError, match="--tau: 'scoping:0.01,0.001' reaches"):
        check_range(schedule, "--tau", 10**20)
    check_range(parse_schedule("harmonic:1,1000", "--x"), "--x", 10**20)
    with pytest.raises(ValueError, match="reaches a value outside the float range"):
        check_range(parse_schedule("reverse:1,1", "--x"), "--x", 10**6)


def test_schedule_scoping_values():
    tau = parse_schedule("scoping:0.1,0.5", "--tau")
    assert tau(0) == pytest.approx(0.1) and tau(2) == pytest.approx(0.1 / 2.25)
