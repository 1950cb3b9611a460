"""The text report of ``sampler bench``: the ratios first (with their targets and verdicts),
then the seconds of every workload beside its floors, the rank runs and the sample sweep.
"""

from __future__ import annotations

from sampler.bench import sample_sweep
from sampler.bench.ratios import EFFICIENCY_TARGET


def render(report) -> str:
    load = ", ".join(f"{v:.2f}" for v in report["load_average"])
    lines = [
        f"sampler bench: one thread, medians of the rounds; load average {load} on "
        f"{report['cpus']} CPUs, on {report['device']} (ratios are within this run)",
        "",
        "ratios",
    ]
    for r in report["ratios"]:
        verdict = "" if r["met"] is None else ("  ok" if r["met"] else "  MISSED")
        target = f"  (target {r['target']}){verdict}" if r["target"] else ""
        lines.append(f"  {r['model']:7} {r['workload']:32} {r['value']:8.3f}x {r['ratio']}{target}")
    for r in report["ranks"]:
        verdict = "ok" if r["efficiency"] >= EFFICIENCY_TARGET else "MISSED"
        name = f"{r['workload']}, 1 vs {r['ranks']} ranks"
        spread = r.get("efficiencies", [])
        runs = f", runs of {r['steps']} updates" if "steps" in r else ""
        pairs = (
            f" (median of {len(spread)} pairs, {min(spread):.0%}-{max(spread):.0%}{runs})"
            if len(spread) > 1
            else ""
        )
        lines.append(
            f"  {r['model']:7} {name:32} "
            f"{r['speedup']:8.3f}x speedup, efficiency {r['efficiency']:.0%}{pairs} "
            f"(target >= {EFFICIENCY_TARGET:.0%}) {verdict}"
        )
    if report["ranks_note"]:
        lines.append(f"  ranks: {report['ranks_note']}")
    memory = {}
    for m in report["memory"]:
        memory.setdefault(m["proposal"], []).append(m)
    for proposal, rows in memory.items():
        shown = ", ".join(f"J = {m['samples']:,}: {m['peak_mb']:.0f} MB" for m in rows)
        ratio = rows[-1]["peak_mb"] / rows[0]["peak_mb"]
        lines.append(
            f"  linear  peak memory, is {proposal:10} {ratio:14.3f}x ({shown}; target: "
            "independent of J)"
        )
    lines += ["", "seconds (median per update; floors measured beside each)"]
    for w in report["workloads"]:
        floors = ", ".join(f"{name} {value:.4f}" for name, value in w["floors"].items())
        memory = "" if w.get("peak_mb") is None else f", peak {w['peak_mb']:.0f} MB"
        lines.append(f"  {w['model']:7} {w['workload']:32} {w['seconds']:9.4f} s  {floors}{memory}")
    for r in report["ranks"]:
        lines.append(
            f"  {r['model']:7} {r['workload'] + ' (sampler train)':32} {r['seconds_1']:9.4f} s "
            f"on 1 rank, {r['seconds_r']:.4f} s on {r['ranks']}"
        )
    if report["sweep"]:
        lines += sample_sweep.render(report["sweep"])
    return "\n".join(lines)
