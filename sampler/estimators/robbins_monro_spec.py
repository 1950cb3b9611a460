"""The registry entries of ``rm`` and ``rm-stein`` (``sampler.estimators.robbins_monro``): their
options with their defaults, the checks of settings that only make sense together, and how the
estimator is built from them.

Defaults: ``rm`` M = J = 10 (on the MNIST ``mlp`` level with the paper's M = J = 30 over 500
updates at a ninth of the gradients, docs/methods/estimators.md), ``rm-stein`` the paper's M =
J = 30 and its antithetic pairs (``--proposal marginal``: ``sampler.estimators.stein_marginal``);
``--beta auto`` is the minibatch's summed loss (``sampler.estimators.temperature``).
"""

from __future__ import annotations

from sampler.estimators.base import EstimatorSpec
from sampler.estimators.marginal import not_applicable
from sampler.estimators.robbins_monro import PROPOSALS, RobbinsMonro
from sampler.estimators.temperature import beta_option, summed_loss_temperature
from sampler.models.naming import setting
from sampler.models.options import Option, OptionError, at_least
from sampler.schedules import check_range, schedule_check


def sample_options(samples: int, iterations: int, paper: str) -> dict[str, Option]:
    """``--rm-samples`` and ``--rm-iterations`` with an estimator's own defaults."""
    return {
        "rm_samples": Option(
            "int",
            samples,
            f"Gaussian samples M per Robbins-Monro iteration ({paper})",
            check=at_least(1),
        ),
        "rm_iterations": Option(
            "int",
            iterations,
            "Robbins-Monro iterations J per update (the paper: 30)",
            check=at_least(1),
        ),
    }


OPTIONS = {
    "beta": beta_option(
        "auto", "auto: the minibatch's summed loss (beta = batch size)", takes_target=False
    ),
    # M = J = 10: on the mlp level with the paper's 30 and 30 over 500 updates at 1/9 the cost
    **sample_options(10, 10, "the paper: 30"),
    "rm_step": Option(
        "any",
        "power:1,1",
        "step schedule a_j over j = 0..J-1: power:C,ALPHA = C (j+1)^-ALPHA with ALPHA in "
        "(1/2, 1] (Robbins-Monro), or rising:C,ALPHA = C (j+1)^ALPHA, the paper's printed "
        "a^l = c l^alpha",
        check=schedule_check("--rm-step"),
        label="schedule",
    ),
}


def check(values, steps: int) -> None:
    step = values["rm_step"]
    if step.name == "power" and not 0.5 < step.values[1] <= 1.0:
        raise OptionError(
            f"--rm-step: power:C,ALPHA needs ALPHA in (1/2, 1] (Robbins-Monro), got {step.spec!r}"
        )
    try:
        check_range(step, "--rm-step", values["rm_iterations"])
    except ValueError as error:
        raise OptionError(str(error)) from None


def check_model(values, model, batch_size: int) -> None:
    """rm-stein's ``--proposal marginal`` on a model (and minibatch) it does not apply to is
    refused, naming the flag."""
    if values.get("proposal") == "marginal":
        reason = not_applicable(model, batch_size)
        if reason is not None:
            raise OptionError(f"{setting('proposal', 'marginal')}: {reason}")


def build_with(stein: bool):
    def build(values) -> RobbinsMonro:
        return RobbinsMonro(
            values["rm_samples"],
            values["rm_iterations"],
            values["rm_step"],
            summed_loss_temperature(values),
            stein=stein,
            proposal=values.get("proposal", "antithetic"),
        )

    return build


SPEC = EstimatorSpec(
    objective="heat",
    needs_gradients=True,
    build=build_with(stein=False),
    summary="Robbins-Monro root of x - x_k + tau E grad f (Algorithm 5), minibatch gradients",
    options=OPTIONS,
    check=check,
)
STEIN_OPTIONS = {
    **OPTIONS,
    **sample_options(30, 30, "antithetic pairs; the paper's rm: 30"),
    "proposal": Option(
        "str",
        "antithetic",
        "how the pairs are drawn: antithetic (x +- sqrt(tau) e, the paper), marginal "
        "(the dense first layer's noise drawn through X E^T and its unseen part replaced by its "
        "mean: the same expected gradient, less noise, 26 times fewer numbers on the mlp; "
        "linear, mlp, musso-mlp with --batch-size below the input size), auto (marginal where "
        "it applies)",
        choices=PROPOSALS,
        before="antithetic",  # a run recorded before the option drew its pairs literally
    ),
}
STEIN_SPEC = EstimatorSpec(
    objective="heat",
    needs_gradients=False,
    build=build_with(stein=True),
    summary="Robbins-Monro as rm, E grad f by the Gaussian (Stein) identity, antithetic pairs",
    options=STEIN_OPTIONS,
    check=check,
    check_model=check_model,
)
