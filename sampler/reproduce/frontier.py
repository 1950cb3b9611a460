"""The gradient-free frontier (``sampler reproduce --only frontier``): test accuracy against
forward-equivalents and against wall time for the engine's gradient-free methods, evolution
strategies, EvoTorch's searchers and the backprop baselines, on the ``linear`` (784-10,
d = 7,850) and ``mlp`` (784-200-10, d = 159,010) networks, minibatch 20.

The methods, each at its defaults unless said:

* importance sampling of the local-entropy step (García Trillos, Kaplan and Sanz-Alonso,
  Entropy 21(5):511, 2019, Algorithm 4; J = 1000, tau = 0.01, ``--lr anneal``) with its
  proposals ``literal`` (the paper's), ``antithetic``, ``marginal`` (the dense first layer
  marginalised: ``auto``'s choice on both networks) and ``layerwise-size`` (one layer per
  update, the partial local entropy of Musso 2021);
* ``rm-stein``: the Robbins-Monro heat-regularisation root with Stein (Gaussian-smoothing)
  gradients (Algorithm 5 of the paper, gradient-free); 10 updates on the ``mlp``, where an
  iteration that does not contract is redone with a smaller beta (``--beta auto``), up to 13
  times the update's 1,800 loss evaluations;
* ``es``: OpenAI evolution strategies (Salimans et al. 2017, Alg. 2: N = 1000 antithetic
  networks, sigma = 0.01, centred ranks, Adam 0.003);
* EvoTorch's PGPE, SNES, CEM and CMA-ES (Toklu et al. 2023; population 100, sigma 0.01; PGPE
  with ClipUp step ``--lr 0.5``, its default 0.01 barely moving the networks); CMA-ES is run
  separable (sep-CMA-ES, a diagonal covariance) on both networks: the full d x d covariance
  (61.6 million entries on ``linear``, its eigendecomposition O(d^3) = 4.8e11 operations per
  update) is out of reach on this machine. These runs are declared only where the extra
  ``[evotorch]`` is installed;
* SGD (lr 0.01) and Entropy-SGD (Chaudhari et al. 2017, L = 5), backprop.

Forward-equivalents: loss evaluations (one network over one minibatch) plus ``GRAD_COST`` per
minibatch gradient (``sampler compare``'s default, the forward-plus-backward cost the engine
measures). The number of updates per run is set per method so that the full experiment takes
about an hour on two loaded cores (``--jobs 2``): the slow literal variants run fewer updates,
the cheap ones more (``UPDATES``). ``--quick``: the ``linear`` network alone, 4 updates, seed 0.
"""

from __future__ import annotations

import importlib.util

from sampler.reproduce.experiment import Experiment, steps
from sampler.reproduce.frontier_report import render
from sampler.reproduce.scale import Scale

DATA = ("--data", "mnist", "--batch-size", "20")
MODELS = ("mlp", "linear")  # the expensive network first: the two job slots finish together

# label -> (flags, updates on linear, updates on mlp, needs the evotorch extra)
UPDATES: dict[str, tuple[tuple[str, ...], int, int, bool]] = {
    "IS literal": (("--estimator", "is", "--proposal", "literal"), 300, 100, False),
    "IS antithetic": (("--estimator", "is", "--proposal", "antithetic"), 500, 150, False),
    "IS marginal (default)": (("--estimator", "is"), 1000, 800, False),
    "IS layerwise-size": (("--estimator", "is", "--proposal", "layerwise-size"), 500, 50, False),
    "rm-stein": (("--estimator", "rm-stein"), 100, 10, False),
    "ES": (("--baseline", "es"), 2000, 2000, False),
    "EvoTorch PGPE": (("--baseline", "evotorch:PGPE", "--lr", "0.5"), 150, 60, True),
    "EvoTorch SNES": (("--baseline", "evotorch:SNES"), 150, 40, True),
    "EvoTorch CEM": (("--baseline", "evotorch:CEM"), 150, 40, True),
    "EvoTorch sep-CMA-ES": (("--baseline", "evotorch:CMAES"), 150, 40, True),
    "SGD": (("--baseline", "sgd"), 3000, 3000, False),
    "Entropy-SGD": (("--baseline", "esgd"), 600, 600, False),
}
EVALUATIONS = 40  # test-set evaluations per run (the resolution of "updates to .85")
QUICK_UPDATES = 4


def evotorch_installed() -> bool:
    return importlib.util.find_spec("evotorch") is not None


def frontier(s: Scale) -> Experiment:
    models = ("linear",) if s.smoke_test else MODELS
    seeds = s.seeds[:1] if s.smoke_test else s.seeds
    skipped = (
        "" if evotorch_installed() else " (EvoTorch is not installed here: its rows are left out)"
    )
    experiment = Experiment(
        "frontier",
        "Beyond the paper: the gradient-free frontier",
        "Test accuracy against forward-equivalents (loss evaluations of one network on one "
        "minibatch, a minibatch gradient counted as 3) and against wall time, on the `linear` "
        "and `mlp` networks, minibatch 20: IS with its `literal`, `antithetic`, `marginal` "
        "(the default) and `layerwise-size` proposals (J = 1000), `rm-stein`, OpenAI-ES at its "
        "defaults (N = 1000), EvoTorch's PGPE (ClipUp step 0.5), SNES, CEM and separable "
        "CMA-ES (population 100; the full covariance, 7,850^2 entries on `linear`, is out of "
        "reach), SGD and Entropy-SGD"
        + skipped
        + ". The number of updates differs per method so that the whole experiment fits in "
        "about an hour on two loaded cores: the slow IS variants, `rm-stein` and the EvoTorch "
        "searchers on the `mlp` run far fewer updates than ES and the backprop baselines (the "
        'table\'s `updates` column), so their "not reached" is within that budget. `rm-stein` '
        "runs 10 updates on the `mlp`: where its Robbins-Monro iteration does not contract, "
        "`--beta auto` backtracks (a smaller beta, the same noise) up to 13 attempts, 23,400 "
        "loss evaluations per update instead of 1,800.",
        render=render,
    )
    for model in models:
        for label, (flags, linear, mlp, extra) in UPDATES.items():
            if extra and not evotorch_installed():
                continue
            count = QUICK_UPDATES if s.smoke_test else (linear if model == "linear" else mlp)
            every = max(1, count // (2 if s.smoke_test else EVALUATIONS))
            experiment.add(
                f"{model}: {label}",
                ("--model", model, *DATA, *flags, *steps(count, every)),
                seeds,
            )
    return experiment
