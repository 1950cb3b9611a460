"""The frontier experiment of ``sampler reproduce``: its runs (both networks, every method,
EvoTorch's only where installed, quick smaller) and its section from fake runs whose costs and
accuracies are known: forward-equivalents to .85 / .90 (a gradient = 3), mean ± sd over seeds,
"not reached (best ...)", and its PNGs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sampler.compare.runs import Run
from sampler.reproduce import frontier as frontier_module
from sampler.reproduce.experiment import Experiment
from sampler.reproduce.frontier import UPDATES, frontier
from sampler.reproduce.frontier_report import family, reached, render
from sampler.reproduce.scale import Scale


def fake(accuracies: list[float], loss_evals: int = 0, grad_evals: int = 0, spu=0.5) -> Run:
    """A finished run evaluated after every update, with fixed costs per update."""
    metrics = [
        {
            "step": k + 1,
            "loss_evals": loss_evals,
            "grad_evals": grad_evals,
            "test_accuracy": a,
            "time": (k + 1) * spu,
        }
        for k, a in enumerate(accuracies)
    ]
    summary = {"steps": len(accuracies), "seconds_per_update": spu}
    summary["final_test_accuracy"] = accuracies[-1]
    return Run(Path("r"), {"batch_size": 20}, metrics, summary)


def test_forward_equivalents_to_each_level_over_the_seeds():
    gradient = [fake([0.5, 0.86, 0.91], grad_evals=1), fake([0.5, 0.7, 0.86], grad_evals=1)]
    assert reached(gradient, 0.85) == "8 ± 2"  # 2 and 3 gradients of 3 passes: 6 and 9
    assert reached(gradient, 0.90).startswith("9 (1 of 2 seeds; the others' best 0.860)")
    free = [fake([0.3, 0.84], loss_evals=1000), fake([0.4, 0.8], loss_evals=1000)]
    assert reached(free, 0.85) == "not reached (best 0.840)"
    assert reached([fake([0.9], loss_evals=1000)], 0.85) == "1,000"
    assert reached([], 0.85) == "—"


def test_the_section_has_a_row_per_label_and_two_plots_per_network(tmp_path):
    experiment = Experiment("frontier", "Frontier", "about", render=render)
    experiment.add("linear: SGD", ("--steps", "3"), (0, 1))
    experiment.add("mlp: ES", ("--steps", "2"), (0, 1))
    rows = {
        "linear: SGD": [fake([0.8, 0.88, 0.9], grad_evals=1)] * 2,
        "mlp: ES": [fake([0.6, 0.7], loss_evals=1000, spu=0.04)],
    }
    parts = render(experiment, rows, tmp_path, tmp_path)
    table = parts[0]
    assert "| linear | SGD | 2 | 3 | 6 ± 0 | 9 ± 0 | 0.900 ± 0.000 | 0.5 |" in table
    assert "| mlp | ES | 1 of 2 | 2 | not reached (best 0.700) |" in table
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == [f"frontier-{m}-{k}.png" for m in ("linear", "mlp") for k in ("fwd", "time")]
    assert all((tmp_path / n).stat().st_size > 1000 for n in names)
    assert sum(f"]({n})" in "\n".join(parts) for n in names) == 4


@pytest.mark.parametrize("installed", [True, False])
def test_every_method_on_both_networks_evotorch_only_where_installed(monkeypatch, installed):
    monkeypatch.setattr(frontier_module, "evotorch_installed", lambda: installed)
    full, quick = frontier(Scale.full()), frontier(Scale.quick())
    methods = [m for m, spec in UPDATES.items() if installed or not spec[3]]
    labels = {f"{n}: {m}" for n in ("linear", "mlp") for m in methods}
    assert {r.label for r in full.runs} == labels
    assert len(full.runs) == 2 * len(labels) and {r.seed for r in full.runs} == {0, 1}
    assert {r.label.split(": ")[0] for r in quick.runs} == {"linear"}
    assert all("--data" in r.flags and "mnist" in r.flags for r in full.runs)
    assert any("evotorch:PGPE" in r.flags for r in full.runs) == installed


def test_curves_are_grouped_by_family_one_colour_each():
    assert family("IS marginal (default)") == ("IS", "marginal (default)")
    assert family("EvoTorch sep-CMA-ES") == ("EvoTorch", "sep-CMA-ES")
    assert family("Entropy-SGD") == ("backprop", "Entropy-SGD")
    assert family("ES") == ("ES", "") and family("rm-stein") == ("rm-stein", "")
    groups = {family(m)[0] for m in UPDATES}
    assert groups == {"IS", "rm-stein", "ES", "EvoTorch", "backprop"}
