#!/usr/bin/env python3
"""PyTorch reference for engine/xla's speed: PGD steps of both Madry networks.

Builds MadryLab's MNIST CNN (conv 5x5x32, ReLU, max-pool 2, conv 5x5x64, ReLU,
max-pool 2, dense 3136->1024, ReLU, dense 1024->10) and CIFAR-10 WideResNet
(x*255, per-image standardization, init conv 3x3x16, 3 stages of 5
pre-activation residual units of widths 160/320/640 with strides 1/2/2,
BatchNorm (inference) + leaky ReLU 0.1, avg-pool + channel-pad shortcuts,
global average pool, dense 640->10) with random weights, TensorFlow's SAME
padding (extra row/column at the bottom/right), and times, on one GPU:

  input_grad  forward + the summed target log-softmax + the input gradient;
  pgd         the attack step engine/xla compiles: the gradient, x += a*sign(g),
              projection onto the l-inf ball and the [0,1] box, and keeping the
              most confident misclassified iterate, repeated --steps times.

Precision modes:
  default  PyTorch's own defaults (cuDNN convolutions may use TF32; matmuls
           follow torch.backends.cuda.matmul.allow_tf32, False by default)
  fp32     strict float32: TF32 off for cuDNN and matmuls
  tf32     TF32 on for both

--compile adds torch.compile and channels_last (PyTorch's strongest setting).

Run with the GPU machine's PyTorch:

    /opt/torch/.venv/bin/python scripts/torch_reference.py --arch wrn --batch 256 --precision default

Each measurement prints one line in the format of engine/crosscheck/cmd/xlacheck:
    RESULT arch=wrn what=pgd impl=torch precision=default batch=256 steps=20 ... image_steps_per_s=...
"""
import argparse
import time

import torch
import torch.nn.functional as F


def same_pad(x, k, s):
    """Pads NCHW x as TensorFlow's SAME does (extra cell at the end)."""
    h, w = x.shape[-2], x.shape[-1]
    ph = max((-(-h // s) - 1) * s + k - h, 0)
    pw = max((-(-w // s) - 1) * s + k - w, 0)
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


def conv(x, w, b=None, stride=1):
    return F.conv2d(same_pad(x, w.shape[-1], stride), w, b, stride=stride)


def mnist_net(dev):
    g = torch.Generator().manual_seed(1)
    p = {
        "w1": torch.randn(32, 1, 5, 5, generator=g) * 0.2, "b1": torch.zeros(32),
        "w2": torch.randn(64, 32, 5, 5, generator=g) * 0.05, "b2": torch.zeros(64),
        "w3": torch.randn(1024, 3136, generator=g) * 0.025, "b3": torch.zeros(1024),
        "w4": torch.randn(10, 1024, generator=g) * 0.04, "b4": torch.zeros(10),
    }
    p = {k: v.to(dev) for k, v in p.items()}

    def net(x):  # x: [n, 1, 28, 28] in [0, 1]
        h = F.max_pool2d(F.relu(conv(x, p["w1"], p["b1"])), 2)
        h = F.max_pool2d(F.relu(conv(h, p["w2"], p["b2"])), 2)
        h = h.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # NHWC flatten, as TensorFlow
        h = F.relu(F.linear(h, p["w3"], p["b3"]))
        return F.linear(h, p["w4"], p["b4"])

    return net, (1, 28, 28)


def wrn_net(dev, widths=(160, 320, 640), units=5):
    g = torch.Generator().manual_seed(1)

    def w(cout, cin, k=3):
        return (torch.randn(cout, cin, k, k, generator=g) * (2.0 / (cin * k * k)) ** 0.5).to(dev)

    def bn(c):
        return {"gamma": (1 + 0.1 * torch.randn(c, generator=g)).to(dev),
                "beta": (0.1 * torch.randn(c, generator=g)).to(dev),
                "mean": (0.1 * torch.randn(c, generator=g)).to(dev),
                "var": (0.5 + torch.rand(c, generator=g)).to(dev)}

    init = w(16, 3)
    stages = []
    cin = 16
    for s, (cout, stride) in enumerate(zip(widths, (1, 2, 2))):
        for u in range(units):
            st = stride if u == 0 else 1
            stages.append({"bn1": bn(cin), "conv1": w(cout, cin), "bn2": bn(cout), "conv2": w(cout, cout),
                           "stride": st, "cin": cin, "cout": cout, "shared": s == 0 and u == 0})
            cin = cout
    last = bn(cin)
    dense_w = (torch.randn(10, cin, generator=g) * (1.0 / cin) ** 0.5).to(dev)
    dense_b = torch.zeros(10, device=dev)

    def batch_norm(x, b):
        return F.batch_norm(x, b["mean"], b["var"], b["gamma"], b["beta"], training=False, eps=1e-3)

    def lrelu(x):
        return F.leaky_relu(x, 0.1)

    def net(x):  # x: [n, 3, 32, 32] in [0, 1]
        x = x * 255
        n = x.shape[0]
        flat = x.reshape(n, -1)
        mean = flat.mean(1)
        var = (flat * flat).mean(1) - mean * mean  # TF 1.x one-pass variance
        std = torch.maximum(var.clamp_min(0).sqrt(), torch.tensor(1 / flat.shape[1] ** 0.5, device=x.device))
        x = (x - mean.view(n, 1, 1, 1)) / std.view(n, 1, 1, 1)
        x = conv(x, init)
        for u in stages:
            if u["shared"]:
                x = lrelu(batch_norm(x, u["bn1"]))
                short = x
                h = x
            else:
                short = x
                h = lrelu(batch_norm(x, u["bn1"]))
            h = conv(h, u["conv1"], stride=u["stride"])
            h = lrelu(batch_norm(h, u["bn2"]))
            h = conv(h, u["conv2"])
            if u["cin"] != u["cout"]:
                if u["stride"] > 1:
                    short = F.avg_pool2d(short, u["stride"], u["stride"])
                pad = (u["cout"] - u["cin"]) // 2
                short = F.pad(short, (0, 0, 0, 0, pad, pad))
            x = h + short
        x = lrelu(batch_norm(x, last))
        x = x.mean((2, 3))
        return F.linear(x, dense_w, dense_b)

    return net, (3, 32, 32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=["mnist", "wrn"], default="wrn")
    ap.add_argument("--batch", type=int, default=0, help="0: 1000 for mnist, 256 for wrn")
    ap.add_argument("--steps", type=int, default=20, help="PGD steps per repetition")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--precision", choices=["default", "fp32", "tf32"], default="default")
    ap.add_argument("--compile", action="store_true", help="torch.compile + channels_last")
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    batch = args.batch or (1000 if args.arch == "mnist" else 256)
    dev = torch.device(args.device)
    if args.precision == "fp32":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    elif args.precision == "tf32":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True

    net, shape = mnist_net(dev) if args.arch == "mnist" else wrn_net(dev)
    if args.compile:
        net = torch.compile(net)
    g = torch.Generator().manual_seed(2)
    x0 = torch.rand(batch, *shape, generator=g).to(dev)
    if args.compile:
        x0 = x0.contiguous(memory_format=torch.channels_last)
    targets = torch.randint(0, 10, (batch,), generator=g).to(dev)
    labels = (targets + 1) % 10
    eps, alpha = 8 / 255, 2 / 255

    def input_grad(x):
        x = x.detach().requires_grad_(True)
        z = net(x)
        loss = F.log_softmax(z, 1).gather(1, targets[:, None]).sum()
        (g,) = torch.autograd.grad(loss, x)
        return z.detach(), g

    def pgd(steps):
        x = x0.clone()
        lo, hi = (x0 - eps).clamp_min(0), (x0 + eps).clamp_max(1)
        best, best_conf = x0.clone(), torch.zeros(batch, device=dev)
        best_label = torch.full((batch,), -1, device=dev)

        def keep(x, z):
            nonlocal best, best_conf, best_label
            conf, pred = F.softmax(z, 1).max(1)
            better = (pred != labels) & (conf > best_conf)
            best = torch.where(better.view(-1, 1, 1, 1), x, best)
            best_conf = torch.where(better, conf, best_conf)
            best_label = torch.where(better, pred, best_label)

        for _ in range(steps):
            z, g = input_grad(x)
            with torch.no_grad():
                keep(x, z)
                x = torch.minimum(torch.maximum(x + alpha * g.sign(), lo), hi)
        with torch.no_grad():
            keep(x, net(x))
        return best_label

    def timed(fn):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        return time.perf_counter() - t0

    tag = f"impl=torch{'-compile' if args.compile else ''} precision={args.precision} torch={torch.__version__}"
    first = timed(lambda: input_grad(x0))
    best = min(timed(lambda: input_grad(x0)) for _ in range(max(args.reps, 1) * 3))
    print(f"RESULT arch={args.arch} what=input_grad {tag} batch={batch} first_call_s={first:.3f} "
          f"best_s={best:.5f} images_per_s={batch / best:.1f}", flush=True)
    first = timed(lambda: pgd(args.steps))
    best = min(timed(lambda: pgd(args.steps)) for _ in range(max(args.reps, 1)))
    print(f"RESULT arch={args.arch} what=pgd {tag} batch={batch} steps={args.steps} first_call_s={first:.3f} "
          f"best_s={best:.5f} steps_per_s={args.steps / best:.2f} image_steps_per_s={batch * args.steps / best:.1f}",
          flush=True)


if __name__ == "__main__":
    main()
