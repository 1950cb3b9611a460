"""What is trained: the shared model interface, the model zoo and the data sets.

``models`` knows nothing of ``sampler`` or ``mpi``.
"""

from models.dataset import Dataset
from models.datasets import DATASETS, DataOptions
from models.interface import Batch, Model
from models.zoo import MODELS

__all__ = ["Batch", "DATASETS", "DataOptions", "Dataset", "MODELS", "Model"]
