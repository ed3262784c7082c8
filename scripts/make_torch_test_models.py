#!/usr/bin/python3
"""Writes PyTorch models for the --init-from tests, with Python's PyTorch (Debian python3-torch).

usage: make_torch_test_models.py OUTDIR [resnet20|resnet18|all]

  resnet20_cifar.pt         state_dict of a CIFAR ResNet-20 in the common layout (conv1, bn1,
                            layerL.B.{conv,bn}{1,2}, option-A shortcuts without parameters, linear),
                            3 input channels, 10 classes, seed 0, BatchNorm statistics from 3 batches
  resnet20_cifar_script.pt  the same model as TorchScript (torch.jit.script)
  resnet18_torchvision.pt   torchvision.models.resnet18() state_dict (1000 classes), seed 0
  <name>.logits             the model's eval-mode logits on the fixed input below, one per line

The fixed input: x[n, c, h, w] = sin(0.1 * (n * 7 + c * 5 + h * 3 + w)), 2 images.
tests/train/data/resnet20_cifar.pt and .logits were written by `make_torch_test_models.py
tests/train/data resnet20`; the resnet18 files are made by the tests themselves (46.8 MB).
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, inp, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = planes - inp
        self.stride = stride

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x
        if self.stride != 1 or self.pad != 0:
            s = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(y + s)


class ResNet20(nn.Module):
    def __init__(self, in_channels=3, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        inp = 16
        for i, planes in enumerate([16, 32, 64]):
            blocks = []
            for b in range(3):
                blocks.append(BasicBlock(inp, planes, 2 if (b == 0 and i > 0) else 1))
                inp = planes
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
        self.linear = nn.Linear(64, classes)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.layer3(self.layer2(self.layer1(y)))
        return self.linear(F.adaptive_avg_pool2d(y, 1).flatten(1))


def fixed_input(c, h, w):
    n_, c_, h_, w_ = torch.meshgrid(torch.arange(2.), torch.arange(float(c)), torch.arange(float(h)),
                                    torch.arange(float(w)), indexing="ij")
    return torch.sin(0.1 * (n_ * 7 + c_ * 5 + h_ * 3 + w_))


def save(model, out, name, c, h, w):
    model.eval()
    torch.save(model.state_dict(), "%s/%s.pt" % (out, name))
    with torch.no_grad():
        logits = model(fixed_input(c, h, w))
    with open("%s/%s.logits" % (out, name), "w") as f:
        f.write("\n".join("%.9g" % v for v in logits.flatten().tolist()) + "\n")


def main():
    out = sys.argv[1]
    which = sys.argv[2] if len(sys.argv) > 2 else "all"
    torch.manual_seed(0)
    if which in ("resnet20", "all"):
        m = ResNet20()
        m.train()
        with torch.no_grad():  # non-trivial BatchNorm statistics
            for _ in range(3):
                m(torch.randn(8, 3, 32, 32))
        save(m, out, "resnet20_cifar", 3, 32, 32)
        torch.jit.script(m.eval()).save("%s/resnet20_cifar_script.pt" % out)
    if which in ("resnet18", "all"):
        import torchvision
        m = torchvision.models.resnet18()
        m.train()
        with torch.no_grad():
            m(torch.randn(2, 3, 64, 64))
        save(m, out, "resnet18_torchvision", 3, 64, 64)


if __name__ == "__main__":
    main()
