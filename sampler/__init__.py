"""How a network is trained: the two-step KL scheme (García Trillos, Kaplan, Sanz-Alonso) with
gradient-free and gradient-based estimators of its target, backprop baselines, the run loop and
the command line.

The Python API (imported on first use, so ``import sampler.models`` stays light):

* ``sampler.train(model, data, ...)``: ``sampler train`` as one call (``sampler.api.train``);
* ``sampler.build(model, ...)``: ``init``/``step`` with explicit state (``sampler.api.build``);
* ``sampler.export_state_dict(run_dir, module=None, out=None)``: a run's parameters as a
  ``state_dict`` (``sampler.api.export``).
"""

import importlib

__version__ = "0.1.0"

_API = {
    "train": ("sampler.api.train", "train"),
    "TrainResult": ("sampler.api.train", "TrainResult"),
    "build": ("sampler.api.build", "build"),
    "Algorithm": ("sampler.api.build", "Algorithm"),
    "State": ("sampler.api.build", "State"),
    "export_state_dict": ("sampler.api.export", "export_state_dict"),
    "world_comm": ("sampler.mpi", "world_comm"),
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        module, attribute = _API[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'sampler' has no attribute {name!r}")
