#!/usr/bin/env python3
"""make_int8_mobilenet_v2.py - writes an int8 MobileNetV2 (224x224, 1001 classes) .tflite for
the latency benchmark: the layout TFLite's converter gives a full-integer-quantized
MobileNetV2 (int8 activations, per-channel int8 weights, int32 biases, int8 input and
output, RELU6 fused into the convolutions, residual ADDs, AVERAGE_POOL_2D 7x7, a 1x1 conv
head, RESHAPE, SOFTMAX). ../shared/models holds only the uint8 (per-tensor) MobileNetV2;
this is its int8 counterpart. The weights are random (He-initialized; latency does not
depend on them) and every activation's quantization comes from a float forward pass on a
random image, so the integer model computes something sensible. TFLite runs it with
XNNPACK's QS8 kernels.

    .venv/bin/python bench/peers/make_int8_mobilenet_v2.py [OUT]
        (default bench/peers/cache/mobilenet_v2_1.0_224_int8.tflite; deterministic)
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import golden_tflite_models as gm  # noqa: E402  (Graph: tensors, ops and a float forward)


def build():
    gm.rng.seed(20261124)
    g = gm.Graph("s8")
    xv = gm.rng.uniform(-1, 1, (1, 224, 224, 3))
    x = g.act("input", xv, fixed=(1 / 128, 0))
    y = g.conv(x, 32, 3, 2, "relu6")
    c = 32
    for t, co, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                        (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            st = s if i == 0 else 1
            h = y
            if t != 1:
                h = g.conv(h, c * t, 1, 1, "relu6")
            h = g.conv(h, 0, 3, st, "relu6", dw=True)
            h = g.conv(h, co, 1, 1, "none")
            if st == 1 and c == co:
                h = g.binary("ADD", h, y)
            y, c = h, co
    y = g.conv(y, 1280, 1, 1, "relu6")
    y = g.pool("avg", y, 7, 1, False)
    y = g.conv(y, 1001, 1, 1, "none")
    y = g.reshape(y, [1, 1001])
    y = g.softmax(y)
    return g.model(x, y)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "cache", "mobilenet_v2_1.0_224_int8.tflite")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    buf = build()
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(buf)
    os.replace(tmp, out)
    print(f"{out}: {len(buf)} bytes")


if __name__ == "__main__":
    main()
