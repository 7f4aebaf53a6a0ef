#!/usr/bin/python3
"""Writes deterministic inputs for a model at a batch size, as DIR/<input>.npy, using the same rule
as the perf tools: first dynamic axis = batch, other dynamic axes = 128; floats in [-1, 1), integers
in [0, 1000).   make_inputs.py MODEL.onnx BATCH DIR"""
import os
import sys

import numpy as np
import onnx

model, batch, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(1)
g = onnx.load(model, load_external_data=False).graph
inits = {i.name for i in g.initializer}
for inp in g.input:
    if inp.name in inits:
        continue
    t = inp.type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else (batch if k == 0 else 128) for k, d in enumerate(t.shape.dim)]
    if t.elem_type == onnx.TensorProto.INT64:
        a = rng.integers(0, 1000, size=shape, dtype=np.int64)
    elif t.elem_type == onnx.TensorProto.INT32:
        a = rng.integers(0, 1000, size=shape, dtype=np.int32)
    else:
        a = rng.uniform(-1, 1, size=shape).astype(np.float32)
    np.save(os.path.join(out, inp.name + ".npy"), a)
    print(f"{inp.name}={os.path.join(out, inp.name + '.npy')}")
