"""The answers of the ``sampler`` command that need no torch: ``sampler --version``, the
top-level ``sampler --help`` (usage and the list of commands), ``sampler models`` and ``sampler
methods`` (from their cache, ``sampler.cli.listing_cache``), and ``sampler`` alone (the same
usage and commands on stderr, exit 2); each exits as argparse does (``SystemExit``).

Importing torch takes seconds (about 2 s on an idle core, more on a loaded machine), so
``sampler.cli.main`` answers these from this module, which imports only the standard library
and ``sampler.__version__``, before it imports the full command (``sampler.cli.command``).
``COMMANDS`` must name the subcommands of the full parser with the same help texts
(``tests/cli/test_quick.py`` checks it), so both ``--help`` show one list.
"""

from __future__ import annotations

import argparse
import sys

from sampler import __version__
from sampler.cli.listing_cache import LISTINGS, listing

DESCRIPTION = "Gradient-free sampling training of neural networks."
COMMANDS = {
    "train": "train a network",
    "models": "list the models and data sets with their options",
    "methods": "list the estimators and baselines with their options",
    "compare": "compare run directories: table (terminal, Markdown, CSV) and plots",
    "flatness": "probe the flatness of a run's parameters (JSON and PNG)",
    "export": "write a run's parameters as a state_dict (torch.load-able)",
    "bench": "time the reference workloads: ratios first",
    "reproduce": "run the paper's experiments, write docs/results.md and its plots",
}
VERSION_FLAGS = {"--version"}
HELP_FLAGS = {"-h", "--help"}


def top_level_help() -> str:
    """``sampler --help``: the usage, the description and the commands (as argparse shows)."""
    parser = argparse.ArgumentParser(prog="sampler", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"sampler {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in COMMANDS.items():
        commands.add_parser(name, help=text)
    return parser.format_help()


def quick_answer(argv: list[str]) -> int | None:
    """Answer a command that needs no torch: ``--version``, ``--help`` and nothing exit
    (``SystemExit``, as argparse does), a listing returns 0 (as the full command did); None for
    a command that the full command runs."""
    if not argv:
        sys.stderr.write(top_level_help())
        sys.stderr.write("sampler: error: name a command (sampler COMMAND --help for its flags)\n")
        raise SystemExit(2)
    if len(argv) != 1:
        return None
    if argv[0] in VERSION_FLAGS:
        print(f"sampler {__version__}")
        raise SystemExit(0)
    if argv[0] in LISTINGS:
        print(listing(argv[0]))
        return 0
    if argv[0] in HELP_FLAGS:
        sys.stdout.write(top_level_help())
        raise SystemExit(0)
    return None
