"""The five-coordinate quadratic of the importance-sampling tests (curvature and minimum of
``tests.helpers.quadratic.QuadraticProblem``), and a version of it whose losses fail on part of
the space (NaN or +inf), for the failing samples of an update."""

from __future__ import annotations

import torch

from tests.helpers.quadratic import QuadraticProblem

CURVATURE = [1.0, 2.0, 0.5, 3.0, 1.5]
MINIMUM = [0.3, -0.2, 0.5, 0.0, -0.4]


class PartlyBrokenProblem(QuadraticProblem):
    """NaN where the first coordinate is positive, +inf where the second is above 1."""

    def losses(self, params):
        values = super().losses(params)
        values = torch.where(params[:, 0] > 0, torch.nan, values)
        return torch.where(params[:, 1] > 1.0, torch.inf, values)
