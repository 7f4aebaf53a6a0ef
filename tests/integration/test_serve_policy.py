#!/usr/bin/python3
"""`infergate serve --policy-config`: the gateway's auth and rate-limit sections on one serving process.
API keys in both headers, HS256 JWTs against a JWKS file, 401/403/429 over REST with their headers,
gRPC metadata credentials and status codes (also on streams), open health endpoints, admin-only
repository load, SIGHUP reload (a valid file applies, an invalid one is refused and the old policy
keeps working), start-up refusal of a bad file, denial metrics and the x-infergate-queue-depth header.
  test_serve_policy.py PATH/TO/infergate"""
import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Checker, Server, compile_grpc_stubs, free_port, make_repo  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
check = Checker()
X = np.array([[1, 2, 3, 4]], np.float32)
KEYS = {"team-a": "team-a-secret-key", "ops": "ops-secret-key", "limited": "limited-secret-key",
        "glimited": "glimited-secret-key"}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(secret, claims):
    h = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    p = b64(json.dumps(claims).encode())
    sig = hmac.new(secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64(sig)}"


def hash_key(key):
    return subprocess.run([BIN, "gateway", "hash-key", key], capture_output=True, text=True, check=True).stdout.strip()


def policy_text(hashes, team_a_models):
    return f"""# serve access policy
auth:
  api_keys:
    - {{name: team-a, hash: "{hashes['team-a']}", models: {json.dumps(team_a_models)}}}
    - {{name: ops, hash: "{hashes['ops']}", admin: true}}
    - {{name: limited, hash: "{hashes['limited']}"}}
    - {{name: glimited, hash: "{hashes['glimited']}"}}
  jwt:
    jwks_file: keys.jwks
    algorithms: [HS256]
    issuer: https://issuer.test
    audiences: [infergate]
rate_limits:
  rules:
    - {{name: slow-keys, per: key, rate: 2/m, burst: 2, keys: ["limited", "glimited"]}}
"""


def wait_for(pred, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def main():
    tmp = tempfile.mkdtemp(prefix="ig-policy-")
    compile_grpc_stubs(tmp)
    import grpc
    import grpc_service_pb2 as pb
    import grpc_service_pb2_grpc as pbg

    repo = make_repo(tmp, models=("linear", "iris_mlp"))
    secret = os.urandom(32)
    with open(os.path.join(tmp, "keys.jwks"), "w") as f:
        json.dump({"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256", "k": b64(secret)}]}, f)
    hashes = {n: hash_key(k) for n, k in KEYS.items()}
    pfile = os.path.join(tmp, "policy.yaml")
    with open(pfile, "w") as f:
        f.write(policy_text(hashes, ["linear"]))

    # A bad file refuses to start, with FILE:LINE.
    bad = os.path.join(tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write("rate_limits:\n  backend: local\nbogus: 1\n")
    r = subprocess.run([BIN, "serve", "--model-repository", repo, "--http-port", "0", "--metrics-port", "0",
                        "--grpc-port", "-1", "--policy-config", bad], capture_output=True, text=True, timeout=30)
    check("bad policy: exit 1", r.returncode == 1, (r.returncode, r.stderr))
    check("bad policy: line-numbered error", "bad.yaml:3" in r.stderr, r.stderr)

    gport = free_port()
    with Server(BIN, repo, "--http-address", "127.0.0.1", "--grpc-port", gport, "--model-control-mode", "explicit",
                "--load-model", "linear", "--load-model", "iris_mlp", "--policy-config", pfile,
                wait_ready=False) as s:
        # Readiness answers without credentials: the probe stays open.
        s.wait_ready()
        key = lambda n: {"x-api-key": KEYS[n]}  # noqa: E731
        st, h, _ = s.get("/v2/health/live")
        check("health/live open", st == 200, st)
        st, h, _ = s.get("/v2/health/ready")
        check("health/ready open", st == 200, st)
        check("health/ready has queue depth", h.get("x-infergate-queue-depth", "").isdigit(), h)
        check("metrics port open", "nv_inference" in s.metrics() or "infergate_" in s.metrics())

        # REST: API keys in both headers, JWT.
        st, d, out, h = s.infer("linear", {"features": X}, headers=key("team-a"))
        check("REST x-api-key", st == 200, (st, d))
        check("REST x-api-key: right answer", out.get("value") is not None, d)
        st, h, b = s.request("POST", "/v2/models/linear/infer",
                             body={"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32",
                                               "data": X.flatten().tolist()}]},
                             headers={"Authorization": "Bearer " + KEYS["team-a"]})
        check("REST Authorization: Bearer key", st == 200, (st, b))
        check("REST infer has numeric queue depth", h.get("x-infergate-queue-depth", "").isdigit(), h)
        now = int(time.time())
        good = {"iss": "https://issuer.test", "aud": "infergate", "sub": "alice", "exp": now + 300, "iat": now}
        st, d, _, _ = s.infer("linear", {"features": X}, headers={"Authorization": "Bearer " + jwt(secret, good)})
        check("REST JWT accepted", st == 200, (st, d))
        st, h, b = s.get("/v2/models/iris_mlp", headers={"Authorization": "Bearer " + jwt(secret, good)})
        check("REST JWT reaches another model", st == 200, (st, b))
        st, d, _, _ = s.infer("linear", {"features": X}, headers={"Authorization": "Bearer " + jwt(secret, {**good, "exp": now - 3600})})
        check("REST expired JWT is 401", st == 401, (st, d))
        st, d, _, _ = s.infer("linear", {"features": X},
                           headers={"Authorization": "Bearer " + jwt(os.urandom(32), good)})
        check("REST JWT with a wrong secret is 401", st == 401, (st, d))

        # REST denials.
        st, h, b = s.request("POST", "/v2/models/linear/infer", body=b"{not json")
        check("REST no credentials: 401 before the body is decoded", st == 401, (st, b))
        check("REST 401 has WWW-Authenticate: Bearer", h.get("www-authenticate") == "Bearer", h)
        check("REST 401 body is an OIP error", "error" in json.loads(b or b"{}"), b)
        st, h, b = s.get("/v2", headers={"x-api-key": "wrong"})
        check("REST server metadata with an unknown key: 401", st == 401, (st, b))
        st, h, b = s.get("/v2/models/iris_mlp", headers=key("team-a"))
        check("REST key without the model: 403", st == 403 and "error" in json.loads(b), (st, b))
        st, h, b = s.get("/v2", headers=key("team-a"))
        check("REST server metadata with a key: 200", st == 200, (st, b))
        codes = []
        for _ in range(3):
            st, h, b = s.request("POST", "/v2/models/linear/infer",
                                 body={"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32",
                                                   "data": X.flatten().tolist()}]}, headers=key("limited"))
            codes.append(st)
        check("REST rate limit: burst of 2 then 429", codes == [200, 200, 429], codes)
        check("REST 429 has Retry-After", int(h.get("retry-after", "0")) >= 1, h)
        check("REST 429 has RateLimit headers", "ratelimit" in h and "ratelimit-policy" in h, h)
        check("REST 429 body is an OIP error", "rate limit" in json.loads(b).get("error", ""), b)

        # Repository: index for any key, load/unload admin only.
        st, _, b = s.post("/v2/repository/index", headers=key("team-a"))
        check("repository index with a key", st == 200, (st, b))
        st, _, b = s.post("/v2/repository/models/linear/load")
        check("repository load without credentials: 401", st == 401, (st, b))
        st, _, b = s.post("/v2/repository/models/linear/load", headers=key("team-a"))
        check("repository load with a non-admin key: 403", st == 403, (st, b))
        st, _, b = s.post("/v2/repository/models/linear/load", headers=key("ops"))
        check("repository load with the admin key: 200", st == 200, (st, b))

        # gRPC.
        ch = grpc.insecure_channel(f"127.0.0.1:{gport}")
        stub = pbg.GRPCInferenceServiceStub(ch)

        def req(model="linear"):
            r = pb.ModelInferRequest(model_name=model)
            r.inputs.add(name="features", datatype="FP32", shape=[1, 4])
            r.raw_input_contents.append(X.tobytes())
            return r

        def code(fn):
            try:
                fn()
                return grpc.StatusCode.OK
            except grpc.RpcError as e:
                return e.code()

        check("gRPC ServerReady open", stub.ServerReady(pb.ServerReadyRequest(), timeout=10).ready)
        check("gRPC x-api-key metadata accepted",
              code(lambda: stub.ModelInfer(req(), metadata=[("x-api-key", KEYS["team-a"])], timeout=10)) == grpc.StatusCode.OK)
        check("gRPC authorization metadata accepted",
              code(lambda: stub.ModelInfer(req(), metadata=[("authorization", "Bearer " + jwt(secret, good))],
                                           timeout=10)) == grpc.StatusCode.OK)
        check("gRPC without credentials: UNAUTHENTICATED",
              code(lambda: stub.ModelInfer(req(), timeout=10)) == grpc.StatusCode.UNAUTHENTICATED)
        check("gRPC ServerMetadata without credentials: UNAUTHENTICATED",
              code(lambda: stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=10)) == grpc.StatusCode.UNAUTHENTICATED)
        check("gRPC key without the model: PERMISSION_DENIED",
              code(lambda: stub.ModelInfer(req("iris_mlp"), metadata=[("x-api-key", KEYS["team-a"])], timeout=10))
              == grpc.StatusCode.PERMISSION_DENIED)
        check("gRPC repository load with a non-admin key: PERMISSION_DENIED",
              code(lambda: stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="linear"),
                                                    metadata=[("x-api-key", KEYS["team-a"])], timeout=30))
              == grpc.StatusCode.PERMISSION_DENIED)
        gcodes = [code(lambda: stub.ModelInfer(req(), metadata=[("x-api-key", KEYS["glimited"])], timeout=10))
                  for _ in range(3)]
        check("gRPC rate limit: burst of 2 then RESOURCE_EXHAUSTED",
              gcodes == [grpc.StatusCode.OK, grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED], gcodes)
        outs = list(stub.ModelStreamInfer(iter([req()]), metadata=[("x-api-key", KEYS["team-a"])], timeout=30))
        check("gRPC stream with a key answers", len(outs) == 1 and not outs[0].error_message, outs)
        outs = list(stub.ModelStreamInfer(iter([req()]), timeout=30))
        check("gRPC stream without credentials: UNAUTHENTICATED message",
              len(outs) == 1 and outs[0].error_message.startswith("UNAUTHENTICATED"), outs)

        m = s.metrics()
        check("metrics count 401s", 'infergate_auth_denied_total{code="401"}' in m and
              'infergate_auth_denied_total{code="401"} 0' not in m, m[-1500:])
        check("metrics count 403s", 'infergate_auth_denied_total{code="403"}' in m, m[-1500:])
        check("metrics count rate-limited requests", 'infergate_rate_limited_total{rule="slow-keys"} 2' in m, m[-1500:])

        # SIGHUP: a changed file applies; buckets carry over.
        with open(pfile, "w") as f:
            f.write(policy_text(hashes, ["linear", "iris_mlp"]))
        s.proc.send_signal(signal.SIGHUP)
        check("SIGHUP: new policy applies",
              wait_for(lambda: s.get("/v2/models/iris_mlp", headers=key("team-a"))[0] == 200), s.output())
        check("SIGHUP: rate-limit bucket carried over",
              s.infer("linear", {"features": X}, headers=key("limited"))[0] == 429)
        # An invalid file is refused; the old policy keeps working.
        with open(pfile, "w") as f:
            f.write(policy_text(hashes, ["linear"]) + "unknown_section: {}\n")
        s.proc.send_signal(signal.SIGHUP)
        check("SIGHUP: invalid file logged and refused",
              wait_for(lambda: "policy not reloaded" in s.output()), s.output())
        check("SIGHUP: invalid file leaves the previous policy",
              s.get("/v2/models/iris_mlp", headers=key("team-a"))[0] == 200 and s.get("/v2")[0] == 401)
        check("SIGHUP: server still answers inference",
              s.infer("linear", {"features": X}, headers=key("team-a"))[0] == 200)
        check("reload counters", 'infergate_policy_reloads_total{result="failed"} 1' in s.metrics(), s.metrics()[-800:])
        ch.close()
    check.done()


main()
