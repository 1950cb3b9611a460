"""A training method and its options: an estimator inside the two-step scheme (``--estimator``)
or a backprop baseline (``--baseline``).

Every method declares its options beside its code (``sampler.models.options.Option``: kind,
default, check, one-line help). An estimator has three groups: the two-step scheme's
(``sampler.scheme.two_step.OPTIONS``: tau, beta, lr, optimizer, momentum), the warm start's
(``sampler.scheme.warm_start.OPTIONS``) and its own (``ESTIMATORS[name].options``); a baseline has
its own alone (``BASELINES[name].options``). A run keeps the given ones in one table,
``method_options``; each option is also a flag of its own (``--samples``, ``--tau``, ...) and a
key of a TOML file. ``resolve`` types them, fills the defaults and applies the method's checks;
an option of a method that is not selected is refused, naming the flag and the methods that
have it. Messages name settings through ``sampler.models.naming`` (flags, or the Python API's
arguments).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sampler.baselines import BASELINES
from sampler.estimators import ESTIMATORS
from sampler.models.naming import setting
from sampler.models.options import Option, OptionError
from sampler.schedules import LARGEST
from sampler.scheme import two_step, warm_start


def option_flag(name: str) -> str:
    """How messages name the option ``name`` (``--rm-step``, or ``rm_step=`` in the API)."""
    return setting(name)


@dataclass(frozen=True)
class Method:
    kind: str  # "estimator" or "baseline"
    name: str
    options: Mapping[str, Option]
    checks: tuple[Callable[[dict[str, Any], int, set[str]], None], ...] = ()

    @property
    def label(self) -> str:
        return setting(self.kind, self.name)


def _spec_check(spec) -> Callable[[dict[str, Any], int, set[str]], None]:
    return lambda values, steps, given: spec.check(values, steps) if spec.check else None


def _two_step_check(values: dict[str, Any], steps: int, given: set[str]) -> None:
    two_step.check_options(values, steps)


def exclusive_choice(given: Mapping[str, Any]) -> None:
    """The one rule of a run's method: ``--estimator`` (the two-step scheme) or ``--baseline``,
    never both in one layer of settings (a flag, a file, the API's arguments)."""
    if given.get("estimator") is not None and given.get("baseline") is not None:
        raise OptionError(
            f"{setting('estimator')} and {setting('baseline')} exclude each other: choose one"
        )


def method(estimator: str, baseline: str | None) -> Method:
    """The method a run selects (``baseline`` wins: a baseline run records no estimator)."""
    if baseline is not None:
        if baseline not in BASELINES:
            raise OptionError(
                f"{setting('baseline')}: must be one of {', '.join(BASELINES)}, got {baseline!r}"
            )
        spec = BASELINES[baseline]
        return Method("baseline", baseline, dict(spec.options), (_spec_check(spec),))
    if estimator not in ESTIMATORS:
        raise OptionError(
            f"{setting('estimator')}: must be one of {', '.join(ESTIMATORS)}, got {estimator!r}"
        )
    spec = ESTIMATORS[estimator]
    options = {**two_step.OPTIONS, **warm_start.OPTIONS, **spec.options}
    checks = (_two_step_check, warm_start.check_options, _spec_check(spec))
    return Method("estimator", estimator, options, checks)


def all_methods() -> list[Method]:
    return [method(name, None) for name in ESTIMATORS] + [method("is", name) for name in BASELINES]


def option_owners() -> dict[str, list[tuple[Method, Option]]]:
    """Every option name of every method -> the methods that declare it (one flag each)."""
    owners: dict[str, list[tuple[Method, Option]]] = {}
    for each in all_methods():
        for name, option in each.options.items():
            owners.setdefault(name, []).append((each, option))
    return owners


def _not_of(name: str, chosen: Method) -> OptionError:
    owners = option_owners().get(name)
    if owners is None:
        return OptionError(f"{option_flag(name)}: unknown option of {chosen.label}")
    labels = owner_labels([m for m, _ in owners])
    return OptionError(f"{option_flag(name)}: an option of {labels}, not of {chosen.label}")


def owner_labels(methods: list[Method]) -> str:
    estimators = [m.name for m in methods if m.kind == "estimator"]
    baselines = [m.name for m in methods if m.kind == "baseline"]
    parts = []
    if estimators:
        parts.append(setting("estimator", "/".join(estimators)))
    if baselines:
        parts.append(setting("baseline", "/".join(baselines)))
    return " and ".join(parts)


def parse_value(name: str, option: Option, value: Any) -> Any:
    """One option's typed value; ``OptionError`` naming its flag and what it accepts."""
    try:
        typed = option.parse(value)
    except OptionError:
        raise
    except (TypeError, ValueError) as error:
        text = str(error)
        wanted = text if text and "invalid literal" not in text else option.label or option.kind
        raise OptionError(f"{option_flag(name)}: must be {wanted}, got {value!r}") from None
    if option.kind == "float" and abs(typed) > LARGEST:  # the parameters are float32
        raise OptionError(
            f"{option_flag(name)}: must be within float32's range (at most {LARGEST:g} in "
            f"size), got {value!r}"
        )
    return typed


def resolve(chosen: Method, given: Mapping[str, Any], steps: int) -> dict[str, Any]:
    """Typed values of all of ``chosen``'s options (``given`` over the defaults), checked
    together for a run of ``steps`` updates. ``OptionError`` names the flag."""
    values: dict[str, Any] = {}
    for key, value in given.items():
        name = key.replace("-", "_")
        if name not in chosen.options:
            raise _not_of(name, chosen)
        values[name] = parse_value(name, chosen.options[name], value)
    for name, option in chosen.options.items():
        if name not in values:
            values[name] = parse_value(name, option, option.default)
    for check in chosen.checks:
        check(values, steps, set(values) & {k.replace("-", "_") for k in given})
    return values
