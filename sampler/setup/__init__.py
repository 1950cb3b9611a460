"""From a run's resolved settings to the objects it uses: the data set and the model they
name, the trainer the run loop drives, the starting parameters, and the trained point of a
finished (or cut) run. One setup serves ``sampler train``, ``sampler.train``, ``sampler.build``,
``sampler flatness``, ``sampler export`` and ``sampler bench``."""
