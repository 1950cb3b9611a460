"""TensorFlow next to torch: tensors cross between the two libraries without a copy when
aligned, and TensorFlow's thread pools follow torch's."""

from __future__ import annotations

import pytest
import torch

from sampler.models.keras import runtime

tf = pytest.importorskip("tensorflow")


def test_tensors_cross_without_a_copy_when_aligned():
    block = torch.arange(12.0).reshape(3, 4)
    assert runtime.shares_memory(block)
    assert not runtime.shares_memory(block[1:2])  # 16 bytes in: TF would abort
    for tensor in (block, block[1:2], block.t()):
        crossed = runtime.to_tensorflow(tensor)
        assert (crossed.numpy() == tensor.numpy()).all()
    back = runtime.to_torch(tf.constant([[1.0, 2.0]]), torch.device("cpu"))
    assert back.tolist() == [[1.0, 2.0]]


def test_tensorflow_threads_follow_torch():
    runtime.configure()
    threads = torch.get_num_threads()
    assert tf.config.threading.get_intra_op_parallelism_threads() == threads
    assert tf.config.threading.get_inter_op_parallelism_threads() == threads
