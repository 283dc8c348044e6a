#!/usr/bin/env python3
"""make_tflite_seeds.py - writes small, valid .tflite files for the fuzz corpus
(tests/fuzz/corpus/tflite/) and for tests/test_tflite.c.

The FlatBuffers are built by hand with the standard library only (no flatbuffers or
tensorflow package needed): objects are written front to back, a parent before its
children, and each reference slot is patched once its target is placed (FlatBuffer
references always point forward). Field ids follow TensorFlow Lite's schema.fbs.

    python3 tools/make_tflite_seeds.py [OUT_DIR]       (default tests/fuzz/corpus/tflite)

If Python's `tflite` package happens to be importable, every file is read back with
it as an independent check of the layout.
"""
import os
import struct
import sys

# ---- builder -----------------------------------------------------------------------


class Builder:
    def __init__(self):
        self.b = bytearray(8)
        self.b[4:8] = b"TFL3"

    def _grow(self, k):
        at = len(self.b)
        self.b += bytes(k)
        return at

    def align(self, a, extra=0):
        while (len(self.b) + extra) % a:
            self.b.append(0)

    def table(self, fields):
        """fields: list of (id, kind, value); kind in 'b' 'B' 'i' 'I' 'q' 'Q' 'f' or
        'ref' (value ignored). Returns (table position, {id: slot position})."""
        maxid = max([f[0] for f in fields], default=-1)
        self.align(4)
        vts = 4 + 2 * (maxid + 1)
        vt = self._grow(vts)
        self.align(8)
        t = self._grow(4 + 8 * len(fields))
        struct.pack_into("<HH", self.b, vt, vts, 4 + 8 * len(fields))
        struct.pack_into("<i", self.b, t, t - vt)
        slots = {}
        for k, (fid, kind, v) in enumerate(fields):
            fo = 4 + 8 * k
            struct.pack_into("<H", self.b, vt + 4 + 2 * fid, fo)
            if kind != "ref":
                struct.pack_into("<" + kind, self.b, t + fo, v)
            slots[fid] = t + fo
        return t, slots

    def ref(self, slot, target):
        assert target > slot
        struct.pack_into("<I", self.b, slot, target - slot)

    def vector(self, fmt, values):
        esz = struct.calcsize("<" + fmt)
        self.align(max(esz, 4), 4)
        v = self._grow(4 + esz * len(values))
        struct.pack_into("<I", self.b, v, len(values))
        for i, x in enumerate(values):
            struct.pack_into("<" + fmt, self.b, v + 4 + esz * i, x)
        return v

    def bytes_vector(self, data, align=16):
        self.align(align, 4)
        v = self._grow(4 + len(data))
        struct.pack_into("<I", self.b, v, len(data))
        self.b[v + 4:v + 4 + len(data)] = data
        return v

    def string(self, s):
        data = s.encode()
        self.align(4)
        v = self._grow(4 + len(data) + 1)
        struct.pack_into("<I", self.b, v, len(data))
        self.b[v + 4:v + 4 + len(data)] = data
        return v

    def table_vector(self, n):
        """A vector of n table references; returns the slot of each element."""
        v = self.vector("I", [0] * n)
        return [v + 4 + 4 * i for i in range(n)]


# ---- schema field ids and enum values (schema.fbs) ------------------------------------

UINT8, INT8, INT16, INT32, INT64, FLOAT32 = 3, 9, 7, 2, 4, 0
SAME, VALID = 0, 1
NONE, RELU, RELU_N1_TO_1, RELU6 = 0, 1, 2, 3

# operator code, options union type
OPS = {
    "ADD": (0, 11), "AVERAGE_POOL_2D": (1, 5), "CONCATENATION": (2, 10), "CONV_2D": (3, 1),
    "DEPTHWISE_CONV_2D": (4, 2), "DEQUANTIZE": (6, 0), "FULLY_CONNECTED": (9, 8),
    "LOGISTIC": (14, 0), "MAX_POOL_2D": (17, 5), "MUL": (18, 21), "RELU": (19, 0),
    "RELU6": (21, 0), "RESHAPE": (22, 17), "SOFTMAX": (25, 9), "CUSTOM": (32, 0),
    "PAD": (34, 22), "MEAN": (40, 27), "SQUEEZE": (43, 30), "QUANTIZE": (114, 89),
    "HARD_SWISH": (117, 91), "GELU": (150, 116),
}


class Tensor:
    def __init__(self, name, ttype, shape, buffer=0, scale=None, zero=None, qdim=0, data=None):
        self.name, self.type, self.shape, self.buffer = name, ttype, shape, buffer
        self.scale, self.zero, self.qdim, self.data = scale, zero, qdim, data


def write_model(tensors, ops, inputs, outputs, description="taxon seed", external=(),
                metadata=()):
    """tensors: [Tensor]; ops: [(opname, inputs, outputs, options fields, extra)] where
    extra may hold 'custom' (custom_code) and 'custom_options' (bytes).
    Tensor.data (bytes) gets its own buffer; buffer 0 is the empty sentinel.
    external: tensor names whose data is stored after the flatbuffer (offset/size)."""
    b = Builder()
    # buffers: 0 empty, then one per constant tensor, then the metadata
    buffers = [None]
    for t in tensors:
        if t.data is not None:
            t.buffer = len(buffers)
            buffers.append((t.data, t.name in external))
    md_buffers = []
    for name, data in metadata:
        md_buffers.append((name, len(buffers)))
        buffers.append((data, False))
    # operator codes in first-use order
    codes = []
    for op in ops:
        key = (op[0], op[4].get("custom"))
        if key not in codes:
            codes.append(key)

    root_fields = [(0, "I", 3), (1, "ref", 0), (2, "ref", 0), (3, "ref", 0), (4, "ref", 0)]
    if md_buffers:
        root_fields.append((6, "ref", 0))
    root, ms = b.table(root_fields)
    struct.pack_into("<I", b.b, 0, root)
    b.ref(ms[3], b.string(description))

    slots = b.table_vector(len(codes))
    for slot, (opname, custom) in zip(slots, codes):
        code = OPS[opname][0]
        fields = [(0, "b", min(code, 127)), (2, "i", 1), (3, "i", code)]
        if custom:
            fields.append((1, "ref", 0))
        t, s = b.table(fields)
        b.ref(slot, t)
        if custom:
            b.ref(s[1], b.string(custom))
    b.ref(ms[1], slots[0] - 4)

    ext_slots = []
    slots = b.table_vector(len(buffers))
    b.ref(ms[4], slots[0] - 4)
    for slot, buf in zip(slots, buffers):
        if buf is None:
            t, _ = b.table([])
        elif buf[1]:
            t, s = b.table([(1, "Q", 0), (2, "Q", len(buf[0]))])
            ext_slots.append((s[1], buf[0]))
        else:
            t, s = b.table([(0, "ref", 0)])
            b.ref(s[0], b.bytes_vector(buf[0]))
        b.ref(slot, t)

    slots = b.table_vector(1)
    b.ref(ms[2], slots[0] - 4)
    sg, ss = b.table([(0, "ref", 0), (1, "ref", 0), (2, "ref", 0), (3, "ref", 0), (4, "ref", 0)])
    b.ref(slots[0], sg)
    tslots = b.table_vector(len(tensors))
    b.ref(ss[0], tslots[0] - 4)
    for slot, x in zip(tslots, tensors):
        fields = [(0, "ref", 0), (1, "b", x.type), (2, "I", x.buffer), (3, "ref", 0)]
        if x.scale is not None:
            fields.append((4, "ref", 0))
        t, s = b.table(fields)
        b.ref(slot, t)
        b.ref(s[0], b.vector("i", x.shape))
        b.ref(s[3], b.string(x.name))
        if x.scale is not None:
            q, qs = b.table([(2, "ref", 0), (3, "ref", 0), (6, "i", x.qdim)])
            b.ref(s[4], q)
            b.ref(qs[2], b.vector("f", x.scale))
            b.ref(qs[3], b.vector("q", x.zero))
    b.ref(ss[1], b.vector("i", inputs))
    b.ref(ss[2], b.vector("i", outputs))
    oslots = b.table_vector(len(ops))
    b.ref(ss[3], oslots[0] - 4)
    for slot, (opname, ins, outs, opts, extra) in zip(oslots, ops):
        opt_type = OPS[opname][1]
        fields = [(0, "I", codes.index((opname, extra.get("custom")))), (1, "ref", 0),
                  (2, "ref", 0)]
        if opt_type and opts is not None:
            fields += [(3, "B", opt_type), (4, "ref", 0)]
        if "custom_options" in extra:
            fields.append((5, "ref", 0))
        t, s = b.table(fields)
        b.ref(slot, t)
        b.ref(s[1], b.vector("i", ins))
        b.ref(s[2], b.vector("i", outs))
        if opt_type and opts is not None:
            scalars = [f for f in opts if f[1] != "ivec"]
            vecs = [f for f in opts if f[1] == "ivec"]
            ot, os_ = b.table(scalars + [(f[0], "ref", 0) for f in vecs])
            b.ref(s[4], ot)
            for fid, _, v in vecs:
                b.ref(os_[fid], b.vector("i", v))
        if "custom_options" in extra:
            b.ref(s[5], b.bytes_vector(extra["custom_options"], 4))
    b.ref(ss[4], b.string("main"))

    mslots = b.table_vector(len(md_buffers)) if md_buffers else []
    if md_buffers:
        b.ref(ms[6], mslots[0] - 4)
    for slot, (name, idx) in zip(mslots, md_buffers):
        t, s = b.table([(0, "ref", 0), (1, "I", idx)])
        b.ref(slot, t)
        b.ref(s[0], b.string(name))

    for slot, data in ext_slots:  # data stored past the flatbuffer, 16-aligned
        b.align(16)
        at = len(b.b)
        b.b += data
        struct.pack_into("<Q", b.b, slot, at)
    return bytes(b.b)


# ---- the seeds ------------------------------------------------------------------------


def q8(scale, zero):
    return dict(scale=[scale], zero=[zero])


def all_ops():
    t = [
        Tensor("input", UINT8, [1, 8, 8, 4], **q8(1 / 128, 128)),
        Tensor("conv/weights", UINT8, [4, 3, 3, 4], data=bytes(range(144)), **q8(0.02, 120)),
        Tensor("conv/bias", INT32, [4], data=struct.pack("<4i", -5, 0, 7, 99999),
               **q8(0.02 / 128, 0)),
        Tensor("conv/out", UINT8, [1, 4, 4, 4], **q8(0.0235, 0)),
        Tensor("dw/weights", INT8, [1, 3, 3, 8], data=bytes(72), qdim=3,
               scale=[0.01 * (i + 1) for i in range(8)], zero=[0] * 8),
        Tensor("dw/out", INT8, [1, 2, 2, 8], **q8(0.05, -3)),
        Tensor("float", FLOAT32, [1, 16], data=struct.pack("<16f", *[i / 4 for i in range(16)])),
        Tensor("fc/weights", INT16, [10, 16], data=bytes(320), **q8(0.001, 0)),
        Tensor("shape", INT64, [2], data=struct.pack("<2q", 1, -1)),
        Tensor("pads", INT32, [4, 2], data=bytes(32)),
        Tensor("axes", INT32, [2], data=struct.pack("<2i", 1, 2)),
        Tensor("out", UINT8, [1, 10], **q8(1 / 256, 0)),
    ]
    ops = [
        ("CONV_2D", [0, 1, 2], [3], [(0, "b", SAME), (1, "i", 2), (2, "i", 2), (3, "b", RELU6)], {}),
        ("DEPTHWISE_CONV_2D", [3, 4, -1], [5],
         [(0, "b", VALID), (1, "i", 1), (2, "i", 1), (3, "i", 2), (4, "b", RELU), (5, "i", 1),
          (6, "i", 2)], {}),
        ("FULLY_CONNECTED", [6, 7, -1], [11], [(0, "b", NONE), (1, "b", 0), (2, "B", 1)], {}),
        ("ADD", [3, 3], [3], [(0, "b", RELU6)], {}),
        ("MUL", [3, 3], [3], [(0, "b", RELU_N1_TO_1)], {}),
        ("AVERAGE_POOL_2D", [3], [3],
         [(0, "b", VALID), (1, "i", 1), (2, "i", 1), (3, "i", 7), (4, "i", 7), (5, "b", NONE)], {}),
        ("MAX_POOL_2D", [3], [3],
         [(0, "b", SAME), (1, "i", 2), (2, "i", 2), (3, "i", 3), (4, "i", 3), (5, "b", NONE)], {}),
        ("MEAN", [3, 10], [11], [(0, "B", 1)], {}),
        ("RESHAPE", [3, 8], [11], [(0, "ivec", [1, -1])], {}),
        ("SQUEEZE", [3], [11], [(0, "ivec", [1, 2])], {}),
        ("SOFTMAX", [11], [11], [(0, "f", 0.5)], {}),
        ("CONCATENATION", [3, 3], [3], [(0, "i", 3), (1, "b", NONE)], {}),
        ("PAD", [3, 9], [3], [], {}),
        ("QUANTIZE", [6], [11], [], {}),
        ("DEQUANTIZE", [11], [6], None, {}),
        ("LOGISTIC", [11], [11], None, {}),
        ("HARD_SWISH", [3], [3], [], {}),
        ("RELU", [6], [6], None, {}),
        ("RELU6", [6], [6], None, {}),
    ]
    return write_model(t, ops, [0], [11], "every operator kind taxon's TFLite import needs",
                       metadata=[("min_runtime_version", b"1.14.0\0\0\0\0\0\0\0\0\0\0")])


def tiny_conv():
    t = [
        Tensor("input", UINT8, [1, 4, 4, 2], **q8(1 / 128, 128)),
        Tensor("conv/weights", UINT8, [3, 1, 1, 2], data=bytes([1, 2, 3, 250, 251, 252]),
               **q8(0.02, 120)),
        Tensor("conv/bias", INT32, [3], data=struct.pack("<3i", -7, 0, 123456),
               **q8(0.02 / 128, 0)),
        Tensor("output", UINT8, [1, 4, 4, 3], **q8(0.0235, 0)),
    ]
    ops = [("CONV_2D", [0, 1, 2], [3],
            [(0, "b", VALID), (1, "i", 1), (2, "i", 1), (3, "b", RELU6)], {})]
    return write_model(t, ops, [0], [3])


def external_buffer():
    t = [
        Tensor("x", FLOAT32, [1, 3]),
        Tensor("w", FLOAT32, [2, 3], data=struct.pack("<6f", 1, 2, 3, 4, 5, 6)),
        Tensor("y", FLOAT32, [1, 2]),
    ]
    ops = [("FULLY_CONNECTED", [0, 1, -1], [2], [(0, "b", NONE)], {})]
    return write_model(t, ops, [0], [2], external={"w"})


def custom_and_gelu():
    t = [Tensor("x", FLOAT32, [1, 4]), Tensor("y", FLOAT32, [1, 4]), Tensor("z", FLOAT32, [1, 4])]
    ops = [
        ("CUSTOM", [0], [1], None, {"custom": "TaxonTestOp", "custom_options": b"\x01\x02\x03"}),
        ("GELU", [1], [2], [(0, "B", 1)], {}),
    ]
    return write_model(t, ops, [0], [2])


SEEDS = {
    "all_ops.tflite": all_ops,
    "tiny_conv.tflite": tiny_conv,
    "external_buffer.tflite": external_buffer,
    "custom_gelu.tflite": custom_and_gelu,
}


def check_with_tflite_package(path):
    try:
        import tflite  # noqa: F401  (optional, only as an independent reader)
    except ImportError:
        return "skipped (no tflite package)"
    data = open(path, "rb").read()
    m = tflite.Model.GetRootAsModel(data, 0)
    sg = m.Subgraphs(0)
    names = [sg.Tensors(i).Name().decode() for i in range(sg.TensorsLength())]
    return "tflite package reads %d tensors, %d operators (%s ...)" % (
        len(names), sg.OperatorsLength(), ", ".join(names[:3]))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fuzz", "corpus", "tflite")
    os.makedirs(out, exist_ok=True)
    for name, fn in SEEDS.items():
        path = os.path.join(out, name)
        data = fn()
        with open(path, "wb") as f:
            f.write(data)
        print("%-24s %6d bytes  %s" % (name, len(data), check_with_tflite_package(path)))


if __name__ == "__main__":
    main()
