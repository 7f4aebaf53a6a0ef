#!/usr/bin/python3
"""gRPC endpoint tests with a real client (python3-grpcio): every RPC of inference.GRPCInferenceService
and grpc.health.v1.Health, error codes as Triton maps them, raw and typed inputs against REST's
answer, ModelStreamInfer with 1,000 requests in flight, 16 concurrent clients, the message limit.
Stubs are generated at test time from proto/ with grpc_tools.protoc.
  test_grpc.py PATH/TO/infergate"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import numpy as np

BIN = os.path.abspath(sys.argv[1])
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO = os.path.join(ROOT, "proto")
MODELS = os.path.join(ROOT, "examples/models")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Checker, compile_grpc_stubs, free_ports, grpc_code_of as code_of  # noqa: E402

check = Checker()


class Server:
    def __init__(self, *extra):
        self.http, self.grpc_port, self.metrics = free_ports(3)
        self.p = subprocess.Popen([BIN, "serve", "--model-repository", MODELS, "--http-port", str(self.http),
                                   "--grpc-port", str(self.grpc_port), "--metrics-port", str(self.metrics),
                                   "--http-address", "127.0.0.1", *extra],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addr = f"127.0.0.1:{self.grpc_port}"
        self.channel = grpc.insecure_channel(self.addr)
        self.stub = pbg.GRPCInferenceServiceStub(self.channel)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if self.stub.ServerReady(pb.ServerReadyRequest(), timeout=1).ready:
                    return
            except grpc.RpcError:
                pass
            if self.p.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("server did not start: " + (self.p.stdout.read() if self.p.poll() is not None else ""))

    def stop(self):
        self.channel.close()
        self.p.terminate()
        try:
            out, _ = self.p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, _ = self.p.communicate()
            check("server stops on SIGTERM", False, out[-2000:])
            return
        check("server exits 0 on SIGTERM", self.p.returncode == 0, f"rc={self.p.returncode} {out[-2000:]}")


def rest_infer(port, x):
    body = json.dumps({"inputs": [{"name": "features", "shape": list(x.shape), "datatype": "FP32",
                                   "data": x.flatten().tolist()}]}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/linear/infer", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        out = json.loads(r.read())["outputs"][0]
    return np.array(out["data"], dtype=np.float32).reshape(out["shape"])


def raw_request(x, model="linear", rid=""):
    r = pb.ModelInferRequest(model_name=model, id=rid)
    t = r.inputs.add(name="features", datatype="FP32", shape=list(x.shape))
    r.raw_input_contents.append(x.astype(np.float32).tobytes())
    return r


def typed_request(x, model="linear"):
    r = pb.ModelInferRequest(model_name=model)
    t = r.inputs.add(name="features", datatype="FP32", shape=list(x.shape))
    t.contents.fp32_contents.extend(x.flatten().tolist())
    return r


def output_of(resp, i=0):
    o = resp.outputs[i]
    check("output datatype FP32", o.datatype == "FP32", o.datatype)
    check("outputs in raw_output_contents", len(resp.raw_output_contents) == len(resp.outputs))
    return np.frombuffer(resp.raw_output_contents[i], dtype=np.float32).reshape(list(o.shape))


def test_basic(s):
    st = s.stub
    check("ServerLive", st.ServerLive(pb.ServerLiveRequest()).live)
    check("ServerReady", st.ServerReady(pb.ServerReadyRequest()).ready)
    md = st.ServerMetadata(pb.ServerMetadataRequest())
    check("ServerMetadata", md.name == "infergate" and "statistics" in md.extensions, str(md))
    health = hpbg.HealthStub(s.channel)
    check("Health/Check SERVING",
          health.Check(hpb.HealthCheckRequest()).status == hpb.HealthCheckResponse.SERVING)
    c, _ = code_of(lambda: health.Check(hpb.HealthCheckRequest(service="nope")))
    check("Health/Check unknown service NOT_FOUND", c == grpc.StatusCode.NOT_FOUND, c)

    check("ModelReady linear", st.ModelReady(pb.ModelReadyRequest(name="linear")).ready)
    check("ModelReady linear v1", st.ModelReady(pb.ModelReadyRequest(name="linear", version="1")).ready)
    check("ModelReady unknown false", not st.ModelReady(pb.ModelReadyRequest(name="nope")).ready)

    mm = st.ModelMetadata(pb.ModelMetadataRequest(name="linear"))
    check("ModelMetadata", mm.name == "linear" and list(mm.versions) == ["1"] and mm.inputs[0].name == "features"
          and list(mm.inputs[0].shape) == [-1, 4] and mm.outputs[0].datatype == "FP32", str(mm))
    c, d = code_of(lambda: st.ModelMetadata(pb.ModelMetadataRequest(name="nope")))
    check("ModelMetadata unknown model INVALID_ARGUMENT", c == grpc.StatusCode.INVALID_ARGUMENT and
          "unknown model" in d, f"{c} {d}")
    c, d = code_of(lambda: st.ModelMetadata(pb.ModelMetadataRequest(name="linear", version="7")))
    check("ModelMetadata missing version NOT_FOUND", c == grpc.StatusCode.NOT_FOUND, f"{c} {d}")

    cfg = st.ModelConfig(pb.ModelConfigRequest(name="linear")).config
    check("ModelConfig", cfg.name == "linear" and cfg.max_batch_size > 0 and cfg.input[0].name == "features" and
          list(cfg.input[0].dims) == [4] and cfg.input[0].data_type == mcpb.TYPE_FP32 and
          cfg.backend == "onnxruntime", str(cfg))
    c, _ = code_of(lambda: st.ModelConfig(pb.ModelConfigRequest(name="nope")))
    check("ModelConfig unknown INVALID_ARGUMENT", c == grpc.StatusCode.INVALID_ARGUMENT, c)

    idx = st.RepositoryIndex(pb.RepositoryIndexRequest())
    names = sorted(m.name for m in idx.models)
    check("RepositoryIndex", names == ["iris_mlp", "linear", "tiny_cnn"] and
          all(m.state == "READY" for m in idx.models), str(idx))
    check("RepositoryIndex ready", len(st.RepositoryIndex(pb.RepositoryIndexRequest(ready=True)).models) == 3)
    c, _ = code_of(lambda: st.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="linear")))
    check("RepositoryModelLoad refused outside explicit mode", c == grpc.StatusCode.UNAVAILABLE, c)
    c, _ = code_of(lambda: st.SystemSharedMemoryStatus(pb.SystemSharedMemoryStatusRequest()))
    check("shared memory RPC UNIMPLEMENTED", c == grpc.StatusCode.UNIMPLEMENTED, c)


def test_infer(s):
    st = s.stub
    x = np.array([[1, 2, 3, 4], [0.5, -1, 0, 2]], dtype=np.float32)
    want = rest_infer(s.http, x)
    r = st.ModelInfer(raw_request(x, rid="abc"))
    check("ModelInfer raw model/id", r.model_name == "linear" and r.model_version == "1" and r.id == "abc", str(r))
    got = output_of(r)
    check("ModelInfer raw == REST", got.shape == want.shape and np.allclose(got, want), f"{got} {want}")
    got = output_of(st.ModelInfer(typed_request(x)))
    check("ModelInfer typed == REST", got.shape == want.shape and np.allclose(got, want), f"{got} {want}")

    bad = typed_request(x)
    bad.inputs[0].contents.fp32_contents.pop()
    c, d = code_of(lambda: st.ModelInfer(bad))
    check("element count mismatch INVALID_ARGUMENT", c == grpc.StatusCode.INVALID_ARGUMENT, f"{c} {d}")
    c, d = code_of(lambda: st.ModelInfer(raw_request(np.zeros((2, 5), np.float32))))
    check("bad shape INVALID_ARGUMENT", c == grpc.StatusCode.INVALID_ARGUMENT, f"{c} {d}")
    r = raw_request(x)
    r.raw_input_contents[0] = r.raw_input_contents[0][:-4]
    c, d = code_of(lambda: st.ModelInfer(r))
    check("short raw content INVALID_ARGUMENT", c == grpc.StatusCode.INVALID_ARGUMENT and "features" in d, f"{c} {d}")
    r = raw_request(x)
    r.inputs[0].datatype = "FP99"
    c, d = code_of(lambda: st.ModelInfer(r))
    check("unknown datatype INVALID_ARGUMENT", c == grpc.StatusCode.INVALID_ARGUMENT, f"{c} {d}")
    c, d = code_of(lambda: st.ModelInfer(raw_request(x, model="nope")))
    check("unknown model INVALID_ARGUMENT", c == grpc.StatusCode.INVALID_ARGUMENT and "unknown model" in d,
          f"{c} {d}")
    c, d = code_of(lambda: st.ModelInfer(typed_request(np.zeros((9, 4), np.float32))))
    check("batch over max_batch_size INVALID_ARGUMENT", c == grpc.StatusCode.INVALID_ARGUMENT, f"{c} {d}")

    # Malformed protobuf: bytes that are no ModelInferRequest.
    raw_call = s.channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                     request_serializer=lambda b: b, response_deserializer=lambda b: b)
    for i, junk in enumerate([b"\xff\xff\xff\xff", b"\x0a\x80", b"\x2a\x05\x0a\x03ab"]):
        c, d = code_of(lambda: raw_call(junk))
        check(f"malformed protobuf {i} INVALID_ARGUMENT", c == grpc.StatusCode.INVALID_ARGUMENT, f"{c} {d}")

    # Over --grpc-max-message-bytes (1 MiB in this server).
    big = typed_request(np.zeros((4, 4), np.float32))
    big.id = "x" * (2 << 20)
    c, d = code_of(lambda: st.ModelInfer(big))
    check("message over the limit RESOURCE_EXHAUSTED", c == grpc.StatusCode.RESOURCE_EXHAUSTED, f"{c} {d}")
    check("server still answers after the limit", st.ServerLive(pb.ServerLiveRequest()).live)

    stats = st.ModelStatistics(pb.ModelStatisticsRequest(name="linear"))
    m = stats.model_stats[0] if stats.model_stats else None
    check("ModelStatistics linear", m is not None and m.name == "linear" and m.version == "1" and
          m.inference_stats.success.count >= 2 and m.inference_count >= 4 and m.inference_stats.success.ns > 0,
          str(stats))
    allstats = st.ModelStatistics(pb.ModelStatisticsRequest())
    check("ModelStatistics all", sorted(x.name for x in allstats.model_stats) == ["iris_mlp", "linear", "tiny_cnn"])
    c, _ = code_of(lambda: st.ModelStatistics(pb.ModelStatisticsRequest(name="nope")))
    check("ModelStatistics unknown INVALID_ARGUMENT", c == grpc.StatusCode.INVALID_ARGUMENT, c)


def test_stream(s):
    n = 1000
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((1 + i % 4, 4)).astype(np.float32) for i in range(n)]
    want = {}
    for i in range(0, n, 97):  # spot checks against REST
        want[str(i)] = rest_infer(s.http, xs[i])
    sent = threading.Event()

    def requests():
        for i in range(n):
            yield raw_request(xs[i], rid=str(i))
            if i == n // 2:
                yield raw_request(xs[i], model="nope", rid="bad")
        sent.set()

    got, errors = {}, {}
    t0 = time.time()
    for r in s.stub.ModelStreamInfer(requests(), timeout=120):
        if r.error_message:
            errors[r.infer_response.id] = r.error_message
        else:
            got[r.infer_response.id] = r.infer_response
    dt = time.time() - t0
    check("stream answers every request", len(got) == n and set(got) == {str(i) for i in range(n)},
          f"{len(got)} answers, errors {list(errors.items())[:3]}")
    check("stream error as error_message, stream kept open", list(errors) == ["bad"] and
          "unknown model" in errors["bad"], str(errors))
    ok = all(np.allclose(output_of(got[k]), v) for k, v in want.items() if k in got)
    check("stream results == REST", ok)
    shapes = all(list(got[str(i)].outputs[0].shape) == [xs[i].shape[0], 1] for i in range(n) if str(i) in got)
    check("stream results shaped per request", shapes)
    print(f"stream: {n} requests in {dt:.2f} s", flush=True)

    # Many requests in flight at once: the client sends everything before reading anything.
    call = s.stub.ModelStreamInfer(iter([raw_request(xs[i], rid=str(i)) for i in range(n)]), timeout=120)
    ids = [r.infer_response.id for r in call if not r.error_message]
    check("stream with 1,000 requests queued at once", sorted(ids, key=int) == [str(i) for i in range(n)],
          f"{len(ids)} answers")

    # Empty stream: status OK and no responses.
    check("empty stream", list(s.stub.ModelStreamInfer(iter([]), timeout=30)) == [])


def test_concurrent(s):
    errors = []
    x = np.array([[1, 2, 3, 4]], dtype=np.float32)
    want = rest_infer(s.http, x)

    def client(k):
        try:
            ch = grpc.insecure_channel(s.addr)
            st = pbg.GRPCInferenceServiceStub(ch)
            for i in range(50):
                req = raw_request(x) if (i + k) % 2 else typed_request(x)
                got = np.frombuffer(st.ModelInfer(req, timeout=60).raw_output_contents[0], np.float32)
                if not np.allclose(got, want.flatten()):
                    errors.append(f"client {k}: {got}")
            ch.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"client {k}: {e}")

    ts = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.time() - t0
    check("16 concurrent clients", not errors, errors[:3])
    print(f"16 clients x 50 ModelInfer: {800 / dt:.0f} req/s", flush=True)


def test_explicit():
    s = Server("--model-control-mode", "explicit", "--load-model", "linear")
    try:
        st = s.stub
        check("explicit: iris not loaded", not st.ModelReady(pb.ModelReadyRequest(name="iris_mlp")).ready)
        st.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="iris_mlp"))
        check("explicit: RepositoryModelLoad", st.ModelReady(pb.ModelReadyRequest(name="iris_mlp")).ready)
        st.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="linear"))
        check("explicit: RepositoryModelUnload", not st.ModelReady(pb.ModelReadyRequest(name="linear")).ready)
        c, _ = code_of(lambda: st.ModelInfer(raw_request(np.zeros((1, 4), np.float32))))
        check("explicit: infer on unloaded model fails", c is not None and c != grpc.StatusCode.OK, c)
        c, _ = code_of(lambda: st.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="nope")))
        check("explicit: load unknown model fails", c == grpc.StatusCode.INVALID_ARGUMENT, c)
    finally:
        s.stop()


with tempfile.TemporaryDirectory() as tmp:
    compile_grpc_stubs(tmp)
    import grpc
    import grpc_service_pb2 as pb
    import grpc_service_pb2_grpc as pbg
    import health_pb2 as hpb
    import health_pb2_grpc as hpbg
    import model_config_pb2 as mcpb

    srv = Server("--grpc-max-message-bytes", str(1 << 20))
    try:
        test_basic(srv)
        test_infer(srv)
        test_stream(srv)
        test_concurrent(srv)
    finally:
        srv.stop()
    test_explicit()

check.done()
