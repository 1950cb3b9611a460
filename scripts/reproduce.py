"""Reproduce the paper's experiments: ``python scripts/reproduce.py [--data-dir DIR] [--quick]``.

The same as ``sampler reproduce`` (``sampler/reproduce/command.py``): trains on the embedded
MNIST, tests on ``--data-dir`` (the official t10k files where you have them), and writes
``docs/results.md`` with its PNG plots.
"""

import sys

from sampler.reproduce.command import main

if __name__ == "__main__":
    sys.exit(main())
