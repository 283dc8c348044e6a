#!/usr/bin/env python3
"""Golden tensors for the full-size architectures (issue 4): timm's and torchvision's
models with synthetic weights (golden_synth.fill_state_dict: a formula of tensor name and
index that tests/synth.h reproduces in C), so no weights are committed.

Run with a Python that has torch, timm and torchvision (not needed by CI):
    /work/gvenv/bin/python tools/golden_arch.py [NAME_SUBSTRING ...]
Writes tests/golden/arch_<source>_<arch><tag>.safetensors, one per ARCHS entry (tag: an
entry's optional file-name suffix, for a second configuration of an architecture):
  "input"        F32 [N, C, H, W]   (PyTorch layout; the C test transposes to NHWC)
  "logits"       F32 [N, classes]   eval mode, computed in float64 (the exact answer for
                                    these float32 weights and input, rounded once)
  "logits_f32"   F32 [N, classes]   eval mode as PyTorch computes it in float32 (context:
                                    how far PyTorch's own float32 result is)
and for entries with grads (train mode, every drop rate 0, float64):
  "train_logits" F32 [N, classes]
  "dout"         F32 [N, classes]   backward seed: loss = sum(train_logits * dout)
  "grad.<name>"  F32, PyTorch layout, for the state-dict names listed in the entry
  "gradnorm"     F32 [P]            sqrt(sum of squares) of the grad of each state-dict
                                    entry in the order of metadata "params" (0 for buffers)
metadata: arch (taxon's name), source ("timm" / "torchvision"), model (the library's
name), image_size, classes, batch, params (JSON list of [name, shape] of the full state
dict), param_count (trainable parameters of the library's model at its default input
size with 1000 classes), reference ("float64"), grad_tol (entries with grads: the
tolerance of a gradient, as a fraction of its largest element; default 1e-4).

grad_tol: train-mode batch norm over few samples (2 images, 2x2 at the last stages)
cancels most of the gradient it passes back, so some networks are ill-conditioned there:
for MobileNetV2 PyTorch's own float32 gradients are 1e-2 of their scale away from the
float64 ones (printed as "torch f32 grads"); such entries set a larger grad_tol.

ARCHS is the table of what is generated; other architecture files add entries to it.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_common import save_safetensors  # noqa: E402
from golden_synth import fill_state_dict  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden")


def timm_model(name, size_kw=False, **fixed):
    """make(classes, image_size) for timm model `name`; fixed kwargs passed through.
    size_kw: the model takes img_size (vision transformers); size None: its default."""
    def make(classes, size):
        import timm
        kw = dict(fixed, num_classes=classes, drop_rate=0.0, drop_path_rate=0.0)
        if size_kw and size is not None:
            kw["img_size"] = size
        return timm.create_model(name, pretrained=False, **kw)
    return make


def tv_model(name, **fixed):
    """make(classes, image_size) for torchvision model `name` with drop rates 0."""
    def make(classes, size):
        import torchvision.models as tvm
        kw = dict(fixed, num_classes=classes)
        if size is not None and name.startswith("vit"):
            kw["image_size"] = size
        return tvm.get_model(name, weights=None, **kw)
    return make


# arch: taxon's name; model: the library's; make(classes, size) builds it; size/classes/
# batch: the golden configuration; default_size: the size param_count is taken at;
# grads: state-dict names whose gradients are stored (None: eval only).
ARCHS = [
    dict(arch="resnet18", source="timm", model="resnet18", make=timm_model("resnet18"),
         size=64, classes=5, batch=2,
         grads=["conv1.weight", "layer2.0.bn1.weight", "layer3.1.bn2.weight",
                "layer4.0.downsample.1.bias", "fc.weight", "fc.bias"]),
    dict(arch="resnet34", source="timm", model="resnet34", make=timm_model("resnet34"),
         size=64, classes=5, batch=2),
    dict(arch="resnet50", source="timm", model="resnet50", make=timm_model("resnet50"),
         size=64, classes=5, batch=2),
    dict(arch="mobilenet_v2", source="timm", model="mobilenetv2_100",
         make=timm_model("mobilenetv2_100"), size=64, classes=5, batch=2,
         grads=["conv_stem.weight", "blocks.0.0.conv_dw.weight", "blocks.3.2.bn2.weight",
                "blocks.2.1.conv_pwl.weight", "bn2.bias", "classifier.weight",
                "classifier.bias"], grad_tol=1e-3),
    dict(arch="efficientnet_b0", source="timm", model="efficientnet_b0",
         make=timm_model("efficientnet_b0"), size=64, classes=5, batch=2),
    dict(arch="resnet18", source="torchvision", model="resnet18", make=tv_model("resnet18"),
         size=64, classes=5, batch=2),
    dict(arch="resnet34", source="torchvision", model="resnet34", make=tv_model("resnet34"),
         size=64, classes=5, batch=2),
    dict(arch="resnet50", source="torchvision", model="resnet50", make=tv_model("resnet50"),
         size=64, classes=5, batch=2),
    # 120x120: 30x30 maps in the first stage, where the packed forward takes Winograd
    # F(4x4, 3x3) (at least 36 4x4 tiles per image; partial tiles at the edges)
    dict(arch="resnet50", source="torchvision", model="resnet50", make=tv_model("resnet50"),
         size=120, classes=5, batch=1, tag="_120"),
    dict(arch="mobilenet_v2", source="torchvision", model="mobilenet_v2",
         make=tv_model("mobilenet_v2", dropout=0.0), size=64, classes=5, batch=2,
         grads=["features.0.0.weight", "features.4.conv.1.1.weight", "features.4.conv.2.weight",
                "classifier.1.weight", "classifier.1.bias"], grad_tol=1e-3),
    dict(arch="efficientnet_b0", source="torchvision", model="efficientnet_b0",
         make=tv_model("efficientnet_b0", dropout=0.0, stochastic_depth_prob=0.0), size=64,
         classes=5, batch=2),
    # vision transformers and ConvNeXt (src/models/vit.c, convnext.c)
    dict(arch="vit_tiny_patch16_224", source="timm", model="vit_tiny_patch16_224",
         make=timm_model("vit_tiny_patch16_224", size_kw=True), size=32, classes=5, batch=2,
         grads=["patch_embed.proj.bias", "cls_token", "pos_embed", "blocks.0.norm1.weight",
                "blocks.0.attn.qkv.bias", "blocks.5.attn.proj.bias", "blocks.11.attn.proj.weight",
                "blocks.11.mlp.fc1.bias", "blocks.11.mlp.fc2.bias", "norm.weight", "head.weight",
                "head.bias"]),
    dict(arch="vit_small_patch16_224", source="timm", model="vit_small_patch16_224",
         make=timm_model("vit_small_patch16_224", size_kw=True), size=32, classes=5, batch=2),
    dict(arch="vit_base_patch16_224", source="timm", model="vit_base_patch16_224",
         make=timm_model("vit_base_patch16_224", size_kw=True), size=32, classes=5, batch=2),
    dict(arch="convnext_tiny", source="timm", model="convnext_tiny",
         make=timm_model("convnext_tiny"), size=64, classes=5, batch=2),
    dict(arch="vit_base_patch16_224", source="torchvision", model="vit_b_16",
         make=tv_model("vit_b_16", dropout=0.0, attention_dropout=0.0), size=32, classes=5,
         batch=2),
    dict(arch="convnext_tiny", source="torchvision", model="convnext_tiny",
         make=tv_model("convnext_tiny", stochastic_depth_prob=0.0), size=64, classes=5, batch=2),
]


def _seed_of(s):
    h = 0
    for ch in s.encode():
        h = (h * 131 + ch) % (1 << 31)
    return h


def generate(e):
    torch.manual_seed(0)
    classes, size, batch = e["classes"], e["size"], e["batch"]
    model = e["make"](classes, size)
    fill_state_dict(model)
    sd = model.state_dict()
    params = [[k, list(v.shape)] for k, v in sd.items()]
    default = e["make"](1000, e.get("default_size"))
    param_count = sum(p.numel() for p in default.parameters())
    del default

    g = torch.Generator().manual_seed(_seed_of(e["source"] + "/" + e["arch"]))
    x = torch.randn(batch, 3, size, size, generator=g, dtype=torch.float32)
    out = {"input": x.numpy()}
    model.eval()
    with torch.no_grad():
        out["logits_f32"] = model(x).numpy()
    m64 = model.double()
    with torch.no_grad():
        out["logits"] = m64(x.double()).float().numpy()
    grads = e.get("grads")
    if grads:
        m64.train()
        dout = torch.randn(batch, classes, generator=g, dtype=torch.float32)
        y = m64(x.double())
        out["train_logits"] = y.detach().float().numpy()
        out["dout"] = dout.numpy()
        m64.zero_grad()
        (y * dout.double()).sum().backward()
        named = dict(m64.named_parameters())
        for n in grads:
            out["grad." + n] = named[n].grad.float().numpy()
        gn = []
        for k, _ in params:
            p = named.get(k)
            gn.append(0.0 if p is None or p.grad is None else float(p.grad.norm()))
        out["gradnorm"] = np.array(gn, np.float32)
        # context: how far PyTorch's float32 gradients are from these
        m32 = model.float()
        m32.train()
        m32.zero_grad()
        (m32(x) * dout).sum().backward()
        n32 = dict(m32.named_parameters())
        f32_err = max(float((n32[n].grad.double() - torch.from_numpy(out["grad." + n]).double())
                            .abs().max() / max(1e-30, float(np.abs(out["grad." + n]).max())))
                      for n in grads)
    meta = dict(arch=e["arch"], source=e["source"], model=e["model"], image_size=size,
                classes=classes, batch=batch, param_count=param_count, reference="float64",
                params=json.dumps(params, separators=(",", ":")))
    if grads:
        meta["grad_tol"] = e.get("grad_tol", 1e-4)
    path = os.path.join(OUT, "arch_%s_%s%s.safetensors" % (e["source"], e["arch"], e.get("tag", "")))
    n = save_safetensors(path, out, meta)
    d = np.abs(out["logits_f32"] - out["logits"]).max()
    print("%-60s %8d bytes  |logits| max %.3g, torch f32 vs f64 %.3g%s" %
          (os.path.relpath(path), n, np.abs(out["logits"]).max(), d,
           ", torch f32 grads %.3g of scale" % f32_err if grads else ""))


def main():
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    pats = sys.argv[1:]
    for e in ARCHS:
        key = "%s_%s" % (e["source"], e["arch"])
        if pats and not any(p in key for p in pats):
            continue
        generate(e)


if __name__ == "__main__":
    main()
