"""The tests, laid out as the project: one package per package (``tests/api`` for
``sampler.api``, ``tests/models/keras`` for ``sampler.models.keras``, ...), the modules at the
top of ``sampler`` (``problem``, ``schedules``) tested here at the top, the checks of the whole
project in ``tests/project``, and what several test modules share in ``tests/helpers``."""
