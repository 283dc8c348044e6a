#!/usr/bin/python3
"""Golden tensors for taxon's conv2d kernels (src/ops/conv.c), from PyTorch.

For each case torch.nn.functional.conv2d runs in float32 on the CPU; the loss is
sum(dy * y) for a random upstream gradient dy, so backward gives dx, dw, db for that dy.
Asymmetric padding is applied with F.pad before an unpadded conv (TFLite-style SAME).

Run with Debian's PyTorch:  /usr/bin/python3 tools/golden_conv.py
Writes tests/golden/conv.safetensors (kept small). Tensors are stored in taxon's layouts:
x, y, dy, dx NHWC; w, dw OHWI; b, db [oc]. __metadata__ maps each case name to
"n h w c oc kh kw sh sw pad_t pad_l pad_b pad_r dh dw groups" (oh/ow follow).
tests/test_conv_golden.c reads it; the tests never need PyTorch.
"""
import os
import sys

import numpy as np

from golden_common import save_safetensors
import torch
import torch.nn.functional as F

torch.manual_seed(1234)
torch.set_num_threads(1)

# name, n, h, w, c, oc, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, bias
CASES = [
    ("same3x3", 2, 6, 5, 3, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, True),
    ("valid3x3_c8", 2, 7, 7, 8, 6, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, True),
    ("stride2_asym", 2, 9, 8, 4, 5, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1, 1, True),
    ("dilation2", 1, 9, 10, 3, 4, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, True),
    ("groups2_s2", 2, 8, 7, 6, 4, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 2, False),
    ("depthwise", 2, 6, 6, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 16, True),
    ("depthwise_s2", 1, 9, 9, 20, 20, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 20, True),
    ("chanmult2", 2, 5, 6, 3, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, True),
    ("gray_to_32", 2, 8, 8, 1, 32, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, True),
    ("pointwise", 2, 5, 4, 12, 7, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, False),
    ("pointwise_s2", 1, 7, 7, 8, 5, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, True),
    ("rect5x2", 1, 10, 9, 5, 3, 5, 2, 2, 1, 2, 0, 1, 1, 1, 2, 1, True),
]

OUT = {}
META = {}


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32)


def put(name, arr):
    assert name not in OUT, name
    OUT[name] = np.ascontiguousarray(arr, dtype=np.float32)


def run_case(name, n, h, w, c, oc, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, bias):
    x = torch.randn(n, c, h, w, dtype=torch.float32, requires_grad=True)
    wt = (torch.randn(oc, c // groups, kh, kw) / (kh * kw * c // groups) ** 0.5).requires_grad_(True)
    b = torch.randn(oc, requires_grad=True) if bias else None
    xp = F.pad(x, (pl, pr, pt, pb))
    y = F.conv2d(xp, wt, b, stride=(sh, sw), dilation=(dh, dw), groups=groups)
    dy = torch.randn_like(y)
    (y * dy).sum().backward()
    put(name + ".x", nhwc(x))
    put(name + ".w", wt.detach().permute(0, 2, 3, 1).contiguous().numpy())  # OIHW -> OHWI
    put(name + ".y", nhwc(y))
    put(name + ".dy", nhwc(dy))
    put(name + ".dx", nhwc(x.grad))
    put(name + ".dw", wt.grad.permute(0, 2, 3, 1).contiguous().numpy())
    if bias:
        put(name + ".b", b.detach().numpy())
        put(name + ".db", b.grad.numpy())
    META[name] = " ".join(str(v) for v in (n, h, w, c, oc, kh, kw, sh, sw, pt, pl, pb, pr, dh,
                                           dw, groups))


def main():
    for case in CASES:
        run_case(*case)
    META["generator"] = "tools/golden_conv.py, torch " + torch.__version__
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "tests", "golden", "conv.safetensors")
    size = save_safetensors(path, OUT, META)
    print("wrote %s: %d tensors, %d bytes" % (path, len(OUT), size))
    if size > 300_000:
        sys.exit("golden file too large")


if __name__ == "__main__":
    main()
