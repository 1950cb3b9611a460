"""ResNet-18 for CIFAR (He et al., "Deep residual learning for image recognition", 2016; the
CIFAR variant with a 3x3 stem and no initial max-pool): conv 3x3-w, then four stages of two
basic blocks (widths w, 2w, 4w, 8w, stride 2 from the second stage, 1x1 projection shortcuts),
global average pool, dense C. With w = 64 and 10 classes: 11,173,962 parameters.

BatchNorm without running statistics: ``nn.BatchNorm2d(track_running_stats=False)`` normalises
with the statistics of the minibatch in training and in evaluation alike, and has no buffers, so
``vmap`` maps it over the K parameter vectors with each vector's own statistics over the same
minibatch: exactly what a loop of K train-mode networks computes (tested). Predictions on a test
chunk use that chunk's statistics. ``norm=none`` drops the normalisation.
"""

from __future__ import annotations

import torch
from torch import nn

from sampler.models.torch_module import TorchModuleModel


def _norm(channels: int, norm: str) -> nn.Module:
    return nn.BatchNorm2d(channels, track_running_stats=False) if norm == "batch" else nn.Identity()


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = _norm(c_out, norm)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = _norm(c_out, norm)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), _norm(c_out, norm)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, width: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = _norm(width, norm)
        stages, c_in = [], width
        for i, stride in enumerate((1, 2, 2, 2)):
            c_out = width * 2**i
            stages.append(
                nn.Sequential(
                    BasicBlock(c_in, c_out, stride, norm), BasicBlock(c_out, c_out, 1, norm)
                )
            )
            c_in = c_out
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.fc(out.mean(dim=(2, 3)))


def resnet18(
    input_shape: tuple[int, ...],
    num_classes: int,
    width: int = 64,
    norm: str = "batch",
    vmap: bool = True,
) -> TorchModuleModel:
    if len(input_shape) != 3:
        raise ValueError(f"--model resnet18: needs images [C, H, W], got {input_shape}")
    with torch.device("meta"):
        return TorchModuleModel(
            ResNet18(input_shape[0], num_classes, width, norm), force_loop=not vmap
        )
