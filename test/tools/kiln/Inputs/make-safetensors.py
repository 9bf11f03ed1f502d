# Writes a safetensors file of zero-filled tensors for `kiln run --inputs`.
#   make-safetensors.py OUT NAME:DTYPE:DIMxDIM... [NAME:DTYPE:SHAPE ...]
# DTYPE is a safetensors dtype (F32, BF16, F16, I32, I64).
import json
import struct
import sys

SIZES = {"F32": 4, "BF16": 2, "F16": 2, "I32": 4, "I64": 8}

header, data = {}, b""
for spec in sys.argv[2:]:
    name, dtype, shape = spec.split(":")
    dims = [int(d) for d in shape.split("x")] if shape else []
    count = 1
    for d in dims:
        count *= d
    size = count * SIZES[dtype]
    header[name] = {"dtype": dtype, "shape": dims,
                    "data_offsets": [len(data), len(data) + size]}
    data += b"\0" * size
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
with open(sys.argv[1], "wb") as out:
    out.write(struct.pack("<Q", len(text)) + text + data)
