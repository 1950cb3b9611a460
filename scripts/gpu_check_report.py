"""The Markdown page of ``scripts/gpu_check.py``'s report: one table per section."""

from __future__ import annotations

import json

SECTIONS = ("tests", "train", "ranks", "resume", "bench")


def markdown(report: dict) -> str:
    """The report's tables."""
    lines = [
        f"# GPU check on {report['device_name']}",
        "",
        f"`{report['command']}`: torch {report['torch']}, {report['seconds']:.0f} s in all, "
        f"load average before {report['load_average']}.",
        "",
        "| section | passed | seconds |",
        "|---|---|---|",
    ]
    for name in SECTIONS:
        section = report[name]
        lines.append(f"| {name} | {section['passed']} | {section.get('seconds', 0):.1f} |")
    lines += ["", "## sampler train", "", "| method | passed | s/update | peak MB | accuracy |"]
    lines.append("|---|---|---|---|---|")
    for r in report["train"]["runs"]:
        lines.append(
            f"| {r['method']} | {r['passed']} | {r.get('seconds_per_update', float('nan')):.4f} "
            f"| {r.get('peak_memory_mb') or float('nan'):.0f} | {r.get('accuracy')} |"
        )
    for name in ("ranks", "resume"):
        lines += ["", f"## {name}", ""]
        if "skipped" in report[name]:
            lines.append(f"skipped: {report[name]['skipped']}")
        for r in report[name].get("runs", []):
            shown = {k: v for k, v in r.items() if k != "tail"}
            lines.append(f"- {json.dumps(shown)}")
    bench = report["bench"].get("report")
    if bench:
        lines += ["", "## sampler bench", "", "| model | workload | s | floors | peak MB |"]
        lines.append("|---|---|---|---|---|")
        for w in bench["workloads"]:
            floors = ", ".join(f"{k} {v:.5f}" for k, v in w["floors"].items())
            lines.append(
                f"| {w['model']} | {w['workload']} | {w['seconds']:.5f} | {floors} | "
                f"{w.get('peak_mb')} |"
            )
        for r in bench.get("ranks", []):
            lines.append(f"- 1 vs {r['ranks']} ranks, {r['workload']}: {r['efficiency']:.0%}")
        lines += ["", "| J | s | x floor | us/sample | peak MB |", "|---|---|---|---|---|"]
        for r in bench.get("sweep", []):
            lines.append(
                f"| {r['samples']} | {r['seconds']:.5f} | {r['seconds'] / r['floor']:.2f} | "
                f"{r['seconds_per_sample'] * 1e6:.2f} | {r['peak_mb']} |"
            )
    return "\n".join(lines) + "\n"
