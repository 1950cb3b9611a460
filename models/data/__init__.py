"""The data sets: real (MNIST, Fashion-MNIST, CIFAR-10) and synthetic, as plain tensors with a
seeded minibatch of step k."""
