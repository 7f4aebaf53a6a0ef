#!/usr/bin/python3
"""Writes ai.onnx.ml test cases in the ONNX node-test layout (model.onnx, test_data_set_0/input_0.pb,
output_K.pb) under tests/ml/data/test_<name>/. Graphs are built with onnx.helper from fitted scikit-learn
models' coefficients and tree arrays; expected outputs are scikit-learn's own predictions.

    /usr/bin/python3 tests/ml/make_ml_models.py [OUTDIR]
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

ML = "ai.onnx.ml"
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def save(name, node, x, outputs):
    """outputs: list of (name, numpy array). x: float32 input [N, C]."""
    inp = helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x.shape))
    outs = []
    for oname, arr in outputs:
        elem = helper.np_dtype_to_tensor_dtype(arr.dtype) if hasattr(helper, "np_dtype_to_tensor_dtype") else \
            onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[arr.dtype]
        outs.append(helper.make_tensor_value_info(oname, elem, list(arr.shape)))
    graph = helper.make_graph([node], name, [inp], outs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(ML, 1)],
                              producer_name="infergate-tests")
    model.ir_version = 7
    onnx.checker.check_model(model)
    d = os.path.join(OUT, "test_" + name)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    onnx.save(model, os.path.join(d, "model.onnx"))
    with open(os.path.join(d, "test_data_set_0", "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(x, "X").SerializeToString())
    for k, (oname, arr) in enumerate(outputs):
        with open(os.path.join(d, "test_data_set_0", "output_%d.pb" % k), "wb") as f:
            f.write(numpy_helper.from_array(arr, oname).SerializeToString())


def sample(x, n=12, seed=0):
    rng = np.random.RandomState(seed)
    return x[rng.choice(len(x), n, replace=False)].astype(np.float32)


def logistic(name, multi):
    X, y = load_iris(return_X_y=True)
    if not multi:
        y = (y == 2).astype(np.int64)
    m = LogisticRegression(max_iter=1000).fit(X, y)
    x = sample(X)
    coef, icpt = m.coef_, m.intercept_
    # Binary: one coefficient row (the positive class) and LOGISTIC; multiclass: one row per class and
    # SOFTMAX, which is what multinomial logistic regression computes.
    node = helper.make_node("LinearClassifier", ["X"], ["label", "probabilities"], domain=ML,
                            coefficients=coef.astype(np.float32).ravel().tolist(),
                            intercepts=icpt.astype(np.float32).tolist(),
                            classlabels_ints=[int(c) for c in m.classes_],
                            post_transform="SOFTMAX" if multi else "LOGISTIC")
    save(name, node, x, [("label", m.predict(x).astype(np.int64)),
                         ("probabilities", m.predict_proba(x).astype(np.float32))])


def linear_regression():
    X, y = load_diabetes(return_X_y=True)
    y2 = np.stack([y, X[:, 0] * 3 + 1], axis=1)
    m = LinearRegression().fit(X, y2)
    x = sample(X)
    node = helper.make_node("LinearRegressor", ["X"], ["variable"], domain=ML,
                            coefficients=m.coef_.astype(np.float32).ravel().tolist(),
                            intercepts=m.intercept_.astype(np.float32).tolist(), targets=2)
    save("linear_regressor", node, x, [("variable", m.predict(x.astype(np.float64)).astype(np.float32))])


def standard_scaler():
    X, _ = load_diabetes(return_X_y=True)
    X = X * 10 + 3
    m = StandardScaler().fit(X)
    x = sample(X)
    node = helper.make_node("Scaler", ["X"], ["variable"], domain=ML, offset=m.mean_.astype(np.float32).tolist(),
                            scale=(1.0 / m.scale_).astype(np.float32).tolist())
    save("scaler", node, x, [("variable", m.transform(x.astype(np.float64)).astype(np.float32))])


def normalizer(norm):
    X, _ = load_iris(return_X_y=True)
    X = X - 3
    m = Normalizer(norm=norm).fit(X)
    x = sample(X)
    node = helper.make_node("Normalizer", ["X"], ["variable"], domain=ML, norm=norm.upper())
    save("normalizer_" + norm, node, x, [("variable", m.transform(x).astype(np.float32))])


def tree_nodes(trees):
    """nodes_* attributes and the (tree, node) list of leaves for sklearn tree_ objects."""
    a = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
                         "nodes_truenodeids", "nodes_falsenodeids")}
    leaves = []
    for t, tree in enumerate(trees):
        for i in range(tree.node_count):
            leaf = tree.children_left[i] < 0
            a["nodes_treeids"].append(t)
            a["nodes_nodeids"].append(i)
            a["nodes_featureids"].append(0 if leaf else int(tree.feature[i]))
            # sklearn compares float32 features with float64 thresholds; rounding the threshold down to
            # float32 keeps `x <= t` equivalent for every float32 x.
            th = np.float32(tree.threshold[i])
            if not leaf and np.float64(th) > tree.threshold[i]:
                th = np.nextafter(th, np.float32(-np.inf))
            a["nodes_values"].append(0.0 if leaf else float(th))
            a["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            a["nodes_truenodeids"].append(0 if leaf else int(tree.children_left[i]))
            a["nodes_falsenodeids"].append(0 if leaf else int(tree.children_right[i]))
            if leaf:
                leaves.append((t, i))
    return a, leaves


def tree_classifier(name, model, x):
    trees = [e.tree_ for e in model.estimators_] if hasattr(model, "estimators_") else [model.tree_]
    a, leaves = tree_nodes(trees)
    ct, cn, cid, cw = [], [], [], []
    for t, i in leaves:
        v = trees[t].value[i][0]
        p = v / v.sum() / len(trees)
        for c, w in enumerate(p):
            ct.append(t)
            cn.append(i)
            cid.append(c)
            cw.append(float(w))
    node = helper.make_node("TreeEnsembleClassifier", ["X"], ["label", "probabilities"], domain=ML,
                            class_treeids=ct, class_nodeids=cn, class_ids=cid, class_weights=cw,
                            classlabels_int64s=[int(c) for c in model.classes_], **a)
    save(name, node, x, [("label", model.predict(x).astype(np.int64)),
                         ("probabilities", model.predict_proba(x).astype(np.float32))])


def tree_regressor(name, model, x):
    trees = [e.tree_ for e in model.estimators_] if hasattr(model, "estimators_") else [model.tree_]
    a, leaves = tree_nodes(trees)
    node = helper.make_node("TreeEnsembleRegressor", ["X"], ["variable"], domain=ML, n_targets=1,
                            target_treeids=[t for t, _ in leaves], target_nodeids=[i for _, i in leaves],
                            target_ids=[0] * len(leaves),
                            target_weights=[float(trees[t].value[i][0][0]) for t, i in leaves],
                            aggregate_function="AVERAGE" if len(trees) > 1 else "SUM", **a)
    save(name, node, x, [("variable", model.predict(x).astype(np.float32).reshape(-1, 1))])


def main():
    logistic("logreg_binary", False)
    logistic("logreg_multiclass", True)
    linear_regression()
    standard_scaler()
    normalizer("l2")
    normalizer("l1")
    Xi, yi = load_iris(return_X_y=True)
    xi = sample(Xi, 20, 1)
    tree_classifier("decision_tree_classifier", DecisionTreeClassifier(max_depth=4, random_state=0).fit(Xi, yi), xi)
    tree_classifier("random_forest_classifier",
                    RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0).fit(Xi, yi), xi)
    Xd, yd = load_diabetes(return_X_y=True)
    Xd = Xd.astype(np.float32)
    xd = sample(Xd, 20, 2)
    tree_regressor("decision_tree_regressor", DecisionTreeRegressor(max_depth=5, random_state=0).fit(Xd, yd), xd)
    tree_regressor("random_forest_regressor",
                   RandomForestRegressor(n_estimators=6, max_depth=4, random_state=0).fit(Xd, yd), xd)


if __name__ == "__main__":
    main()
