#!/usr/bin/env python3
"""PyTorch reference for the native engine's speed: Madry's MNIST CNN.

Measures, on the CPU, forward images/s and forward + input-gradient images/s
of MadryLab/mnist_challenge's CNN (conv 5x5x32 SAME + ReLU + max-pool 2,
conv 5x5x64 SAME + ReLU + max-pool 2, dense 3136->1024 + ReLU, dense 1024->10)
at a given batch size, with random weights and inputs. The input gradient is
that of the summed softmax cross-entropy, as an attack step needs.

Run with Debian's PyTorch (apt-get install python3-torch):

    /usr/bin/python3 scripts/torch_mnist_bench.py --batch 100 --threads 2

It prints one line per measurement in the format scripts/bench parses:
    torch forward images/s 3477.0
"""
import argparse
import time

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)

    w1 = torch.randn(32, 1, 5, 5) * 0.1
    b1 = torch.zeros(32)
    w2 = torch.randn(64, 32, 5, 5) * 0.05
    b2 = torch.zeros(64)
    w3 = torch.randn(1024, 3136) * 0.02
    b3 = torch.zeros(1024)
    w4 = torch.randn(10, 1024) * 0.03
    b4 = torch.zeros(10)
    x = torch.rand(args.batch, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch,))

    def net(x):
        # 5x5 SAME with stride 1 pads 2 on every side; 2x2/2 pooling of an
        # even size needs no padding, so this equals TensorFlow's graph.
        h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=2)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding=2)), 2)
        h = h.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # NHWC flatten as in TF
        h = F.relu(F.linear(h, w3, b3))
        return F.linear(h, w4, b4)

    def forward():
        with torch.no_grad():
            net(x)

    def grad():
        xi = x.clone().requires_grad_(True)
        F.cross_entropy(net(xi), y, reduction="sum").backward()
        return xi.grad

    for name, fn in (("forward", forward), ("forward+input-gradient", grad)):
        for _ in range(3):
            fn()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            fn()
            n += 1
        dt = time.perf_counter() - t0
        print(f"torch {name} images/s {n * args.batch / dt:.1f}")


if __name__ == "__main__":
    main()
