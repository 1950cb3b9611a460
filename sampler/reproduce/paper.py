"""The paper's printed numbers (García Trillos, Kaplan and Sanz-Alonso, Entropy 21(5):511, 2019,
Section 6): Table 6.1, held-out MNIST test accuracy of the 784-200-10 network after 100..500
updates of minibatch 20 at tau = 0.01, and Table 6.2, seconds per update of its TensorFlow
implementation (J = 1000 IS samples, L = 1000 SGLD steps, M = J = 30 for Robbins-Monro).
"""

from __future__ import annotations

TABLE_6_1_STEPS = (100, 200, 300, 400, 500)
TABLE_6_1 = {  # method -> accuracy at TABLE_6_1_STEPS
    "SGD": (0.75, 0.80, 0.85, 0.87, 0.87),
    "IS": (0.27, 0.45, 0.54, 0.57, 0.65),
    "SGLD": (0.72, 0.81, 0.84, 0.86, 0.88),
    "HR": (0.52, 0.64, 0.70, 0.73, 0.76),
}
TABLE_6_2 = {"SGD": 0.0032, "IS": 6.25, "SGLD": 7.06, "HR": 3.31}  # seconds per update
