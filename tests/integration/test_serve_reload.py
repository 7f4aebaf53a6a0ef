#!/usr/bin/python3
"""`infergate serve` model versions and hot reload against a real process (anchors R1-R3): a new version
swaps in under load with zero failures, a broken version leaves the old one serving, explicit load/unload,
no load/unload in none mode, a malformed config.pbtxt hurts only its own model.
  test_serve_reload.py PATH/TO/infergate"""
import os
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Checker, Server, make_repo, linear_ref, linear_variant  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
check = Checker()
X = np.array([[1, 2, 3, 4], [0.5, -1, 0, 2]], np.float32)


class Load:
    """A client thread sending requests back to back; records (status, version, outputs) of each."""

    def __init__(self, s, model="linear"):
        self.s, self.model, self.out, self.stop = s, model, [], False
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        while not self.stop:
            t0 = time.time()
            try:
                st, d, o, _ = self.s.infer(self.model, {"features": X}, binary_in=True, binary_out=True)
                self.out.append((st, d.get("model_version") if st == 200 else d.get("error"), o.get("value"),
                                 time.time() - t0))
            except Exception as e:  # noqa: BLE001  (a reset or a refused connection)
                self.out.append((-1, repr(e), None, time.time() - t0))
            time.sleep(0.002)

    def end(self):
        self.stop = True
        self.t.join(10)
        return self.out


def index(s):
    st, d = s.post_json("/v2/repository/index")
    return d if st == 200 else []


def wait_for(pred, timeout=8):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_poll(tmp):
    repo = make_repo(tmp + "/p", ["linear", "iris_mlp"])
    with Server(BIN, repo, "--model-control-mode", "poll", "--repository-poll-secs", 1) as s:
        load = Load(s)
        time.sleep(0.3)
        w2, b2 = linear_variant(os.path.join(repo, "linear", "2", "model.onnx.tmp"), 2.0, 1.0)
        os.rename(os.path.join(repo, "linear", "2", "model.onnx.tmp"), os.path.join(repo, "linear", "2", "model.onnx"))
        ok = wait_for(lambda: any(o[1] == "2" for o in load.out[-3:]))
        time.sleep(0.3)
        out = list(load.out)
        check("R1: version 2 served after add", ok, [o[:2] for o in out[-5:]])
        fails = [o[:2] for o in out if o[0] != 200]
        check("R1: zero failed requests", not fails, fails[:5])
        versions = [o[1] for o in out if o[0] == 200]
        first2 = versions.index("2") if "2" in versions else len(versions)
        check("R1: 1 before, 2 after, no flapping", set(versions[:first2]) == {"1"} and
              set(versions[first2:]) == {"2"}, versions)
        v1 = [o for o in out if o[1] == "1"]
        v2 = [o for o in out if o[1] == "2"]
        check("R1: v1 answers = numpy v1", v1 and np.allclose(v1[-1][2], linear_ref(X), rtol=1e-5, atol=1e-6))
        check("R1: v2 answers = numpy v2", v2 and np.allclose(v2[-1][2], linear_ref(X, w2, b2), rtol=1e-5,
                                                              atol=1e-6))

        # R2: a broken version 3 keeps version 2 serving
        n0 = len(load.out)
        os.makedirs(os.path.join(repo, "linear", "3"))
        with open(os.path.join(repo, "linear", "3", "model.onnx"), "wb") as f:
            f.write(b"\x08\x07garbage not an onnx model" * 10)

        def v3_unavailable():
            return any(m["name"] == "linear" and m.get("version") == "3" and m["state"] == "UNAVAILABLE"
                       for m in index(s))
        ok = wait_for(v3_unavailable)
        time.sleep(1.2)
        out = load.end()[n0:]
        row = [m for m in index(s) if m["name"] == "linear" and m.get("version") == "3"]
        check("R2: index shows v3 UNAVAILABLE with a reason", ok and row and row[0]["reason"], index(s))
        check("R2: zero failures, v2 keeps serving", out and all(o[0] == 200 and o[1] == "2" for o in out),
              [o[:2] for o in out if o[0] != 200 or o[1] != "2"][:5])
        check("R2: still ready", s.get("/v2/health/ready")[0] == 200)
        st, d = s.get_json("/v2/models/linear")
        check("metadata lists served version", st == 200 and "2" in d["versions"], d)

        # a malformed config.pbtxt for one model: the others serve, index shows the reason
        with open(os.path.join(repo, "iris_mlp", "config.pbtxt"), "w") as f:
            f.write('name: "iris_mlp"\nmax_batch_size: [[[ oops\n')
        ok = wait_for(lambda: any(m["name"] == "iris_mlp" and m["state"] != "READY" or
                                  (m["name"] == "iris_mlp" and m["reason"]) for m in index(s)))
        rows = [m for m in index(s) if m["name"] == "iris_mlp"]
        check("bad config: index shows reason", ok and any(m["reason"] for m in rows), rows)
        st = s.infer("linear", {"features": X})[0]
        check("bad config: other model serves", st == 200, st)


def test_explicit(tmp):
    repo = make_repo(tmp + "/e", ["linear", "iris_mlp"])
    with Server(BIN, repo, "--model-control-mode", "explicit", "--load-model", "linear",
                "--strict-readiness", "false") as s:
        check("explicit: only --load-model loaded", s.get("/v2/models/iris_mlp/ready")[0] != 200)
        st, h, b = s.post("/v2/repository/models/iris_mlp/load")
        check("explicit: load 200", st == 200, (st, b))
        check("explicit: loaded model ready", s.get("/v2/models/iris_mlp/ready")[0] == 200)
        st, h, b = s.post("/v2/repository/models/nosuch/load")
        check("explicit: load of a missing model 400/404", st in (400, 404), (st, b))
        # R3: unload while a client sends: after the unload returns, 400/404 promptly; never a reset or 5xx
        load = Load(s)
        time.sleep(0.2)
        st, h, b = s.post("/v2/repository/models/linear/unload")
        t_unload = time.time()
        time.sleep(0.4)
        out = load.end()
        check("R3: unload 200", st == 200, (st, b))
        bad = [o[:2] for o in out if o[0] not in (200, 400, 404)]
        check("R3: only 200/400/404, never a reset or 5xx", not bad, bad[:5])
        codes = [o[0] for o in out]
        last_ok = max((i for i, c in enumerate(codes) if c == 200), default=-1)
        check("R3: no 200 after the first refusal", all(c != 200 for c in codes[last_ok + 1:]) and
              any(c in (400, 404) for c in codes), codes)
        check("R3: refusals prompt", all(o[3] < 0.5 for o in out if o[0] in (400, 404)))
        check("R3: model not ready after unload", s.get("/v2/models/linear/ready")[0] != 200)
        rows = [m for m in index(s) if m["name"] == "linear"]
        check("R3: index shows linear unloaded", rows and all(m["state"] != "READY" for m in rows), rows)
        st, h, b = s.post("/v2/repository/models/linear/load")
        check("explicit: reload 200 and serves", st == 200 and s.infer("linear", {"features": X})[0] == 200)
        _ = t_unload


def test_none(tmp):
    repo = make_repo(tmp + "/n", ["linear"])
    with Server(BIN, repo, "--model-control-mode", "none") as s:
        for op in ("load", "unload"):
            st, h, b = s.post(f"/v2/repository/models/linear/{op}")
            check(f"none mode: {op} refused 400", st == 400 and b"error" in b, (st, b))
        check("none mode: still serving", s.infer("linear", {"features": X})[0] == 200)


with tempfile.TemporaryDirectory() as tmp:
    for t in (test_poll, test_explicit, test_none):
        try:
            t(tmp)
        except Exception as e:  # noqa: BLE001
            check(f"{t.__name__} raised", False, repr(e))
check.done()
