"""``sampler compare``: run directories side by side (table and plots)."""
