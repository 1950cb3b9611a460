"""The ``is`` estimator's registry entry (``sampler.estimators.ESTIMATORS["is"]``): its options
(``--samples``, ``--block-size``, ``--beta``, ``--beta-search``, ``--proposal``,
``--control-variate``, ``--residual``), the checks of
settings that only make sense together or with the built model, and how an
``ImportanceSampling`` (``sampler.estimators.importance_sampling``) is built from them.
"""

from __future__ import annotations

import math

from sampler.estimators.base import EstimatorSpec
from sampler.estimators.beta_search import BETA_SEARCHES
from sampler.estimators.control_variate import CONTROL_VARIATES
from sampler.estimators.importance_sampling import (
    AUTO_CONVOLUTIONS,
    AUTO_FALLBACK,
    CONV_ESS_FRACTION,
    CONV_ESS_SAMPLES,
    ESS_FRACTION,
    ESS_SAMPLES,
    ImportanceSampling,
)
from sampler.estimators.layerwise import LAYER_FLOOR
from sampler.estimators.marginal import RESIDUALS, not_applicable
from sampler.estimators.proposals import PROPOSALS
from sampler.estimators.temperature import beta_option, is_auto, temperature
from sampler.models.naming import setting
from sampler.models.options import Option, OptionError, at_least

# auto: the measured comparison on MNIST (README, "Proposal schemes") showed no loss
DEFAULT_PROPOSAL = "auto"
DEFAULT_CONTROL_VARIATE = "proposal-mean"  # measured: docs/methods/control-variate.md
DEFAULT_RESIDUAL = "mean"  # measured: docs/methods/residual-mean.md

OPTIONS = {
    "beta": beta_option(
        "auto",
        "auto[:TARGET], chosen every update so that the ESS is TARGET * J (TARGET in (0, 1)) "
        "or TARGET samples (TARGET >= 1, below --samples); auto: the smaller of "
        f"{ESS_FRACTION:g} J and {ESS_SAMPLES}, on a model with convolutions of "
        f"{CONV_ESS_FRACTION:g} J and {CONV_ESS_SAMPLES}",
        default_target=None,
        bounds=(0.0, math.inf),
    ),
    "samples": Option("int", 1000, "samples J per update", check=at_least(1)),
    "block_size": Option(
        "int",
        100,
        "samples per noise block (fixed, independent of the number of ranks)",
        check=at_least(1),
    ),
    "beta_search": Option(
        "str",
        "grid",
        "how --beta auto finds its beta: grid (five betas in one pass) or two-pass (exact "
        "ESS, the noise drawn twice)",
        choices=BETA_SEARCHES,
    ),
    "proposal": Option(
        "str",
        DEFAULT_PROPOSAL,
        "how the proposals are drawn: literal (independent, Algorithm 4), antithetic (pairs "
        "x +- sqrt(tau) e, half the noise), marginal (the dense first layer's noise sampled "
        "through X E^T: linear, mlp, musso-mlp with --batch-size below the input size), layerwise "
        "(one layer per update, cyclically, the rest fixed: that layer's partial local entropy, "
        "the forward from its input activations), layerwise-size (the layer drawn in proportion "
        "to its size), layerwise-sqrt (in proportion to the square root of its size: the small "
        f"layers more often), layerwise-floor (by size, each layer at least {LAYER_FLOOR:.0%} of "
        "the updates), layerwise-pairs (as layerwise-size, the block's proposals in antithetic "
        "pairs x +- sqrt(tau) e), or auto "
        f"(marginal where it applies, else {AUTO_CONVOLUTIONS} on a model with convolutions, "
        f"else {AUTO_FALLBACK})",
        choices=PROPOSALS,
    ),
    "control_variate": Option(
        "str",
        DEFAULT_CONTROL_VARIATE,
        "none (the self-normalised estimate of Algorithm 4) or proposal-mean (minus the "
        "proposals' own average's error from their known mean: the same expectation, the "
        "noise that does not depend on the weights removed)",
        choices=CONTROL_VARIATES,
        before="none",  # a run recorded before the option had no control variate
    ),
    "residual": Option(
        "str",
        DEFAULT_RESIDUAL,
        "a marginalised dense layer's noise in the directions its minibatch input does not "
        "see, Z (I - Q Q^T): sample (drawn: the literal update's law) or mean (its conditional "
        "mean, zero: Rao-Blackwellised, the same expectation with less variance, as the "
        "tilted measure's mean there is the centre's); no effect where no dense layer is "
        "marginalised (literal, antithetic, layerwise-pairs, a convolution block)",
        choices=RESIDUALS,
        before="sample",  # a run recorded before the option drew the residual
    ),
}


def check(values, steps: int) -> None:
    beta = values["beta"]
    target = getattr(beta, "target", None)  # an AutoBeta's TARGET (None: a schedule or bare)
    if target is not None and target >= 1 and not target < values["samples"]:
        raise OptionError(
            f"{setting('beta', beta.text)}: an ESS of TARGET >= 1 samples needs TARGET below "
            f"{setting('samples', values['samples'])} (or a fraction of J in (0, 1))"
        )
    if values["beta_search"] != OPTIONS["beta_search"].default and not is_auto(values["beta"]):
        raise OptionError(
            f"{setting('beta_search')}: has no effect without {setting('beta', 'auto[:TARGET]')}"
        )


def check_model(values, model, batch_size: int) -> None:
    """``--proposal marginal`` on a model (and minibatch) it does not apply to is refused."""
    if values["proposal"] == "marginal":
        reason = not_applicable(model, batch_size)
        if reason is not None:
            raise OptionError(f"{setting('proposal', 'marginal')}: {reason}")


def build(values) -> ImportanceSampling:
    return ImportanceSampling(
        values["samples"],
        temperature(values),
        values["block_size"],
        values["beta_search"],
        values["proposal"],
        control_variate=values["control_variate"],
        residual=values["residual"],
    )


SPEC = EstimatorSpec(
    objective="local-entropy",
    needs_gradients=False,
    build=build,
    summary="importance sampling of E_q[X] (Algorithm 4), gradient-free",
    options=OPTIONS,
    check=check,
    check_model=check_model,
)
