#!/usr/bin/python3
"""Writes If/Loop/Scan cases the ONNX node tests do not cover (scan axes and directions, opset-8
batches with sequence_lens, zero-trip loops, outer-scope values) under tests/ml/data/test_ctl_*/,
in the node-test layout. Bodies add with Gemm (A*I + C) so they need few other kernels.

    /usr/bin/python3 tests/ml/make_control_models.py [OUTDIR]
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto as TP, helper as h, numpy_helper as nh

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
EYE = nh.from_array(np.eye(2, dtype=np.float32), "eye")


def vi(name, dt, shape):
    return h.make_tensor_value_info(name, dt, shape)


def save(name, graph, opset, inputs, outputs):
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)], producer_name="infergate-tests")
    model.ir_version = 7
    onnx.checker.check_model(model)
    d = os.path.join(OUT, "test_ctl_" + name)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    onnx.save(model, os.path.join(d, "model.onnx"))
    for kind, vals in (("input", inputs), ("output", outputs)):
        for k, (n, a) in enumerate(vals):
            with open(os.path.join(d, "test_data_set_0", "%s_%d.pb" % (kind, k)), "wb") as f:
                f.write(nh.from_array(a, n).SerializeToString())


def add_body(name, opset_scan):
    """Body (s [1,2], x [1,2]) -> (s + x, s + x)."""
    nodes = [h.make_node("Gemm", ["x", "eye", "s"], ["s_out"]), h.make_node("Identity", ["s_out"], ["y"])]
    return h.make_graph(nodes, name, [vi("s", TP.FLOAT, [1, 2]), vi("x", TP.FLOAT, [1, 2])],
                        [vi("s_out", TP.FLOAT, [1, 2]), vi("y", TP.FLOAT, [1, 2])], initializer=[EYE])


def scan9_axes():
    body = add_body("body", True)
    node = h.make_node("Scan", ["init", "x"], ["final", "ys"], body=body, num_scan_inputs=1,
                       scan_input_axes=[1], scan_input_directions=[1], scan_output_axes=[1],
                       scan_output_directions=[1])
    g = h.make_graph([node], "scan9_axes", [vi("init", TP.FLOAT, [1, 2]), vi("x", TP.FLOAT, [1, 3, 2])],
                     [vi("final", TP.FLOAT, [1, 2]), vi("ys", TP.FLOAT, [1, 3, 2])])
    init = np.array([[1, 2]], np.float32)
    x = np.arange(6, dtype=np.float32).reshape(1, 3, 2)
    s, ys = init.copy(), np.zeros((1, 3, 2), np.float32)
    for t in range(3):
        s = s + x[:, 2 - t, :]
        ys[:, 2 - t, :] = s
    save("scan9_axes_reverse", g, 11, [("init", init), ("x", x)], [("final", s), ("ys", ys)])


def scan8_seqlens():
    body = add_body("body", False)
    node = h.make_node("Scan", ["lens", "init", "x"], ["final", "ys"], body=body, num_scan_inputs=1)
    g = h.make_graph([node], "scan8", [vi("lens", TP.INT32, [2]), vi("init", TP.FLOAT, [2, 1, 2]),
                                      vi("x", TP.FLOAT, [2, 3, 1, 2])],
                     [vi("final", TP.FLOAT, [2, 1, 2]), vi("ys", TP.FLOAT, [2, 3, 1, 2])])
    lens = np.array([3, 1], np.int32)
    init = np.array([[[1, 2]], [[10, 20]]], np.float32)
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 1, 2)
    final, ys = init.copy(), np.zeros((2, 3, 1, 2), np.float32)
    for b in range(2):
        for t in range(lens[b]):
            final[b] = final[b] + x[b, t]
            ys[b, t] = final[b]
    save("scan8_sequence_lens", g, 8, [("lens", lens), ("init", init), ("x", x)], [("final", final), ("ys", ys)])


def loop(name, trips):
    one = nh.from_array(np.array([[0.5, 1]], np.float32), "one")
    nodes = [h.make_node("Identity", ["cond_in"], ["cond_out"]),
             h.make_node("Gemm", ["one", "eye", "y_in"], ["y_out"]),
             h.make_node("Identity", ["y_out"], ["scan_y"]),
             h.make_node("Identity", ["iter"], ["scan_i"])]
    body = h.make_graph(nodes, "body", [vi("iter", TP.INT64, []), vi("cond_in", TP.BOOL, []),
                                        vi("y_in", TP.FLOAT, [1, 2])],
                        [vi("cond_out", TP.BOOL, []), vi("y_out", TP.FLOAT, [1, 2]), vi("scan_y", TP.FLOAT, [1, 2]),
                         vi("scan_i", TP.INT64, [])], initializer=[one, EYE])
    node = h.make_node("Loop", ["M", "", "y"], ["y_final", "ys", "is"], body=body)
    g = h.make_graph([node], name, [vi("M", TP.INT64, []), vi("y", TP.FLOAT, [1, 2])],
                     [vi("y_final", TP.FLOAT, [1, 2]), vi("ys", TP.FLOAT, [None, 1, 2]), vi("is", TP.INT64, [None])])
    y = np.array([[1, -1]], np.float32)
    ys = np.array([y + np.array([[0.5, 1]], np.float32) * (i + 1) for i in range(trips)], np.float32).reshape(
        trips, 1, 2)
    final = ys[-1] if trips else y
    save(name, g, 13, [("M", np.array(trips, np.int64)), ("y", y)],
         [("y_final", final), ("ys", ys), ("is", np.arange(trips, dtype=np.int64))])


def if_outer():
    then_g = h.make_graph([h.make_node("Identity", ["a"], ["r"])], "then", [], [vi("r", TP.FLOAT, [2])])
    else_g = h.make_graph([h.make_node("Identity", ["b"], ["r2"])], "else", [], [vi("r2", TP.FLOAT, [3])])
    node = h.make_node("If", ["c"], ["out"], then_branch=then_g, else_branch=else_g)
    g = h.make_graph([node], "if_outer", [vi("c", TP.BOOL, []), vi("a", TP.FLOAT, [2]), vi("b", TP.FLOAT, [3])],
                     [vi("out", TP.FLOAT, [None])])
    a, b = np.array([1, 2], np.float32), np.array([3, 4, 5], np.float32)
    save("if_outer_scope_else", g, 13, [("c", np.array(False)), ("a", a), ("b", b)], [("out", b)])


def main():
    scan9_axes()
    scan8_seqlens()
    loop("loop_scan_outputs", 4)
    loop("loop_zero_trips", 0)
    if_outer()


if __name__ == "__main__":
    main()
