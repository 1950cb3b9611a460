"""The run loop of ``sampler train`` and what it needs: setup from settings, evaluation, run
health, signals, preflight checks."""
