#!/usr/bin/python3
"""Golden tensors for the op kernels in src/ops (everything but gemm and conv):
PyTorch computes forward outputs and gradients (loss = sum(dy * y) for a random dy, or
the mean cross-entropy itself) for small random cases, in float32 on the CPU.

Run with Debian's PyTorch:  /usr/bin/python3 tools/golden_ops.py
Writes tests/golden/ops.safetensors. 4-D tensors are saved NHWC (taxon's layout);
labels and max-pool indices (into the h*w plane) as I32. tests/test_ops_golden.c reads
it; the tests never need PyTorch.
"""
import os
import sys

import numpy as np

from golden_common import save_safetensors
import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(1)
torch.backends.mkldnn.enabled = False

OUT = {}


def put(name, t):
    a = t.detach().cpu() if isinstance(t, torch.Tensor) else torch.as_tensor(t)
    if a.dim() == 4:  # NCHW -> NHWC
        a = a.permute(0, 2, 3, 1)
    a = a.contiguous().numpy()
    if a.dtype == np.int64:
        a = a.astype(np.int32)
    assert a.dtype in (np.float32, np.int32), (name, a.dtype)
    assert name not in OUT, name
    OUT[name] = a


def randn(*shape, scale=1.0, shift=0.0):
    return (torch.randn(*shape) * scale + shift).float()


def grads(y, inputs):
    """Random dy, loss = sum(dy * y); returns dy and d loss / d input for each input."""
    dy = randn(*y.shape)
    g = torch.autograd.grad(y, inputs, dy)
    return dy, g


def batchnorm_train(tag, n, c, h, w, mean=0.0, std=1.0):
    x = randn(n, c, h, w, scale=std, shift=mean).requires_grad_()
    gamma = (torch.rand(c) + 0.5).requires_grad_()
    beta = randn(c, scale=0.5).requires_grad_()
    rm, rv = randn(c, scale=0.3), torch.rand(c) + 0.5
    put(f"{tag}.x", x), put(f"{tag}.gamma", gamma), put(f"{tag}.beta", beta)
    put(f"{tag}.running_mean_in", rm), put(f"{tag}.running_var_in", rv)
    rm, rv = rm.clone(), rv.clone()
    y, save_mean, save_invstd = torch.native_batch_norm(x, gamma, beta, rm, rv, True, 0.1, 1e-5)
    dy, (dx, dg, db) = grads(y, (x, gamma, beta))
    put(f"{tag}.y", y), put(f"{tag}.save_mean", save_mean), put(f"{tag}.save_invstd", save_invstd)
    put(f"{tag}.running_mean", rm), put(f"{tag}.running_var", rv)
    put(f"{tag}.dy", dy), put(f"{tag}.dx", dx), put(f"{tag}.dgamma", dg), put(f"{tag}.dbeta", db)


def batchnorm_eval(tag, n, c, h, w):
    x = randn(n, c, h, w)
    gamma, beta = torch.rand(c) + 0.5, randn(c, scale=0.5)
    rm, rv = randn(c, scale=0.3), torch.rand(c) + 0.5
    y = F.batch_norm(x, rm, rv, gamma, beta, training=False, eps=1e-5)
    for k, v in (("x", x), ("gamma", gamma), ("beta", beta), ("running_mean", rm),
                 ("running_var", rv), ("y", y)):
        put(f"{tag}.{k}", v)


def relu(tag):
    x = randn(2, 3, 4, 5).requires_grad_()
    y = F.relu(x)
    dy, (dx,) = grads(y, (x,))
    put(f"{tag}.x", x), put(f"{tag}.y", y), put(f"{tag}.dy", dy), put(f"{tag}.dx", dx)


def maxpool(tag, n, c, h, w, k, s, p):
    x = randn(n, c, h, w).requires_grad_()
    y, idx = F.max_pool2d(x, k, s, p, return_indices=True)
    dy, (dx,) = grads(y, (x,))
    put(f"{tag}.x", x), put(f"{tag}.y", y), put(f"{tag}.argmax", idx.to(torch.int32))
    put(f"{tag}.dy", dy), put(f"{tag}.dx", dx)


def avgpool(tag, n, c, h, w, k, s, p, include_pad):
    x = randn(n, c, h, w).requires_grad_()
    y = F.avg_pool2d(x, k, s, p, count_include_pad=include_pad)
    dy, (dx,) = grads(y, (x,))
    put(f"{tag}.x", x), put(f"{tag}.y", y), put(f"{tag}.dy", dy), put(f"{tag}.dx", dx)


def global_avgpool(tag, n, c, h, w):
    x = randn(n, c, h, w).requires_grad_()
    y = F.adaptive_avg_pool2d(x, 1).flatten(1)  # [n, c]
    dy, (dx,) = grads(y, (x,))
    put(f"{tag}.x", x), put(f"{tag}.y", y), put(f"{tag}.dy", dy), put(f"{tag}.dx", dx)


def linear(tag, n, fin, fout):
    x = randn(n, fin).requires_grad_()
    w = randn(fout, fin, scale=0.3).requires_grad_()
    b = randn(fout).requires_grad_()
    y = F.linear(x, w, b)
    dy, (dx, dw, db) = grads(y, (x, w, b))
    for k, v in (("x", x), ("w", w), ("b", b), ("y", y), ("dy", dy), ("dx", dx), ("dw", dw),
                 ("db", db)):
        put(f"{tag}.{k}", v)


def cross_entropy(tag, n, k, smoothing):
    logits = randn(n, k, scale=2.0).requires_grad_()
    labels = torch.randint(0, k, (n,))
    loss = F.cross_entropy(logits, labels, label_smoothing=smoothing)  # mean over n
    (dl,) = torch.autograd.grad(loss, (logits,))
    put(f"{tag}.logits", logits), put(f"{tag}.labels", labels.to(torch.int32))
    put(f"{tag}.loss", loss.reshape(1)), put(f"{tag}.probs", torch.softmax(logits, 1))
    put(f"{tag}.dlogits", dl)


def softmax(tag, n, k):
    x = randn(n, k, scale=3.0)
    put(f"{tag}.x", x), put(f"{tag}.y", torch.softmax(x, 1))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "ops.safetensors"))
    batchnorm_train("bn_train", 2, 3, 4, 5)
    batchnorm_train("bn_train_c1", 1, 1, 3, 3)           # batch 1, one channel
    # mean >> std: PyTorch's float transform loses ~1e-4 here (taxon keeps the mean as
    # hi+lo floats and matches a double reference far closer), so this case shows the
    # largest golden differences of all
    batchnorm_train("bn_train_offset", 4, 8, 3, 3, mean=50.0, std=0.1)
    batchnorm_eval("bn_eval", 2, 3, 4, 5)
    relu("relu")
    maxpool("maxpool_k2s2", 2, 3, 6, 6, 2, 2, 0)
    maxpool("maxpool_k3s2p1", 2, 3, 7, 5, 3, 2, 1)
    avgpool("avgpool_incl", 2, 3, 7, 5, 3, 2, 1, True)
    avgpool("avgpool_excl", 2, 3, 7, 5, 3, 2, 1, False)
    global_avgpool("gap", 2, 4, 3, 3)
    linear("linear", 4, 7, 5)
    cross_entropy("xent_s0", 6, 5, 0.0)
    cross_entropy("xent_s01", 6, 5, 0.1)
    softmax("softmax", 4, 6)
    meta = {"generator": "tools/golden_ops.py", "torch": torch.__version__,
            "layout": "NHWC", "bn_eps": "1e-5", "bn_momentum": "0.1"}
    size = save_safetensors(out, OUT, meta)
    print(f"wrote {out}: {len(OUT)} tensors, {size} bytes")


if __name__ == "__main__":
    main()
