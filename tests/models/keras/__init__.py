"""Tests of ``sampler.models.keras``: the Keras adapter and Keras models trained end to end."""
