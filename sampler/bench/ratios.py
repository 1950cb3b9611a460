"""The ratio rows of ``sampler bench``: each workload against its floors and the literal update,
the defaults against their scheme at a fixed beta, the CNN rows, with the targets the fast paths
were built to (issue 13 of the project; one core): literal IS at most 1.2x its noise draw plus
forward passes, antithetic at most 0.65x literal, marginalised at most 0.08x literal, SGLD at most
1.2x its noise plus gradients, 2-rank efficiency at least 90% (issue 20: also for the defaults),
``small-conv``'s layer-wise update by size at most 2 s (issue 21).
"""

from __future__ import annotations

TARGETS = {  # (ratio name, workload) -> (bound, "<=" or ">="), on the reference model mlp
    ("noise + forward", "is literal"): (1.2, "<="),
    ("vs is literal", "is antithetic"): (0.65, "<="),
    ("vs is literal", "is marginal"): (0.08, "<="),
    ("noise + gradient", "sgld 1000 steps, 1 chain"): (1.2, "<="),
}
EFFICIENCY_TARGET = 0.9
CNN_TARGET_SECONDS = ("small-conv", "is defaults (expected)", 2.0)  # issue 21, one core


def ratios(model: str, workloads, default_scheme: str) -> list[dict]:
    """Each workload against its floors, each IS workload against the literal one, and the
    defaults (``--beta auto`` on a grid) against their scheme at a fixed beta."""
    by_name = {w.name: w for w in workloads}
    literal = by_name["is literal"].seconds()
    rows = []

    def row(workload, kind, value):
        target = TARGETS.get((kind, workload)) if model == "mlp" else None
        met = None
        if target is not None:
            bound, sense = target
            met = value <= bound if sense == "<=" else value >= bound
        rows.append(
            {
                "model": model,
                "workload": workload,
                "ratio": kind,
                "value": value,
                "target": None if target is None else f"{target[1]} {target[0]}",
                "met": met,
            }
        )

    for workload in workloads:
        seconds = workload.seconds()
        if workload.floors:
            row(workload.name, " + ".join(workload.floors), seconds / workload.floor_total())
        if workload.name.startswith("is ") and workload.name != "is literal":
            row(workload.name, "vs is literal", seconds / literal)
        if workload.name.startswith("rm-stein marginal"):  # against the literal pairs
            pairs = by_name.get(workload.name.replace(" marginal", ""))
            if pairs is not None:
                row(workload.name, f"vs {pairs.name}", seconds / pairs.seconds())
    default, scheme = by_name["is defaults"], by_name[f"is {default_scheme}"]
    row("is defaults", f"vs {scheme.name} (fixed beta)", default.seconds() / scheme.seconds())
    return rows


def cnn_ratios(model: str, workloads, derived: list[dict], defaults_differ: str = "") -> list[dict]:
    """A CNN's workloads and the derived layer-wise rows against their floors and the literal
    update; the seconds target of ``small-conv``'s layer-wise update by size.
    ``defaults_differ``: how the defaults' samples and minibatch differ from the literal
    update's, said in their ``vs is literal`` label (the model's own settings)."""
    literal = next(w for w in workloads if w.name == "is literal").seconds()
    entries = [
        (w.name, w.seconds(), w.floor_total() if w.floors else None, " + ".join(w.floors))
        for w in workloads
    ]
    entries += [
        (r["workload"], r["seconds"], sum(r["floors"].values()), " + ".join(r["floors"]))
        for r in derived
    ]
    rows = []
    for name, seconds, floor, label in entries:
        target = None
        if (model, name) == CNN_TARGET_SECONDS[:2]:
            target = f"<= {CNN_TARGET_SECONDS[2]} s: {seconds:.3f} s"
        met = None if target is None else seconds <= CNN_TARGET_SECONDS[2]
        if floor:
            rows.append(_row(model, name, label, seconds / floor, target, met))
            target = met = None
        if name.startswith("is ") and name != "is literal":
            label = "vs is literal"
            if name.startswith("is defaults") and defaults_differ:
                label += f" ({defaults_differ})"
            rows.append(_row(model, name, label, seconds / literal, target, met))
    return rows


def _row(model, workload, ratio, value, target, met) -> dict:
    return {
        "model": model,
        "workload": workload,
        "ratio": ratio,
        "value": value,
        "target": target,
        "met": met,
    }
