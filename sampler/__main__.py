"""``python -m sampler`` is the ``sampler`` command."""

import sys

from sampler.cli.main import main

sys.exit(main())
