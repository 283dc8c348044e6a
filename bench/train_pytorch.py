#!/usr/bin/python3
"""PyTorch side of bench/train-vs-pytorch.sh: images/s of forward + loss + backward +
SGD step. --arch small_cnn (default): conv32-conv64-maxpool-fc128-fc10 on 1x28x28, the
same network as taxon's small_cnn; --arch resnet18 | mobilenet_v2 (torchvision, 10
classes) on 3 x S x S (--image-size). Prints one JSON line.

usage: train_pytorch.py --batch-size 64 --threads 2 --repeats 20 --warmup 3 [--arch A --image-size S]
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--batch-size", type=int, default=64)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--repeats", type=int, default=20)
ap.add_argument("--warmup", type=int, default=3)
ap.add_argument("--arch", default="small_cnn")
ap.add_argument("--image-size", type=int, default=32)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


if a.arch == "small_cnn":
    model = SmallCNN()
    x = torch.randn(a.batch_size, 1, 28, 28)
else:
    import torchvision
    model = getattr(torchvision.models, a.arch)(num_classes=10)
    x = torch.randn(a.batch_size, 3, a.image_size, a.image_size)
model.train()
opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
y = torch.randint(0, 10, (a.batch_size,))
times = []
for i in range(a.warmup + a.repeats):
    t0 = time.perf_counter()
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    dt = time.perf_counter() - t0
    if i >= a.warmup:
        times.append(dt)
med = statistics.median(times)
print(json.dumps({"peer": "pytorch " + torch.__version__, "arch": a.arch, "batch": a.batch_size, "threads": a.threads,
                  "ms_per_batch": med * 1e3, "images_per_s": a.batch_size / med}))
