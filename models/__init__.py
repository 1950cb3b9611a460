"""What is trained: the shared model interface, the model zoo and the data sets.

``models`` knows nothing of ``sampler`` or ``mpi``.
"""

from sampler.models.data.dataset import Dataset
from sampler.models.data.registry import DATASETS, DataOptions, DatasetSpec
from sampler.models.interface import Batch, Model
from sampler.models.keras.model import KerasModel
from sampler.models.options import Option, OptionError
from sampler.models.zoo import MODELS, ModelSpec, model_spec

__all__ = [
    "Batch",
    "DATASETS",
    "DataOptions",
    "Dataset",
    "DatasetSpec",
    "KerasModel",
    "MODELS",
    "Model",
    "ModelSpec",
    "Option",
    "OptionError",
    "model_spec",
]
