"""The library a user imports: ``train`` (a whole run as one call), ``build`` (``init``/``step``
with explicit state for your own loop) and ``export`` (a run's parameters as a ``state_dict``)."""
