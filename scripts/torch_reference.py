#!/usr/bin/env python3
"""PyTorch reference for engine/xla's compiled attack step, on the same networks.

Builds MadryLab's MNIST CNN (conv 5x5x32, ReLU, max-pool 2, conv 5x5x64, ReLU,
max-pool 2, dense 3136->1024, ReLU, dense 1024->10) and CIFAR-10 WideResNet
(x*255, per-image standardization, init conv 3x3x16, 3 stages of 5
pre-activation residual units of widths 160/320/640 with strides 1/2/2,
BatchNorm (inference) + leaky ReLU 0.1, avg-pool + channel-pad shortcuts,
global average pool, dense 640->10) with random weights, TensorFlow's SAME
padding (extra row/column at the bottom/right), and times the step that
engine/xla compiles (gpucheck -part throughput): the forward pass, the summed
target log-softmax, the input gradient, x += a*sign(g), the projection onto
the l-inf ball and the [0,1] box, and keeping the most confident misclassified
iterate, --steps times per timed call, on one GPU.

Modes (all with TF32 allowed for convolutions and matmuls, as XLA's DEFAULT
precision allows on CUDA; bf16 modes under torch.autocast(bfloat16)):
  eager          PyTorch's eager mode, NCHW
  channels_last  eager with channels_last tensors
  compile        torch.compile of the step's network, channels_last
  compile_bf16   compile + bf16 autocast
  eager_bf16     eager channels_last + bf16 autocast

Run with the GPU machine's PyTorch (scripts/gpu-check.sh does):

    /opt/torch/.venv/bin/python scripts/torch_reference.py --net wrn --batches 128,256 --modes eager,compile

Each measurement prints one JSON line (gpucheck -part report reads them):
    {"impl": "torch", "net": "wrn", "mode": "compile", "batch": 256, "image_grads_per_s": ...}
A mode that fails prints a line with "error" and the others go on.
"""
import argparse
import json
import sys
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


def wrn_net(dev, widths=(160, 320, 640), units=5, init_width=16):
    g = torch.Generator().manual_seed(1)

    def w(cout, cin, k=3):
        return (torch.randn(cout, cin, k, k, generator=g) * (2.0 / (cin * k * k)) ** 0.5).to(dev)

    def bn(c):
        return {"gamma": (1 + 0.1 * torch.randn(c, generator=g)).to(dev),
                "beta": (0.1 * torch.randn(c, generator=g)).to(dev),
                "mean": (0.1 * torch.randn(c, generator=g)).to(dev),
                "var": (0.5 + torch.rand(c, generator=g)).to(dev)}

    init = w(init_width, 3)
    stages = []
    cin = init_width
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


def step_fn(net, targets, labels, eps, alpha, bf16):
    """One attack step as engine/xla runs it; returns the new state."""

    def step(x, x0, best, best_val, best_time, t):
        x = x.detach().requires_grad_(True)
        with torch.autocast("cuda" if x.is_cuda else "cpu", dtype=torch.bfloat16, enabled=bf16):
            z = net(x)
        z = z.float()
        loss = F.log_softmax(z, 1).gather(1, targets[:, None]).sum()
        (g,) = torch.autograd.grad(loss, x)
        with torch.no_grad():
            p = F.softmax(z, 1)
            conf, pred = p.max(1)
            val = torch.where(pred != labels, conf, -conf)
            better = (best_time < 0) | (val > best_val)
            best = torch.where(better.view(-1, 1, 1, 1), x, best)
            best_val = torch.where(better, val, best_val)
            best_time = torch.where(better, torch.full_like(best_time, t), best_time)
            lo, hi = (x0 - eps).clamp_min(0), (x0 + eps).clamp_max(1)
            x = torch.minimum(torch.maximum(x + alpha * g.sign(), lo), hi)
        return x.detach(), best, best_val, best_time

    return step


def measure(args, net_name, batch, mode, dev):
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    if net_name == "mnist":
        net, shape = mnist_net(dev)
    elif args.tiny:
        net, shape = wrn_net(dev, widths=(6, 8, 10), units=1, init_width=4)
    else:
        net, shape = wrn_net(dev)
    bf16 = mode.endswith("_bf16")
    channels_last = mode != "eager"
    if mode.startswith("compile"):
        net = torch.compile(net)
    g = torch.Generator().manual_seed(2)
    x0 = torch.rand(batch, *shape, generator=g).to(dev)
    if channels_last and len(shape) == 3:
        x0 = x0.contiguous(memory_format=torch.channels_last)
    targets = torch.randint(0, 10, (batch,), generator=g).to(dev)
    labels = (targets + 9) % 10
    eps = 8 / 255
    step = step_fn(net, targets, labels, eps, eps / 4, bf16)

    def run():
        x, best = x0.clone(), x0.clone()
        best_val = torch.zeros(batch, device=dev)
        best_time = torch.full((batch,), -1, device=dev, dtype=torch.int32)
        for t in range(args.steps):
            x, best, best_val, best_time = step(x, x0, best, best_val, best_time, t)
        return best_time

    def timed():
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        run()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    first = timed()
    best = min(timed() for _ in range(max(args.reps, 1)))
    return {"impl": "torch", "net": net_name, "mode": mode, "precision": "bf16" if bf16 else "tf32",
            "batch": batch, "steps": args.steps, "first_call_s": round(first, 4), "best_s": round(best, 5),
            "image_grads_per_s": round(batch * args.steps / best, 1), "torch": torch.__version__,
            "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", choices=["mnist", "wrn"], default="wrn")
    ap.add_argument("--batches", default="256", help="comma-separated batch sizes")
    ap.add_argument("--modes", default="eager,channels_last,compile,compile_bf16",
                    help="comma-separated modes: eager, channels_last, compile, compile_bf16, eager_bf16")
    ap.add_argument("--steps", type=int, default=20, help="attack steps per timed call")
    ap.add_argument("--reps", type=int, default=2, help="timed calls after the first")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="a narrow one-unit WideResNet (CPU tests)")
    args = ap.parse_args()
    dev = torch.device(args.device)
    # Batch-major: with a time limit, the first batch gets every mode.
    for batch in (int(b) for b in args.batches.split(",")):
        for mode in args.modes.split(","):
            try:
                line = measure(args, args.net, batch, mode, dev)
            except Exception as e:  # one failing mode must not hide the others
                line = {"impl": "torch", "net": args.net, "mode": mode, "batch": batch,
                        "error": f"{type(e).__name__}: {e}"[:500]}
            print(json.dumps(line), flush=True)
            if dev.type == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    sys.exit(main())
