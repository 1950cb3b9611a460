"""How a network is trained: the two-step KL scheme (García Trillos, Kaplan, Sanz-Alonso) with
gradient-free and gradient-based estimators of its target, backprop baselines, the run loop and
the command line."""

__version__ = "0.1.0"
