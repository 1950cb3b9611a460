"""The ``sampler`` command: parsing, the subcommands, the listings of models and methods."""
