"""The run directory: its files, its lock, its metadata, TensorBoard events, loading a run."""
