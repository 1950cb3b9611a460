"""Tests of ``sampler.baselines``: SGD, Entropy-SGD, Replicated-SGD, PLA and PLEA."""
