"""How far `small-conv`'s dense layers alone can take it, and which convolution matters: SGD on
the LeNet-like net of the zoo (conv 5x5-20, max-pool 2, conv 5x5-50, max-pool 2, dense 500,
dense 10, ReLU) with both convolutions, only `conv2` or only `conv1` frozen at their random
initialisation, against the same net with every layer trained (issue 21). `--model tiny-conv`
asks the same of the zoo's 5,142-parameter LeNet-5-like net (conv 5x5-6, conv 5x5-16, dense 10).

    python scripts/frozen_convolutions.py --data-dir ../shared/data/mnist [--steps 2000]
        [--model tiny-conv]

The layer-wise proposals that `is` uses on a CNN by default draw a layer in proportion to its size,
so `small-conv`'s convolutions (6% of its parameters) are perturbed in about one update of 16: if
the dense layers alone stop short of a target, training the convolutions is what is missing. The
zoo's module trained by plain `torch` (its default initialisation, `torch.manual_seed(SEED)`),
minibatches of 20 drawn with replacement from the training set (the 5,000 embedded images when DIR
holds only the t10k files), test accuracy on DIR's test set every `--every` updates; one thread.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from sampler.models.data.mnist import load_mnist
from sampler.models.zoo import MODELS

NETS = ("small-conv", "tiny-conv")  # the zoo's CNNs with layers conv1, conv2 and dense above


def lenet(model: str = "small-conv") -> nn.Module:
    """The zoo's ``model`` module (built on the meta device), materialised on the CPU with
    torch's default initialisation, layer by layer in order."""
    module = MODELS[model]((1, 28, 28), 10).module.to_empty(device="cpu")
    for layer in module:
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
    return module


def train(
    data, frozen: tuple[str, ...], lr: float, steps: int, every: int, seed: int, model: str
) -> list[float]:
    torch.manual_seed(seed)
    net = lenet(model)
    trained = [m for name, m in net.named_children() if name not in frozen]
    optimizer = torch.optim.SGD([p for m in trained for p in m.parameters()], lr=lr)
    generator = torch.Generator().manual_seed(seed)
    accuracies = []
    for step in range(1, steps + 1):
        index = torch.randint(0, data.train_x.shape[0], (20,), generator=generator)
        loss = nn.functional.cross_entropy(net(data.train_x[index]), data.train_y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % every == 0:
            with torch.no_grad():
                correct = net(data.test_x).argmax(1) == data.test_y
            accuracies.append(float(correct.float().mean()))
    return accuracies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None, help="MNIST IDX files (default: embedded)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", choices=NETS, default="small-conv")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_mnist(args.data_dir)
    for frozen in (("conv1", "conv2"), ("conv2",), ("conv1",), ()):
        for lr in (0.03, 0.1):
            accuracies = train(data, frozen, lr, args.steps, args.every, args.seed, args.model)
            shown = " / ".join(f"{a:.3f}" for a in accuracies)
            label = f"{' and '.join(frozen)} frozen" if frozen else "every layer trained"
            print(f"{label:22} lr {lr:<5} test accuracy every {args.every} updates: {shown}")


if __name__ == "__main__":
    main()
