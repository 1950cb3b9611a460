"""Probes of a trained point: local energy, local entropy over tau, top Hessian eigenvalues
and the per-layer training signal (``sampler flatness``)."""
