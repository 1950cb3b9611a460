"""The two-step KL scheme around an estimator: the outer step, its optimizers, tau, the warm
start, and the Monte Carlo error of the step."""
