"""The frontier columns of the comparison table: forward-equivalents spent by the first
evaluation at a test accuracy (a gradient counted as ``grad_cost`` forward passes)."""

from __future__ import annotations

from pathlib import Path

from sampler.compare import series
from sampler.compare.runs import Run


def run(lines: list[dict]) -> Run:
    return Run(Path("r"), {}, lines)


def test_the_first_evaluation_at_the_accuracy_counts_what_was_spent_by_then():
    lines = [
        {"step": 1, "loss_evals": 10, "grad_evals": 1},
        {"step": 2, "loss_evals": 10, "grad_evals": 0, "test_accuracy": 0.86},
        {"step": 3, "loss_evals": 10, "grad_evals": 2, "test_accuracy": 0.84},
        {"step": 4, "loss_evals": 10, "grad_evals": 0, "test_accuracy": 0.91},
    ]
    assert series.forward_equivalents_to(run(lines), 0.85, grad_cost=3) == 23
    assert series.forward_equivalents_to(run(lines), 0.90, grad_cost=3) == 49
    assert series.forward_equivalents_to(run(lines), 0.95, grad_cost=3) is None
