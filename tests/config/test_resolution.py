"""Settings are resolved once: ``resolve_settings`` checks them and types the method's options
(a schedule as a ``Schedule``, ``--tau`` as a ``TauSchedule``), and what is built from them
takes those typed values as they are."""

from __future__ import annotations

import pytest

from sampler.config.method_options import exclusive_choice
from sampler.config.record import settings_record
from sampler.config.resolution import resolve_settings
from sampler.config.run_config import ConfigError
from sampler.config.sources import make_config
from sampler.estimators.temperature import AutoBeta
from sampler.models.naming import arguments
from sampler.models.options import OptionError
from sampler.schedules import Schedule, parse_schedule
from sampler.scheme.tau import TauSchedule
from sampler.setup.trainer import build_trainer


def test_options_are_typed_once_and_recorded_by_their_spec():
    config = make_config(
        {"estimator": "sgld", "lr": "harmonic:1,10", "tau": "fc0=0.01,*=0.02", "beta": 3}
    )
    settings = resolve_settings(config)
    values = settings.options
    assert isinstance(values["lr"], Schedule) and values["lr"](0) == pytest.approx(0.1)
    assert isinstance(values["sgld_eps"], Schedule) and isinstance(values["beta"], Schedule)
    assert isinstance(values["tau"], TauSchedule) and values["tau"].per_layer
    recorded = settings_record(settings)["method_options"]
    assert recorded["lr"] == "harmonic:1,10" and recorded["tau"] == "fc0=0.01,*=0.02"
    assert recorded["beta"] == "3" and recorded["sgld_eps"] == "harmonic:1,1000"


def test_the_trainer_takes_the_typed_values_as_they_are():
    settings = resolve_settings(make_config({"lr": "0.005", "optimizer": "adam"}))
    trainer = build_trainer(settings)
    assert trainer.lr is settings.options["lr"]
    assert trainer.tau is settings.options["tau"]  # no model: nothing to bind


def test_a_schedule_is_identified_by_its_spec():
    first, second = (
        parse_schedule("scoping:0.1,0.01", "--tau"),
        parse_schedule("scoping:0.1,0.01", "--tau"),
    )
    assert first == second and first == "scoping:0.1,0.01" and hash(first) == hash(second)
    assert first != parse_schedule("scoping:0.1,0.02", "--tau") and first != "0.1"
    tau = TauSchedule("fc0=0.01,*=0.02")
    assert tau == TauSchedule(tau) == "fc0=0.01,*=0.02" and tau != TauSchedule("0.02")


def test_a_bound_tau_leaves_the_resolved_one_unbound():
    tau = TauSchedule("fc0=0.01,*=0.02")
    bound = tau.bound({"fc0": slice(0, 2), "fc1": slice(2, 3)}, 3)
    assert bound(0).tolist() == pytest.approx([0.01, 0.01, 0.02])
    with pytest.raises(RuntimeError, match="bind"):
        tau(0)


@pytest.mark.parametrize("given", [{"estimator": "is", "baseline": "sgd"}])
def test_estimator_or_baseline_is_one_rule_for_flags_and_arguments(given):
    with pytest.raises(OptionError, match="^--estimator and --baseline exclude each other"):
        exclusive_choice(given)
    with arguments(), pytest.raises(OptionError, match="^estimator= and baseline= exclude each"):
        exclusive_choice(given)
    exclusive_choice({"estimator": "is", "baseline": None})  # a baseline not given is no choice


def test_beta_auto_is_typed_with_its_target():
    default = resolve_settings(make_config({})).options["beta"]
    # the bare auto: the estimator's own target, per model (importance_sampling.ess_target)
    assert isinstance(default, AutoBeta) and default.target is None and default == "auto"
    given = resolve_settings(make_config({"beta": "auto:0.3"})).options["beta"]
    assert given.target == 0.3 and given == "auto:0.3"
    position = {"estimator": "sgld", "sgld_average": "position", "beta": "auto:500"}
    sgld = resolve_settings(make_config(position))
    assert sgld.options["beta"].target == 500.0
    assert settings_record(sgld)["method_options"]["beta"] == "auto:500"
    with pytest.raises(ConfigError, match="auto of --sgld-average gradient takes no TARGET"):
        resolve_settings(make_config({"estimator": "sgld", "beta": "auto:500"}))
    with pytest.raises(ConfigError, match="auto of rm and rm-stein takes no TARGET"):
        resolve_settings(make_config({"estimator": "rm", "beta": "auto:0.5"}))
    assert resolve_settings(make_config({"beta": "auto:200"})).options["beta"].target == 200
    with pytest.raises(ConfigError, match=r"auto:TARGET needs TARGET in \(0, inf\)"):
        resolve_settings(make_config({"beta": "auto:-2"}))
