#!/usr/bin/python3
"""CLI tests: the infergate binary run as a user would, on the bundled examples and on bad input.
  test_cli.py PATH/TO/infergate"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

BIN = os.path.abspath(sys.argv[1])
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EX = os.path.join(ROOT, "examples")
IRIS = os.path.join(EX, "models/iris_mlp/1/model.onnx")
LINEAR = os.path.join(EX, "models/linear/1/model.onnx")
passed = failed = 0


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120)


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")


def fails_with(name, args, words, status=None):
    r = run(*args)
    lines = r.stderr.strip().splitlines()
    ok = r.returncode != 0 and (status is None or r.returncode == status) and lines and \
        all(w in lines[0] for w in words) and "Segmentation" not in r.stderr
    check(name, ok, f"rc={r.returncode} stderr={r.stderr!r}")


def linear_reference(x):
    import onnx
    from onnx import numpy_helper
    m = onnx.load(LINEAR)
    w = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    return x @ w["w"] + w["b"]


with tempfile.TemporaryDirectory() as tmp:
    # inspect
    r = run("inspect", IRIS)
    check("inspect ok", r.returncode == 0, r.stderr)
    for word in ["features", "FLOAT [batch,4]", "probabilities", "Gemm", "opsets: ai.onnx=13", "weights:"]:
        check(f"inspect shows {word}", word in r.stdout, r.stdout)

    # run with .npy in and out; compare with a numpy reference
    x = np.array([[1, 2, 3, 4], [0.5, -1, 0, 2], [0, 0, 0, 0]], dtype=np.float32)
    np.save(f"{tmp}/x.npy", x)
    r = run("run", LINEAR, "--input", f"features={tmp}/x.npy", "--output-dir", f"{tmp}/out", "--threads", "1")
    check("run ok", r.returncode == 0, r.stderr)
    check("run prints shape", "value: FLOAT [3,1]" in r.stdout, r.stdout)
    got = np.load(f"{tmp}/out/value.npy")
    check("run output matches numpy", np.allclose(got, linear_reference(x), rtol=1e-5, atol=1e-6), got)

    r = run("run", IRIS, "--input", f"features={tmp}/x.npy", "--output-dir", f"{tmp}/out")
    p = np.load(f"{tmp}/out/probabilities.npy")
    check("softmax rows sum to 1", r.returncode == 0 and np.allclose(p.sum(axis=1), 1, atol=1e-5), r.stderr)

    # perf --json has the documented keys
    r = run("perf", LINEAR, "--batch", "4", "--iterations", "20", "--threads", "1", "--json")
    try:
        d = json.loads(r.stdout)
        check("perf json keys", all(k in d for k in ["model", "batch", "threads", "p50_ms", "p90_ms", "p99_ms",
                                                      "samples_per_s"]) and d["batch"] == 4, d)
    except json.JSONDecodeError:
        check("perf json parses", False, r.stdout + r.stderr)

    # bad input: one line naming the problem, non-zero exit, no crash
    np.save(f"{tmp}/i64.npy", x.astype(np.int64))
    np.save(f"{tmp}/wrongshape.npy", np.zeros((2, 5), np.float32))
    np.save(f"{tmp}/rank3.npy", np.zeros((1, 2, 4), np.float32))
    fails_with("missing model file", ["run", f"{tmp}/nope.onnx", "--input", f"features={tmp}/x.npy"], ["nope.onnx"])
    fails_with("unknown input name", ["run", LINEAR, "--input", f"feat={tmp}/x.npy"], ["feat", "features"])
    fails_with("missing input", ["run", LINEAR], ["features", "missing"])
    fails_with("missing input file", ["run", LINEAR, "--input", f"features={tmp}/none.npy"], ["features", "none.npy"])
    fails_with("wrong dtype", ["run", LINEAR, "--input", f"features={tmp}/i64.npy"], ["features", "FLOAT", "INT64"])
    fails_with("wrong dim", ["run", LINEAR, "--input", f"features={tmp}/wrongshape.npy"], ["features", "dimension 1"])
    fails_with("wrong rank", ["run", LINEAR, "--input", f"features={tmp}/rank3.npy"], ["features", "rank"])
    fails_with("bad --threads", ["run", LINEAR, "--threads", "zero"], ["--threads"], 2)
    fails_with("unknown option", ["perf", LINEAR, "--bogus"], ["--bogus"], 2)
    fails_with("bad --input syntax", ["run", LINEAR, "--input", "features"], ["NAME=FILE"], 2)
    with open(f"{tmp}/garbage.onnx", "wb") as f:
        f.write(b"\x0a\xff\xff\xff\xff\x0fgarbage")
    fails_with("malformed model", ["inspect", f"{tmp}/garbage.onnx"], ["garbage.onnx"])
    with open(f"{tmp}/garbage.npy", "wb") as f:
        f.write(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'")
    fails_with("malformed npy", ["run", LINEAR, "--input", f"features={tmp}/garbage.npy"], ["features"])
    r = run("bogus")
    check("unknown command", r.returncode == 2 and "unknown command" in r.stderr, r.stderr)

print(f"cli: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
