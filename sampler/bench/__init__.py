"""``sampler bench``: the reference workloads timed beside their floors, a naive loop and 1 vs R
ranks."""
