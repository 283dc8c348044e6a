#!/usr/bin/python3
"""Golden tensors for the second set of op kernels (activations for the mobile CNNs,
channel scaling, layer norm, drop path, attention, class token / position embedding):
PyTorch computes the forward outputs and the gradients of loss = sum(dy * y) for a
random dy, in float32 on the CPU.

Run with Debian's PyTorch:  /usr/bin/python3 tools/golden_ops2.py
Writes tests/golden/ops2.safetensors (read by tests/test_ops2_golden.c; the tests never
need PyTorch). 4-D tensors are saved NHWC (taxon's layout).

timm is not needed: drop_path and the attention core are written out below exactly as
timm computes them (timm.layers.drop.drop_path; timm.layers.Attention.forward on its
non-fused path: q * scale, q @ k^T, softmax, @ v). The drop-path mask is given (not
drawn) so that C can apply the same one; it is saved as I32.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

from golden_common import save_safetensors

torch.manual_seed(0)
torch.set_num_threads(1)
torch.backends.mkldnn.enabled = False

OUT = {}


def put(name, t, nhwc=True):
    a = t.detach().cpu() if isinstance(t, torch.Tensor) else torch.as_tensor(t)
    if a.dim() == 4 and nhwc:  # NCHW -> NHWC
        a = a.permute(0, 2, 3, 1)
    if a.dtype == torch.float64:
        a = a.float()
    a = a.contiguous().numpy()
    if a.dtype in (np.int64, np.bool_, np.uint8):
        a = a.astype(np.int32)
    assert a.dtype in (np.float32, np.int32), (name, a.dtype)
    assert name not in OUT, name
    OUT[name] = a


def randn(*shape, scale=1.0, shift=0.0, dtype=torch.float32):
    """Float32 values (what the C side reads), converted to dtype."""
    return (torch.randn(*shape) * scale + shift).float().to(dtype)


def grads(y, inputs):
    """Random dy, loss = sum(dy * y); returns dy and d loss / d input for each input."""
    dy = randn(*y.shape, dtype=y.dtype)
    g = torch.autograd.grad(y, inputs, dy)
    return dy, g


def put_all(tag, **kw):
    for k, v in kw.items():
        put(f"{tag}.{k}", v)


# ---- activations ---------------------------------------------------------------------

def activation(tag, fn):
    # random values plus the points where the piecewise ones change rule, and the tails
    special = torch.tensor([-3.0, 3.0, 0.0, 6.0, -6.0, -2.9999998, 2.9999998, -3.0000002,
                            3.0000002, 1e-6, -1e-6, 10.0, -10.0, 20.0, -20.0, 40.0, -40.0,
                            88.0, -88.0, 100.0, -100.0])
    x = torch.cat([randn(160, scale=3.0), randn(40, scale=0.3), special]).requires_grad_()
    y = fn(x)
    dy, (dx,) = grads(y, (x,))
    put_all(tag, x=x, y=y, dy=dy, dx=dx)


# ---- channel scaling ------------------------------------------------------------------

def chanmul(tag, n, c, h, w):
    x = randn(n, c, h, w).requires_grad_()
    s = torch.sigmoid(randn(n, c)).requires_grad_()  # an SE gate
    y = x * s[:, :, None, None]
    dy, (dx, ds) = grads(y, (x, s))
    put_all(tag, x=x, s=s, y=y, dy=dy, dx=dx, ds=ds)


def layerscale(tag, n, t, d):
    x = randn(n, t, d).requires_grad_()
    gamma = (randn(d, scale=0.1) + 1e-6).requires_grad_()
    y = x * gamma  # timm LayerScale (inplace=False); ConvNeXt's x.mul(gamma) on NHWC
    dy, (dx, dg) = grads(y, (x, gamma))
    put_all(tag, x=x, gamma=gamma, y=y, dy=dy, dx=dx, dgamma=dg)


# ---- layer norm -----------------------------------------------------------------------

def layernorm(tag, shape, eps, mean=0.0, std=1.0, nchw=False, dtype=torch.float32):
    """shape[-1] (or dim 1 when nchw, as timm's LayerNorm2d) is normalized."""
    x = randn(*shape, scale=std, shift=mean, dtype=dtype).requires_grad_()
    c = shape[1] if nchw else shape[-1]
    w = (torch.rand(c) + 0.5).to(dtype).requires_grad_()
    b = randn(c, scale=0.5, dtype=dtype).requires_grad_()
    if nchw:  # timm LayerNorm2d: permute to channels-last, layer_norm, permute back
        y = F.layer_norm(x.permute(0, 2, 3, 1), (c,), w, b, eps).permute(0, 3, 1, 2)
    else:
        y = F.layer_norm(x, (c,), w, b, eps)
    dy, (dx, dw, db) = grads(y, (x, w, b))
    put_all(tag, x=x, w=w, b=b, y=y, dy=dy, dx=dx, dw=dw, db=db)


# ---- drop path ------------------------------------------------------------------------

def drop_path_timm(x, keep_mask, drop_prob):
    """timm.layers.drop.drop_path(training=True, scale_by_keep=True) with the Bernoulli
    draw replaced by the given mask."""
    if drop_prob == 0.0:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    random_tensor = keep_mask.to(x.dtype).reshape(shape).clone()
    if keep_prob > 0.0:
        random_tensor.div_(keep_prob)
    return x * random_tensor


def droppath(tag, shape, p, mask):
    x = randn(*shape).requires_grad_()
    m = torch.tensor(mask, dtype=torch.int32)
    y = drop_path_timm(x, m, p)
    dy, (dx,) = grads(y, (x,))
    put_all(tag, x=x, keep=m, y=y, dy=dy, dx=dx, p=torch.tensor([p], dtype=torch.float32))


# ---- attention ------------------------------------------------------------------------

def attention_timm(qkv, heads):
    """timm Attention.forward between the qkv Linear and the proj Linear (no q/k norm,
    no dropout, non-fused path). qkv: [B, N, 3*D]. Returns x [B, N, D] and attn."""
    B, N, threeD = qkv.shape
    D = threeD // 3
    hd = D // heads
    scale = hd ** -0.5
    qkv = qkv.reshape(B, N, 3, heads, hd).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    q = q * scale
    attn = q @ k.transpose(-2, -1)
    attn = attn.softmax(dim=-1)
    x = attn @ v
    x = x.transpose(1, 2).reshape(B, N, D)
    return x, attn


def attention(tag, n, t, heads, hd, scale=1.0):
    qkv = randn(n, t, 3 * heads * hd, scale=scale).requires_grad_()
    y, attn = attention_timm(qkv, heads)
    dy, (dqkv,) = grads(y, (qkv,))
    put_all(tag, qkv=qkv, y=y, dy=dy, dqkv=dqkv,
            dims=torch.tensor([n, t, heads, hd], dtype=torch.int32))
    put(f"{tag}.probs", attn, nhwc=False)  # [n, heads, t, t] as it is


# ---- class token, position embedding, token pooling -------------------------------------

def cls_pos(tag, n, t, d, with_cls):
    x = randn(n, t, d).requires_grad_()
    if with_cls:
        cls = randn(1, 1, d, scale=0.02).requires_grad_()
        pos = randn(1, t + 1, d, scale=0.02).requires_grad_()
        y = torch.cat((cls.expand(n, -1, -1), x), dim=1) + pos  # timm _pos_embed
        dy, (dx, dcls, dpos) = grads(y, (x, cls, pos))
        put_all(tag, cls=cls.reshape(d), dcls=dcls.reshape(d))
    else:
        pos = randn(1, t, d, scale=0.02).requires_grad_()
        y = x + pos
        dy, (dx, dpos) = grads(y, (x, pos))
    put_all(tag, x=x, pos=pos.reshape(-1, d), y=y, dy=dy, dx=dx, dpos=dpos.reshape(-1, d))


def token0(tag, n, t, d):
    x = randn(n, t, d).requires_grad_()
    y = x[:, 0]
    dy, (dx,) = grads(y, (x,))
    put_all(tag, x=x, y=y, dy=dy, dx=dx)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "ops2.safetensors"))
    activation("sigmoid", torch.sigmoid)
    activation("silu", torch.nn.SiLU())
    activation("gelu", torch.nn.GELU())  # approximate='none' (erf)
    activation("hardsigmoid", torch.nn.Hardsigmoid())
    activation("hardswish", torch.nn.Hardswish())
    activation("relu6", torch.nn.ReLU6())
    chanmul("chanmul", 2, 5, 3, 4)
    chanmul("chanmul_c1", 3, 1, 2, 2)
    layerscale("layerscale", 2, 3, 7)
    layernorm("ln", (2, 5, 24), 1e-6)                       # ViT: [n, tokens, d]
    # one channel: y = b, so every gradient but db is exactly 0; float PyTorch leaves
    # rounding noise of ~1e-5 there (rstd = 1/sqrt(eps) amplifies it): double instead
    layernorm("ln_c1", (3, 1), 1e-5, dtype=torch.float64)
    layernorm("ln_nhwc", (2, 6, 3, 4), 1e-6, nchw=True)     # ConvNeXt LayerNorm2d
    # |mean| >> std: float PyTorch loses ~1e-3 here, so this case is computed in double
    # (and stored as float) - the kernel matches the exact result, not float rounding
    layernorm("ln_offset", (4, 32), 1e-6, mean=300.0, std=0.05, dtype=torch.float64)
    droppath("droppath", (4, 3, 5), 0.25, [1, 0, 1, 1])
    droppath("droppath_nhwc", (3, 2, 3, 3), 0.5, [0, 1, 1])
    droppath("droppath_p1", (2, 4), 1.0, [0, 0])
    attention("attn", 2, 7, 3, 4)
    attention("attn_t1", 1, 1, 1, 8)                        # one token, one head
    attention("attn_h2", 2, 17, 2, 16)
    attention("attn_hd64", 1, 9, 2, 64)                     # ViT head size
    attention("attn_sharp", 1, 6, 2, 8, scale=4.0)          # large logits
    cls_pos("clspos", 2, 4, 6, True)
    cls_pos("pos_only", 2, 3, 5, False)
    token0("token0", 3, 4, 5)
    meta = {"generator": "tools/golden_ops2.py", "torch": torch.__version__,
            "layout": "NHWC"}
    size = save_safetensors(out, OUT, meta)
    print(f"wrote {out}: {len(OUT)} tensors, {size} bytes")


if __name__ == "__main__":
    main()
