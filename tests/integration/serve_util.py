"""Shared helpers for the `infergate serve` integration tests: free ports, a server process that is always
killed, temp model repositories built from examples/models, and a tiny Open Inference Protocol client
(JSON and the binary tensor extension) on http.client and raw sockets. Stdlib + numpy + onnx only."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "examples", "models")

NP_OF = {"BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
         "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64, "FP16": np.float16,
         "FP32": np.float32, "FP64": np.float64}


class Checker:
    """Counts checks; prints each failure with its detail; exit code at the end."""

    def __init__(self):
        self.passed = self.failed = 0
        self.lock = threading.Lock()

    def __call__(self, name, cond, detail=""):
        with self.lock:
            if cond:
                self.passed += 1
            else:
                self.failed += 1
                print(f"FAIL {name}: {str(detail)[:600]}", flush=True)
        return cond

    def done(self):
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)


def free_port():
    """A port the OS says is free now (tiny race window; the server fails loudly if it is taken)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n):
    """n distinct free ports, held open together while they are chosen so they differ."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def grpc_code_of(fn):
    """Calls fn: (None, "") when it returns, the gRPC error's (status code, details) when it fails."""
    import grpc
    try:
        fn()
        return None, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


def compile_grpc_stubs(out_dir):
    """Python stubs of proto/ (grpc_tools.protoc) into out_dir, which goes on sys.path; exits on failure."""
    from grpc_tools import protoc
    proto = os.path.join(ROOT, "proto")
    rc = protoc.main(["protoc", f"-I{proto}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
                      *(os.path.join(proto, f) for f in ("grpc_service.proto", "model_config.proto", "health.proto"))])
    if rc != 0:
        print("FAIL: grpc_tools.protoc could not compile proto/")
        sys.exit(1)
    sys.path.insert(0, out_dir)


def make_repo(tmp, models=("linear",), configs=None):
    """Copies example model folders into tmp/repo; configs maps model name -> config.pbtxt text."""
    repo = os.path.join(tmp, "repo")
    os.makedirs(repo, exist_ok=True)
    for m in models:
        src, dst = (m, m) if isinstance(m, str) else m
        shutil.copytree(os.path.join(MODELS, src), os.path.join(repo, dst))
    for name, text in (configs or {}).items():
        with open(os.path.join(repo, name, "config.pbtxt"), "w") as f:
            f.write(text)
    return repo


class Server:
    """`infergate serve` on free loopback ports; use as a context manager so it is killed on any failure."""

    def __init__(self, binary, repo, *args, wait_ready=True, stdout=None):
        self.port, self.mport = free_port(), free_port()
        self.args = [binary, "serve", "--model-repository", repo, "--http-port", str(self.port),
                     "--metrics-port", str(self.mport), *map(str, args)]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.args, stdout=stdout or self.log, stderr=subprocess.STDOUT)
        if wait_ready:
            self.wait_ready()

    def wait_ready(self, timeout=20, path="/v2/health/ready"):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.output()}")
            try:
                if self.get(path)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not ready in {timeout}s: {self.output()}")

    def output(self):
        if self.proc.stdout is not None:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        else:
            # It ended before the test stopped it: what it said is the clue.
            print(f"server exited by itself ({self.proc.returncode}): {self.output()}", file=sys.stderr)
        self.proc.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # ---- HTTP ----
    def request(self, method, path, body=None, headers=None, port=None, timeout=30):
        """One request on a fresh connection; returns (status, headers dict (lower-case), body bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body if body is not None else b"", **kw)

    def get_json(self, path, **kw):
        s, _, b = self.get(path, **kw)
        return s, (json.loads(b) if b else None)

    def post_json(self, path, body=None, **kw):
        s, h, b = self.post(path, body, **kw)
        return s, (json.loads(b) if b else None)

    def metrics(self):
        return self.get("/metrics", port=self.mport)[2].decode()

    def stats(self, model):
        s, d = self.get_json(f"/v2/models/{model}/stats")
        return d["model_stats"][0] if s == 200 else None

    def infer(self, model, inputs, outputs=None, binary_in=False, binary_out=False, version=None, rid=None,
              params=None, out_params=None, headers=None, conn=None):
        """inputs: {name: np array} (dtype -> OIP datatype). Returns (status, dict or error, outputs{name: array})."""
        body, hdrs = encode_infer(inputs, outputs, binary_in, binary_out, rid, params, out_params)
        hdrs.update(headers or {})
        path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
        if conn is not None:
            conn.request("POST", path, body=body, headers=hdrs)
            r = conn.getresponse()
            status, rh, data = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        else:
            status, rh, data = self.request("POST", path, body=body, headers=hdrs)
        return decode_infer(status, rh, data)


def dtype_name(a):
    for k, v in NP_OF.items():
        if a.dtype == np.dtype(v):
            return k
    raise ValueError(a.dtype)


def encode_infer(inputs, outputs=None, binary_in=False, binary_out=False, rid=None, params=None, out_params=None):
    req = {"inputs": []}
    if rid is not None:
        req["id"] = rid
    if params:
        req["parameters"] = dict(params)
    if binary_out:
        req.setdefault("parameters", {})["binary_data_output"] = True
    blobs = []
    for name, a in inputs.items():
        a = np.asarray(a)
        t = {"name": name, "shape": list(a.shape), "datatype": dtype_name(a)}
        if binary_in:
            raw = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
            t["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            t["data"] = a.flatten().tolist()
        req["inputs"].append(t)
    if outputs is not None:
        req["outputs"] = [{"name": o, **({"parameters": out_params[o]} if out_params and o in out_params else {})}
                          for o in outputs]
    head = json.dumps(req).encode()
    hdrs = {"Content-Type": "application/json"}
    if blobs:
        hdrs = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(head))}
    return head + b"".join(blobs), hdrs


def decode_infer(status, rh, data):
    """Splits a JSON or JSON+binary response; returns (status, json dict, {name: np array}, headers)."""
    hlen = rh.get("inference-header-content-length")
    head = data[:int(hlen)] if hlen is not None else data
    try:
        d = json.loads(head) if head else {}
    except ValueError:
        return status, {"error": f"unparsable body {data[:200]!r}"}, {}, rh
    outs = {}
    if status == 200:
        off = int(hlen) if hlen is not None else 0
        for o in d.get("outputs", []):
            dt = np.dtype(NP_OF[o["datatype"]]).newbyteorder("<")
            p = o.get("parameters") or {}
            if "binary_data_size" in p:
                n = p["binary_data_size"]
                outs[o["name"]] = np.frombuffer(data[off:off + n], dtype=dt).reshape(o["shape"])
                off += n
            else:
                outs[o["name"]] = np.array(o["data"], dtype=dt).reshape(o["shape"])
    return status, d, outs, rh


def raw_exchange(port, data, timeout=3.0, read_all=True):
    """Sends raw bytes on one socket and returns everything the server sends until it closes or goes quiet."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not b:
                break
            chunks.append(b)
            if not read_all:
                break
        return b"".join(chunks)
    finally:
        s.close()


def status_lines(raw):
    """HTTP status codes of every response found in a raw byte stream."""
    import re
    return [int(m) for m in re.findall(rb"HTTP/1\.[01] (\d{3}) ", raw)]


def onnx_weights(path):
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    return {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}


def linear_variant(dst, w_scale, b_add):
    """Writes a copy of examples' linear model with other weights (w*scale, b+add) to dst; returns (w, b)."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(os.path.join(MODELS, "linear", "1", "model.onnx"))
    out = {}
    for i, init in enumerate(m.graph.initializer):
        a = numpy_helper.to_array(init)
        a = a * w_scale if init.name == "w" else (a + b_add if init.name == "b" else a)
        out[init.name] = a.astype(np.float32)
        m.graph.initializer[i].CopyFrom(numpy_helper.from_array(a.astype(np.float32), init.name))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    onnx.save(m, dst)
    return out["w"], out["b"]


def linear_ref(x, w=None, b=None):
    if w is None:
        ws = onnx_weights(os.path.join(MODELS, "linear", "1", "model.onnx"))
        w, b = ws["w"], ws["b"]
    return x @ w + b
