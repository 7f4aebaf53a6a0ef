#!/usr/bin/python3
"""Writes the bundled example models (Triton layout: models/<name>/1/model.onnx) and sample inputs.

Small and deterministic, built with onnx.helper so no framework is needed:
  linear          4 features -> 1 value (MatMul + Add), batch dimension dynamic
  iris_mlp        4 features -> 16 (ReLU) -> 3 class probabilities (Gemm, Relu, Softmax)
  tiny_cnn        1x8x8 image -> Conv 3x3 + ReLU + MaxPool + Flatten + Gemm -> 10 logits
Run: /usr/bin/python3 examples/make_examples.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)


def save(name, graph, opset=13):
    model = helper.make_model(graph, producer_name="infergate-examples",
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    d = os.path.join(HERE, "models", name, "1")
    os.makedirs(d, exist_ok=True)
    onnx.save(model, os.path.join(d, "model.onnx"))


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name)


def linear():
    w = rng.normal(size=(4, 1)).astype(np.float32)
    b = np.array([0.5], dtype=np.float32)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["features", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["value"])],
        "linear",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("value", TensorProto.FLOAT, ["batch", 1])],
        [init("w", w), init("b", b)])
    save("linear", g)


def iris_mlp():
    g = helper.make_graph(
        [helper.make_node("Gemm", ["features", "w1", "b1"], ["h"], transB=1),
         helper.make_node("Relu", ["h"], ["hr"]),
         helper.make_node("Gemm", ["hr", "w2", "b2"], ["logits"], transB=1),
         helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1)],
        "iris_mlp",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])],
        [init("w1", rng.normal(size=(16, 4)) * 0.5), init("b1", rng.normal(size=16) * 0.1),
         init("w2", rng.normal(size=(3, 16)) * 0.5), init("b2", rng.normal(size=3) * 0.1)])
    save("iris_mlp", g)


def tiny_cnn():
    g = helper.make_graph(
        [helper.make_node("Conv", ["image", "cw", "cb"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["r"]),
         helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("Flatten", ["p"], ["f"], axis=1),
         helper.make_node("Gemm", ["f", "fw", "fb"], ["logits"], transB=1)],
        "tiny_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        [init("cw", rng.normal(size=(4, 1, 3, 3)) * 0.3), init("cb", np.zeros(4)),
         init("fw", rng.normal(size=(10, 64)) * 0.2), init("fb", np.zeros(10))])
    save("tiny_cnn", g)


def inputs():
    d = os.path.join(HERE, "inputs")
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, "iris.npy"), np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32))
    np.save(os.path.join(d, "digit.npy"), rng.random((1, 1, 8, 8), dtype=np.float32))


if __name__ == "__main__":
    linear()
    iris_mlp()
    tiny_cnn()
    inputs()
