#!/usr/bin/python3
"""Golden tensors for whole models: PyTorch runs the same small networks that taxon's
builders make (same names, same initial weights) for a few SGD steps, and we save
logits, every gradient of the first step and every parameter after the last step.

Run with Debian's PyTorch:  /usr/bin/python3 tools/golden_model.py
Writes tests/golden/model_<arch>.safetensors (NHWC activations, OHWI conv weights).
"""

import numpy as np

from golden_common import save_safetensors
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(1)
torch.backends.mkldnn.enabled = False


class SmallCNN(nn.Module):
    """taxon's small_cnn: conv32-conv64-maxpool-fc128-fc10."""

    def __init__(self, h, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(64 * ((h - 4) // 2) ** 2, 128)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = x.permute(0, 2, 3, 1).flatten(1)  # taxon flattens NHWC
        return self.fc2(F.relu(self.fc1(x)))


def cbr(cin, cout, stride):
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.conv1_bn = cbr(cin, cout, stride)
        self.conv2, self.bn2 = cbr(cout, cout, 1)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Conv2d(cin, cout, 1, stride, bias=False)
            self.down_bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.conv1_bn(self.conv1(x)))))
        s = self.down_bn(self.down(x)) if self.down is not None else x
        return F.relu(y + s)


class ResNet8(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.stem, self.stem_bn = cbr(1, 16, 1)
        self.layer1 = Block(16, 16, 1)
        self.layer2 = Block(16, 32, 2)
        self.layer3 = Block(32, 64, 2)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean((2, 3)))


def to_taxon(name, t):
    a = t.detach().numpy().astype(np.float32)
    if a.ndim == 4:  # conv OIHW -> OHWI
        a = a.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(a)


def run(arch, model, h, batch, classes, steps=3, lr=0.05, wd=5e-4, smoothing=0.1):
    for m in model.modules():  # non-trivial BN affine parameters
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
    x = torch.randn(batch, 1, h, h)
    y = torch.randint(0, classes, (batch,))
    out = {"input": x.permute(0, 2, 3, 1).numpy().copy(), "labels": y.numpy().astype(np.int32)}
    for n, p in model.state_dict().items():
        if n.endswith("num_batches_tracked"):
            continue
        out["init." + n] = to_taxon(n, p)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0}],
                          lr=lr, momentum=0.9, nesterov=True)
    lossf = nn.CrossEntropyLoss(label_smoothing=smoothing)
    model.train()
    losses = []
    for step in range(steps):
        opt.zero_grad()
        logits = model(x)
        loss = lossf(logits, y)
        loss.backward()
        losses.append(loss.item())
        if step == 0:
            out["logits0"] = logits.detach().numpy().copy()
            for n, p in model.named_parameters():
                out["grad0." + n] = to_taxon(n, p.grad)
        opt.step()
    for n, p in model.state_dict().items():
        if n.endswith("num_batches_tracked"):
            continue
        out["final." + n] = to_taxon(n, p)
    model.eval()
    out["eval_logits"] = model(x).detach().numpy().copy()
    out["losses"] = np.array(losses, dtype=np.float32)
    meta = {"arch": arch, "h": str(h), "batch": str(batch), "classes": str(classes), "steps": str(steps),
            "lr": str(lr), "weight_decay": str(wd), "label_smoothing": str(smoothing),
            "torch": torch.__version__}
    path = f"tests/golden/model_{arch}.safetensors"
    save_safetensors(path, out, meta)
    print(path, "losses", losses)


if __name__ == "__main__":
    run("small_cnn", SmallCNN(8, 10), 8, 4, 10)
    run("resnet8", ResNet8(10), 12, 4, 10)
