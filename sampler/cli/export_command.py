"""``sampler export RUN_DIR [--out FILE]``: a run's parameters as a ``state_dict``
(``sampler.api.export``), by default ``RUN_DIR/state_dict.pt``."""

from __future__ import annotations

import argparse
from pathlib import Path

from sampler.api.export import export_state_dict
from sampler.runs.state_dict import STATE_DICT


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "export", help="write a run's parameters as a state_dict (torch.load-able)"
    )
    parser.add_argument("run", metavar="RUN_DIR", help="a run directory (sampler train --out)")
    parser.add_argument(
        "--out", metavar="FILE", help=f"where to write it (default: RUN_DIR/{STATE_DICT})"
    )
    parser.set_defaults(handler=lambda args: run(args, parser))


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    out = Path(args.out) if args.out else Path(args.run) / STATE_DICT
    try:
        state = export_state_dict(args.run, out=out)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    count = sum(t.numel() for t in state.values())
    print(f"wrote {out}: {len(state)} tensors, {count:,} numbers")
    return 0
