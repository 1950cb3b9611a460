"""Small settings of each training method, for tests that loop over every method: a method
refuses the options of the others, so each gets its own. A new method adds its entry here."""

from __future__ import annotations

# method name -> flags of its own options that keep a test run to a fraction of a second
SMALL = {
    "is": ["--samples", "40", "--block-size", "16"],
    "sgld": ["--sgld-steps", "10", "--chains", "3"],
    "rm": ["--rm-samples", "6", "--rm-iterations", "3"],
    "rm-stein": ["--rm-samples", "6", "--rm-iterations", "3"],
    "sgd": [],
    "esgd": ["--esgd-steps", "3"],
    "rsgd": ["--replicas", "3", "--coupling-every", "2"],
    "pla": ["--perturbations", "3"],
    "plea": ["--perturbations", "3"],
    "lal": [],
    "elal": ["--replicas", "3"],
    "fbp": ["--stages", "3", "--bp-iterations", "20"],
    "cesgd-fast": [],
    "cesgd-slow": [],
    "es": ["--population", "6", "--block-size", "4"],
    # with the optional EvoTorch extra (sampler.baselines.evotorch_bridge)
    **{f"evotorch:{name}": ["--population", "6"] for name in ("PGPE", "SNES", "CEM", "CMAES")},
}
# smaller still, for the big networks of the zoo
TINY = {
    "is": ["--samples", "4", "--block-size", "4"],
    "sgld": ["--sgld-steps", "3"],
    "rm": ["--rm-samples", "2", "--rm-iterations", "3"],
    "rm-stein": ["--rm-samples", "2", "--rm-iterations", "3"],
    "sgd": [],
    "esgd": ["--esgd-steps", "2"],
    "rsgd": ["--replicas", "2", "--coupling-every", "1"],
    "pla": ["--perturbations", "2"],
    "plea": ["--perturbations", "2"],
    "lal": [],
    "elal": ["--replicas", "2"],
    "fbp": ["--stages", "2", "--bp-iterations", "10"],
    "cesgd-fast": [],
    "cesgd-slow": [],
    "es": ["--population", "4", "--block-size", "2"],
    **{f"evotorch:{name}": ["--population", "4"] for name in ("PGPE", "SNES", "CEM", "CMAES")},
}
# the methods of sign-unit committee machines and a small data set they take
SIGN_UNITS = ("lal", "elal", "fbp", "cesgd-fast", "cesgd-slow")
# the models each of them trains (any other is refused with one line naming --baseline)
SIGN_UNIT_MODELS = {
    "lal": ("committee", "perceptron"),
    "elal": ("committee", "perceptron"),
    "fbp": ("committee", "perceptron"),
    "cesgd-fast": ("committee",),
    "cesgd-slow": ("committee",),
}
PATTERNS = ["--data", "random-patterns", "--data-opt", "n=21", "--data-opt", "alpha=2"]


def method_flags(args, table=SMALL) -> list[str]:
    """The small settings of the method that the argument list ``args`` selects."""
    args = [str(a) for a in args]
    for kind in ("--baseline", "--estimator"):
        if kind in args:
            return list(table[args[args.index(kind) + 1]])
    return list(table["is"])
