"""Synthetic, reproducible weights for architecture golden tests (tools/golden_arch*.py).

Full-size architectures have tens of millions of parameters, too many to commit. Instead
every state-dict tensor is filled by a formula of its name and flat index that C computes
to the same bits (tests/synth.h): the golden file stores only the input, the expected
logits and a few gradients, and the C test rebuilds the state dict under the same names.

For tensor `name` (the SOURCE state-dict name, torchvision's or timm's), element i of its
flat PyTorch-layout data:
    h = fnv1a64(name bytes);  v = splitmix64(h + i) (mod 2^64);  u = (v >> 40) / 2^24
    r = 2u - 1                                   (in [-1, 1), exact in double)
    ndim >= 2:                 sqrt(3 / fan_in) * r, fan_in = numel / shape[0]
    ndim 1, "running_var":     0.5 + u
    ndim 1, ends "weight" or "gamma" (norm / layer-scale weights): 1 + 0.25 * r
    other ndim 1 (biases, running_mean, ...): 0.1 * r
    ndim 0 (num_batches_tracked): 0
computed in double, then rounded to float32 (integers: 0).
"""
import math

import numpy as np

M64 = (1 << 64) - 1


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def _splitmix64(x):
    """vectorized over a uint64 numpy array (wrapping arithmetic)"""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def synth(name, shape):
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape)) if shape else 1
    if len(shape) == 0:
        return np.zeros(shape, np.float32)
    h = np.uint64(fnv1a64(name))
    with np.errstate(over="ignore"):
        v = _splitmix64(h + np.arange(n, dtype=np.uint64))
    u = (v >> np.uint64(40)).astype(np.float64) / float(1 << 24)
    r = 2.0 * u - 1.0
    if len(shape) >= 2:
        x = math.sqrt(3.0 / (n // shape[0])) * r
    elif name.endswith("running_var"):
        x = 0.5 + u
    elif name.endswith("weight") or name.endswith("gamma"):
        x = 1.0 + 0.25 * r
    else:
        x = 0.1 * r
    return x.astype(np.float32).reshape(shape)


def fill_state_dict(model):
    """Overwrites every parameter and buffer of a torch module with synth values."""
    import torch
    with torch.no_grad():
        for k, t in model.state_dict().items():
            if t.dtype.is_floating_point:
                t.copy_(torch.from_numpy(synth(k, t.shape)))
            else:
                t.zero_()
