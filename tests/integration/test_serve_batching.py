#!/usr/bin/python3
"""`infergate serve` dynamic batching against a real process: 16 concurrent clients are merged into fewer
executions, batched answers equal unbatched ones, and a full queue answers 503 with Retry-After.
  test_serve_batching.py PATH/TO/infergate"""
import os
import sys
import tempfile
import threading

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Checker, Server, make_repo, linear_ref, encode_infer  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
check = Checker()

BATCH_CFG = """name: "linear"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "features", data_type: TYPE_FP32, dims: [ 4 ] } ]
output [ { name: "value", data_type: TYPE_FP32, dims: [ 1 ] } ]
dynamic_batching { max_queue_delay_microseconds: 20000 }
instance_group [ { count: 2, kind: KIND_CPU } ]
"""

QUEUE_CFG = """name: "tiny_cnn"
max_batch_size: 64
input [ { name: "image", data_type: TYPE_FP32, dims: [ 1, 8, 8 ] } ]
output [ { name: "logits", data_type: TYPE_FP32, dims: [ 10 ] } ]
dynamic_batching { default_queue_policy { max_queue_size: 1 } }
instance_group [ { count: 1, kind: KIND_CPU } ]
"""


def test_batching(tmp):
    repo = make_repo(tmp + "/b", ["linear"], {"linear": BATCH_CFG})
    with Server(BIN, repo) as s:
        rng = np.random.default_rng(7)
        xs = [rng.normal(size=(1 + i % 2, 4)).astype(np.float32) for i in range(16)]
        # unbatched answers first, one at a time
        single = [s.infer("linear", {"features": x}, binary_in=True, binary_out=True)[2].get("value") for x in xs]
        before = s.stats("linear")
        results = [None] * 16
        barrier = threading.Barrier(16)

        def client(i):
            barrier.wait()
            results[i] = s.infer("linear", {"features": xs[i]}, binary_in=True, binary_out=True)

        ts = [threading.Thread(target=client, args=(i,)) for i in range(16)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        after = s.stats("linear")
        check("16 concurrent all 200", all(r and r[0] == 200 for r in results), [r[:2] for r in results if r])
        same = all(r and r[0] == 200 and single[i] is not None and r[2]["value"].tobytes() == single[i].tobytes()
                   for i, r in enumerate(results))
        check("batched == unbatched (bit-exact)", same)
        check("matches numpy", all(r and np.allclose(r[2]["value"], linear_ref(xs[i]), rtol=1e-5, atol=1e-6)
                                   for i, r in enumerate(results)))
        n_exec = after["execution_count"] - before["execution_count"]
        n_req = after["inference_stats"]["success"]["count"] - before["inference_stats"]["success"]["count"]
        check("requests counted", n_req == 16, n_req)
        check("execution_count < requests", 0 < n_exec < 16, (n_exec, n_req))
        sizes = [b["batch_size"] for b in after["batch_stats"]]
        check("batch_stats has sizes > 2 (merged)", any(b > 2 for b in sizes), after["batch_stats"])
        check("no batch over max_batch_size", all(b <= 8 for b in sizes), sizes)
        check("inference_count counts elements", after["inference_count"] - before["inference_count"] ==
              sum(len(x) for x in xs), (after["inference_count"], before["inference_count"]))


def test_queue_full(tmp):
    repo = make_repo(tmp + "/q", ["tiny_cnn"], {"tiny_cnn": QUEUE_CFG})
    with Server(BIN, repo) as s:
        big = np.random.default_rng(3).normal(size=(64, 1, 8, 8)).astype(np.float32)
        body, hdrs = encode_infer({"image": big}, binary_in=True, binary_out=True)
        out = []
        lock = threading.Lock()
        barrier = threading.Barrier(12)

        def client():
            barrier.wait()
            for _ in range(4):
                st, h, b = s.request("POST", "/v2/models/tiny_cnn/infer", body=body, headers=hdrs)
                with lock:
                    out.append((st, h.get("retry-after"), b[:200]))

        ts = [threading.Thread(target=client) for _ in range(12)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        codes = [o[0] for o in out]
        busy = [o for o in out if o[0] == 503]
        check("queue full: only 200/503", set(codes) <= {200, 503}, codes)
        check("queue full: some 503", busy, codes)
        check("queue full: some 200", 200 in codes, codes)
        check("503 has Retry-After and message", all(o[1] and b"Exceeds maximum queue size" in o[2] for o in busy),
              busy[:2])
        st = s.stats("tiny_cnn")
        check("rejections counted as failures", st["inference_stats"]["fail"]["count"] == len(busy),
              (st["inference_stats"]["fail"], len(busy)))
        m = s.metrics()
        check("metrics failure reason REJECTED", any(l.startswith("nv_inference_request_failure{") and
                                                     "REJECTED" in l and float(l.split()[-1]) == len(busy)
                                                     for l in m.splitlines()),
              [l for l in m.splitlines() if "failure" in l])


with tempfile.TemporaryDirectory() as tmp:
    for t in (test_batching, test_queue_full):
        try:
            t(tmp)
        except Exception as e:  # noqa: BLE001
            check(f"{t.__name__} raised", False, repr(e))
check.done()
