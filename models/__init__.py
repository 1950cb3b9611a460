"""What is trained: the shared model interface, the model zoo and the data sets.

``models`` knows nothing of ``sampler`` or ``mpi``.
"""

from models.dataset import Dataset
from models.datasets import DATASETS, DataOptions, DatasetSpec
from models.interface import Batch, Model
from models.options import Option, OptionError
from models.zoo import MODELS, ModelSpec

__all__ = [
    "Batch",
    "DATASETS",
    "DataOptions",
    "Dataset",
    "DatasetSpec",
    "MODELS",
    "Model",
    "ModelSpec",
    "Option",
    "OptionError",
]
