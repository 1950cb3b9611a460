"""Numbers of one run, read from its metrics (and its summary when the run finished).

* test accuracy / loss at the updates where the run evaluated (``test_accuracy``, ``test_loss``);
* costs so far: loss evaluations, gradient evaluations, training examples seen, and
  **forward-equivalents** ``loss_evals + grad_cost * grad_evals`` (a loss evaluation is one
  forward pass of one parameter vector over a minibatch; a gradient costs ``grad_cost`` of
  them, ``--grad-cost``). The per-update training-loss line the run loop logs and the
  ``--signal-every`` gradients are diagnostics, counted in neither;
* training examples seen: the run's own counter where it writes one (``examples_seen`` or
  ``examples`` per update), else one minibatch per update (``steps * batch_size``, true of
  every method whose update reads one minibatch);
* seconds per update: the summary's (time inside the updates), or for an unfinished run its
  wall time per update so far (evaluations included).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sampler.compare.runs import Run

EXAMPLE_KEYS = ("examples_seen", "examples")  # per-update counters a method may log


def at_steps(run: Run, key: str) -> dict[int, float]:
    """``step -> value`` of every metrics line that has a finite number under ``key``."""
    return {
        r["step"]: float(r[key])
        for r in run.metrics
        if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])
    }


def cumulative(run: Run, key: str) -> dict[int, float]:
    """``step -> sum of key over the updates up to it`` (0 where a line lacks it)."""
    total, result = 0.0, {}
    for record in run.metrics:
        value = record.get(key)
        total += float(value) if isinstance(value, (int, float)) else 0.0
        result[record["step"]] = total
    return result


def examples_seen(run: Run) -> dict[int, float]:
    for key in EXAMPLE_KEYS:
        if any(key in record for record in run.metrics):
            return cumulative(run, key)
    batch = float(run.config.get("batch_size", math.nan))
    return {r["step"]: r["step"] * batch for r in run.metrics}


def forward_equivalents(run: Run, grad_cost: float) -> dict[int, float]:
    loss, grads = cumulative(run, "loss_evals"), cumulative(run, "grad_evals")
    return {step: loss[step] + grad_cost * grads[step] for step in loss}


def forward_equivalents_to(run: Run, accuracy: float, grad_cost: float) -> float | None:
    """Forward-equivalents spent by the first evaluation whose test accuracy is at least
    ``accuracy`` (None: never reached)."""
    spent = forward_equivalents(run, grad_cost)
    for step, value in sorted(at_steps(run, "test_accuracy").items()):
        if value >= accuracy and step in spent:
            return spent[step]
    return None


def moving_average(values: dict[int, float], window: int) -> dict[int, float]:
    """Trailing mean over the last ``window`` entries (fewer at the start)."""
    steps, numbers = list(values), list(values.values())
    result = {}
    for i, step in enumerate(steps):
        part = numbers[max(0, i - window + 1) : i + 1]
        result[step] = sum(part) / len(part)
    return result


def final(run: Run, key: str, summary_key: str) -> float | None:
    """The summary's value when the run finished, else the last logged one."""
    if run.finished and isinstance(run.summary.get(summary_key), (int, float)):
        return float(run.summary[summary_key])
    values = at_steps(run, key)
    return values[max(values)] if values else None


def seconds_per_update(run: Run) -> float | None:
    if run.finished and isinstance(run.summary.get("seconds_per_update"), (int, float)):
        return run.summary["seconds_per_update"]
    times = at_steps(run, "time")
    return times[max(times)] / max(times) if times else None


def totals(run: Run, grad_cost: float) -> dict[str, float | None]:
    """Loss and gradient evaluations, examples and forward-equivalents over the whole run."""
    if not run.metrics:
        return dict.fromkeys(("loss_evals", "grad_evals", "examples", "forward_equivalents"))
    last = run.metrics[-1]["step"]
    return {
        "loss_evals": cumulative(run, "loss_evals")[last],
        "grad_evals": cumulative(run, "grad_evals")[last],
        "examples": examples_seen(run)[last],
        "forward_equivalents": forward_equivalents(run, grad_cost)[last],
    }


def mean_sd(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (``None`` for fewer than two values)."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
