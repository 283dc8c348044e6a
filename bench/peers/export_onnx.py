#!/usr/bin/python3
"""Export torchvision architectures (random weights, seed 0) to ONNX for the ONNX Runtime peer.

Runs under Debian's /usr/bin/python3 (python3-torch 1.13 + python3-torchvision 0.14).
Random weights are made realistic: batch-norm running statistics are set from one batch of
random images (otherwise activations shrink through MobileNetV2/EfficientNet until the logits
are ~1e-14), and ViT's zero-initialized head gets random weights.
Writes bench/peers/cache/NAME.pt (the state dict, which the PyTorch peer loads, so both peers
run identical weights), NAME.onnx (batch axis dynamic, opset 14) and NAME.ref.npz (a fixed
batch-2 input and PyTorch's logits for it, so run_peer.py --peer ort can check that ORT runs
the same network). Existing files of the current VERSION are kept unless --force.

    /usr/bin/python3 bench/peers/export_onnx.py [--force] [NAME ...]
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, "cache")
MODELS = ["resnet50", "resnet18", "mobilenet_v2", "efficientnet_b0", "vit_b_16"]
ALIASES = {"vit_base_patch16_224": "vit_b_16", "vit_b16": "vit_b_16",
           "mobilenetv2": "mobilenet_v2", "efficientnet-b0": "efficientnet_b0"}


def canonical(name):
    return ALIASES.get(name, name)


VERSION = 2  # bump when build() changes: cached files of another version are re-exported


def paths(name):
    base = os.path.join(CACHE, canonical(name))
    return base + ".pt", base + ".onnx", base + ".ref.npz"


def build(name):
    """torchvision model with random weights (no downloads), calibrated batch norm, eval mode."""
    import torch
    import torchvision
    name = canonical(name)
    if name not in MODELS:
        raise SystemExit(f"export_onnx: unknown model '{name}' (known: {', '.join(MODELS)})")
    torch.manual_seed(0)
    m = getattr(torchvision.models, name)(weights=None, num_classes=1000)
    if name == "vit_b_16":
        # torchvision zero-initializes the ViT head: give it random weights so logits mean something
        head = m.heads.head
        torch.nn.init.normal_(head.weight, std=0.02)
        torch.nn.init.normal_(head.bias, std=0.02)
    bns = [b for b in m.modules() if isinstance(b, torch.nn.modules.batchnorm._BatchNorm)]
    if bns:
        for b in bns:
            b.reset_running_stats()
            b.momentum = None  # cumulative average: after one batch, the batch's statistics
        m.train()
        with torch.no_grad():
            m(torch.randn(4, 3, 224, 224, generator=torch.Generator().manual_seed(2)))
        for b in bns:
            b.momentum = 0.1
    return m.eval()


def load(name):
    """The cached model (exported first if needed): what both peers run."""
    import torch
    export(name)
    m = build_skeleton(name)
    m.load_state_dict(torch.load(paths(name)[0]))
    return m.eval()


def build_skeleton(name):
    import torchvision
    return getattr(torchvision.models, canonical(name))(weights=None, num_classes=1000)


def cached(name):
    import numpy as np
    pt, onnx_path, ref = paths(name)
    if not all(os.path.exists(p) for p in (pt, onnx_path, ref)):
        return False
    try:
        return int(np.load(ref)["version"]) == VERSION
    except (KeyError, ValueError, OSError):
        return False


def export(name, force=False):
    import numpy as np
    import torch
    name = canonical(name)
    os.makedirs(CACHE, exist_ok=True)
    pt, path, ref = paths(name)
    if not force and cached(name):
        return path
    m = build(name)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 224, 224, generator=g)
    # Autograd stays enabled: under no_grad torch 1.13 takes the fused attention fast path
    # for ViT, which has no ONNX export. The CNNs export the same either way.
    tmp = path + ".tmp.onnx"
    torch.onnx.export(m, x, tmp, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=14, do_constant_folding=True)
    with torch.no_grad():
        y = m(x)
    torch.save(m.state_dict(), pt + ".tmp")
    os.replace(pt + ".tmp", pt)
    os.replace(tmp, path)
    np.savez(ref + ".tmp.npz", input=x.numpy(), logits=y.numpy(), version=VERSION)
    os.replace(ref + ".tmp.npz", ref)  # last: marks the set complete
    print(f"export_onnx: wrote {os.path.relpath(path)} ({os.path.getsize(path) / 1e6:.1f} MB), "
          f"logits |max| {float(y.abs().max()):.3g}", file=sys.stderr)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("models", nargs="*", default=MODELS)
    ap.add_argument("--force", action="store_true", help="re-export even if cached")
    a = ap.parse_args()
    for n in a.models:
        print(export(n, a.force))


if __name__ == "__main__":
    main()
