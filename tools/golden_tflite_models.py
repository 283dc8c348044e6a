#!/usr/bin/env python3
"""golden_tflite_models.py - small whole .tflite models and TensorFlow Lite's own outputs
for them, for tests/test_tflite_import.c (taxon's importer + executor end to end).

The MobileNets in ../shared/models are all uint8 with per-tensor weights. These models
cover the rest of what the importer must handle: int8 activations with per-channel int8
weights behind a float input (QUANTIZE) and a float output (DEQUANTIZE), depthwise with a
depth multiplier, residual ADD, HARD_SWISH, a squeeze-excitation gate (MEAN -> 1x1 convs
-> LOGISTIC -> broadcast MUL), MAX/AVERAGE pooling, PAD, CONCATENATION of branches with
different quantization, RESHAPE, FULLY_CONNECTED, SOFTMAX; a float32 model, one with
float16 weights behind DEQUANTIZE; and models the importer must refuse ("errors": the
words their error message must contain).

Each model is built with tools/make_tflite_seeds.py's FlatBuffer writer; quantization
scales come from a float forward pass in numpy (so activations use their range). Each
runs in ai-edge-litert in two modes:
  y_xnn  OpResolverType.AUTO (TFLite's default CPU path: XNNPACK + optimized kernels)
  y_ref  OpResolverType.BUILTIN_REF (TFLite's reference kernels)
The file stores per case "<case>.tflite" (the model bytes, U8), "<case>.x" (input) and
both outputs; metadata "cases" lists them.

    .venv/bin/python tools/golden_tflite_models.py [OUT]
        (default tests/golden/tflite_models.safetensors; deterministic)
"""
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_tflite_seeds as fb  # noqa: E402
from golden_common import save_safetensors  # noqa: E402

from ai_edge_litert import interpreter as tfl  # noqa: E402

rng = np.random.RandomState(20261123)
U8, S8, I32, F32 = fb.UINT8, fb.INT8, fb.INT32, fb.FLOAT32
ACTS = {"none": fb.NONE, "relu": fb.RELU, "relu6": fb.RELU6}


def f32(v):
    return float(np.float32(v))


# ---- float reference ops (NHWC), only to pick quantization ranges ---------------------

def pads(size, k, s, same):
    if not same:
        return 0, 0, (size - k) // s + 1
    out = -(-size // s)
    tot = max((out - 1) * s + k - size, 0)
    return tot // 2, tot - tot // 2, out


def conv_f(x, w, b, s, same, groups=1):
    n, h, wd, c = x.shape
    oc, kh, kw, ic = w.shape
    pt, pb, oh = pads(h, kh, s, same)
    pl, pr, ow = pads(wd, kw, s, same)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    y = np.zeros((n, oh, ow, oc), np.float64)
    opg = oc // groups
    for o in range(oc):
        g = o // opg
        for ky in range(kh):
            for kx in range(kw):
                patch = xp[:, ky:ky + s * oh:s, kx:kx + s * ow:s, g * ic:(g + 1) * ic]
                y[..., o] += patch @ w[o, ky, kx, :]
    return y + b


def act_f(y, act):
    if act == "relu":
        return np.maximum(y, 0)
    if act == "relu6":
        return np.clip(y, 0, 6)
    return y


def pool_f(x, k, s, same, kind):
    n, h, w, c = x.shape
    pt, pb, oh = pads(h, k, s, same)
    pl, pr, ow = pads(w, k, s, same)
    y = np.zeros((n, oh, ow, c))
    for oy in range(oh):
        for ox in range(ow):
            y0, x0 = oy * s - pt, ox * s - pl
            win = x[:, max(y0, 0):min(y0 + k, h), max(x0, 0):min(x0 + k, w), :]
            y[:, oy, ox, :] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return y


# ---- graph builder: tensors, ops and the float forward side by side --------------------

class Graph:
    def __init__(self, qtype):
        self.qt = qtype              # "u8", "s8" or "f32": activation type
        self.tensors, self.ops, self.val = [], [], []

    def _add(self, t, v):
        self.tensors.append(t)
        self.val.append(v)
        return len(self.tensors) - 1

    def qparams(self, v, qt=None):
        qt = qt or self.qt
        lo, hi = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
        if hi - lo < 1e-3:
            hi = lo + 1e-3
        scale = f32((hi - lo) / 255.0 * rng.uniform(1.0, 1.1))
        qmin, qmax = (0, 255) if qt == "u8" else (-128, 127)
        zp = int(np.clip(round(qmin - lo / scale), qmin, qmax))
        return scale, zp

    def act(self, name, v, qt=None, fixed=None):
        qt = qt or self.qt
        if qt == "f32":
            return self._add(fb.Tensor(name, F32, list(v.shape)), v)
        scale, zp = fixed if fixed else self.qparams(v, qt)
        # what the integer model holds: the value rounded to its grid
        q = np.clip(np.round(v / scale) + zp, *((0, 255) if qt == "u8" else (-128, 127)))
        return self._add(fb.Tensor(name, U8 if qt == "u8" else S8, list(v.shape), scale=[scale], zero=[zp]),
                         (q - zp) * scale)

    def const(self, name, ttype, shape, data, scale=None, zero=None, qdim=0):
        return self._add(fb.Tensor(name, ttype, shape, scale=scale, zero=zero, qdim=qdim, data=data), None)

    def q(self, t):
        x = self.tensors[t]
        return x.scale[0], x.zero[0]

    def weights(self, name, w, per_channel, qdim):
        """Quantized (or float) weight tensor; returns (index, dequantized w, scales)."""
        if self.qt == "f32":
            return self.const(name, F32, list(w.shape), w.astype("<f4").tobytes()), w, None
        if self.qt == "s8":
            axes = tuple(i for i in range(w.ndim) if i != qdim)
            m = np.abs(w).max(axis=axes) if per_channel else np.array([np.abs(w).max()])
            sc = np.array([f32(v / 127.0) for v in np.maximum(m, 1e-4)], np.float32)
            shp = [1] * w.ndim
            if per_channel:
                shp[qdim] = -1
            q = np.clip(np.round(w / sc.reshape(shp)), -127, 127).astype(np.int8)
            t = self.const(name, S8, list(w.shape), q.tobytes(), scale=[float(s) for s in sc],
                           zero=[0] * len(sc), qdim=qdim if per_channel else 0)
            return t, q.astype(np.float64) * sc.reshape(shp), sc
        lo, hi = min(float(w.min()), 0.0), max(float(w.max()), 0.0)
        sc = f32((hi - lo) / 255.0)
        zp = int(np.clip(round(-lo / sc), 0, 255))
        q = np.clip(np.round(w / sc) + zp, 0, 255).astype(np.uint8)
        t = self.const(name, U8, list(w.shape), q.tobytes(), scale=[sc], zero=[zp])
        return t, (q.astype(np.float64) - zp) * sc, np.array([sc], np.float32)

    def bias(self, name, b, x, wsc):
        if self.qt == "f32":
            return self.const(name, F32, [len(b)], b.astype("<f4").tobytes()), b
        xs = self.q(x)[0]
        bs = np.array([f32(np.float32(xs) * np.float32(s)) for s in wsc], np.float32)  # as the weights
        full = np.broadcast_to(bs, b.shape).astype(np.float64)
        q = np.round(b / full).astype(np.int32)
        t = self.const(name, I32, [len(b)], q.astype("<i4").tobytes(), scale=[float(s) for s in bs],
                       zero=[0] * len(bs))
        return t, q * full

    def conv(self, x, oc, k, s, act="none", same=True, dw=False, dm=1, per_channel=True, name=None):
        name = name or f"conv{len(self.ops)}"
        xv = self.val[x]
        c = xv.shape[3]
        if dw:
            oc = c * dm
            w = rng.randn(1, k, k, oc) * np.sqrt(2.0 / (k * k))
            wt, wq, wsc = self.weights(name + "/w", w, per_channel, 3)
            wf = np.transpose(wq, (3, 1, 2, 0))   # -> [oc, k, k, 1]
        else:
            w = rng.randn(oc, k, k, c) * np.sqrt(2.0 / (k * k * c))
            wt, wq, wsc = self.weights(name + "/w", w, per_channel, 0)
            wf = wq
        b = rng.randn(oc) * 0.1
        bt, bq = self.bias(name + "/b", b, x, wsc)
        y = act_f(conv_f(xv, wf, bq, s, same, groups=c if dw else 1), act)
        out = self.act(name + "/out", y)
        if dw:
            opts = [(0, "b", fb.SAME if same else fb.VALID), (1, "i", s), (2, "i", s), (3, "i", dm),
                    (4, "b", ACTS[act]), (5, "i", 1), (6, "i", 1)]
            self.ops.append(("DEPTHWISE_CONV_2D", [x, wt, bt], [out], opts, {}))
        else:
            opts = [(0, "b", fb.SAME if same else fb.VALID), (1, "i", s), (2, "i", s), (3, "b", ACTS[act]),
                    (4, "i", 1), (5, "i", 1)]
            self.ops.append(("CONV_2D", [x, wt, bt], [out], opts, {}))
        return out

    def fc(self, x, oc, act="none"):
        name = f"fc{len(self.ops)}"
        xv = self.val[x].reshape(1, -1)
        w = rng.randn(oc, xv.shape[1]) * np.sqrt(1.0 / xv.shape[1])
        wt, wq, wsc = self.weights(name + "/w", w, True, 0)
        bt, bq = self.bias(name + "/b", rng.randn(oc) * 0.1, x, wsc)
        y = act_f(xv @ wq.T + bq, act)
        out = self.act(name + "/out", y)
        self.ops.append(("FULLY_CONNECTED", [x, wt, bt], [out], [(0, "b", ACTS[act]), (1, "b", 0), (2, "B", 0)], {}))
        return out

    def binary(self, op, a, b, act="none"):
        av, bv = self.val[a], self.val[b]
        y = act_f(av + bv if op == "ADD" else av * bv, act)
        out = self.act(f"{op.lower()}{len(self.ops)}", y)
        self.ops.append((op, [a, b], [out], [(0, "b", ACTS[act])], {}))
        return out

    def unary(self, op, x, fn, fixed=None, opts=None):
        out = self.act(f"{op.lower()}{len(self.ops)}", fn(self.val[x]), fixed=fixed)
        self.ops.append((op, [x], [out], opts, {}))
        return out

    def same_q(self, x, y):
        return self.act(f"t{len(self.tensors)}", y, fixed=None if self.qt == "f32" else self.q(x))

    def pool(self, kind, x, k, s, same, act="none"):
        y = act_f(pool_f(self.val[x], k, s, same, kind), act)
        out = self.same_q(x, y)
        op = "MAX_POOL_2D" if kind == "max" else "AVERAGE_POOL_2D"
        self.ops.append((op, [x], [out], [(0, "b", fb.SAME if same else fb.VALID), (1, "i", s), (2, "i", s),
                                          (3, "i", k), (4, "i", k), (5, "b", ACTS[act])], {}))
        return out

    def mean(self, x, keep):
        axes = self.const(f"axes{len(self.tensors)}", I32, [2], struct.pack("<2i", 1, 2))
        y = self.val[x].mean(axis=(1, 2), keepdims=bool(keep))
        out = self.act(f"mean{len(self.ops)}", y)
        self.ops.append(("MEAN", [x, axes], [out], [(0, "B", 1 if keep else 0)], {}))
        return out

    def reshape(self, x, shape):
        st = self.const(f"shape{len(self.tensors)}", I32, [len(shape)], struct.pack(f"<{len(shape)}i", *shape))
        out = self.same_q(x, self.val[x].reshape(shape))
        self.ops.append(("RESHAPE", [x, st], [out], [(0, "ivec", list(shape))], {}))
        return out

    def pad(self, x, p):
        pt = self.const(f"pads{len(self.tensors)}", I32, [4, 2], struct.pack("<8i", 0, 0, p[0], p[1], p[2], p[3], 0, 0))
        y = np.pad(self.val[x], ((0, 0), (p[0], p[1]), (p[2], p[3]), (0, 0)))
        out = self.same_q(x, y)
        self.ops.append(("PAD", [x, pt], [out], [], {}))
        return out

    def concat(self, xs):
        y = np.concatenate([self.val[x] for x in xs], axis=3)
        out = self.act(f"concat{len(self.ops)}", y)
        self.ops.append(("CONCATENATION", list(xs), [out], [(0, "i", 3), (1, "b", fb.NONE)], {}))
        return out

    def softmax(self, x):
        v = self.val[x]
        e = np.exp(v - v.max(axis=-1, keepdims=True))
        y = e / e.sum(axis=-1, keepdims=True)
        fixed = None
        if self.qt != "f32":
            fixed = (1 / 256, 0) if self.qt == "u8" else (1 / 256, -128)
        out = self.act(f"softmax{len(self.ops)}", y, fixed=fixed)
        self.ops.append(("SOFTMAX", [x], [out], [(0, "f", 1.0)], {}))
        return out

    def quantize(self, x):
        out = self.act("quantized", self.val[x])
        self.ops.append(("QUANTIZE", [x], [out], [], {}))
        return out

    def dequantize(self, x):
        out = self.act("dequantized", self.val[x], qt="f32")
        self.ops.append(("DEQUANTIZE", [x], [out], None, {}))
        return out

    def model(self, inp, out, metadata=()):
        return fb.write_model(self.tensors, self.ops, [inp], [out], "taxon golden model", metadata=metadata)


def normalization_metadata(mean, std):
    """A TFLite ModelMetadata FlatBuffer ("M001", metadata_schema.fbs) holding only
    subgraph 0 -> input 0 -> process unit NormalizationOptions(mean, std)."""
    b = fb.Builder()
    b.b[4:8] = b"M001"
    root, rs = b.table([(0, "ref", 0), (3, "ref", 0)])
    struct.pack_into("<I", b.b, 0, root)
    b.ref(rs[0], b.string("taxon test metadata"))
    sg_slots = b.table_vector(1)
    b.ref(rs[3], sg_slots[0] - 4)
    sg, ss = b.table([(2, "ref", 0)])
    b.ref(sg_slots[0], sg)
    in_slots = b.table_vector(1)
    b.ref(ss[2], in_slots[0] - 4)
    tm, ts = b.table([(0, "ref", 0), (4, "ref", 0)])
    b.ref(in_slots[0], tm)
    b.ref(ts[0], b.string("image"))
    pu_slots = b.table_vector(1)
    b.ref(ts[4], pu_slots[0] - 4)
    pu, ps = b.table([(0, "B", 1), (1, "ref", 0)])   # options_type 1 = NormalizationOptions
    b.ref(pu_slots[0], pu)
    no, ns = b.table([(0, "ref", 0), (1, "ref", 0)])
    b.ref(ps[1], no)
    b.ref(ns[0], b.vector("f", mean))
    b.ref(ns[1], b.vector("f", std))
    return bytes(b.b)


def with_label_zip(buf, names, fname="labels.txt"):
    """buf + a zip holding the label file, as TFLite's metadata writer appends it"""
    import io
    import zipfile
    z = io.BytesIO()
    z.write(buf)
    with zipfile.ZipFile(z, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(fname, "\n".join(names) + "\n")
    return z.getvalue()


def hswish(v):
    return v * np.clip(v + 3, 0, 6) / 6


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


# ---- the models ---------------------------------------------------------------------

def model_int8():
    """float in -> int8 MobileNetV3-like block -> float probabilities out"""
    g = Graph("s8")
    xv = rng.uniform(-1, 1, (1, 16, 16, 3))
    x = g.act("input", xv, qt="f32")
    q = g.quantize(x)
    a = g.conv(q, 8, 3, 2, "relu6")                       # 8x8x8, per-channel int8
    d = g.conv(a, 0, 3, 1, "relu", dw=True, dm=2)         # depthwise, multiplier 2 -> 16
    p = g.conv(d, 8, 1, 1, "none")                        # project
    r = g.binary("ADD", p, a)                             # residual
    h = g.unary("HARD_SWISH", r, hswish, opts=[])
    s = g.mean(h, keep=True)                              # squeeze-excitation
    s = g.conv(s, 4, 1, 1, "relu")
    s = g.conv(s, 8, 1, 1, "none")
    s = g.unary("LOGISTIC", s, sigmoid, fixed=(1 / 256, -128))
    e = g.binary("MUL", h, s)
    m = g.pool("max", e, 2, 2, True)                      # 4x4x8
    v = g.mean(m, keep=False)                             # [1, 8]
    f = g.fc(v, 10)
    sm = g.softmax(f)
    out = g.dequantize(sm)
    return g.model(x, out), xv.astype(np.float32)


def model_uint8():
    """uint8 image in -> pad, pools, branches with different scales -> uint8 probabilities"""
    g = Graph("u8")
    xv = rng.randint(0, 256, (1, 12, 12, 3)).astype(np.float64)
    x = g.act("input", (xv - 128) / 128, fixed=(1 / 128, 128))
    a = g.conv(x, 6, 3, 1, "relu", per_channel=False)     # 12x12x6
    m = g.pool("max", a, 3, 2, True)                      # 6x6x6
    p = g.pad(m, (1, 0, 0, 1))                            # 7x7x6
    d = g.conv(p, 0, 3, 1, "relu6", same=False, dw=True)  # 5x5x6, VALID
    av = g.pool("avg", d, 3, 1, True)                     # 5x5x6, SAME (valid taps counted)
    b1 = g.conv(d, 4, 1, 1, "none")                       # another branch, its own scale
    c = g.concat([av, b1])                                # 5x5x10
    r = g.reshape(c, [1, 250])
    f = g.fc(r, 7)
    sm = g.softmax(f)
    return g.model(x, sm), xv.astype(np.uint8)


def model_float():
    """float32 weights and activations"""
    g = Graph("f32")
    xv = rng.uniform(-1, 1, (1, 10, 10, 3))
    x = g.act("input", xv)
    a = g.conv(x, 8, 3, 2, "relu6")
    d = g.conv(a, 0, 3, 1, "relu", dw=True)
    p = g.conv(d, 8, 1, 1, "none")
    r = g.binary("ADD", p, a)
    h = g.unary("HARD_SWISH", r, hswish)
    s = g.unary("LOGISTIC", h, sigmoid)
    e = g.binary("MUL", h, s)
    v = g.mean(e, keep=False)
    f = g.fc(v, 5)
    sm = g.softmax(f)
    # metadata: inputs normalized as (pixel - 127.5) / 127.5; a deflated label zip appended
    buf = g.model(x, sm, metadata=[("TFLITE_METADATA", normalization_metadata([127.5], [127.5]))])
    return with_label_zip(buf, ["zero", "one", "two", "three", "four"]), xv.astype(np.float32)


def model_float16():
    """float32 activations, float16 weights behind DEQUANTIZE (TFLite's float16 quantization)"""
    g = Graph("f32")
    xv = rng.uniform(-1, 1, (1, 6, 6, 3))
    x = g.act("input", xv)
    w = (rng.randn(4, 3, 3, 3) * 0.3).astype(np.float16)
    w16 = g.const("w16", 1, [4, 3, 3, 3], w.astype("<f2").tobytes())
    wf = g.act("w32", w.astype(np.float64))
    g.ops.append(("DEQUANTIZE", [w16], [wf], None, {}))
    b = g.const("b", F32, [4], (rng.randn(4) * 0.1).astype("<f4").tobytes())
    y = conv_f(xv, w.astype(np.float64), 0, 1, True)
    c = g.act("conv", np.maximum(y, 0))
    g.ops.append(("CONV_2D", [x, wf, b], [c], [(0, "b", fb.SAME), (1, "i", 1), (2, "i", 1), (3, "b", fb.RELU),
                                              (4, "i", 1), (5, "i", 1)], {}))
    v = g.mean(c, keep=False)
    return g.model(x, v), xv.astype(np.float32)


def error_models():
    """models the importer must refuse, with the words its message must contain"""
    fb.OPS.setdefault("TANH", (28, 0))
    out = []

    def base(name, want, build):
        g = Graph("u8")
        x = g.act("input", rng.uniform(-1, 1, (1, 4, 4, 3)), fixed=(1 / 128, 128))
        y = build(g, x)
        out.append((name, want, g.model(x, y)))

    def tanh(g, x):
        c = g.conv(x, 3, 1, 1)
        return g.unary("TANH", c, np.tanh, fixed=(1 / 128, 128))

    def mean_c(g, x):
        axes = g.const("axes", I32, [1], struct.pack("<i", 3))
        o = g.act("m", g.val[x].mean(axis=3, keepdims=True))
        g.ops.append(("MEAN", [x, axes], [o], [(0, "B", 1)], {}))
        return o

    def concat_h(g, x):
        o = g.act("c", np.concatenate([g.val[x], g.val[x]], axis=1))
        g.ops.append(("CONCATENATION", [x, x], [o], [(0, "i", 1), (1, "b", fb.NONE)], {}))
        return o

    def add_bcast(g, x):
        m = g.mean(x, keep=True)
        return g.binary("ADD", x, m)

    base("err_tanh", "operator 1 (TANH) is not supported", tanh)
    base("err_mean_channels", "operator 0 (MEAN): mean over axes other than height and width", mean_c)
    base("err_concat_axis", "operator 0 (CONCATENATION): concatenation along axis 1", concat_h)
    base("err_add_broadcast", "operator 1 (ADD): broadcast", add_bcast)
    return out


def run(buf, x, mode):
    it = tfl.Interpreter(model_content=buf, num_threads=1,
                         experimental_op_resolver_type=tfl.OpResolverType[mode])
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).copy()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "tests", "golden",
                                                              "tflite_models.safetensors")
    tensors, cases = {}, []
    for name, fn in (("int8_block", model_int8), ("uint8_branches", model_uint8), ("float_block", model_float),
                     ("float16_weights", model_float16)):
        buf, x = fn()
        y_xnn, y_ref = run(buf, x, "AUTO"), run(buf, x, "BUILTIN_REF")
        tensors[f"{name}.tflite"] = np.frombuffer(buf, np.uint8)
        tensors[f"{name}.x"] = x
        tensors[f"{name}.y_xnn"] = y_xnn
        tensors[f"{name}.y_ref"] = y_ref
        diff = float(np.abs(y_xnn.astype(np.float64) - y_ref.astype(np.float64)).max())
        cases.append(dict(name=name, out_dtype=str(y_xnn.dtype), n_out=int(y_xnn.size), xnn_ref_maxdiff=diff))
        print(f"  {name:16s} {len(buf):6d} bytes, out {y_xnn.dtype} {list(y_xnn.shape)}, "
              f"argmax {int(y_xnn.argmax())}, xnn-ref max|diff| {diff:.3g}")
    errors = []
    for name, want, buf in error_models():
        tensors[f"{name}.tflite"] = np.frombuffer(buf, np.uint8)
        errors.append(dict(name=name, want=want))
    from importlib import metadata
    size = save_safetensors(out, tensors, {"cases": json.dumps(cases, separators=(",", ":")),
                                           "errors": json.dumps(errors, separators=(",", ":")),
                                           "generator": "tools/golden_tflite_models.py",
                                           "runtime": "ai-edge-litert " + metadata.version("ai-edge-litert")})
    print(f"{out}: {len(cases)} models, {size} bytes")


if __name__ == "__main__":
    main()
