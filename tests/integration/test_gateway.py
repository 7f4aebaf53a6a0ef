"""infergate gateway in front of real `infergate serve` replicas on loopback: proxying and request ids,
config checks, kill -9 of a replica under load (L1), a failing canary rolled back automatically, API keys
and the JWT negative matrix (A2), rate-limit accuracy over 10 s (I5), config reload under load (R5),
slowloris against the gateway (H4), the admin API, shadow traffic, mTLS on the client listener, and the
gRPC front (grpc_listen) in front of gRPC replicas: unary and streaming calls, auth from metadata, kill -9
of a replica, a route to a REST pool, access-log lines of gRPC calls and shadow copies of ModelInfer."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from serve_util import Checker, Server, compile_grpc_stubs, free_ports, grpc_code_of, linear_variant, make_repo

BIN = sys.argv[1]
check = Checker()
BODY = json.dumps({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32",
                               "data": [1, 2, 3, 4]}]}).encode()


class Gateway:
    def __init__(self, tmp, text):
        self.port, self.admin = free_ports(2)
        self.path = os.path.join(tmp, "gateway.yaml")
        self.write(text)
        self.log = open(os.path.join(tmp, "gateway.log"), "w+")
        self.proc = subprocess.Popen([BIN, "gateway", "--config", self.path], stdout=self.log, stderr=subprocess.STDOUT)
        end = time.time() + 10
        while time.time() < end:
            try:
                if self.request("GET", "/ready", port=self.admin)[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("gateway not ready: " + self.output())

    def write(self, text):
        tmp = self.path + ".new"
        with open(tmp, "w") as f:
            f.write(text.replace("@PORT@", str(self.port)).replace("@ADMIN@", str(self.admin)))
        os.replace(tmp, self.path)

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-3000:]

    def request(self, method, path, body=None, headers=None, port=None, conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=30)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            if conn is None:
                c.close()

    def infer(self, headers=None, conn=None, model="linear"):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return self.request("POST", f"/v2/models/{model}/infer", BODY, h, conn=conn)

    def metrics(self):
        return self.request("GET", "/metrics", port=self.admin)[2].decode()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            # a clean exit: drained, and (in the sanitizer build) no leak or error reported
            check("gateway exits 0 on SIGTERM", self.proc.returncode == 0, self.output())
        return self.proc.returncode


def pool_yaml(name, ports, extra=""):
    eps = ", ".join(f'"127.0.0.1:{p}"' for p in ports)
    return f"""  - name: {name}
    endpoints: [{eps}]
    health_check: {{interval: 200ms, timeout: 200ms, unhealthy_threshold: 2, healthy_threshold: 1}}
{extra}"""


def load(gw, seconds, threads=4, headers=None, results=None):
    """Closed-loop load on keep-alive connections; returns {status: count} (0 = connection error)."""
    counts = {}
    lock = threading.Lock()
    stop = time.time() + seconds

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
        while time.time() < stop:
            try:
                s = gw.infer(headers=headers, conn=conn)[0]
            except (OSError, http.client.HTTPException):
                s = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
            with lock:
                counts[s] = counts.get(s, 0) + 1
        conn.close()

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if results is not None:
        results.update(counts)
    return counts


def test_proxy(tmp, replicas):
    gw = Gateway(tmp, f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
workers: 2
access_log: {tmp}/access.log
pools:
{pool_yaml("stable", [r.port for r in replicas])}
routes:
  - name: health
    match: {{path_prefix: /v2/health}}
    pool: stable
  - name: linear
    match: {{model: "lin*"}}
    pool: stable
""")
    try:
        s, h, b = gw.infer(headers={"X-Request-Id": "abc-123"})
        check("proxy: infer 200", s == 200, (s, b))
        check("proxy: same answer as the replica", json.loads(b)["outputs"] == json.loads(replicas[0].post(
            "/v2/models/linear/infer", BODY)[2])["outputs"], b)
        check("proxy: request id echoed", h.get("x-request-id") == "abc-123", h)
        s, h, _ = gw.request("GET", "/v2/health/ready")
        check("proxy: health route", s == 200 and len(h.get("x-request-id", "")) == 32, (s, h))
        s, _, b = gw.request("GET", "/v2/models/iris_mlp")
        check("proxy: no route is 404", s == 404 and b"no route" in b, (s, b))
        # chunked request body is relayed as chunks
        c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        c.putrequest("POST", "/v2/models/linear/infer")
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        for part in (BODY[:10], BODY[10:]):
            c.send(b"%x\r\n%s\r\n" % (len(part), part))
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        check("proxy: chunked request", r.status == 200, r.read())
        c.close()
        # framing attacks get 400 and a closed connection
        for raw in (b"POST /v2/models/linear/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                    b"GET /v2/health/ready HTTP/1.1\nHost: x\n\n",
                    b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
                    b"POST /v2/models/linear/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"):
            with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as sk:
                sk.sendall(raw)
                data = b""
                while True:
                    d = sk.recv(4096)
                    if not d:
                        break
                    data += d
            check("proxy: bad framing refused", data.startswith(b"HTTP/1.1 400") or data.startswith(b"HTTP/1.1 501"), (raw, data[:80]))
        m = gw.metrics()
        check("proxy: route metrics", 'infergate_gateway_requests_total{route="linear"}' in m, m[:500])
        check("proxy: endpoint metrics", "infergate_gateway_endpoint_picks_total" in m, m[:500])
        r = subprocess.run(["promtool", "check", "metrics"], input=m, capture_output=True, text=True)
        check("proxy: the exposition parses (promtool)", "parsing error" not in r.stdout + r.stderr,
              (r.stdout + r.stderr)[:600])
        check("proxy: per-endpoint latency histogram", "infergate_gateway_endpoint_request_duration_us_bucket" in m)
        check("proxy: upstream pool metrics", 'infergate_gateway_upstream_requests_total{pool="stable"}' in m
              and 'infergate_gateway_upstream_request_duration_us_count{pool="stable"}' in m, m[:800])
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as sk:
            sk.sendall(b'GET /v2/health/ready?a="b\\c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
            quoted = sk.recv(100)
        check("proxy: a path with a quote is proxied", quoted.startswith(b"HTTP/1.1 200"), quoted)
        time.sleep(0.2)
        with open(f"{tmp}/access.log") as f:
            lines = [json.loads(x) for x in f.read().splitlines()]
        check("proxy: JSON access log", any(x["request_id"] == "abc-123" and x["status"] == 200 for x in lines), lines[:2])
        check("proxy: quotes and backslashes in a path stay inside the log's JSON",
              any(x["path"] == '/v2/health/ready?a="b\\c' for x in lines), [x["path"] for x in lines])
        check("proxy: REST log lines name the pool and carry no protocol field",
              any(x.get("pool") == "stable" and "protocol" not in x and x["tries"] == 1 for x in lines), lines[:2])
    finally:
        check("proxy: SIGTERM exits 0", gw.stop() == 0, gw.output())


def test_check_cli(tmp):
    bad = os.path.join(tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write("listen: 127.0.0.1:1\npools:\n  - name: a\n    endpoints: [\"127.0.0.1:1\"]\nroutes:\n  - pool: b\n")
    r = subprocess.run([BIN, "gateway", "--check", "--config", bad], capture_output=True, text=True)
    check("check: invalid config exits 1 with its line", r.returncode == 1 and "bad.yaml:6" in r.stderr
          and "unknown pool 'b'" in r.stderr, (r.returncode, r.stderr))
    good = os.path.join(tmp, "good.yaml")
    with open(good, "w") as f:
        f.write("pools:\n  - name: a\n    endpoints: [\"127.0.0.1:1\"]\nroutes:\n  - pool: a\n")
    r = subprocess.run([BIN, "gateway", "--check", "--config", good], capture_output=True, text=True)
    check("check: valid config exits 0", r.returncode == 0, r.stderr)


def test_kill_replica(tmp, repo):
    """L1: kill -9 a replica under load; retries keep failures at or below what was in flight on it."""
    reps = [Server(BIN, repo, "--grpc-port", "-1") for _ in range(3)]
    gw = Gateway(tmp, f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
pools:
{pool_yaml("stable", [r.port for r in reps], "    outlier: {consecutive_connect_failure: 2, base_ejection: 30s, max_ejection_percent: 50}")}
routes:
  - pool: stable
""")
    try:
        results = {}
        t = threading.Thread(target=load, args=(gw, 4.0, 4), kwargs={"results": results})
        t.start()
        time.sleep(1.5)
        reps[1].proc.send_signal(signal.SIGKILL)
        t.join()
        ok, failed = results.get(200, 0), sum(v for k, v in results.items() if k != 200)
        # 4 client threads: at most 4 requests can be in flight on the killed replica.
        check("L1: failures <= requests in flight at the kill", failed <= 4 and ok > 100, results)
        m = gw.metrics()
        check("L1: the dead endpoint is ejected or unhealthy",
              f'infergate_gateway_endpoint_healthy{{pool="stable",endpoint="127.0.0.1:{reps[1].port}"}} 0' in m, m[-1500:])
        after = load(gw, 1.0, 2)
        check("L1: no failures after the ejection", set(after) == {200}, after)
    finally:
        gw.stop()
        for r in reps:
            r.stop()


class Failing(BaseHTTPRequestHandler):
    """A deliberately broken model version: every inference is a 500."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"error":"model crashed"}'
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


class Slow(BaseHTTPRequestHandler):
    """An upstream that takes 300 ms per request, to hold requests in flight."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(0.3)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *a):
        pass


def test_breaker(tmp):
    """Circuit breakers: requests over max_requests, and new connections over max_connections, get
    503 with x-infergate-overloaded at once; the rest are served."""
    slow = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    slow.protocol_version = "HTTP/1.1"
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    port = slow.server_address[1]
    gw = Gateway(tmp, f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
workers: 1
pools:
  - name: req
    endpoints: ["127.0.0.1:{port}"]
    circuit_breaker: {{max_requests: 2}}
  - name: conn
    endpoints: ["127.0.0.1:{port}"]
    circuit_breaker: {{max_connections: 3}}
routes:
  - {{name: req, match: {{headers: {{x-pool: req}}}}, pool: req}}
  - {{name: conn, pool: conn}}
""")
    try:
        for pool, limit in (("req", 2), ("conn", 3)):
            res = []
            def one():
                res.append(gw.infer({"x-pool": pool}))
            ts = [threading.Thread(target=one) for _ in range(6)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            ok = sum(1 for r in res if r[0] == 200)
            over = [r for r in res if r[0] == 503]
            check(f"breaker {pool}: {limit} served, the rest refused", ok == limit and len(over) == 6 - limit,
                  [r[0] for r in res])
            check(f"breaker {pool}: refusals say overloaded", all(r[1].get("x-infergate-overloaded") == "true" for r in over),
                  [r[1] for r in over][:1])
        m = gw.metrics()
        check("breaker: overflows counted", 'infergate_gateway_pool_overflows_total{pool="req"} 4' in m, m[-900:])
    finally:
        gw.stop()
        slow.shutdown()


def test_canary(tmp, replicas):
    bad = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    bad.protocol_version = "HTTP/1.1"
    threading.Thread(target=bad.serve_forever, daemon=True).start()
    gw = Gateway(tmp, f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
pools:
{pool_yaml("stable", [replicas[0].port])}
{pool_yaml("canary", [bad.server_address[1]], "    outlier: {consecutive_5xx: 1000}")}
routes:
  - name: linear
    split: [{{pool: stable, weight: 100}}]
    canary: {{baseline: stable, canary: canary, steps: [10, 50, 100], interval_requests: 10, min_requests: 10, max_error_rate: 0.05}}
    retries: 0
""")
    try:
        counts = load(gw, 0, 1)  # warm nothing
        statuses = []
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        for _ in range(400):
            statuses.append(gw.infer(conn=conn)[0])
        conn.close()
        failed = sum(1 for s in statuses if s != 200)
        s, _, b = gw.request("GET", "/admin/routes/linear", port=gw.admin)
        state = json.loads(b) if s == 200 else {}
        check("canary: rolled back automatically", "rolled_back" in json.dumps(state), (s, b[:400]))
        check("canary: failures within the canary's 10% share", 0 < failed <= 40, (failed, counts))
        check("canary: all traffic on the baseline after rollback", all(x == 200 for x in statuses[-100:]), statuses[-100:])
        m = gw.metrics()
        check("canary: decision counted", 'infergate_gateway_canary_decisions_total{route="linear",decision="rollback"} 1' in m, m[-800:])
        check("canary: decision logged", "rollback" in gw.output(), gw.output())
        check("canary: weight gauge at 0 after the rollback",
              'infergate_gateway_canary_weight_percent{route="linear"} 0' in m, m[-800:])
    finally:
        gw.stop()
        bad.shutdown()


def test_shadow(tmp, replicas):
    """Shadow traffic: a share of requests is copied to another pool; responses are compared with the
    primary's and discarded. The same model agrees; a version with other weights disagrees."""
    repo = make_repo(tmp, models=("linear",))
    linear_variant(os.path.join(repo, "linear", "1", "model.onnx"), 2.0, 0.5)
    with Server(BIN, repo, "--grpc-port", "-1") as other:
        gw = Gateway(tmp, f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
pools:
{pool_yaml("stable", [replicas[0].port])}
{pool_yaml("same", [replicas[1].port])}
{pool_yaml("changed", [other.port])}
routes:
  - name: same
    match: {{headers: {{x-target: same}}}}
    pool: stable
    shadow: {{pool: same, percent: 100}}
  - name: changed
    pool: stable
    shadow: {{pool: changed, percent: 50}}
""")
        try:
            before = other.stats("linear")["inference_count"]
            conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
            primary = [gw.infer({"x-target": "same"}, conn=conn) for _ in range(20)]
            changed = [gw.infer(conn=conn) for _ in range(200)]
            conn.close()
            check("shadow: clients get the primary's answers", all(r[0] == 200 for r in primary + changed))
            direct = json.loads(replicas[0].post("/v2/models/linear/infer", BODY)[2])["outputs"]
            check("shadow: the answer is the primary's, not the shadow's",
                  json.loads(changed[-1][2])["outputs"] == direct, changed[-1][2][:200])
            time.sleep(0.5)
            m = gw.metrics()
            def count(route, result):
                key = f'infergate_gateway_shadow_comparisons_total{{route="{route}",result="{result}"}} '
                line = [x for x in m.splitlines() if x.startswith(key)]
                return int(float(line[0].split()[-1])) if line else -1
            check("shadow: same model agrees", count("same", "same") == 20 and count("same", "differ") == 0, m[-1500:])
            d = count("changed", "differ")
            check("shadow: changed weights disagree, about half copied", 60 <= d <= 140 and count("changed", "same") == 0, d)
            after = other.stats("linear")["inference_count"]
            check("shadow: the shadow pool really ran them", after - before == d, (before, after, d))
        finally:
            gw.stop()


def test_cache(tmp, replicas):
    """Gateway response cache: a repeated request is answered without reaching a replica;
    Cache-Control: no-cache goes upstream; another body is a miss; an uncached route never hits."""
    gw = Gateway(tmp, f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
cache: {{max_bytes: 1048576}}
pools:
{pool_yaml("stable", [replicas[0].port])}
routes:
  - name: nocache
    match: {{headers: {{x-nocache: "1"}}}}
    pool: stable
  - name: linear
    pool: stable
    cache: true
""")
    try:
        def count():
            return replicas[0].stats("linear")["inference_count"]
        c0 = count()
        s1, h1, b1 = gw.infer()
        s2, h2, b2 = gw.infer()
        check("cache: first is a miss, second a hit with the same body",
              s1 == s2 == 200 and "x-infergate-cache" not in h1 and h2.get("x-infergate-cache") == "hit" and b1 == b2,
              (h1, h2, b1[:100], b2[:100]))
        check("cache: the hit did not reach the replica", count() - c0 == 1, count() - c0)
        s3, h3, _ = gw.infer({"Cache-Control": "no-cache"})
        check("cache: no-cache goes upstream", s3 == 200 and "x-infergate-cache" not in h3 and count() - c0 == 2)
        other = json.dumps({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32",
                                        "data": [4, 3, 2, 1]}]}).encode()
        s4, h4, _ = gw.request("POST", "/v2/models/linear/infer", other, {"Content-Type": "application/json"})
        check("cache: another body is a miss", s4 == 200 and "x-infergate-cache" not in h4 and count() - c0 == 3)
        s5, h5, _ = gw.infer({"x-nocache": "1"})
        check("cache: a route without cache never hits", s5 == 200 and "x-infergate-cache" not in h5)
        m = gw.metrics()
        check("cache: counters", "infergate_gateway_cache_hits_total 1" in m, m[-600:])
    finally:
        gw.stop()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(secret, claims, header=None):
    h = b64(json.dumps(header or {"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    p = b64(json.dumps(claims).encode())
    sig = hmac.new(secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64(sig)}"


def test_auth(tmp, replicas):
    secret = os.urandom(32)
    with open(os.path.join(tmp, "keys.jwks"), "w") as f:
        json.dump({"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256", "k": b64(secret)}]}, f)
    key_hash = subprocess.run([BIN, "gateway", "hash-key", "team-a-secret-key"], capture_output=True, text=True).stdout.strip()
    check("auth: hash-key prints a salted hash", key_hash.startswith("sha256$"), key_hash)
    gw = Gateway(tmp, f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
auth:
  api_keys:
    - {{name: team-a, hash: "{key_hash}", models: ["linear"]}}
  jwt:
    jwks_file: keys.jwks
    algorithms: [HS256]
    issuer: https://issuer.test
    audiences: [infergate]
pools:
{pool_yaml("stable", [replicas[0].port])}
routes:
  - pool: stable
""")
    try:
        now = int(time.time())
        good = {"iss": "https://issuer.test", "aud": "infergate", "sub": "alice", "exp": now + 300, "iat": now}
        check("auth: valid API key", gw.infer({"x-api-key": "team-a-secret-key"})[0] == 200)
        check("auth: valid API key as Bearer", gw.infer({"Authorization": "Bearer team-a-secret-key"})[0] == 200)
        check("auth: key not allowed for the model is 403",
              gw.infer({"x-api-key": "team-a-secret-key"}, model="iris_mlp")[0] == 403)
        check("auth: no credentials is 401", gw.infer()[0] == 401)
        check("auth: unknown key is 401", gw.infer({"x-api-key": "nope"})[0] == 401)
        check("auth: valid JWT", gw.infer({"Authorization": "Bearer " + jwt(secret, good)})[0] == 200)
        before = replicas[0].stats("linear")["inference_count"]
        h, p, s = jwt(secret, good).split(".")
        bad = {
            "alg none": f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{p}.",
            "alg NONE": f"{b64(json.dumps({'alg': 'NONE', 'typ': 'JWT'}).encode())}.{p}.",
            "wrong secret": jwt(os.urandom(32), good),
            "expired": jwt(secret, {**good, "exp": now - 3600}),
            "no exp": jwt(secret, {k: v for k, v in good.items() if k != "exp"}),
            "future nbf": jwt(secret, {**good, "nbf": now + 3600}),
            "wrong aud": jwt(secret, {**good, "aud": "other"}),
            "wrong iss": jwt(secret, {**good, "iss": "https://evil"}),
            "unknown crit": jwt(secret, good, {"alg": "HS256", "typ": "JWT", "kid": "k1", "crit": ["x-unknown"], "x-unknown": 1}),
            "kid traversal": jwt(secret, good, {"alg": "HS256", "typ": "JWT", "kid": "../../etc/passwd"}),
            "embedded jwk": jwt(b"attacker", good, {"alg": "HS256", "typ": "JWT", "jwk": {"kty": "oct", "k": b64(b"attacker")}}),
            "tampered payload": f"{h}.{b64(json.dumps({**good, 'sub': 'root'}).encode())}.{s}",
            "empty signature": f"{h}.{p}.",
            "huge token": jwt(secret, {**good, "pad": "x" * 9000}),
        }
        for name, tok in bad.items():
            st = gw.infer({"Authorization": "Bearer " + tok})[0]
            check(f"A2: {name} -> 401", st == 401, st)
        # the model is never reached: the replica saw only the accepted requests
        after = replicas[0].stats("linear")["inference_count"]
        check("A2: rejected requests never reached the model", after == before, (before, after))
    finally:
        gw.stop()


def test_rate_limit(tmp, replicas):
    """I5: 100 requests/s for one key under ~3x that load: 100/s +-5% over 10 s, others unaffected."""
    gw = Gateway(tmp, f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
workers: 2
rate_limits:
  rules:
    - {{name: per-client, per: key, rate: 100/s, burst: 10}}
pools:
{pool_yaml("stable", [r.port for r in replicas])}
routes:
  - pool: stable
""")
    try:
        s, h, _ = gw.infer()
        check("I5: allowed response carries RateLimit headers", s == 200 and "ratelimit" in h and "ratelimit-policy" in h, h)
        time.sleep(0.2)
        start = time.time()
        counts = load(gw, 10.0, 4)
        elapsed = time.time() - start
        allowed, limited = counts.get(200, 0), counts.get(429, 0)
        expected = 100 * elapsed + 10
        check("I5: allowed within 5% of 100/s", abs(allowed - expected) <= 0.05 * expected, (allowed, expected, counts))
        check("I5: the rest got 429", limited > allowed and set(counts) <= {200, 429}, counts)
        s, h, b = gw.infer()
        check("I5: 429 has Retry-After", s != 429 or int(h.get("retry-after", "0")) >= 1, h)
    finally:
        gw.stop()


def test_element_limits(tmp, replicas):
    """A rule charging tensor elements: the budget is spent by the inputs' shapes, not request counts;
    binary-tensor requests count from their JSON part."""
    gw = Gateway(tmp, f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
rate_limits:
  rules:
    - {{name: elements, per: global, rate: 16/m, burst: 16, cost: elements}}
pools:
{pool_yaml("stable", [replicas[0].port])}
routes:
  - pool: stable
""")
    try:
        two = json.dumps({"inputs": [{"name": "features", "shape": [2, 4], "datatype": "FP32",
                                      "data": [1, 2, 3, 4, 5, 6, 7, 8]}]}).encode()
        s1 = gw.request("POST", "/v2/models/linear/infer", two, {"Content-Type": "application/json"})[0]
        header = json.dumps({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32",
                                         "parameters": {"binary_data_size": 16}}]}).encode()
        binary = header + b"\0\0\x80\x3f" * 4
        s2 = gw.request("POST", "/v2/models/linear/infer", binary,
                        {"Inference-Header-Content-Length": str(len(header))})[0]
        s3 = gw.infer()[0]
        s4, h4, _ = gw.infer()
        check("elements: 8 + 4 + 4 elements fit a budget of 16", (s1, s2, s3) == (200, 200, 200), (s1, s2, s3))
        check("elements: the next 4 do not", s4 == 429 and "retry-after" in h4, (s4, h4))
    finally:
        gw.stop()


def test_shared_limits(tmp, replicas):
    """Two gateway replicas share one key's limit through a real redis-server: together they allow the
    budget once, not twice."""
    rport = free_ports(1)[0]
    redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gws = []
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", rport), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        conf = f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
rate_limits:
  backend: redis
  redis: {{address: "127.0.0.1:{rport}", on_error: deny}}
  rules:
    - {{name: shared, per: global, rate: 20/m, burst: 20}}
pools:
{pool_yaml("stable", [replicas[0].port])}
routes:
  - pool: stable
"""
        for i in range(2):
            d = os.path.join(tmp, str(i))
            os.makedirs(d)
            gws.append(Gateway(d, conf))
        statuses = [gws[i % 2].infer()[0] for i in range(40)]
        check("redis: two replicas share one budget of 20", statuses.count(200) == 20 and statuses.count(429) == 20,
              statuses)
        check("redis: both replicas served part of it", 200 in statuses[0::2] and 200 in statuses[1::2], statuses)
        redis.kill()
        redis.wait()
        st, h, _ = gws[0].infer()
        check("redis: with redis gone, on_error: deny refuses with Retry-After", st == 429 and "retry-after" in h, (st, h))
    finally:
        for g in gws:
            g.stop()
        if redis.poll() is None:
            redis.kill()
            redis.wait()


def test_dns_pool(tmp, replicas):
    """A pool named by DNS (as a Kubernetes headless service): every address the name resolves to is
    an endpoint, re-resolved periodically."""
    gw = Gateway(tmp, f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
pools:
  - name: headless
    dns: "localhost:{replicas[0].port}"
    resolve: 1s
routes:
  - pool: headless
""")
    try:
        check("dns: requests reach the resolved endpoint", gw.infer()[0] == 200)
        m = gw.metrics()
        check("dns: the endpoint is listed", f'endpoint="127.0.0.1:{replicas[0].port}"' in m or
              f'endpoint="[::1]:{replicas[0].port}"' in m, m[-1200:])
    finally:
        gw.stop()


def test_reload(tmp, replicas):
    """R5: reloads under load (valid ones applied, an invalid one refused) with zero failed requests."""
    base = f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
pools:
{pool_yaml("a", [replicas[0].port])}
{pool_yaml("b", [replicas[1].port])}
routes:
  - pool: @POOL@
"""
    gw = Gateway(tmp, base.replace("@POOL@", "a"))
    try:
        results = {}
        t = threading.Thread(target=load, args=(gw, 4.0, 4), kwargs={"results": results})
        t.start()
        for i in range(6):
            time.sleep(0.3)
            gw.write(base.replace("@POOL@", "b" if i % 2 == 0 else "a"))
            gw.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        gw.write(base.replace("@POOL@", "missing"))
        gw.proc.send_signal(signal.SIGHUP)
        t.join()
        check("R5: zero failed requests across reloads", set(results) == {200} and results[200] > 100, results)
        out = gw.output()
        check("R5: reloads applied", out.count("config reloaded") >= 5, out)
        check("R5: invalid config refused with its line", "reload refused" in out and "unknown pool 'missing'" in out, out)
        check("R5: still serving after the refused reload", gw.infer()[0] == 200)
    finally:
        gw.stop()


def test_slowloris(tmp, replicas):
    """H4: slow header senders are cut at the header timeout; health stays responsive throughout."""
    gw = Gateway(tmp, f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
limits: {{header_timeout: 2s}}
pools:
{pool_yaml("stable", [replicas[0].port])}
routes:
  - pool: stable
""")
    socks = []
    try:
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            s.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        lat = []
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
        for i in range(30):
            for s in socks[:50]:
                try:
                    s.sendall(b"X-a: b\r\n")
                except OSError:
                    pass
            t0 = time.time()
            st = gw.request("GET", "/v2/health/ready", conn=conn)[0]
            lat.append(time.time() - t0)
            check("H4: health answers during the attack", st == 200, st)
            time.sleep(0.1)
        lat.sort()
        check("H4: health p99 under 100 ms", lat[int(len(lat) * 0.99) - 1] < 0.1, lat[-3:])
        time.sleep(1.0)
        closed = 0
        for s in socks:
            s.settimeout(0.5)
            try:
                d = s.recv(100)
                closed += d == b"" or d.startswith(b"HTTP/1.1 408")
            except OSError:
                closed += 1
        check("H4: slow connections cut at the header timeout", closed == len(socks), closed)
    finally:
        for s in socks:
            s.close()
        gw.stop()


def openssl(tmp, *args):
    subprocess.run(["openssl", *args], cwd=tmp, check=True, capture_output=True)


def make_cert(tmp, name, ca, subject, san):
    """NAME.crt/.key signed by CA (a fresh serial each time)."""
    openssl(tmp, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject)
    with open(os.path.join(tmp, f"{name}.ext"), "w") as f:
        f.write(f"subjectAltName={san}\n")
    openssl(tmp, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt")


def test_tls(tmp, replicas):
    """mTLS on the client listener and the gRPC front: client-certificate rules, refused handshakes,
    TLS 1.1 refused, certificates replaced on SIGHUP for new connections while open ones keep theirs."""
    openssl(tmp, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=test-ca", "-days", "2")
    make_cert(tmp, "server", "ca", "/CN=gateway-v1", "DNS:localhost,IP:127.0.0.1")
    make_cert(tmp, "client-a", "ca", "/CN=client-a", "DNS:a.example")
    make_cert(tmp, "client-b", "ca", "/CN=client-b", "DNS:b.example")
    with open(os.path.join(tmp, "body.json"), "wb") as f:
        f.write(BODY)
    front = free_ports(1)[0]
    text = f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
grpc_listen: 127.0.0.1:{front}
workers: 2
tls:
  cert: server.crt
  key: server.key
  client_ca: ca.crt
auth:
  mtls:
    - {{subject: "CN=client-a", models: ["linear"]}}
pools:
{pool_yaml("stable", [replicas[0].port])}
routes:
  - pool: stable
"""
    gw = Gateway(tmp, text)

    def curl(*args, model="linear"):
        r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                            "--cacert", os.path.join(tmp, "ca.crt"), *args, "-H", "Content-Type: application/json",
                            "--data-binary", "@" + os.path.join(tmp, "body.json"),
                            f"https://127.0.0.1:{gw.port}/v2/models/{model}/infer"], capture_output=True, text=True)
        return r.returncode, r.stdout, r.stderr

    def cert(name):
        return ["--cert", os.path.join(tmp, f"{name}.crt"), "--key", os.path.join(tmp, f"{name}.key")]

    def served_cert(port=None):
        """The serial and subject of the certificate a new connection gets."""
        r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port or gw.port}", "-CAfile",
                            os.path.join(tmp, "ca.crt"), *cert("client-a")], input="", capture_output=True,
                           text=True, timeout=20)
        x = subprocess.run(["openssl", "x509", "-noout", "-serial", "-subject"], input=r.stdout,
                           capture_output=True, text=True)
        return x.stdout

    def file_cert(name):
        return subprocess.run(["openssl", "x509", "-noout", "-serial", "-subject", "-in",
                               os.path.join(tmp, f"{name}.crt")], capture_output=True, text=True).stdout

    try:
        rc, code, err = curl(*cert("client-a"))
        check("tls: client-a with its certificate gets 200", rc == 0 and code == "200", (rc, code, err))
        rc, code, err = curl(*cert("client-a"), model="iris_mlp")
        check("tls: client-a on a model its rule does not list gets 403", rc == 0 and code == "403", (rc, code, err))
        rc, code, err = curl()
        check("tls: no client certificate fails at the handshake", rc != 0 and code == "000", (rc, code, err))
        rc, code, err = curl(*cert("client-b"))
        check("tls: a subject matching no rule gets 403", rc == 0 and code == "403", (rc, code, err))
        rc, code, err = curl(*cert("client-a"), "--tlsv1.1", "--tls-max", "1.1")
        check("tls: TLS 1.1 is refused", rc != 0, (rc, code, err))
        rc, code, err = curl(*cert("client-a"), "--tlsv1.2", "--tls-max", "1.2")
        check("tls: TLS 1.2 is accepted", rc == 0 and code == "200", (rc, code, err))
        check("tls: the served certificate is the configured one", served_cert() == file_cert("server"),
              (served_cert(), file_cert("server")))
        check("tls: the plain admin listener still answers", gw.request("GET", "/ready", port=gw.admin)[0] == 200)

        # The gRPC front serves the same certificate and rules. Its only route goes to a REST pool, so
        # a call that passes the handshake and the rules ends in UNIMPLEMENTED, after them.
        stubs = os.path.join(tmp, "stubs")
        os.makedirs(stubs)
        compile_grpc_stubs(stubs)
        import grpc
        import grpc_service_pb2 as pb
        import grpc_service_pb2_grpc as pbg

        def grpc_call(client):
            def read(name):
                with open(os.path.join(tmp, name), "rb") as f:
                    return f.read()
            creds = grpc.ssl_channel_credentials(read("ca.crt"), read(f"{client}.key") if client else None,
                                                 read(f"{client}.crt") if client else None)
            with grpc.secure_channel(f"127.0.0.1:{front}", creds) as ch:
                stub = pbg.GRPCInferenceServiceStub(ch)
                return grpc_code_of(lambda: stub.ModelReady(pb.ModelReadyRequest(name="linear"), timeout=10))

        code, det = grpc_call("client-a")
        check("tls: gRPC front: client-a passes the handshake and its rule",
              code == grpc.StatusCode.UNIMPLEMENTED and "protocol: grpc" in det, (code, det))
        code, det = grpc_call("client-b")
        check("tls: gRPC front: a subject matching no rule gets PERMISSION_DENIED",
              code == grpc.StatusCode.PERMISSION_DENIED, (code, det))
        code, det = grpc_call(None)
        check("tls: gRPC front: no client certificate fails at the handshake", code == grpc.StatusCode.UNAVAILABLE,
              (code, det))

        # A keep-alive connection opened before the reload.
        ctx = ssl.create_default_context(cafile=os.path.join(tmp, "ca.crt"))
        ctx.load_cert_chain(os.path.join(tmp, "client-a.crt"), os.path.join(tmp, "client-a.key"))
        old_conn = http.client.HTTPSConnection("127.0.0.1", gw.port, timeout=30, context=ctx)
        s, _, b = gw.infer(conn=old_conn)
        check("tls: python client over a kept-alive connection", s == 200, (s, b))
        old_der = old_conn.sock.getpeercert(binary_form=True)

        # New certificate files, then SIGHUP.
        make_cert(tmp, "server-v2", "ca", "/CN=gateway-v2", "DNS:localhost,IP:127.0.0.1")
        for ext in ("crt", "key"):
            os.replace(os.path.join(tmp, f"server-v2.{ext}"), os.path.join(tmp, f"server.{ext}"))
        before = gw.output().count("config reloaded")
        gw.proc.send_signal(signal.SIGHUP)
        end = time.time() + 10
        while time.time() < end and gw.output().count("config reloaded") == before:
            time.sleep(0.05)
        now = served_cert()
        check("tls: after SIGHUP new connections get the new certificate",
              now == file_cert("server") and "gateway-v2" in now, (now, file_cert("server")))
        now = served_cert(front)
        check("tls: after SIGHUP new gRPC connections get the new certificate", "gateway-v2" in now, now)
        s, _, b = gw.infer(conn=old_conn)
        check("tls: the connection opened before the reload goes on", s == 200, (s, b))
        check("tls: ... with its old certificate", old_conn.sock.getpeercert(binary_form=True) == old_der)
        old_conn.close()
        rc, code, err = curl(*cert("client-a"))
        check("tls: still serving after the reload", rc == 0 and code == "200", (rc, code, err))

        # Turning TLS off needs a restart: the reload is refused and TLS keeps serving.
        gw.write(text.replace("tls:\n  cert: server.crt\n  key: server.key\n  client_ca: ca.crt\n", ""))
        gw.proc.send_signal(signal.SIGHUP)
        end = time.time() + 10
        while time.time() < end and "turning tls on or off" not in gw.output():
            time.sleep(0.05)
        check("tls: a reload that turns TLS off is refused", "turning tls on or off" in gw.output(), gw.output())
        rc, code, err = curl(*cert("client-a"))
        check("tls: still TLS after the refused reload", rc == 0 and code == "200", (rc, code, err))
        check("tls: gateway still running", gw.proc.poll() is None)
    finally:
        gw.stop()

def test_upstream_tls(tmp, replicas):
    """TLS towards the upstreams: a replica that requires client certificates serves through a pool
    with `tls:` (requests, active health checks and shadow copies all over TLS, and gRPC calls through a
    `protocol: grpc` pool); a pool without the client certificate, or checking another name, fails the
    handshake and the client gets a 502 that says so (gRPC: UNAVAILABLE)."""
    openssl(tmp, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "uca.key", "-out", "uca.crt", "-subj", "/CN=upstream-ca", "-days", "2")
    make_cert(tmp, "replica", "uca", "/CN=replica", "IP:127.0.0.1,DNS:replica.example")
    make_cert(tmp, "gw-client", "uca", "/CN=gateway", "DNS:gateway.example")
    repo = make_repo(tmp, models=("linear",))
    gport, front = free_ports(2)
    secure = Server(BIN, repo, "--grpc-port", gport, "--tls-cert", os.path.join(tmp, "replica.crt"), "--tls-key",
                    os.path.join(tmp, "replica.key"), "--tls-client-ca", os.path.join(tmp, "uca.crt"),
                    wait_ready=False)
    try:
        end = time.time() + 20
        while time.time() < end and secure.proc.poll() is None:
            try:
                if secure.get("/metrics", port=secure.mport)[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        ep, gep = f'["127.0.0.1:{secure.port}"]', f'["127.0.0.1:{gport}"]'
        gw = Gateway(tmp, f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
grpc_listen: 127.0.0.1:{front}
pools:
  - name: grpc-secure
    protocol: grpc
    endpoints: {gep}
    tls: {{ca: uca.crt, cert: gw-client.crt, key: gw-client.key}}
  - name: grpc-no-client-cert
    protocol: grpc
    endpoints: {gep}
    tls: {{ca: uca.crt}}
  - name: secure
    endpoints: {ep}
    health_check: {{interval: 200ms, timeout: 1s, unhealthy_threshold: 2, healthy_threshold: 1}}
    tls: {{ca: uca.crt, cert: gw-client.crt, key: gw-client.key}}
  - name: by-name
    endpoints: {ep}
    tls: {{ca: uca.crt, cert: gw-client.crt, key: gw-client.key, server_name: replica.example}}
  - name: no-client-cert
    endpoints: {ep}
    tls: {{ca: uca.crt}}
  - name: wrong-name
    endpoints: {ep}
    tls: {{ca: uca.crt, cert: gw-client.crt, key: gw-client.key, server_name: other.example}}
{pool_yaml("plain", [replicas[0].port])}
routes:
  - name: grpc-no-client-cert
    match: {{path_prefix: /inference., headers: {{x-target: no-client-cert}}}}
    pool: grpc-no-client-cert
  - {{name: grpc, match: {{path_prefix: /inference.}}, pool: grpc-secure}}
  - {{name: by-name, match: {{headers: {{x-target: by-name}}}}, pool: by-name}}
  - {{name: no-client-cert, match: {{headers: {{x-target: no-client-cert}}}}, pool: no-client-cert}}
  - {{name: wrong-name, match: {{headers: {{x-target: wrong-name}}}}, pool: wrong-name}}
  - name: shadowed
    match: {{headers: {{x-target: shadowed}}}}
    pool: plain
    shadow: {{pool: secure, percent: 100}}
  - {{name: secure, pool: secure}}
""")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
            answers = [gw.infer(conn=conn) for _ in range(20)]
            conn.close()
            direct = json.loads(replicas[0].post("/v2/models/linear/infer", BODY)[2])["outputs"]
            check("upstream TLS: requests through a client-certificate pool succeed",
                  all(a[0] == 200 for a in answers), [a[:1] + (a[2][:200],) for a in answers if a[0] != 200][:3])
            check("upstream TLS: the answer is the model's", json.loads(answers[-1][2])["outputs"] == direct)
            s, _, body = gw.infer({"x-target": "by-name"})
            check("upstream TLS: server_name checks the certificate's DNS name", s == 200, (s, body[:200]))
            for target in ("no-client-cert", "wrong-name"):
                s, _, body = gw.infer({"x-target": target})
                check(f"upstream TLS: {target}: the handshake fails, 502 says TLS", s == 502 and b"TLS" in body,
                      (s, body[:300]))
            conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
            shadowed = [gw.infer({"x-target": "shadowed"}, conn=conn) for _ in range(10)]
            conn.close()
            time.sleep(0.5)
            m = gw.metrics()
            same = [x for x in m.splitlines()
                    if x.startswith('infergate_gateway_shadow_comparisons_total{route="shadowed",result="same"} ')]
            check("upstream TLS: shadow copies over TLS agree",
                  all(a[0] == 200 for a in shadowed) and same and same[0].endswith(" 10"), (same, m[-800:]))
            time.sleep(0.6)
            m = gw.metrics()
            healthy = f'infergate_gateway_endpoint_healthy{{pool="secure",endpoint="127.0.0.1:{secure.port}"}} 1'
            check("upstream TLS: active health checks pass over TLS", healthy in m, m[-1500:])
            stubs = os.path.join(tmp, "stubs")
            os.makedirs(stubs)
            compile_grpc_stubs(stubs)
            import grpc
            import grpc_service_pb2 as pb
            import grpc_service_pb2_grpc as pbg
            r = pb.ModelInferRequest(model_name="linear")
            r.inputs.add(name="features", datatype="FP32", shape=[1, 4])
            r.inputs[0].contents.fp32_contents.extend([1, 2, 3, 4])
            with grpc.insecure_channel(f"127.0.0.1:{front}") as ch:
                front_ready(grpc, ch, gw)
                st = pbg.GRPCInferenceServiceStub(ch)
                got = st.ModelInfer(r, timeout=10)
                check("upstream TLS: a gRPC pool with a client certificate serves ModelInfer",
                      len(got.raw_output_contents) == 1 and got.model_name == "linear", got)
                code, _ = grpc_code_of(lambda: st.ModelInfer(r, timeout=10, metadata=(("x-target", "no-client-cert"),)))
                check("upstream TLS: a gRPC pool without the client certificate gets UNAVAILABLE",
                      code == grpc.StatusCode.UNAVAILABLE, code)
        finally:
            gw.stop()
    finally:
        secure.stop()


def front_ready(grpc, ch, gw):
    """The gRPC front starts after the HTTP workers answer /ready: wait for it to accept connections."""
    try:
        grpc.channel_ready_future(ch).result(timeout=10)
    except grpc.FutureTimeoutError:
        raise RuntimeError("gateway gRPC front not ready: " + gw.output())


def test_grpc(tmp, repo, replicas):
    """The gRPC front relays inference.GRPCInferenceService calls to a `protocol: grpc` pool."""
    stubs = os.path.join(tmp, "stubs")
    os.makedirs(stubs)
    compile_grpc_stubs(stubs)
    import grpc
    import grpc_service_pb2 as pb
    import grpc_service_pb2_grpc as pbg

    def req(rid="", model="linear"):
        r = pb.ModelInferRequest(model_name=model, id=rid)
        r.inputs.add(name="features", datatype="FP32", shape=[1, 4])
        r.inputs[0].contents.fp32_contents.extend([1, 2, 3, 4])
        return r

    gports = free_ports(2)
    reps = [Server(BIN, repo, "--grpc-port", str(p)) for p in gports]
    front = free_ports(1)[0]
    eps = ", ".join(f'"127.0.0.1:{p}"' for p in gports)
    gw = Gateway(tmp, f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
grpc_listen: 127.0.0.1:{front}
pools:
  - name: grpc-pool
    protocol: grpc
    endpoints: [{eps}]
    outlier: {{consecutive_connect_failure: 2, base_ejection: 30s, max_ejection_percent: 50}}
  - name: rest-pool
    endpoints: ["127.0.0.1:{replicas[0].port}"]
routes:
  - name: iris-rest
    match: {{model: iris_mlp}}
    pool: rest-pool
  - name: grpc-all
    pool: grpc-pool
""")
    ch = grpc.insecure_channel(f"127.0.0.1:{front}")
    st = pbg.GRPCInferenceServiceStub(ch)
    front_ready(grpc, ch, gw)
    direct = pbg.GRPCInferenceServiceStub(grpc.insecure_channel(f"127.0.0.1:{gports[0]}"))
    try:
        check("grpc: ServerLive through the gateway", st.ServerLive(pb.ServerLiveRequest(), timeout=10).live)
        mm = st.ModelMetadata(pb.ModelMetadataRequest(name="linear"), timeout=10)
        check("grpc: ModelMetadata through the gateway", mm.name == "linear" and mm.inputs[0].name == "features", mm)
        got = st.ModelInfer(req("x1"), timeout=10)
        want = direct.ModelInfer(req("x1"), timeout=10)
        check("grpc: ModelInfer same outputs as direct",
              got.raw_output_contents == want.raw_output_contents and got.id == "x1" and len(got.outputs) == 1,
              (got, want))
        c, d = grpc_code_of(lambda: st.ModelInfer(req(model="nope"), timeout=10))
        check("grpc: upstream error status relayed", c is not None and c != grpc.StatusCode.UNAVAILABLE, (c, d))
        n = 100
        ids = [r.infer_response.id for r in st.ModelStreamInfer(iter([req(str(i)) for i in range(n)]), timeout=60)
               if not r.error_message]
        check("grpc: ModelStreamInfer 100 requests all answered", sorted(ids, key=int) == [str(i) for i in range(n)],
              f"{len(ids)} answers")
        check("grpc: empty stream", list(st.ModelStreamInfer(iter([]), timeout=30)) == [])
        c, d = grpc_code_of(lambda: st.ModelInfer(req(model="iris_mlp"), timeout=10))
        check("grpc: a call routed to an http pool gets a clear error",
              c == grpc.StatusCode.UNIMPLEMENTED and "protocol: grpc" in d, (c, d))
        s, _, b = gw.infer()
        check("grpc: a REST request routed to a grpc pool is a 502", s == 502 and b"speaks gRPC" in b, (s, b))

        def slow():
            yield req("s")
            time.sleep(3)

        c, d = grpc_code_of(lambda: list(st.ModelStreamInfer(slow(), timeout=0.5)))
        check("grpc: a stream past the client's deadline ends DEADLINE_EXCEEDED",
              c == grpc.StatusCode.DEADLINE_EXCEEDED, (c, d))

        # gRPC calls count in the pool's upstream series and the endpoints' latency histograms as REST
        # tries do; a call's stats are recorded when its last batch completes, so the scrape is polled.
        def metric_counts():
            want = {
                "pool_requests": 'infergate_gateway_upstream_requests_total{pool="grpc-pool"} ',
                "pool_retries": 'infergate_gateway_upstream_retries_total{pool="grpc-pool"} ',
                "pool_2xx": 'infergate_gateway_upstream_responses_total{pool="grpc-pool",code="2xx"} ',
                "pool_4xx": 'infergate_gateway_upstream_responses_total{pool="grpc-pool",code="4xx"} ',
                "pool_5xx": 'infergate_gateway_upstream_responses_total{pool="grpc-pool",code="5xx"} ',
                "pool_latency": 'infergate_gateway_upstream_request_duration_us_count{pool="grpc-pool"} ',
                "route_requests": 'infergate_gateway_requests_total{route="grpc-all"} ',
                "route_retries": 'infergate_gateway_retries_total{route="grpc-all"} ',
                "route_2xx": 'infergate_gateway_responses_total{route="grpc-all",code="2xx"} ',
                "route_4xx": 'infergate_gateway_responses_total{route="grpc-all",code="4xx"} ',
                "route_latency": 'infergate_gateway_request_duration_us_count{route="grpc-all"} ',
            }
            got = dict.fromkeys(want, 0.0)
            got["endpoint_latency"] = 0.0
            for line in gw.metrics().splitlines():
                for k, prefix in want.items():
                    if line.startswith(prefix):
                        got[k] = float(line.split()[-1])
                if line.startswith('infergate_gateway_endpoint_request_duration_us_count{pool="grpc-pool",'):
                    got["endpoint_latency"] += float(line.split()[-1])
            return got

        def counts_reach(want):
            end, got = time.time() + 10, {}
            while time.time() < end:
                got = metric_counts()
                if all(got[k] >= v for k, v in want.items()):
                    time.sleep(0.2)  # nothing more than expected arrives late
                    return metric_counts()
                time.sleep(0.05)
            return got

        before = counts_reach({})
        n_ok = 12
        for i in range(n_ok):
            st.ModelInfer(req(f"m{i}"), timeout=10)
        c_nope, _ = grpc_code_of(lambda: st.ModelInfer(req(model="nope"), timeout=10))
        ids = [r.infer_response.id for r in st.ModelStreamInfer(iter([req("s1"), req("s2")]), timeout=30)]
        calls = n_ok + 2  # unary OK calls, the failed call, the stream
        after = counts_reach({"pool_requests": before["pool_requests"] + calls,
                              "endpoint_latency": before["endpoint_latency"] + calls,
                              "route_latency": before["route_latency"] + calls})
        d = {k: after[k] - before[k] for k in after}
        check("grpc metrics: the failed call is a client error and the stream is answered",
              c_nope in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT) and ids == ["s1", "s2"], (c_nope, ids))
        check("grpc metrics: upstream_requests_total of the pool grew by the calls, without retries",
              d["pool_requests"] == calls and d["pool_retries"] == 0, d)
        check("grpc metrics: upstream_responses_total by the gRPC status's class",
              d["pool_2xx"] == n_ok + 1 and d["pool_4xx"] == 1 and d["pool_5xx"] == 0, d)
        check("grpc metrics: the pool's latency histogram counts every call",
              d["pool_latency"] == calls, d)
        check("grpc metrics: the endpoints' latency histograms count every answered call",
              d["endpoint_latency"] == calls, d)
        check("grpc metrics: the route's series count the same calls",
              d["route_requests"] == calls and d["route_2xx"] == n_ok + 1 and d["route_4xx"] == 1
              and d["route_latency"] == calls and d["route_retries"] == 0, d)
        before_kill = metric_counts()

        # kill -9 one of the two replicas under a loop of unary calls
        results, lock = {}, threading.Lock()
        stop = time.time() + 3.0

        def worker():
            while time.time() < stop:
                try:
                    st.ModelInfer(req(), timeout=10)
                    k = "ok"
                except grpc.RpcError as e:
                    k = str(e.code())
                with lock:
                    results[k] = results.get(k, 0) + 1

        ts = [threading.Thread(target=worker) for _ in range(4)]
        for t in ts:
            t.start()
        time.sleep(1.0)
        reps[1].proc.send_signal(signal.SIGKILL)
        for t in ts:
            t.join()
        failed = sum(v for k, v in results.items() if k != "ok")
        check("grpc: kill -9 of a replica fails at most the calls in flight", failed <= 4 and results.get("ok", 0) > 50,
              results)
        after = [grpc_code_of(lambda: st.ModelInfer(req(), timeout=10))[0] for _ in range(20)]
        check("grpc: no failures after the kill", after == [None] * 20, after)
        m = gw.metrics()
        check("grpc: route stats count gRPC calls", 'route="grpc-all"' in m, m[-1500:])
        time.sleep(0.3)
        k = metric_counts()
        d = {x: k[x] - before_kill[x] for x in k}
        check("grpc metrics: tries after the first count as the pool's and the route's retries",
              d["pool_retries"] >= 1 and d["pool_retries"] == d["route_retries"], d)
        check("grpc metrics: one pool response per call after the kill",
              d["pool_2xx"] + d["pool_4xx"] + d["pool_5xx"] == d["pool_requests"] == d["route_requests"], d)
    finally:
        ch.close()
        gw.stop()

    check("grpc: the surviving replica is still up", reps[0].proc.poll() is None, reps[0].output()[-2000:])
    # API keys from metadata
    key_hash = subprocess.run([BIN, "gateway", "hash-key", "grpc-secret-key"], capture_output=True, text=True).stdout.strip()
    d2 = os.path.join(tmp, "auth")
    os.makedirs(d2)
    gw = Gateway(d2, f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
grpc_listen: 127.0.0.1:{front}
auth:
  api_keys:
    - {{name: team-g, hash: "{key_hash}", models: ["linear"]}}
pools:
  - name: grpc-pool
    protocol: grpc
    endpoints: ["127.0.0.1:{gports[0]}"]
routes:
  - pool: grpc-pool
""")
    ch = grpc.insecure_channel(f"127.0.0.1:{front}")
    st = pbg.GRPCInferenceServiceStub(ch)
    try:
        front_ready(grpc, ch, gw)
        c, d = grpc_code_of(lambda: st.ModelInfer(req(), timeout=10))
        check("grpc auth: no key is UNAUTHENTICATED", c == grpc.StatusCode.UNAUTHENTICATED, (c, d))
        c, d = grpc_code_of(lambda: st.ModelInfer(req(), timeout=10, metadata=[("x-api-key", "wrong")]))
        check("grpc auth: a wrong key is UNAUTHENTICATED", c == grpc.StatusCode.UNAUTHENTICATED, (c, d))
        r = st.ModelInfer(req("k"), timeout=10, metadata=[("x-api-key", "grpc-secret-key")])
        check("grpc auth: the key in metadata is accepted", r.id == "k" and len(r.outputs) == 1, r)
        r = st.ModelInfer(req("b"), timeout=10, metadata=[("authorization", "Bearer grpc-secret-key")])
        check("grpc auth: the key as a Bearer token is accepted", r.id == "b", r)
        c, d = grpc_code_of(lambda: st.ModelMetadata(pb.ModelMetadataRequest(name="iris_mlp"), timeout=10,
                                                metadata=[("x-api-key", "grpc-secret-key")]))
        check("grpc auth: a model the key may not use is PERMISSION_DENIED", c == grpc.StatusCode.PERMISSION_DENIED,
              (c, d))
    finally:
        ch.close()
        gw.stop()
        for r in reps:
            r.stop()


def grpc_infer_request(pb, rid="", model="linear"):
    r = pb.ModelInferRequest(model_name=model, id=rid)
    r.inputs.add(name="features", datatype="FP32", shape=[1, 4])
    r.inputs[0].contents.fp32_contents.extend([1, 2, 3, 4])
    return r


def test_grpc_shadow(tmp, repo):
    """gRPC calls write access-log lines (protocol grpc, grpc_status); a route's shadow copies successful
    unary ModelInfer calls to a grpc pool and compares the answers; streams and other methods are not
    copied; a shadow pool that speaks REST is refused at load. The client always gets the primary's answer."""
    stubs = os.path.join(tmp, "stubs")
    os.makedirs(stubs)
    compile_grpc_stubs(stubs)
    import grpc
    import grpc_service_pb2 as pb
    import grpc_service_pb2_grpc as pbg

    vdir = os.path.join(tmp, "variant")
    os.makedirs(vdir)
    vrepo = make_repo(vdir, models=("linear",))
    linear_variant(os.path.join(vrepo, "linear", "1", "model.onnx"), 2.0, 0.5)
    gp, gs, gc = free_ports(3)
    front = free_ports(1)[0]
    with Server(BIN, repo, "--grpc-port", str(gp)) as primary, Server(BIN, repo, "--grpc-port", str(gs)) as same, \
            Server(BIN, vrepo, "--grpc-port", str(gc)) as changed:
        gw = Gateway(tmp, f"""listen: 127.0.0.1:@PORT@
admin_listen: 127.0.0.1:@ADMIN@
grpc_listen: 127.0.0.1:{front}
access_log: {tmp}/access.log
pools:
  - {{name: g-primary, protocol: grpc, endpoints: ["127.0.0.1:{gp}"]}}
  - {{name: g-same, protocol: grpc, endpoints: ["127.0.0.1:{gs}"]}}
  - {{name: g-changed, protocol: grpc, endpoints: ["127.0.0.1:{gc}"]}}
routes:
  - name: g-same
    match: {{headers: {{x-target: same}}}}
    pool: g-primary
    shadow: {{pool: g-same, percent: 100}}
  - name: g-changed
    match: {{headers: {{x-target: changed}}}}
    pool: g-primary
    shadow: {{pool: g-changed, percent: 100}}
  - name: g-plain
    pool: g-primary
""")
        ch = grpc.insecure_channel(f"127.0.0.1:{front}")
        st = pbg.GRPCInferenceServiceStub(ch)
        direct = pbg.GRPCInferenceServiceStub(grpc.insecure_channel(f"127.0.0.1:{gp}"))

        def count(route, result):
            key = f'infergate_gateway_shadow_comparisons_total{{route="{route}",result="{result}"}} '
            line = [x for x in gw.metrics().splitlines() if x.startswith(key)]
            return int(float(line[0].split()[-1])) if line else -1

        def wait_count(route, result, want):
            end = time.time() + 10
            while count(route, result) < want and time.time() < end:
                time.sleep(0.05)
            return count(route, result)

        def log_lines():
            with open(f"{tmp}/access.log") as f:
                return [json.loads(x) for x in f.read().splitlines()]

        try:
            front_ready(grpc, ch, gw)
            want = direct.ModelInfer(grpc_infer_request(pb, "d"), timeout=10)
            # shadowed to a replica of the same model: every copy agrees
            s0, c0, p0 = (same.stats("linear")["inference_count"], changed.stats("linear")["inference_count"],
                          primary.stats("linear")["inference_count"])
            got = [st.ModelInfer(grpc_infer_request(pb, str(i)), timeout=10, metadata=[("x-target", "same")])
                   for i in range(20)]
            check("grpc shadow: clients get the primary's answers",
                  all(g.raw_output_contents == want.raw_output_contents and g.id == str(i) for i, g in enumerate(got)),
                  got[:1])
            check("grpc shadow: same model agrees", wait_count("g-same", "same", 20) == 20
                  and count("g-same", "differ") == 0 and count("g-same", "error") == 0,
                  (count("g-same", "same"), count("g-same", "differ"), count("g-same", "error")))
            check("grpc shadow: the shadow replica ran the copies",
                  same.stats("linear")["inference_count"] - s0 == 20, (s0, same.stats("linear")))
            check("grpc shadow: the primary ran each call once",
                  primary.stats("linear")["inference_count"] - p0 == 20, (p0, primary.stats("linear")))
            # shadowed to other weights: every copy disagrees, the client still gets the primary's answer
            got = [st.ModelInfer(grpc_infer_request(pb), timeout=10, metadata=[("x-target", "changed")])
                   for _ in range(10)]
            check("grpc shadow: the primary's answer, not the shadow's",
                  all(g.raw_output_contents == want.raw_output_contents for g in got), got[:1])
            check("grpc shadow: other weights disagree", wait_count("g-changed", "differ", 10) == 10
                  and count("g-changed", "same") == 0, (count("g-changed", "differ"), count("g-changed", "same")))
            check("grpc shadow: the changed replica ran the copies",
                  changed.stats("linear")["inference_count"] - c0 == 10, (c0, changed.stats("linear")))
            # not copied: streams, other methods, failed calls
            s1 = same.stats("linear")["inference_count"]
            ids = [r.infer_response.id for r in st.ModelStreamInfer(
                iter([grpc_infer_request(pb, str(i)) for i in range(5)]), timeout=30, metadata=[("x-target", "same")])]
            check("grpc shadow: the stream is answered", sorted(ids) == [str(i) for i in range(5)], ids)
            st.ModelMetadata(pb.ModelMetadataRequest(name="linear"), timeout=10, metadata=[("x-target", "same")])
            try:
                st.ModelInfer(grpc_infer_request(pb, model="nope"), timeout=10, metadata=[("x-target", "same")])
            except grpc.RpcError:
                pass
            time.sleep(0.5)
            check("grpc shadow: streams, ModelMetadata and failed calls are not copied",
                  same.stats("linear")["inference_count"] == s1 and count("g-same", "same") == 20
                  and count("g-same", "error") == 0, (s1, same.stats("linear"), count("g-same", "error")))
            # a shadow pool that speaks REST could not take a gRPC copy: the config is refused at load
            mixed = os.path.join(tmp, "mixed.yaml")
            with open(mixed, "w") as f:
                f.write(f"""pools:
  - {{name: g-primary, protocol: grpc, endpoints: ["127.0.0.1:{gp}"]}}
  - {{name: rest-same, endpoints: ["127.0.0.1:{same.port}"]}}
routes:
  - name: g-rest
    pool: g-primary
    shadow: {{pool: rest-same, percent: 100}}
""")
            r = subprocess.run([BIN, "gateway", "--check", "--config", mixed], capture_output=True, text=True)
            check("grpc shadow: a REST shadow pool of a gRPC route is refused at load, naming both pools",
                  r.returncode == 1 and "mixed.yaml:7:" in r.stderr and "'rest-same'" in r.stderr
                  and "'g-primary'" in r.stderr, (r.returncode, r.stderr))

            # access log
            tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            st.ModelInfer(grpc_infer_request(pb, "L"), timeout=10,
                          metadata=[("x-request-id", "grpc-rid-1"), ("traceparent", tp)])
            code, _ = grpc_code_of(lambda: st.ModelInfer(grpc_infer_request(pb, model="nope"), timeout=10,
                                                         metadata=[("x-request-id", "grpc-bad")]))
            end = time.time() + 5
            lines = []
            while time.time() < end:
                lines = log_lines()
                if {"grpc-rid-1", "grpc-bad"} <= {x.get("request_id") for x in lines}:
                    break
                time.sleep(0.05)
            ok_line = [x for x in lines if x.get("request_id") == "grpc-rid-1"]
            x = ok_line[0] if ok_line else {}
            check("grpc log: a line per call with protocol grpc and grpc_status 0",
                  x.get("protocol") == "grpc" and x.get("grpc_status") == 0 and "status" not in x
                  and x.get("method") == "/inference.GRPCInferenceService/ModelInfer", x)
            check("grpc log: route, pool, upstream, model, tries, traceparent, latency",
                  x.get("route") == "g-plain" and x.get("pool") == "g-primary" and x.get("upstream") == f"127.0.0.1:{gp}"
                  and x.get("model") == "linear" and x.get("tries") == 1 and x.get("traceparent") == tp
                  and x.get("duration_us", -1) >= 0 and x.get("bytes_in", 0) > 0 and x.get("bytes_out", 0) > 0
                  and x.get("client") == "127.0.0.1", x)
            bad = [y for y in lines if y.get("request_id") == "grpc-bad"]
            check("grpc log: the failed call's grpc status", code is not None and bad
                  and bad[0].get("grpc_status") == code.value[0] and bad[0]["grpc_status"] != 0, (code, bad))
            streams = [y for y in lines if y.get("method") == "/inference.GRPCInferenceService/ModelStreamInfer"]
            check("grpc log: a stream is one line", len(streams) == 1 and streams[0]["grpc_status"] == 0
                  and streams[0]["route"] == "g-same", streams)
            check("grpc log: every line is one JSON object; gRPC lines carry no request id unless sent",
                  all("ts_ms" in y for y in lines) and any(y.get("protocol") == "grpc" and "request_id" not in y
                                                           for y in lines), lines[:3])
        finally:
            ch.close()
            gw.stop()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(tmp, models=("linear", "iris_mlp"))
        replicas = [Server(BIN, repo, "--grpc-port", "-1") for _ in range(2)]
        try:
            for name, fn, args in (("check", test_check_cli, ()), ("proxy", test_proxy, (replicas,)),
                                   ("kill", test_kill_replica, (repo,)), ("breaker", test_breaker, ()), ("canary", test_canary, (replicas,)),
                                   ("shadow", test_shadow, (replicas,)),
                                   ("cache", test_cache, (replicas,)),
                                   ("auth", test_auth, (replicas,)), ("rate", test_rate_limit, (replicas,)),
                                   ("elements", test_element_limits, (replicas,)), ("redis", test_shared_limits, (replicas,)), ("dns", test_dns_pool, (replicas,)),
                                   ("reload", test_reload, (replicas,)), ("slowloris", test_slowloris, (replicas,)),
                                   ("tls", test_tls, (replicas,)), ("upstream-tls", test_upstream_tls, (replicas,)),
                                   ("grpc", test_grpc, (repo, replicas)),
                                   ("grpc-shadow", test_grpc_shadow, (repo,))):
                d = os.path.join(tmp, name)
                os.makedirs(d)
                t0 = time.time()
                fn(d, *args)
                print(f"{name}: {time.time() - t0:.1f}s", flush=True)
        finally:
            for r in replicas:
                r.stop()
    check.done()


if __name__ == "__main__":
    main()
