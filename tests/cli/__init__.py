"""Tests of ``sampler.cli``: the ``sampler`` command, its help, its settings and refusals."""
