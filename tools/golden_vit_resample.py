#!/usr/bin/env python3
"""Golden data for tx_vit_resample_pos_embed (src/models/vit.h): timm's
resample_abs_pos_embed (bicubic, antialias, one class token) on random position
embeddings, shrinking and growing, square and not.

Run with a Python that has torch and timm (not needed by CI):
    /work/gvenv/bin/python tools/golden_vit_resample.py
Writes tests/golden/vit_resample.safetensors: for case k, "src.k" F32 [1 + sh*sw, d] and
"dst.k" F32 [1 + gh*gw, d]; metadata "cases" = JSON [[sh, sw, gh, gw, d], ...].
dst is timm's computation done in float64 (timm casts to float32, whose antialiased bicubic
is off by a few 1e-6; the script checks timm's own result is that close), so the C code,
which works in double, is held to the exact answer.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_common import save_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden",
                   "vit_resample.safetensors")

# (sh, sw, gh, gw, d): 224 -> 32 px, 224 -> 384, 224 -> 32x48, 32 -> 224, odd shrink/grow
CASES = [(14, 14, 2, 2, 8), (14, 14, 24, 24, 4), (14, 14, 2, 3, 8), (2, 2, 14, 14, 8),
         (7, 7, 3, 5, 6), (5, 5, 9, 9, 4), (14, 14, 14, 14, 4)]


def main():
    from timm.layers import resample_abs_pos_embed
    g = torch.Generator().manual_seed(4)
    out = {}
    for k, (sh, sw, gh, gw, d) in enumerate(CASES):
        src = torch.randn(1, 1 + sh * sw, d, generator=g)
        dst = resample_abs_pos_embed(src, new_size=[gh, gw], old_size=[sh, sw], num_prefix_tokens=1)
        # the same steps as timm's resample_abs_pos_embed, in float64
        grid = src[:, 1:].double().reshape(1, sh, sw, d).permute(0, 3, 1, 2)
        if (sh, sw) != (gh, gw):
            grid = torch.nn.functional.interpolate(grid, size=[gh, gw], mode="bicubic",
                                                   antialias=True)
        ref = torch.cat([src[:, :1].double(), grid.permute(0, 2, 3, 1).reshape(1, -1, d)], 1)
        assert (ref - dst.double()).abs().max() < 2e-5, (sh, sw, gh, gw)
        dst = ref.float()
        out["src.%d" % k] = src[0].numpy()
        out["dst.%d" % k] = dst[0].detach().numpy()
    n = save_safetensors(OUT, out, {"cases": json.dumps(CASES)})
    print("%s: %d bytes" % (os.path.relpath(OUT), n))


if __name__ == "__main__":
    main()
