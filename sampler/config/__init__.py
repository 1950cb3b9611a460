"""Run settings: their fields and defaults, their resolution into typed values, the limits of
the machine, and the option tables of the training methods."""
