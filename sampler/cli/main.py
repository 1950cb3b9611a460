"""The entry point of the ``sampler`` command (``sampler = sampler.cli.main:main``).

``sampler --version``, ``sampler --help`` and ``sampler`` alone are answered without torch
(``sampler.cli.quick``, well under 0.5 s); every other command imports the full command line,
``sampler.cli.command`` (torch, every registry: seconds), on first use.
"""

from __future__ import annotations

import importlib
import sys

from sampler.cli.quick import quick_answer


def main(argv: list[str] | None = None) -> int:
    answer = quick_answer(sys.argv[1:] if argv is None else list(argv))
    if answer is not None:
        return answer
    # deferred: the full command imports torch and every registry (seconds)
    return importlib.import_module("sampler.cli.command").main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
