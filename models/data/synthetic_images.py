"""Synthetic stand-in images of any shape, so the CNNs run in tests without a download.

Class ``c`` has a template ``T_c ~ N(0, I)`` of shape ``[C, H, W]``; an image of class ``c`` is
``T_c + noise * Z`` with ``Z ~ N(0, I)``, classes uniform. Everything is drawn from the stream
``(data_seed, SPLIT)``, so the data set is a pure function of its options. The classes are
separable for small ``noise`` (a sanity check that training moves), and the shapes match the
real data sets (``3x32x32`` CIFAR-10, ``3x96x96`` STL-10, ``1x28x28`` MNIST).
"""

from __future__ import annotations

import torch

from sampler.models import streams
from sampler.models.data.dataset import Dataset


def make_synthetic_images(
    channels: int = 3,
    height: int = 32,
    width: int = 32,
    classes: int = 10,
    train_size: int = 512,
    test_size: int = 256,
    noise: float = 1.0,
    data_seed: int = 0,
) -> Dataset:
    sizes = {"channels": channels, "height": height, "width": width, "classes": classes}
    sizes.update(train_size=train_size, test_size=test_size)
    for key, value in sizes.items():
        if value < 1 or (key == "classes" and value < 2):
            raise ValueError(f"--data synthetic-images: {key} must be positive, got {value}")
    shape = (channels, height, width)
    generator = streams.torch_generator(data_seed, streams.SPLIT)
    templates = torch.randn(classes, *shape, generator=generator)

    def draw(count: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(0, classes, (count,), generator=generator)
        images = templates[labels] + noise * torch.randn(count, *shape, generator=generator)
        return images, labels

    train_x, train_y = draw(train_size)
    test_x, test_y = draw(test_size)
    info = {"noise": noise}
    return Dataset("synthetic-images", train_x, train_y, test_x, test_y, classes, info)
