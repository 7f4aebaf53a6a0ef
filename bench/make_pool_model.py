"""Writes a 1x3x224x224 -> 1x3x1x1 GlobalAveragePool ONNX model (dynamic batch axis) to argv[1]: a
model that takes a ResNet-sized FP32 input but costs almost nothing to run, so an end-to-end JSON
request over HTTP measures decoding, not compute. Run with /usr/bin/python3 (needs torch)."""
import sys

import torch
import torch.nn as nn

torch.onnx.export(nn.AdaptiveAvgPool2d(1).eval(), torch.randn(1, 3, 224, 224), sys.argv[1],
                  input_names=["input"], output_names=["output"],
                  dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=13)
