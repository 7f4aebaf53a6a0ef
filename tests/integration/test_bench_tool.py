#!/usr/bin/python3
"""`infergate bench` against tiny in-process HTTP/1.1 servers on ephemeral loopback ports: one that
answers metadata, config and infer like an OIP server (checks the requests it gets), one that fails
every inference with 500, one that closes connections, and bad usage.
  test_bench_tool.py PATH/TO/infergate"""
import json
import os
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

BIN = os.path.abspath(sys.argv[1])
passed = failed = 0

META = {"name": "m", "versions": ["1"], "platform": "onnxruntime_onnx",
        "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, 4]},
                   {"name": "ids", "datatype": "INT64", "shape": [-1, -1]}],
        "outputs": [{"name": "OUT", "datatype": "FP32", "shape": [-1, 2]}]}
CONFIG = {"name": "m", "max_batch_size": 8}
RESULT = json.dumps({"model_name": "m", "outputs": [{"name": "OUT", "shape": [1, 2], "datatype": "FP32",
                                                      "data": [0.5, 0.5]}]}).encode()


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")


class Server:
    """mode: "ok", "500" or "close" (infer requests get no response)."""

    def __init__(self, mode):
        self.mode = mode
        self.seen = []  # (path, headers, body) of the first infer requests
        self.bad = []   # problems found in requests
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, code, body):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path in ("/v2/models/m", "/v2/models/m/versions/1"):
                    self.reply(200, json.dumps(META).encode())
                elif self.path in ("/v2/models/m/config", "/v2/models/m/versions/1/config"):
                    self.reply(200, json.dumps(CONFIG).encode())
                else:
                    self.reply(404, b'{"error":"Not Found"}')

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                if self.path not in ("/v2/models/m/infer", "/v2/models/m/versions/1/infer"):
                    self.reply(404, b'{"error":"Not Found"}')
                    return
                if len(outer.seen) < 3:
                    outer.seen.append((self.path, dict(self.headers), body))
                if outer.mode == "close":
                    self.close_connection = True
                    return
                if outer.mode == "500":
                    self.reply(500, b'{"error":"boom"}')
                    return
                self.reply(200, RESULT)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def bench(*args, timeout=120):
    return subprocess.run([BIN, "bench", *args], capture_output=True, text=True, timeout=timeout)


def split_binary(headers, body):
    hl = int(headers["Inference-Header-Content-Length"])
    return json.loads(body[:hl]), body[hl:]


FIELDS = ["concurrency", "requests", "errors", "throughput_infer_per_s", "p50_us", "p90_us", "p95_us", "p99_us",
          "avg_us"]

# --- a working server, binary tensors (default), batch 2, two levels
srv = Server("ok")
r = bench("--url", srv.url, "--model", "m", "--concurrency", "1,4", "--duration", "2", "--warmup", "0.3",
          "--batch", "2", "--shape", "ids=3", "--json-report")
check("ok: exit 0", r.returncode == 0, r.stderr)
try:
    rep = json.loads(r.stdout)
except ValueError:
    rep = {"levels": []}
    check("ok: report is JSON", False, r.stdout)
levels = rep.get("levels", [])
check("ok: two levels", [lv.get("concurrency") for lv in levels] == [1, 4], r.stdout)
for lv in levels:
    c = lv.get("concurrency")
    check(f"ok c={c}: fields", all(f in lv for f in FIELDS), lv)
    check(f"ok c={c}: requests > 0, no errors", lv.get("requests", 0) > 0 and lv.get("errors") == 0, lv)
    check(f"ok c={c}: throughput = requests x batch / duration",
          abs(lv["throughput_infer_per_s"] - lv["requests"] * 2 / 2.0) < 0.2, lv)
    check(f"ok c={c}: percentiles ordered", 0 < lv["p50_us"] <= lv["p90_us"] <= lv["p95_us"] <= lv["p99_us"], lv)
    check(f"ok c={c}: avg positive", lv["avg_us"] > 0, lv)
check("ok: server saw requests", len(srv.seen) > 0)
if srv.seen:
    path, headers, body = srv.seen[0]
    check("binary: path", path == "/v2/models/m/infer", path)
    check("binary: content type", headers.get("Content-Type") == "application/octet-stream", headers)
    hdr, data = split_binary(headers, body)
    ins = {i["name"]: i for i in hdr["inputs"]}
    check("binary: shapes with batch", ins["INPUT0"]["shape"] == [2, 4] and ins["ids"]["shape"] == [2, 3], hdr)
    check("binary: sizes", ins["INPUT0"]["parameters"]["binary_data_size"] == 32 and
          ins["ids"]["parameters"]["binary_data_size"] == 48 and len(data) == 80, hdr)
    check("binary: binary_data_output", hdr.get("parameters", {}).get("binary_data_output") is True, hdr)
    x = np.frombuffer(data[:32], dtype="<f4")
    check("binary: random floats in [-1,1)", np.all(np.abs(x) <= 1) and np.any(x != 0), x)

# human-readable report
srv.seen.clear()
r = bench("--url", srv.url, "--model", "m", "--version", "1", "--concurrency", "2", "--duration", "0.5",
          "--warmup", "0", "--shape", "ids=5")
check("text: exit 0", r.returncode == 0, r.stderr)
for word in ["Request concurrency: 2", "Throughput:", "p99 latency:", "Errors: 0",
             "Inferences/Second vs. Client Average Batch Latency", "Concurrency: 2, throughput:"]:
    check(f"text shows {word}", word in r.stdout, r.stdout)
check("text: versioned path", srv.seen and srv.seen[0][0] == "/v2/models/m/versions/1/infer", srv.seen[:1])

# JSON data from a perf_analyzer-style file
with tempfile.TemporaryDirectory() as tmp:
    srv.seen.clear()
    f = os.path.join(tmp, "data.json")
    with open(f, "w") as fh:
        json.dump({"data": [{"INPUT0": [1, 2, 3, 4], "ids": {"content": [7, 8], "shape": [2]}},
                            {"INPUT0": [[5, 6], [7, 8]], "ids": {"content": [9, 10], "shape": [2]}}]}, fh)
    r = bench("--url", srv.url, "--model", "m", "--concurrency", "1", "--duration", "0.5", "--warmup", "0",
              "--json", "--input-data", f, "--json-report")
    check("json data: exit 0", r.returncode == 0, r.stderr)
    bodies = [json.loads(b) for _, h, b in srv.seen if h.get("Content-Type") == "application/json"]
    check("json data: JSON bodies", len(bodies) >= 2, srv.seen[:1])
    if len(bodies) >= 2:
        ins = {i["name"]: i for i in bodies[0]["inputs"]}
        check("json data: first entry", ins["INPUT0"]["data"] == [1, 2, 3, 4] and ins["ids"]["data"] == [7, 8] and
              ins["ids"]["shape"] == [1, 2], bodies[0])
        ins = {i["name"]: i for i in bodies[1]["inputs"]}
        check("json data: second entry", ins["INPUT0"]["data"] == [5, 6, 7, 8], bodies[1])
    # wrong element count
    with open(f, "w") as fh:
        json.dump({"data": [{"INPUT0": [1, 2, 3], "ids": [1]}]}, fh)
    r = bench("--url", srv.url, "--model", "m", "--input-data", f, "--duration", "0.5")
    check("json data: wrong count fails", r.returncode == 1 and "INPUT0" in r.stderr and "3 values" in r.stderr,
          r.stderr)
    # .npy needs a single-input model
    np.save(os.path.join(tmp, "x.npy"), np.zeros((4,), np.float32))
    r = bench("--url", srv.url, "--model", "m", "--input-data", os.path.join(tmp, "x.npy"))
    check("npy: multi-input refused", r.returncode == 1 and "single-input" in r.stderr, r.stderr)

# usage and setup errors
r = bench("--url", srv.url, "--model", "m", "--duration", "0.5")
check("dynamic dim needs --shape", r.returncode == 1 and "--shape ids=" in r.stderr, r.stderr)
r = bench("--url", srv.url, "--model", "nope", "--shape", "ids=3")
check("unknown model fails", r.returncode == 1 and "404" in r.stderr, r.stderr)
r = bench("--url", srv.url, "--model", "m", "--shape", "ids=3", "--batch", "9")
check("batch over max_batch_size", r.returncode == 1 and "max_batch_size 8" in r.stderr, r.stderr)
r = bench("--url", srv.url, "--model", "m", "--concurrency", "0")
check("bad concurrency", r.returncode == 2 and "--concurrency" in r.stderr, r.stderr)
r = bench("--model", "m")
check("missing url", r.returncode == 2 and "--url" in r.stderr, r.stderr)
r = bench("--url", "https://x", "--model", "m")
check("https refused", r.returncode == 2 and "http://" in r.stderr, r.stderr)
srv.stop()

# --- a server failing every inference: errors counted, no latencies, exit 1
srv = Server("500")
r = bench("--url", srv.url, "--model", "m", "--concurrency", "1,4", "--duration", "1", "--warmup", "0.2",
          "--shape", "ids=3", "--json-report")
check("500: exit 1", r.returncode == 1, r.stderr)
try:
    rep = json.loads(r.stdout)
    for lv in rep["levels"]:
        check("500: errors counted", lv["errors"] > 0 and lv["status_errors"] == lv["errors"], lv)
        check("500: no successes", lv["requests"] == 0 and lv["p50_us"] == 0 and lv["throughput_infer_per_s"] == 0,
              lv)
except (ValueError, KeyError) as e:
    check("500: report", False, f"{e}: {r.stdout}")
r = bench("--url", srv.url, "--model", "m", "--duration", "0.5", "--warmup", "0", "--shape", "ids=3")
check("500: text shows errors", r.returncode == 1 and "Last error status: HTTP 500" in r.stdout and
      "ERRORS" in r.stdout, r.stdout)
srv.stop()

# --- a server closing connections without answering: connection errors
srv = Server("close")
r = bench("--url", srv.url, "--model", "m", "--duration", "0.5", "--warmup", "0", "--shape", "ids=3",
          "--json-report")
try:
    lv = json.loads(r.stdout)["levels"][0]
    check("close: connection errors", r.returncode == 1 and lv["connection_errors"] > 0 and lv["requests"] == 0, lv)
except (ValueError, KeyError, IndexError) as e:
    check("close: report", False, f"{e}: {r.stdout} {r.stderr}")
srv.stop()

# --- nothing listening: setup fails with a reason
r = bench("--url", f"http://127.0.0.1:{srv.port}", "--model", "m")
check("refused: clear failure", r.returncode == 1 and "connect" in r.stderr, r.stderr)

# --- gRPC against a real `infergate serve --grpc-port` with the example linear model
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_util  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    gport = serve_util.free_port()
    with serve_util.Server(BIN, serve_util.make_repo(tmp), "--grpc-port", gport) as srv:
        for extra in ([], ["--streaming"]):
            name = "grpc" + "".join(extra)
            r = bench("--protocol", "grpc", *extra, "--url", f"127.0.0.1:{gport}", "--model", "linear",
                      "--concurrency", "1,4", "--duration", "1", "--warmup", "0.2", "--json-report")
            try:
                rep = json.loads(r.stdout)
                check(f"{name}: exit 0", r.returncode == 0, r.stderr)
                check(f"{name}: protocol", rep["protocol"] == ("grpc-stream" if extra else "grpc"), rep)
                check(f"{name}: two levels", [lv["concurrency"] for lv in rep["levels"]] == [1, 4], rep)
                for lv in rep["levels"]:
                    check(f"{name}: requests, no errors", lv["requests"] > 0 and lv["errors"] == 0 and
                          lv["throughput_infer_per_s"] > 0 and 0 < lv["p50_us"] <= lv["p99_us"], lv)
            except (ValueError, KeyError) as e:
                check(f"{name}: report", False, f"{e}: {r.stdout} {r.stderr}")
        r = bench("--protocol", "grpc", "--url", f"grpc://127.0.0.1:{gport}", "--model", "linear",
                  "--concurrency", "2", "--duration", "0.3", "--warmup", "0", "--batch", "2")
        check("grpc: text report, batch 2", r.returncode == 0 and "Errors: 0" in r.stdout and
              "FP32 [2,4]" in r.stdout, r.stdout + r.stderr)
        r = bench("--protocol", "grpc", "--url", f"127.0.0.1:{gport}", "--model", "nope", "--duration", "0.3")
        check("grpc: unknown model fails setup", r.returncode == 1 and "nope" in r.stderr, r.stderr)
        r = bench("--protocol", "grpc", "--url", f"127.0.0.1:{gport}", "--model", "linear", "--json")
        check("grpc: --json refused", r.returncode == 2 and "HTTP-only" in r.stderr, r.stderr)
    # The server is gone: setup fails with the reason.
    r = bench("--protocol", "grpc", "--url", f"127.0.0.1:{gport}", "--model", "linear", "--duration", "0.3")
    check("grpc: refused", r.returncode == 1 and "onnect" in r.stderr, r.stderr)
r = bench("--url", "http://127.0.0.1:1", "--model", "m", "--streaming")
check("--streaming needs grpc", r.returncode == 2 and "--protocol grpc" in r.stderr, r.stderr)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
