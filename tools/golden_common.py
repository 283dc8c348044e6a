"""Shared by tools/golden_*.py: writing golden tensors as .safetensors.

Format: u64 little-endian header length, JSON header {"name": {"dtype", "shape",
"data_offsets"}, ..., "__metadata__": {str: str}} padded with spaces to 8 bytes, then the
raw little-endian data. Written atomically (temporary file, then rename)."""
import json
import os
import struct

import numpy as np

_DTYPES = {np.float32: "F32", np.int32: "I32", np.uint8: "U8", np.int8: "I8", np.int64: "I64"}


def save_safetensors(path, tensors, meta=None):
    """tensors: dict name -> numpy array (kept in insertion order). Returns the file size."""
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        dt = _DTYPES[arr.dtype.type]
        b = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if meta:
        header["__metadata__"] = {k: str(v) for k, v in meta.items()}
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
