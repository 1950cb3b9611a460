"""The ``convergence`` section of ``sampler reproduce`` (``sampler.reproduce.convergence``): its
runs at both scales, and its render on fake runs (the accuracy table, the forward-equivalents
spent, three PNGs: against updates, seconds and forward-equivalents)."""

from __future__ import annotations

from pathlib import Path

from sampler.compare.runs import Run
from sampler.reproduce.convergence import GRAD_COST, convergence, render_convergence
from sampler.reproduce.scale import Scale


def fake_run(loss_evals: int, grad_evals: int, accuracies: dict[int, float]) -> Run:
    metrics = [
        {"step": step, "time": 0.5 * step, "loss_evals": loss_evals, "grad_evals": grad_evals}
        for step in range(1, max(accuracies) + 1)
    ]
    for record in metrics:
        if record["step"] in accuracies:
            record["test_accuracy"] = accuracies[record["step"]]
    summary = {"steps": max(accuracies), "seconds_per_update": 0.5}
    return Run(Path("fake"), {}, metrics, summary)


def test_every_estimator_at_its_defaults_beside_sgd_on_two_models_quick_smaller():
    full, quick = convergence(Scale.full()), convergence(Scale.quick())
    labels = {run.label for run in full.runs}
    methods = ("IS (defaults)", "IS (paper's step)", "SGLD (defaults)", "HR (defaults)")
    methods += ("HR Stein (defaults)", "SGD, lr 0.03", "SGD, lr 0.1")
    assert labels == {f"{m}, {model}" for m in methods for model in ("mlp", "linear")}
    assert {run.seed for run in full.runs} == {0, 1} and {run.seed for run in quick.runs} == {0}
    defaults = next(r.flags for r in full.runs if r.label == "IS (defaults), mlp")
    assert not {"--lr", "--beta", "--control-variate", "--samples"} & set(defaults)
    assert defaults[defaults.index("--steps") + 1] == "3000"
    assert max(full.at) == 3000 and max(quick.at) < 3000
    paper = next(r.flags for r in full.runs if r.label == "IS (paper's step), linear")
    assert paper[paper.index("--lr") + 1] == "tau"


def test_render_counts_forward_equivalents_and_writes_three_plots(tmp_path):
    rows = {
        "IS (defaults), mlp": [fake_run(1000, 0, {5: 0.5, 10: 0.8})] * 2,
        "SGD, lr 0.1, mlp": [fake_run(0, 1, {5: 0.8, 10: 0.9})],
    }
    experiment = convergence(Scale.quick())
    experiment.at = (5, 10)
    parts = render_convergence(experiment, rows, tmp_path, tmp_path)
    text = "\n\n".join(parts)
    assert "| IS (defaults), mlp | 2 of 1 | 0.500 ± 0.000 | 0.800 ± 0.000 |" in text
    assert "| IS (defaults), mlp | 1e+04 |" in text  # 10 updates of 1,000 loss evaluations
    assert f"| SGD, lr 0.1, mlp | {10 * GRAD_COST:g} |" in text  # 10 gradients
    for name in ("convergence", "convergence-seconds", "convergence-forwards"):
        assert (tmp_path / f"{name}.png").is_file(), name
    assert "![Test accuracy against wall time](convergence-seconds.png)" in parts
