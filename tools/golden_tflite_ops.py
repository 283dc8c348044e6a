#!/usr/bin/env python3
"""golden_tflite_ops.py - golden outputs of TensorFlow Lite's own quantized kernels for
tests/test_qops.c.

Every case is a one-operator .tflite model built by hand (tools/make_tflite_seeds.py's
FlatBuffer writer, no tensorflow needed) with random quantized weights and inputs. Each
model runs in ai-edge-litert (PyPI) in two modes:
  y_xnn  OpResolverType.AUTO: TFLite's default CPU path, i.e. the XNNPACK delegate for
         the operators it takes and TFLite's optimized builtin kernels for the rest
  y_ref  OpResolverType.BUILTIN_REF: TFLite's reference kernels
and both outputs, the inputs and the parameters go into tests/golden/qops.safetensors
(the "cases" metadata entry is a JSON list describing each case). The metadata also
records, per case, whether XNNPACK took the operator and whether the optimized builtin
kernels (BUILTIN_WITHOUT_DEFAULT_DELEGATES) agree with either output.

    .venv/bin/pip install ai-edge-litert      (or tflite-runtime / tensorflow)
    .venv/bin/python tools/golden_tflite_ops.py [OUT]

Deterministic (seeded); the file stays below 300 KB.
"""
import json
import math
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_tflite_seeds as fb  # noqa: E402

try:
    from ai_edge_litert import interpreter as tfl
    RUNTIME = "ai-edge-litert"
except ImportError:  # pragma: no cover - fallbacks named in the brief
    try:
        import tflite_runtime.interpreter as tfl
        RUNTIME = "tflite-runtime"
    except ImportError:
        import tensorflow.lite as tfl
        RUNTIME = "tensorflow"

T = fb.Tensor
U8, S8, I32, F32 = fb.UINT8, fb.INT8, fb.INT32, fb.FLOAT32
ACT = {"none": fb.NONE, "relu": fb.RELU, "relu_n1_to_1": fb.RELU_N1_TO_1, "relu6": fb.RELU6}
rng = np.random.RandomState(20260822)

TENSORS = {}
CASES = []


def npt(t):
    return np.uint8 if t == "u8" else np.int8


def fbt(t):
    return U8 if t == "u8" else S8


def qrange(t):
    return (0, 255) if t == "u8" else (-128, 127)


def rand_q(t, shape):
    lo, hi = qrange(t)
    return rng.randint(lo, hi + 1, size=shape).astype(npt(t))


def rand_scale(lo, hi):
    return float(np.float32(math.exp(rng.uniform(math.log(lo), math.log(hi)))))


def rand_zp(t, spread=40):
    c = 128 if t == "u8" else 0
    return int(c + rng.randint(-spread, spread + 1))


def out_quant(t, lo, hi):
    """Output scale/zero point covering [lo, hi] (real values), like a converter would."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo < 1e-6:
        hi = lo + 1e-3
    qlo, qhi = qrange(t)
    scale = float(np.float32((hi - lo) / 255.0 * rng.uniform(0.8, 1.05)))
    zp = int(np.clip(round(qlo - lo / scale), qlo, qhi))
    return scale, zp


def run_modes(buf, inputs, out_index):
    res = {}
    for mode in ("AUTO", "BUILTIN_REF", "BUILTIN_WITHOUT_DEFAULT_DELEGATES"):
        it = tfl.Interpreter(model_content=buf, num_threads=1,
                             experimental_op_resolver_type=tfl.OpResolverType[mode])
        it.allocate_tensors()
        names = [o["op_name"] for o in it._get_ops_details()]
        for idx, arr in inputs:
            it.set_tensor(idx, arr)
        it.invoke()
        res[mode] = (it.get_tensor(out_index).copy(), "DELEGATE" in names)
    return res


def add_case(name, op, params, tensors, buf, inputs, out_index):
    assert name not in [c["name"] for c in CASES], name
    res = run_modes(buf, inputs, out_index)
    y_xnn, delegated = res["AUTO"]
    y_ref, _ = res["BUILTIN_REF"]
    y_opt, _ = res["BUILTIN_WITHOUT_DEFAULT_DELEGATES"]
    for k, v in tensors.items():
        TENSORS[f"{name}.{k}"] = v
    TENSORS[f"{name}.y_xnn"] = y_xnn
    TENSORS[f"{name}.y_ref"] = y_ref
    d = dict(name=name, op=op, **params)
    d["delegated"] = bool(delegated)
    d["opt_eq_ref"] = bool(np.array_equal(y_opt, y_ref))
    d["opt_eq_xnn"] = bool(np.array_equal(y_opt, y_xnn))
    d["xnn_eq_ref"] = bool(np.array_equal(y_xnn, y_ref))
    if y_xnn.dtype != np.float32:
        d["xnn_ref_maxdiff"] = int(np.max(np.abs(y_xnn.astype(np.int32) - y_ref.astype(np.int32)))) \
            if y_xnn.size else 0
    CASES.append(d)


def q8(scale, zp):
    return dict(scale=[float(scale)], zero=[int(zp)])


def same_pads(size, k, s, d):
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return out, total // 2, total - total // 2


def valid_out(size, k, s, d):
    return -(-(size - (k - 1) * d) // s)


def conv_acc(x, xzp, w, wzp, bias, stride, dil, pads, out_hw, depthwise, dm):
    """Integer accumulators (int64) of CONV_2D (w [oc,kh,kw,c]) / DEPTHWISE (w [1,kh,kw,oc])."""
    n, h, wd, c = x.shape
    kh, kw = w.shape[1], w.shape[2]
    oh, ow = out_hw
    pt, pl = pads
    xi = x.astype(np.int64) - xzp
    wi = w.astype(np.int64) - wzp
    oc = w.shape[3] if depthwise else w.shape[0]
    acc = np.zeros((n, oh, ow, oc), np.int64) + (bias.astype(np.int64) if bias is not None else 0)
    for ky in range(kh):
        for kx in range(kw):
            for oy in range(oh):
                iy = oy * stride[0] - pt + ky * dil[0]
                if iy < 0 or iy >= h:
                    continue
                for ox in range(ow):
                    ix = ox * stride[1] - pl + kx * dil[1]
                    if ix < 0 or ix >= wd:
                        continue
                    v = xi[:, iy, ix, :]
                    if depthwise:
                        acc[:, oy, ox, :] += np.repeat(v, dm, axis=1) * wi[0, ky, kx, :]
                    else:
                        acc[:, oy, ox, :] += v @ wi[:, ky, kx, :].T
    return acc


def conv_like(name, kind, t, wt, shape, oc, k=(1, 1), stride=(1, 1), dil=(1, 1), padding="same",
              act="none", per_channel=False, dm=1, bias=True, qdim=None):
    n, h, w, c = shape
    in_s, in_zp = rand_scale(0.005, 0.05), rand_zp(t)
    x = rand_q(t, shape)
    if kind == "dw":
        oc = c * dm
    wshape = [oc, k[0], k[1], c] if kind == "conv" else [1, k[0], k[1], oc] if kind == "dw" else [oc, c]
    if wt == "u8":
        w_zp = int(rng.randint(90, 170))
        wq = rng.randint(0, 256, size=wshape).astype(np.uint8)
        w_s = [rand_scale(0.002, 0.02)]
    else:
        w_zp = 0
        wq = rng.randint(-127, 128, size=wshape).astype(np.int8)
        w_s = [rand_scale(0.002, 0.02) for _ in range(oc)] if per_channel else [rand_scale(0.002, 0.02)]
    ws_arr = np.array(w_s if len(w_s) == oc else w_s * oc, np.float32)
    b_s = (np.float32(in_s) * ws_arr).astype(np.float32)
    if kind == "fc":
        oh = ow = 1
        pads = (0, 0, 0, 0)
    elif padding == "same":
        oh, pt, pb = same_pads(h, k[0], stride[0], dil[0])
        ow, pl, pr = same_pads(w, k[1], stride[1], dil[1])
        pads = (pt, pb, pl, pr)
    else:
        oh, ow = valid_out(h, k[0], stride[0], dil[0]), valid_out(w, k[1], stride[1], dil[1])
        pads = (0, 0, 0, 0)
    kn = k[0] * k[1] * (c if kind != "dw" else 1)
    bq = None
    if bias:
        spread = 128 * 60 * math.sqrt(kn)
        bq = rng.randint(-int(spread), int(spread) + 1, size=oc).astype(np.int32)
    if kind == "fc":
        acc = conv_acc(x.reshape(n, 1, 1, c), in_zp, wq.reshape(oc, 1, 1, c), w_zp, bq, (1, 1),
                       (1, 1), (0, 0), (1, 1), False, 1).reshape(n, oc)
    else:
        acc = conv_acc(x, in_zp, wq, w_zp, bq, stride, dil, (pads[0], pads[2]), (oh, ow),
                       kind == "dw", dm)
    real = acc * (in_s * ws_arr.astype(np.float64))
    lo, hi = np.percentile(real, 1), np.percentile(real, 99)
    if act in ("relu", "relu6"):
        lo = 0.0
    if act == "relu6":
        hi = min(hi, 6.0) if hi > 0.5 else hi
    out_s, out_zp = out_quant(t, lo, hi)
    # tensors
    xshape = [n, c] if kind == "fc" else list(shape)
    yshape = [n, oc] if kind == "fc" else [n, oh, ow, oc]
    if qdim is None:
        qdim = 3 if kind == "dw" and wt == "s8" else 0
    tens = [T("x", fbt(t), xshape, **q8(in_s, in_zp)),
            T("w", fbt(wt), wshape, data=wq.tobytes(), scale=w_s, zero=[w_zp] * len(w_s), qdim=qdim),
            T("y", fbt(t), yshape, **q8(out_s, out_zp))]
    ins = [0, 1]
    if bias:
        tens.append(T("b", I32, [oc], data=bq.tobytes(), scale=[float(v) for v in b_s][:len(w_s)]
                      if len(w_s) == oc else [float(b_s[0])], zero=[0] * (oc if len(w_s) == oc else 1)))
        ins.append(3)
    else:
        ins.append(-1)
    pad_code = fb.SAME if padding == "same" else fb.VALID
    if kind == "conv":
        opts = [(0, "b", pad_code), (1, "i", stride[1]), (2, "i", stride[0]), (3, "b", ACT[act]),
                (4, "i", dil[1]), (5, "i", dil[0])]
        opname = "CONV_2D"
    elif kind == "dw":
        opts = [(0, "b", pad_code), (1, "i", stride[1]), (2, "i", stride[0]), (3, "i", dm),
                (4, "b", ACT[act]), (5, "i", dil[1]), (6, "i", dil[0])]
        opname = "DEPTHWISE_CONV_2D"
    else:
        opts = [(0, "b", ACT[act])]
        opname = "FULLY_CONNECTED"
    buf = fb.write_model(tens, [(opname, ins, [2], opts, {})], [0], [2])
    params = dict(kind=kind, type=t, wtype=wt, n=n, h=1 if kind == "fc" else h,
                  w=1 if kind == "fc" else w, c=c, oc=oc, kh=k[0], kw=k[1], sh=stride[0],
                  sw=stride[1], dh=dil[0], dw=dil[1], pad_t=pads[0], pad_b=pads[1],
                  pad_l=pads[2], pad_r=pads[3], oh=oh, ow=ow, dm=dm, in_scale=in_s, in_zp=in_zp,
                  out_scale=out_s, out_zp=out_zp, w_scale=[float(v) for v in w_s], w_zp=w_zp,
                  act=ACT[act], has_bias=bool(bias), w_qdim=qdim)
    tensors = dict(x=x.reshape(xshape), w=wq)
    if bias:
        tensors["b"] = bq
    add_case(name, "conv", params, tensors, buf, [(0, x.reshape(xshape))], 2)


def binary(name, opname, t, shape, act="none", a_scale=None, fixed=None):
    sa, za = a_scale or rand_scale(0.01, 0.1), rand_zp(t, 60)
    sb, zb = rand_scale(0.01, 0.1), rand_zp(t, 60)
    a, b = rand_q(t, shape), rand_q(t, shape)
    if fixed:  # ((sa, za), (sb, zb), (so, zo), pairs): explicit quantization and inputs
        (sa, za), (sb, zb), _, pairs = fixed
        a = np.array([p[0] for p in pairs], npt(t)).reshape(shape)
        b = np.array([p[1] for p in pairs], npt(t)).reshape(shape)
    ra, rb = sa * (a.astype(np.float64) - za), sb * (b.astype(np.float64) - zb)
    real = ra + rb if opname == "ADD" else ra * rb
    lo, hi = np.percentile(real, 1), np.percentile(real, 99)
    so, zo = out_quant(t, lo, hi)
    if fixed:
        so, zo = fixed[2]
    if a_scale:  # a scale ratio outside XNNPACK's range: TFLite's own kernel runs
        so = float(np.float32(a_scale / 300.0)) if opname == "ADD" else \
            float(np.float32(a_scale * sb / 300.0))
    tens = [T("a", fbt(t), list(shape), **q8(sa, za)), T("b", fbt(t), list(shape), **q8(sb, zb)),
            T("y", fbt(t), list(shape), **q8(so, zo))]
    buf = fb.write_model(tens, [(opname, [0, 1], [2], [(0, "b", ACT[act])], {})], [0, 1], [2])
    params = dict(type=t, n=int(np.prod(shape)), a_scale=sa, a_zp=za, b_scale=sb, b_zp=zb,
                  out_scale=so, out_zp=zo, act=ACT[act])
    add_case(name, opname.lower(), params, dict(x=a, x2=b), buf, [(0, a), (1, b)], 2)


def pool(name, opname, t, shape, k, s, padding, act="none"):
    n, h, w, c = shape
    sc, zp = rand_scale(0.01, 0.1), rand_zp(t)
    x = rand_q(t, shape)
    if padding == "same":
        oh, pt, pb = same_pads(h, k[0], s[0], 1)
        ow, pl, pr = same_pads(w, k[1], s[1], 1)
    else:
        oh, ow = valid_out(h, k[0], s[0], 1), valid_out(w, k[1], s[1], 1)
        pt = pb = pl = pr = 0
    tens = [T("x", fbt(t), list(shape), **q8(sc, zp)), T("y", fbt(t), [n, oh, ow, c], **q8(sc, zp))]
    opts = [(0, "b", fb.SAME if padding == "same" else fb.VALID), (1, "i", s[1]), (2, "i", s[0]),
            (3, "i", k[1]), (4, "i", k[0]), (5, "b", ACT[act])]
    buf = fb.write_model(tens, [(opname, [0], [1], opts, {})], [0], [1])
    params = dict(type=t, n=n, h=h, w=w, c=c, kh=k[0], kw=k[1], sh=s[0], sw=s[1], pad_t=pt,
                  pad_b=pb, pad_l=pl, pad_r=pr, oh=oh, ow=ow, scale=sc, zp=zp, act=ACT[act])
    add_case(name, opname.lower(), params, dict(x=x), buf, [(0, x)], 1)


def mean(name, t, shape, keep_dims=True):
    n, h, w, c = shape
    si, zi = rand_scale(0.01, 0.1), rand_zp(t)
    so, zo = rand_scale(0.002, 0.02), rand_zp(t)
    x = rand_q(t, shape)
    yshape = [n, 1, 1, c] if keep_dims else [n, c]
    tens = [T("x", fbt(t), list(shape), **q8(si, zi)),
            T("axes", I32, [2], data=struct.pack("<2i", 1, 2)),
            T("y", fbt(t), yshape, **q8(so, zo))]
    buf = fb.write_model(tens, [("MEAN", [0, 1], [2], [(0, "B", int(keep_dims))], {})], [0], [2])
    params = dict(type=t, n=n, hw=h * w, c=c, in_scale=si, in_zp=zi, out_scale=so, out_zp=zo)
    add_case(name, "mean", params, dict(x=x), buf, [(0, x)], 2)


def softmax(name, t, rows, k, beta=1.0, fixed=None):
    si, zi = rand_scale(0.02, 0.2), rand_zp(t)
    so, zo = (1 / 256, 0) if t == "u8" else (1 / 256, -128)
    x = rand_q(t, (rows, k))
    if fixed:  # ((scale, zero point), rows)
        (si, zi), xr = fixed
        x = np.array(xr, npt(t)).reshape(rows, k)
    tens = [T("x", fbt(t), [rows, k], **q8(si, zi)), T("y", fbt(t), [rows, k], **q8(so, zo))]
    buf = fb.write_model(tens, [("SOFTMAX", [0], [1], [(0, "f", beta)], {})], [0], [1])
    params = dict(type=t, rows=rows, k=k, beta=beta, in_scale=si, in_zp=zi, out_scale=so, out_zp=zo)
    add_case(name, "softmax", params, dict(x=x), buf, [(0, x)], 1)


def unary(name, opname, t, n, in_range=(0.02, 0.1), out_fixed=None, in_fixed=None):
    si, zi = in_fixed or (rand_scale(*in_range), rand_zp(t))
    if out_fixed:
        so, zo = out_fixed
    else:
        so, zo = rand_scale(0.01, 0.05), rand_zp(t)
    x = np.concatenate([np.arange(qrange(t)[0], qrange(t)[1] + 1), rand_q(t, n)]).astype(npt(t))
    tens = [T("x", fbt(t), [x.size], **q8(si, zi)), T("y", fbt(t), [x.size], **q8(so, zo))]
    opts = None if opname == "LOGISTIC" else []
    buf = fb.write_model(tens, [(opname, [0], [1], opts, {})], [0], [1])
    params = dict(type=t, n=int(x.size), in_scale=si, in_zp=zi, out_scale=so, out_zp=zo)
    add_case(name, opname.lower(), params, dict(x=x), buf, [(0, x)], 1)


def quantize_f32(name, t, n):
    so, zo = rand_scale(0.01, 0.05), rand_zp(t)
    qlo, qhi = qrange(t)
    x = (rng.uniform(qlo - 20, qhi + 20, size=n) - zo) * so
    # exact ties and values on both sides of them
    ties = (np.arange(qlo - zo, qhi - zo, 7) + 0.5) * so
    x = np.concatenate([x, ties, np.nextafter(ties.astype(np.float32), np.float32(np.inf))]).astype(np.float32)
    tens = [T("x", F32, [x.size]), T("y", fbt(t), [x.size], **q8(so, zo))]
    buf = fb.write_model(tens, [("QUANTIZE", [0], [1], [], {})], [0], [1])
    params = dict(tin="f32", tout=t, n=int(x.size), out_scale=so, out_zp=zo)
    add_case(name, "quantize", params, dict(xf=x), buf, [(0, x)], 1)


def requantize(name, tin, tout, n):
    si, zi = rand_scale(0.01, 0.05), rand_zp(tin)
    so, zo = rand_scale(0.01, 0.05), rand_zp(tout)
    x = np.concatenate([np.arange(qrange(tin)[0], qrange(tin)[1] + 1), rand_q(tin, n)]).astype(npt(tin))
    tens = [T("x", fbt(tin), [x.size], **q8(si, zi)), T("y", fbt(tout), [x.size], **q8(so, zo))]
    buf = fb.write_model(tens, [("QUANTIZE", [0], [1], [], {})], [0], [1])
    params = dict(tin=tin, tout=tout, n=int(x.size), in_scale=si, in_zp=zi, out_scale=so, out_zp=zo)
    add_case(name, "quantize", params, dict(x=x), buf, [(0, x)], 1)


def dequantize(name, t):
    si, zi = rand_scale(0.01, 0.05), rand_zp(t)
    x = np.arange(qrange(t)[0], qrange(t)[1] + 1).astype(npt(t))
    tens = [T("x", fbt(t), [x.size], **q8(si, zi)), T("y", F32, [x.size])]
    buf = fb.write_model(tens, [("DEQUANTIZE", [0], [1], None, {})], [0], [1])
    params = dict(type=t, n=int(x.size), in_scale=si, in_zp=zi)
    add_case(name, "dequantize", params, dict(x=x), buf, [(0, x)], 1)


def concat(name, t, rows, cs, same):
    so, zo = rand_scale(0.01, 0.05), rand_zp(t)
    qs = [(so, zo) if same else (rand_scale(0.01, 0.05), rand_zp(t)) for _ in cs]
    xs = [rand_q(t, (1, rows, 1, ci)) for ci in cs]
    tens = [T(f"x{i}", fbt(t), [1, rows, 1, ci], **q8(*qs[i])) for i, ci in enumerate(cs)]
    tens.append(T("y", fbt(t), [1, rows, 1, sum(cs)], **q8(so, zo)))
    k = len(cs)
    buf = fb.write_model(tens, [("CONCATENATION", list(range(k)), [k], [(0, "i", 3), (1, "b", 0)], {})],
                         list(range(k)), [k])
    params = dict(type=t, rows=rows, cs=list(cs), in_scale=[q[0] for q in qs],
                  in_zp=[q[1] for q in qs], out_scale=so, out_zp=zo)
    add_case(name, "concat", params, {f"x{i}": xs[i] for i in range(k)}, buf,
             [(i, xs[i]) for i in range(k)], k)


def pad(name, t, shape, pads):
    sc, zp = rand_scale(0.01, 0.05), rand_zp(t)
    x = rand_q(t, shape)
    n, h, w, c = shape
    (pt, pb), (pl, pr) = pads
    tens = [T("x", fbt(t), list(shape), **q8(sc, zp)),
            T("p", I32, [4, 2], data=struct.pack("<8i", 0, 0, pt, pb, pl, pr, 0, 0)),
            T("y", fbt(t), [n, h + pt + pb, w + pl + pr, c], **q8(sc, zp))]
    buf = fb.write_model(tens, [("PAD", [0, 1], [2], [], {})], [0], [2])
    params = dict(type=t, n=n, h=h, w=w, c=c, pt=pt, pb=pb, pl=pl, pr=pr, zp=zp)
    add_case(name, "pad", params, dict(x=x), buf, [(0, x)], 2)


def build():
    # CONV_2D: MobileNet-like shapes, uint8 per-tensor and int8 per-channel
    conv_like("conv_u8_1x1", "conv", "u8", "u8", (1, 6, 6, 32), 24, act="relu6")
    conv_like("conv_u8_1x1_b2", "conv", "u8", "u8", (2, 5, 3, 16), 40, act="none")
    conv_like("conv_u8_first", "conv", "u8", "u8", (1, 15, 16, 3), 16, k=(3, 3), stride=(2, 2), act="relu6")
    conv_like("conv_u8_3x3_dil", "conv", "u8", "u8", (1, 9, 8, 8), 20, k=(3, 3), dil=(2, 2), act="relu")
    conv_like("conv_u8_c6_valid", "conv", "u8", "u8", (1, 7, 7, 6), 17, k=(2, 3), stride=(1, 2),
              padding="valid", act="none")
    conv_like("conv_u8_wide", "conv", "u8", "u8", (1, 4, 4, 64), 70, act="relu")
    conv_like("fc_u8_nobias", "fc", "u8", "u8", (1, 1, 1, 40), 19, act="relu", bias=False)
    conv_like("conv_s8_1x1", "conv", "s8", "s8", (1, 6, 6, 32), 24, act="relu6", per_channel=True)
    conv_like("conv_s8_3x3", "conv", "s8", "s8", (1, 11, 10, 8), 33, k=(3, 3), stride=(2, 2),
              per_channel=True, act="none")
    conv_like("conv_s8_pertensor", "conv", "s8", "s8", (1, 5, 5, 12), 16, k=(3, 3), act="relu",
              per_channel=False)
    conv_like("conv_s8_n1to1", "conv", "s8", "s8", (1, 4, 4, 16), 8, act="relu_n1_to_1", per_channel=True)
    # DEPTHWISE_CONV_2D
    conv_like("dw_u8_3x3", "dw", "u8", "u8", (1, 10, 10, 40), 0, k=(3, 3), act="relu6")
    conv_like("dw_u8_3x3_s2", "dw", "u8", "u8", (1, 12, 11, 32), 0, k=(3, 3), stride=(2, 2), act="relu6")
    conv_like("dw_u8_5x5_dil", "dw", "u8", "u8", (1, 9, 9, 16), 0, k=(5, 5), dil=(2, 1), act="none")
    conv_like("dw_u8_dm2", "dw", "u8", "u8", (1, 6, 6, 8), 0, k=(3, 3), dm=2, act="relu")
    conv_like("dw_u8_valid", "dw", "u8", "u8", (2, 7, 7, 24), 0, k=(3, 3), padding="valid", act="none")
    conv_like("dw_s8_3x3", "dw", "s8", "s8", (1, 8, 8, 48), 0, k=(3, 3), per_channel=True, act="relu6")
    # uint8 weights with quantized_dimension 3: the delegate refuses, TFLite's optimized
    # uint8 depthwise runs (the test expects TX_QMODE_TFLITE_REF to match it)
    conv_like("dw_u8_qdim3", "dw", "u8", "u8", (1, 9, 9, 40), 0, k=(3, 3), act="relu6", qdim=3)
    conv_like("dw_s8_3x3_s2", "dw", "s8", "s8", (1, 9, 10, 20), 0, k=(3, 3), stride=(2, 2),
              per_channel=True, act="none")
    conv_like("dw_s8_pertensor", "dw", "s8", "s8", (1, 7, 6, 36), 0, k=(3, 3), per_channel=False,
              act="relu")
    conv_like("conv_u8_1x1_s2", "conv", "u8", "u8", (1, 9, 8, 20), 12, stride=(2, 2), act="none")
    # FULLY_CONNECTED
    conv_like("fc_u8", "fc", "u8", "u8", (2, 1, 1, 100), 37, act="none")
    conv_like("fc_u8_wide", "fc", "u8", "u8", (8, 1, 1, 64), 200, act="none")
    conv_like("fc_s8_wide", "fc", "s8", "s8", (8, 1, 1, 48), 150, act="none", per_channel=True)
    conv_like("fc_s8_pc", "fc", "s8", "s8", (3, 1, 1, 64), 21, act="relu", per_channel=True)
    conv_like("fc_s8_pt", "fc", "s8", "s8", (1, 1, 1, 48), 10, act="none", per_channel=False)
    # ADD, MUL
    binary("add_u8", "ADD", "u8", (1, 5, 5, 24))
    binary("add_u8_relu6", "ADD", "u8", (1, 3, 7, 16), "relu6")
    binary("add_s8", "ADD", "s8", (1, 6, 6, 20), "relu")
    binary("add_u8_big", "ADD", "u8", (1, 16, 16, 8))
    binary("add_s8_big", "ADD", "s8", (1, 16, 16, 8))
    binary("add_u8_ratio", "ADD", "u8", (1, 4, 5, 7), a_scale=0.9)
    binary("add_s8_ratio", "ADD", "s8", (1, 5, 5, 7), "relu", a_scale=0.9)
    binary("mul_u8", "MUL", "u8", (1, 4, 4, 24))
    binary("mul_s8", "MUL", "s8", (2, 3, 3, 17), "relu6")
    binary("mul_u8_ratio", "MUL", "u8", (1, 4, 5, 7), a_scale=30.0)
    binary("mul_s8_ratio", "MUL", "s8", (1, 5, 5, 7), a_scale=30.0)
    # pooling
    pool("avgpool_u8_global", "AVERAGE_POOL_2D", "u8", (1, 7, 7, 40), (7, 7), (1, 1), "valid")
    pool("avgpool_u8_same", "AVERAGE_POOL_2D", "u8", (1, 9, 8, 12), (3, 3), (2, 2), "same", "relu6")
    pool("avgpool_s8_same", "AVERAGE_POOL_2D", "s8", (1, 8, 9, 12), (3, 3), (2, 2), "same")
    pool("maxpool_u8", "MAX_POOL_2D", "u8", (1, 9, 8, 12), (3, 3), (2, 2), "same")
    pool("maxpool_s8", "MAX_POOL_2D", "s8", (1, 8, 8, 10), (2, 2), (2, 2), "valid", "relu")
    # MEAN over H, W
    mean("mean_u8", "u8", (1, 7, 7, 40))
    mean("mean_u8_nokeep", "u8", (2, 5, 4, 24), keep_dims=False)
    mean("mean_s8", "s8", (1, 6, 6, 32))
    # SOFTMAX, LOGISTIC, HARD_SWISH
    softmax("softmax_u8", "u8", 2, 1001)
    softmax("softmax_u8_rows", "u8", 24, 64)
    softmax("softmax_s8_rows", "s8", 24, 64)
    softmax("softmax_u8_b", "u8", 3, 37, beta=0.7)
    softmax("softmax_s8", "s8", 2, 100)
    unary("logistic_u8", "LOGISTIC", "u8", 200, in_range=(0.02, 0.1), out_fixed=(1 / 256, 0))
    unary("logistic_s8", "LOGISTIC", "s8", 200, in_range=(0.02, 0.1), out_fixed=(1 / 256, -128))
    for i in range(4):
        unary(f"logistic_u8_{i}", "LOGISTIC", "u8", 0, in_range=(0.01, 0.3), out_fixed=(1 / 256, 0))
        unary(f"logistic_s8_{i}", "LOGISTIC", "s8", 0, in_range=(0.01, 0.3), out_fixed=(1 / 256, -128))
    unary("hardswish_u8", "HARD_SWISH", "u8", 200, in_range=(0.02, 0.05))
    unary("hardswish_s8", "HARD_SWISH", "s8", 200, in_range=(0.02, 0.05))
    # QUANTIZE / DEQUANTIZE
    quantize_f32("quantize_f32_u8", "u8", 300)
    quantize_f32("quantize_f32_s8", "s8", 300)
    requantize("requantize_u8_u8", "u8", "u8", 100)
    requantize("requantize_s8_s8", "s8", "s8", 100)
    requantize("requantize_u8_s8", "u8", "s8", 100)
    dequantize("dequantize_u8", "u8")
    dequantize("dequantize_s8", "s8")
    # Parameters and inputs where the XNNPACK-path and reference-path formulas of
    # tx_qadd_init / tx_qsoftmax_init / tx_qlut_logistic disagree (found by a search with
    # taxon's kernels; random data almost never separates the two paths for these ops),
    # so that TFLite's two outputs tell which formula each path really uses.
    add_u8 = ((0.0788384005, 113), (0.0229764264, 108), (0.104537025, 105),
              [(4, 184), (39, 164), (74, 144), (152, 72), (187, 52), (222, 32), (230, 0),
               (5, 184), (39, 165), (0, 0)])
    add_s8 = ((0.0751479715, -48), (0.0126006221, -17), (0.096338883, -10),
              [(1, 31), (8, 81), (64, -123), (71, -73), (78, -23), (85, 27), (92, 77), (99, 127),
               (-104, -115), (-97, -65), (-90, -15), (-83, 35), (-76, 85), (-20, -119),
               (-13, -69), (-6, -19), (0, 0), (1, 30)])
    binary("add_u8_disc", "ADD", "u8", (1, 1, 1, 10), fixed=add_u8)
    binary("add_s8_disc", "ADD", "s8", (1, 1, 1, 18), fixed=add_s8)
    for i, q in enumerate([(0.00604928704, 127), (0.00585155562, 79), (0.0337752625, 70)]):
        unary(f"logistic_u8_disc{i}", "LOGISTIC", "u8", 0, out_fixed=(1 / 256, 0), in_fixed=q)
    for i, q in enumerate([(0.0210455675, 53), (0.0122404946, 12), (0.0274195727, 2)]):
        unary(f"logistic_s8_disc{i}", "LOGISTIC", "s8", 0, out_fixed=(1 / 256, -128), in_fixed=q)
    softmax("softmax_u8_disc0", "u8", 1, 16, fixed=((0.0449073203, 174), [
        81, 93, 57, 224, 175, 130, 139, 245, 245, 248, 179, 217, 108, 229, 24, 147]))
    softmax("softmax_u8_disc1", "u8", 1, 16, fixed=((0.207059413, 147), [
        35, 150, 139, 121, 147, 255, 224, 139, 100, 20, 184, 226, 218, 140, 223, 4]))
    softmax("softmax_u8_disc2", "u8", 1, 16, fixed=((0.0884970948, 155), [
        122, 152, 235, 69, 204, 89, 252, 161, 169, 135, 108, 12, 126, 103, 175, 174]))
    softmax("softmax_s8_disc0", "s8", 1, 16, fixed=((0.0916376039, -29), [
        -51, 101, -99, -44, -37, -57, 97, -9, 57, 23, -70, 33, -26, -79, 22, -92]))
    softmax("softmax_s8_disc1", "s8", 1, 16, fixed=((0.0816278383, -8), [
        -72, -71, 55, 16, 5, 11, -67, -35, 56, 60, -56, 102, -44, -30, 76, -123]))
    softmax("softmax_s8_disc2", "s8", 1, 16, fixed=((0.295088977, -16), [
        -51, -34, -81, -7, 92, -26, -105, 123, 99, 105, -126, -43, 85, 54, -72, -38]))
    # CONCATENATION, PAD
    concat("concat_u8_same", "u8", 6, (8, 16, 4), True)
    concat("concat_u8_scaled", "u8", 5, (8, 12), False)
    concat("concat_s8_same", "s8", 4, (16, 8), True)
    pad("pad_u8", "u8", (1, 5, 4, 8), ((1, 2), (0, 1)))
    pad("pad_s8", "s8", (2, 3, 3, 4), ((1, 1), (1, 1)))


# Whole classifiers from ../shared/models on a pseudo-random input both sides can make
# (LCG: s = s * 1664525 + 1013904223 mod 2^32, byte = s >> 24, s starts at the seed).
MODELS = [("mobilenet_v1_0.25_128_quant.tflite", 1), ("mobilenet_v2_1.0_224_quant.tflite", 2)]
MODEL_INFO = []


def lcg_bytes(seed, n):
    out = np.empty(n, np.uint8)
    s = seed & 0xFFFFFFFF
    for i in range(n):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = s >> 24
    return out


def models():
    shared = os.environ.get("TAXON_SHARED", os.path.join(HERE, "..", "..", "shared"))
    for fname, seed in MODELS:
        path = os.path.join(shared, "models", fname)
        if not os.path.exists(path):
            print(f"  (no {path}: whole-model outputs left out)")
            continue
        outs = {}
        for mode, tag in (("AUTO", "y_xnn"), ("BUILTIN_REF", "y_ref")):
            it = tfl.Interpreter(model_path=path, num_threads=1,
                                 experimental_op_resolver_type=tfl.OpResolverType[mode])
            it.allocate_tensors()
            d = it.get_input_details()[0]
            x = lcg_bytes(seed, int(np.prod(d["shape"]))).reshape(d["shape"])
            it.set_tensor(d["index"], x)
            it.invoke()
            outs[tag] = it.get_tensor(it.get_output_details()[0]["index"]).ravel().copy()
        for tag, y in outs.items():
            TENSORS[f"model.{fname}.{tag}"] = y
        MODEL_INFO.append(dict(file=fname, seed=seed, n_out=int(outs["y_xnn"].size),
                               xnn_ref_maxdiff=int(np.abs(outs["y_xnn"].astype(int) -
                                                          outs["y_ref"].astype(int)).max())))


def save(path):
    header, blobs, off = {}, [], 0
    dt = {np.uint8: "U8", np.int8: "I8", np.int32: "I32", np.float32: "F32"}
    for name, arr in TENSORS.items():
        arr = np.ascontiguousarray(arr)
        b = arr.tobytes()
        header[name] = {"dtype": dt[arr.dtype.type], "shape": list(arr.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    ver = getattr(tfl, "__version__", None)
    try:
        from importlib import metadata
        ver = metadata.version("ai-edge-litert") if RUNTIME == "ai-edge-litert" else ver
    except Exception:
        pass
    header["__metadata__"] = {
        "cases": json.dumps(CASES, separators=(",", ":")),
        "models": json.dumps(MODEL_INFO, separators=(",", ":")),
        "generator": "tools/golden_tflite_ops.py",
        "runtime": f"{RUNTIME} {ver}",
    }
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
    return 8 + len(h) + off


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "tests", "golden",
                                                              "qops.safetensors")
    build()
    models()
    size = save(out)
    print(f"{out}: {len(CASES)} cases, {size} bytes ({RUNTIME})")
    for c in CASES:
        extra = "" if c.get("xnn_ref_maxdiff") is None else f" xnn-ref max|diff|={c['xnn_ref_maxdiff']}"
        print(f"  {c['name']:22s} delegated={int(c['delegated'])} xnn==ref={int(c['xnn_eq_ref'])} "
              f"opt==ref={int(c['opt_eq_ref'])} opt==xnn={int(c['opt_eq_xnn'])}{extra}")
    for m in MODEL_INFO:
        print(f"  model {m['file']}: {m['n_out']} outputs, xnn-ref max|diff|={m['xnn_ref_maxdiff']}")
    assert size < 300 * 1024, size


if __name__ == "__main__":
    main()
