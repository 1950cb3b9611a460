"""TensorFlow next to torch in one process: a lazy import, its thread pools and GPU, and tensors
crossing between the two.

* TensorFlow is optional (``pip install 'local-entropy-sampler[tensorflow]'``): it is imported on
  first use only, so ``sampler.models`` imports without it.
* Threads: TensorFlow's intra-op and inter-op pools get ``torch.get_num_threads()`` threads
  (which follows ``OMP_NUM_THREADS``, or each MPI rank's share of the cores), set before
  TensorFlow initialises, so the two libraries do not oversubscribe the cores.
* GPU (untested: no GPU was available to this work): for a rank on ``cuda:N``, TensorFlow sees
  only GPU ``N`` (its ``/GPU:0``) and allocates its memory as it grows (``set_memory_growth``)
  instead of taking the whole device from torch; for a rank on the CPU it sees no GPU.
* Tensors cross by DLPack without a copy when both sides can share the memory (a contiguous CPU
  tensor, 64-byte aligned, as TensorFlow requires: a misaligned one aborts the process);
  otherwise through a numpy copy on the host.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch

# TensorFlow's kernels assume this alignment (Eigen's EIGEN_MAX_ALIGN_BYTES) of shared memory.
TF_ALIGNMENT = 64
INSTALL_HINT = "pip install 'local-entropy-sampler[tensorflow]'"

_configured_device: list[str] = []  # the device TensorFlow was set up for, once done


class TensorFlowMissingError(ImportError):
    pass


def import_tensorflow() -> Any:
    """The ``tensorflow`` module; ``TensorFlowMissingError`` saying how to install it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # its C++ INFO lines on every start
    try:
        import tensorflow  # deferred: optional and heavy; `import sampler.models` must not load it
    except ImportError as error:
        raise TensorFlowMissingError(
            f"TensorFlow is not installed ({error}); install it with: {INSTALL_HINT}"
        ) from None
    return tensorflow


def import_keras() -> Any:
    """The ``keras`` module with its TensorFlow backend (the adapter runs TensorFlow graphs)."""
    import_tensorflow()
    import keras  # deferred with TensorFlow (its backend)

    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"Keras runs on its {keras.backend.backend()!r} backend; the Keras adapter needs "
            "TensorFlow: set KERAS_BACKEND=tensorflow"
        )
    return keras


def configure(device: torch.device | str | None = None) -> None:
    """Thread pools and GPU of TensorFlow, before it initialises (once per process; later calls
    do nothing). ``device``: the torch device of this rank (``None``: keep the GPUs visible,
    with memory growth)."""
    if _configured_device:
        return
    tf = import_tensorflow()
    threads = torch.get_num_threads()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # already initialised by the caller's own TensorFlow code
        pools = (
            tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads(),
        )
        if pools != (threads, threads):
            warnings.warn(
                f"TensorFlow was initialised before sampler could give it {threads} thread(s) "
                f"(it has intra/inter-op pools {pools}; 0 = one per core): build Keras models "
                "after sampler.models.keras.runtime.configure()",
                stacklevel=2,
            )
    _select_gpu(tf, torch.device(device) if device is not None else None)
    _configured_device.append(str(device))


def _select_gpu(tf: Any, device: torch.device | None) -> None:
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return
    try:
        if device is not None and device.type == "cuda":
            index = device.index if device.index is not None else torch.cuda.current_device()
            gpus = [gpus[index % len(gpus)]]
            tf.config.set_visible_devices(gpus, "GPU")
        elif device is not None:
            tf.config.set_visible_devices([], "GPU")
            return
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError as error:  # TensorFlow already initialised its devices
        warnings.warn(f"TensorFlow's GPUs were set up before sampler could: {error}", stacklevel=3)


def shares_memory(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` can be handed to TensorFlow by DLPack without a copy."""
    return (
        tensor.device.type == "cpu"
        and tensor.is_contiguous()
        and tensor.data_ptr() % TF_ALIGNMENT == 0
    )


def to_tensorflow(tensor: torch.Tensor) -> Any:
    """A TensorFlow tensor of ``tensor``'s values: the same memory when ``shares_memory``."""
    tf = import_tensorflow()
    tensor = tensor.detach()
    if shares_memory(tensor):
        return tf.experimental.dlpack.from_dlpack(torch.utils.dlpack.to_dlpack(tensor))
    return tf.constant(tensor.cpu().numpy())


def to_torch(value: Any, device: torch.device) -> torch.Tensor:
    """A TensorFlow tensor as a torch tensor on ``device`` (no copy for a CPU result on CPU)."""
    if device.type == "cpu" and value.device.upper().endswith("CPU:0"):
        return torch.from_dlpack(value)
    return torch.from_numpy(value.numpy()).to(device)
