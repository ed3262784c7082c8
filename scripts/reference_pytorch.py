#!/usr/bin/python3
"""An independent DenseShift trainer written from ../shared/DENSESHIFT.md alone, to check the C++ one.

Same recipe as `denseshift train DATA --arch resnet20`: CIFAR-style ResNet-20 with a 1-channel 3x3
stem, option-A (zero-pad) shortcuts, first conv and fc FP32, every other conv DenseShift; SGD with
momentum and weight decay on every parameter (latents included), cosine lr stepped per epoch,
pad 4 + random 28x28 crop + horizontal flip, Fashion-MNIST mean/std 0.2860/0.3530.
None of the C++ code is used; only the spec's formulas.

usage: /usr/bin/python3 scripts/reference_pytorch.py [--bits 3] [--method denseshift|fp32]
       [--epochs 3] [--train-limit 3000] [--eval-limit 0] [--lr 0.1] [--seed 1] [--threads 1]
Prints one JSON line per epoch (top1 on the test split, the code histogram of every DenseShift
weight: fraction of weights per exponent P = 0..K).
(Debian's python3-torch; /usr/bin/python3, not a pyenv python without it.)
"""
import argparse
import gzip
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(prefix, limit):
    x = read_idx(f"{DATA}/{prefix}-images-idx3-ubyte.gz")
    y = read_idx(f"{DATA}/{prefix}-labels-idx1-ubyte.gz")
    if 0 < limit < len(x):  # every (size/limit)-th image, so each class stays
        idx = np.arange(limit) * len(x) // limit
        x, y = x[idx], y[idx]
    x = (torch.from_numpy(x.astype(np.float32) / 255.0) - 0.2860) / 0.3530
    return x.unsqueeze(1), torch.from_numpy(y.astype(np.int64))


def augment(x, gen):
    """pad 4 (zeros after normalization), random 28x28 crop, random horizontal flip."""
    n = x.shape[0]
    p = F.pad(x, (4, 4, 4, 4))
    out = torch.empty_like(x)
    ox = torch.randint(0, 9, (n,), generator=gen)
    oy = torch.randint(0, 9, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    for i in range(n):
        c = p[i, :, oy[i]:oy[i] + 28, ox[i]:ox[i] + 28]
        out[i] = c.flip(-1) if flip[i] else c
    return out


class SignScale(torch.autograd.Function):
    """DENSESHIFT.md section 2: latents [1+K, *shape] -> s * 2^P, gradient through s * sqrt(P + 1)."""

    @staticmethod
    def forward(ctx, lat):
        ctx.save_for_backward(lat)
        s = torch.where(lat[0] >= 0, 1.0, -1.0)
        P = torch.zeros_like(lat[0])
        for v in lat[1:]:
            P = (P + 1) * (v > 0).float()
        return s * torch.pow(2.0, P)

    @staticmethod
    def backward(ctx, g):
        # Autograd through the recursion with identity STE for b and sg, spelled out as the
        # spec's chain rule: let torch differentiate the surrogate expression.
        (lat,) = ctx.saved_tensors
        with torch.enable_grad():
            l = lat.detach().requires_grad_(True)
            s_hard = torch.where(l[0] >= 0, 1.0, -1.0)
            s = l[0] + (s_hard - l[0]).detach()
            P = torch.zeros_like(l[0])
            for v in l[1:]:
                b = v + ((v > 0).float() - v).detach()
                P = (P + 1) * b
            w_bwd = s * torch.sqrt(P + 1)
            (grad,) = torch.autograd.grad(w_bwd, l, g)
        return grad


class DSConv(nn.Module):
    def __init__(self, cin, cout, stride, bits):
        super().__init__()
        K = 2 ** (bits - 1) - 1
        self.stride = stride
        self.latents = nn.Parameter(torch.randn(1 + K, cout, cin, 3, 3) * 1e-3)  # LVRI, section 3

    def weight(self):
        return SignScale.apply(self.latents)

    def forward(self, x):
        return F.conv2d(x, self.weight(), stride=self.stride, padding=1)


def conv3x3(cin, cout, stride, method, bits):
    if method == "denseshift":
        return DSConv(cin, cout, stride, bits)
    c = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    nn.init.kaiming_normal_(c.weight, mode="fan_out", nonlinearity="relu")
    return c


class Block(nn.Module):
    def __init__(self, cin, cout, stride, method, bits):
        super().__init__()
        self.c1, self.b1 = conv3x3(cin, cout, stride, method, bits), nn.BatchNorm2d(cout)
        self.c2, self.b2 = conv3x3(cout, cout, 1, method, bits), nn.BatchNorm2d(cout)
        self.stride, self.pad = stride, cout - cin

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        sc = x
        if self.stride != 1 or self.pad:  # option A: subsample, zero-pad the channels
            sc = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(y + sc)


class ResNet20(nn.Module):
    def __init__(self, method, bits):
        super().__init__()
        self.conv1 = conv3x3(1, 16, 1, "fp32", bits)  # first conv FP32 (section 4)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                blocks.append(Block(cin, cout, stride if i == 0 else 1, method, bits))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, 10)  # last fc FP32

    def forward(self, x):
        x = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def histogram(model, bits):
    K = 2 ** (bits - 1) - 1
    counts = torch.zeros(K + 1)
    for m in model.modules():
        if isinstance(m, DSConv):
            P = torch.zeros_like(m.latents[0])
            for v in m.latents[1:]:
                P = (P + 1) * (v > 0).float()
            counts += torch.bincount(P.long().flatten(), minlength=K + 1).float()
    return [round(float(c), 4) for c in counts / max(counts.sum(), 1)]


def evaluate(model, x, y):
    model.eval()
    hit = 0
    with torch.no_grad():
        for i in range(0, len(x), 500):
            hit += (model(x[i:i + 500]).argmax(1) == y[i:i + 500]).sum().item()
    return 100.0 * hit / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", default="denseshift", choices=["denseshift", "fp32"])
    ap.add_argument("--bits", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--train-limit", type=int, default=3000)
    ap.add_argument("--eval-limit", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    xtr, ytr = load_split("train", a.train_limit)
    xte, yte = load_split("t10k", a.eval_limit)
    model = ResNet20(a.method, a.bits)
    # torch.optim.SGD: weight decay on every parameter, as the spec's recipe says.
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.wd)
    print(json.dumps({"epoch": 0, "hist": histogram(model, a.bits) if a.method == "denseshift" else None}), flush=True)
    for epoch in range(a.epochs):
        for g in opt.param_groups:
            g["lr"] = 0.5 * a.lr * (1 + math.cos(math.pi * epoch / a.epochs))
        model.train()
        t0, loss_sum, n = time.time(), 0.0, 0
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), a.batch_size):
            idx = perm[i:i + a.batch_size]
            loss = F.cross_entropy(model(augment(xtr[idx], gen)), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            n += len(idx)
        top1 = evaluate(model, xte, yte)
        line = {"epoch": epoch + 1, "train_loss": round(loss_sum / n, 4), "top1": round(top1, 2),
                "seconds": round(time.time() - t0, 1)}
        if a.method == "denseshift":
            line["hist"] = histogram(model, a.bits)
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
