#!/usr/bin/python3
"""TLS and mTLS on the REST and gRPC ports of `infergate serve`: a CA, a server certificate (SAN
127.0.0.1/localhost), a client certificate and one from a foreign CA are made with the openssl CLI at
test time. REST is driven with curl, gRPC with python3-grpcio (stubs generated from proto/); clients
without a valid certificate must be refused at the handshake, TLS 1.1 must be refused, and bad
certificate files must stop serve with a one-line reason.
  test_tls.py PATH/TO/infergate"""
import os
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(sys.argv[1])
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO = os.path.join(ROOT, "proto")
MODELS = os.path.join(ROOT, "examples/models")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Checker, compile_grpc_stubs, free_ports, grpc_code_of  # noqa: E402

check = Checker()

def run(*args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=60, **kw)


def make_pki(d):
    """ca (trusted), server (signed by ca, SAN 127.0.0.1/localhost), client (signed by ca), rogue client
    (signed by another CA)."""
    def ca(name):
        r = run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.pem")
        assert r.returncode == 0, r.stderr

    def leaf(name, issuer, ext):
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(ext)
        r = run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout",
                f"{d}/{name}.key", "-out", f"{d}/{name}.csr")
        assert r.returncode == 0, r.stderr
        r = run("openssl", "x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/{issuer}.pem", "-CAkey",
                f"{d}/{issuer}.key", "-CAcreateserial", "-days", "2", "-extfile", f"{d}/{name}.ext", "-out",
                f"{d}/{name}.pem")
        assert r.returncode == 0, r.stderr

    ca("ca")
    ca("otherca")
    leaf("server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    leaf("server2", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    leaf("client", "ca", "extendedKeyUsage=clientAuth\n")
    leaf("rogue", "otherca", "extendedKeyUsage=clientAuth\n")
    leaf("ops", "ca", "subjectAltName=URI:spiffe://acme/ns/prod/sa/ops\nextendedKeyUsage=clientAuth\n")


class Server:
    def __init__(self, d, *extra, cert=None):
        cert = cert or d
        self.http, self.grpc_port, self.metrics = free_ports(3)
        self.p = subprocess.Popen([BIN, "serve", "--model-repository", MODELS, "--http-port", str(self.http),
                                   "--grpc-port", str(self.grpc_port), "--metrics-port", str(self.metrics),
                                   "--http-address", "127.0.0.1", "--tls-cert", f"{cert}/server.pem", "--tls-key",
                                   f"{cert}/server.key", *extra],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # the metrics port stays plain HTTP: it tells when the server is up
        deadline = time.time() + 60
        while time.time() < deadline and self.p.poll() is None:
            r = run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{self.metrics}/metrics")
            if r.stdout == "200":
                return
            time.sleep(0.1)
        raise RuntimeError("server did not start: " + (self.p.stdout.read() if self.p.poll() is not None else ""))

    def stop(self):
        self.p.terminate()
        try:
            self.out = self.p.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.out = self.p.communicate()[0]
        check("server exits cleanly (no sanitizer report)", not any(w in (self.out or "") for w in (
            "AddressSanitizer", "LeakSanitizer", "runtime error:")), (self.out or "")[-1500:])


def curl(d, url, *extra):
    r = run("curl", "-sS", "--max-time", "10", "--cacert", f"{d}/ca.pem", "-o", "-", "-w", "\n%{http_code}",
            *extra, url)
    return r.returncode, r.stdout, r.stderr


def grpc_creds(d, client=None):
    """Channel credentials trusting ca.pem; client names the certificate to present (None: none)."""
    def read(name):
        with open(f"{d}/{name}", "rb") as f:
            return f.read()
    return grpc.ssl_channel_credentials(root_certificates=read("ca.pem"),
                                        private_key=read(f"{client}.key") if client else None,
                                        certificate_chain=read(f"{client}.pem") if client else None)


def grpc_ready(d, port, client=None, timeout=5):
    """ServerReady over TLS; client names the certificate to present (None: none). Returns (ok, detail)."""
    with grpc.secure_channel(f"127.0.0.1:{port}", grpc_creds(d, client)) as ch:
        stub = pbg.GRPCInferenceServiceStub(ch)
        try:
            return stub.ServerReady(pb.ServerReadyRequest(), timeout=timeout).ready, ""
        except grpc.RpcError as e:
            return False, f"{e.code()}: {e.details()}"


def s_client(port, *flags):
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *flags], input="",
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


# SECLEVEL=0 lets the openssl client offer TLS 1.1 at all (Debian's default configuration forbids it).
TLS11 = ("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
tls11_known = None


def tls11_client_works(d):
    """Control: the openssl client completes a TLS 1.1 handshake with `openssl s_server -tls1_1`; otherwise a
    refusal by infergate would prove nothing, and the TLS 1.1 checks are skipped."""
    global tls11_known
    if tls11_known is None:
        port = free_ports(1)[0]
        srv = subprocess.Popen(["openssl", "s_server", "-accept", str(port), *TLS11, "-cert", f"{d}/server.pem",
                                "-key", f"{d}/server.key", "-www"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(50):
                rc, out = s_client(port, *TLS11)
                if rc == 0 and "Protocol  : TLSv1.1" in out and "Cipher is (NONE)" not in out:
                    tls11_known = True
                    break
                time.sleep(0.1)
            else:
                tls11_known = False
                print("SKIP TLS 1.1 checks: this openssl client cannot do TLS 1.1 even with s_server")
        finally:
            srv.kill()
            srv.wait()
    return tls11_known


def test_tls(d):
    s = Server(d)
    try:
        base = f"https://127.0.0.1:{s.http}"
        rc, out, err = curl(d, base + "/v2/health/ready")
        check("REST over TLS: ready", rc == 0 and out.endswith("\n200"), (rc, out, err))
        rc, out, err = curl(d, base + "/v2/models/linear/infer", "-H", "Content-Type: application/json", "-d",
                            '{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}')
        check("REST over TLS: infer answered", rc == 0 and out.rstrip().endswith(("200", "400")), (rc, out, err))
        rc, out, err = curl(d, base + "/v2/health/ready", "--cert", f"{d}/client.pem", "--key", f"{d}/client.key")
        check("REST over TLS: a client certificate nobody asked for is fine", rc == 0 and out.endswith("\n200"),
              (rc, out, err))
        rc, out, err = curl(d, base.replace("127.0.0.1", "localhost") + "/v2/health/live")
        check("REST over TLS: SAN localhost", rc == 0 and out.endswith("\n200"), (rc, out, err))
        rc, out, err = curl(d, f"http://127.0.0.1:{s.http}/v2/health/ready")
        check("REST over TLS: plain HTTP gets no answer", not out.endswith("\n200"), (rc, out, err))
        r = run("curl", "-sS", "--max-time", "10", f"{base}/v2/health/ready")
        check("REST over TLS: an untrusted server certificate is noticed by the client", r.returncode != 0, r.stdout)
        ok, det = grpc_ready(d, s.grpc_port)
        check("gRPC over TLS: ServerReady", ok, det)
        ok, det = grpc_ready(d, s.grpc_port, "client")
        check("gRPC over TLS: with an unrequested client certificate", ok, det)
        for port, what in ((s.http, "REST"), (s.grpc_port, "gRPC")):
            # accepted = the handshake completed (gRPC then closes a peer that sends no HTTP/2 preface)
            for v, name in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
                rc, out = s_client(port, v, "-CAfile", f"{d}/ca.pem")
                check(f"{what}: {name} accepted", f"New, {name}, Cipher is" in out
                      and "Verify return code: 0 (ok)" in out, out[-600:])
            if tls11_client_works(d):
                rc, out = s_client(port, *TLS11)
                check(f"{what}: TLS 1.1 refused", rc != 0 and "Cipher is (NONE)" in out, out[-600:])
    finally:
        s.stop()


def server_finished(s_client_msg_out):
    return any(ln.startswith("<<<") and ln.endswith("Finished") for ln in s_client_msg_out.splitlines())


def test_mtls(d):
    s = Server(d, "--tls-client-ca", f"{d}/ca.pem")
    try:
        base = f"https://127.0.0.1:{s.http}/v2/health/ready"
        rc, out, err = curl(d, base)
        # curl exits 35, 55 or 56 depending on when the alert arrives; the s_client checks below pin
        # the refusal to the handshake
        check("mTLS REST: no client certificate is refused at the handshake", rc != 0 and "200" not in out,
              (rc, out, err))
        rc, out, err = curl(d, base, "--cert", f"{d}/rogue.pem", "--key", f"{d}/rogue.key")
        check("mTLS REST: a certificate from another CA is refused", rc != 0 and "200" not in out,
              (rc, out, err))
        rc, out, err = curl(d, base, "--cert", f"{d}/client.pem", "--key", f"{d}/client.key")
        check("mTLS REST: the right client certificate works", rc == 0 and out.endswith("\n200"), (rc, out, err))
        r = run("curl", "-sS", "--max-time", "10", "--cacert", f"{d}/ca.pem", "--cert", f"{d}/client.pem", "--key",
                f"{d}/client.key", "-w", "%{http_code}", base, "--next", "--cacert", f"{d}/ca.pem", "-w",
                "%{http_code}", base)
        check("mTLS REST: after a client with a certificate, one without is still refused",
              r.returncode != 0 and r.stdout.count("200") == 1, (r.returncode, r.stdout, r.stderr))
        ok, det = grpc_ready(d, s.grpc_port)
        check("mTLS gRPC: no client certificate is refused", not ok and "UNAVAILABLE" in det, det)
        ok, det = grpc_ready(d, s.grpc_port, "rogue")
        check("mTLS gRPC: a certificate from another CA is refused", not ok and "UNAVAILABLE" in det, det)
        ok, det = grpc_ready(d, s.grpc_port, "client")
        check("mTLS gRPC: the right client certificate works", ok, det)
        # In TLS 1.2 the server's Finished comes last: without it the handshake failed (rather than a
        # completed handshake followed by a closed connection).
        for port, what in ((s.http, "REST"), (s.grpc_port, "gRPC")):
            rc, out = s_client(port, "-tls1_2", "-msg", "-CAfile", f"{d}/ca.pem")
            check(f"mTLS {what}: handshake without a client certificate not completed by the server",
                  "CertificateRequest" in out and not server_finished(out), out[-800:])
            rc, out = s_client(port, "-tls1_2", "-msg", "-CAfile", f"{d}/ca.pem", "-cert", f"{d}/client.pem",
                               "-key", f"{d}/client.key")
            check(f"mTLS {what}: handshake with the client certificate completed", server_finished(out), out[-800:])
    finally:
        s.stop()


def test_mtls_rules(d):
    """--policy-config mTLS rules: the certificate verified at the handshake says which models a client
    may use and whether it may manage the repository, on the REST port as on the gRPC one."""
    policy = os.path.join(d, "mtls-policy.yaml")
    with open(policy, "w") as f:
        f.write('auth:\n  mtls:\n    - {subject: "CN=client", models: ["linear"]}\n'
                '    - {san: "URI:spiffe://acme/ns/prod/sa/ops", admin: true}\n')
    s = Server(d, "--tls-client-ca", f"{d}/ca.pem", "--policy-config", policy, "--model-control-mode", "explicit",
               "--load-model", "linear", "--load-model", "iris_mlp")
    try:
        base = f"https://127.0.0.1:{s.http}"
        client = ("--cert", f"{d}/client.pem", "--key", f"{d}/client.key")
        ops = ("--cert", f"{d}/ops.pem", "--key", f"{d}/ops.key")
        load = base + "/v2/repository/models/linear/load"
        rc, out, err = curl(d, base + "/v2/models/linear/ready", *client)
        check("mTLS rules REST: the subject rule lets CN=client use its model", out.endswith("\n200"), (rc, out, err))
        rc, out, err = curl(d, base + "/v2/models/iris_mlp/ready", *client)
        check("mTLS rules REST: CN=client may not use another model (403)",
              out.endswith("\n403") and "error" in out, (rc, out, err))
        rc, out, err = curl(d, load, "-X", "POST", *client)
        check("mTLS rules REST: CN=client may not load models (403)", out.endswith("\n403"), (rc, out, err))
        rc, out, err = curl(d, load, "-X", "POST", *ops)
        check("mTLS rules REST: the SAN rule's admin certificate loads a model", out.endswith("\n200"), (rc, out, err))
        with grpc.secure_channel(f"127.0.0.1:{s.grpc_port}", grpc_creds(d, "client")) as ch:
            stub = pbg.GRPCInferenceServiceStub(ch)
            ok = stub.ModelReady(pb.ModelReadyRequest(name="linear"), timeout=5).ready
            check("mTLS rules gRPC: CN=client uses its model", ok)
            code, _ = grpc_code_of(lambda: stub.ModelReady(pb.ModelReadyRequest(name="iris_mlp"), timeout=5))
            check("mTLS rules gRPC: CN=client may not use another model", code == grpc.StatusCode.PERMISSION_DENIED,
                  code)
    finally:
        s.stop()


def http_get(sock, path):
    """One keep-alive request on an open TLS socket; returns the status code."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    n = int([ln.split(b":")[1] for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")][0])
    while len(body) < n:
        body += sock.recv(4096)
    return int(head.split()[1])


def test_reload(d):
    import shutil
    import signal
    import ssl
    live = os.path.join(d, "live")
    os.makedirs(live)
    for ext in ("pem", "key"):
        shutil.copy(f"{d}/server.{ext}", f"{live}/server.{ext}")
    s = Server(d, cert=live)
    try:
        ctx = ssl.create_default_context(cafile=f"{d}/ca.pem")
        old = ctx.wrap_socket(socket.create_connection(("127.0.0.1", s.http)), server_hostname="localhost")
        check("reload: REST request before", http_get(old, "/v2/health/live") == 200)
        with open(f"{d}/ca.pem", "rb") as f:
            ch = grpc.secure_channel(f"127.0.0.1:{s.grpc_port}", grpc.ssl_channel_credentials(root_certificates=f.read()))
        stub = pbg.GRPCInferenceServiceStub(ch)
        check("reload: gRPC call before", stub.ServerReady(pb.ServerReadyRequest(), timeout=5).ready)
        for ext in ("pem", "key"):
            shutil.copy(f"{d}/server2.{ext}", f"{live}/server.{ext}.tmp")
            os.replace(f"{live}/server.{ext}.tmp", f"{live}/server.{ext}")
        s.p.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        r = run("curl", "-v", "-sS", "--cacert", f"{d}/ca.pem", f"https://127.0.0.1:{s.http}/v2/health/live")
        check("reload: a new REST connection gets the new certificate", r.returncode == 0 and "CN=server2" in r.stderr,
              r.stderr[-800:])
        rc, out = s_client(s.grpc_port, "-CAfile", f"{d}/ca.pem")
        check("reload: a new gRPC connection gets the new certificate", "CN = server2" in out, out[-800:])
        check("reload: the open REST connection still works", http_get(old, "/v2/health/ready") == 200)
        check("reload: the open REST connection keeps its certificate",
              dict(x[0] for x in old.getpeercert()["subject"]).get("commonName") == "server", old.getpeercert())
        check("reload: the open gRPC channel still works", stub.ServerReady(pb.ServerReadyRequest(), timeout=5).ready)
        with open(f"{live}/server.pem", "w") as f:
            f.write("garbage\n")
        s.p.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        check("reload: bad files on SIGHUP keep the server running", s.p.poll() is None)
        r = run("curl", "-v", "-sS", "--cacert", f"{d}/ca.pem", f"https://127.0.0.1:{s.http}/v2/health/live")
        check("reload: bad files on SIGHUP keep the last good certificate",
              r.returncode == 0 and "CN=server2" in r.stderr, r.stderr[-800:])
        rc, out = s_client(s.grpc_port, "-CAfile", f"{d}/ca.pem")
        check("reload: gRPC keeps the last good certificate", "CN = server2" in out, out[-800:])
        old.close()
        ch.close()
    finally:
        s.stop()
    out = s.out or ""
    check("reload: logged", "TLS certificate and key reloaded" in out and "not reloaded" in out, out[-800:])


def test_bad_files(d):
    with open(f"{d}/garbage.pem", "w") as f:
        f.write("not a certificate\n")
    cases = [
        ("missing cert", ["--tls-cert", f"{d}/nope.pem", "--tls-key", f"{d}/server.key"], "nope.pem"),
        ("garbage cert", ["--tls-cert", f"{d}/garbage.pem", "--tls-key", f"{d}/server.key"], "--tls-cert"),
        ("key of another certificate", ["--tls-cert", f"{d}/server.pem", "--tls-key", f"{d}/client.key"],
         "--tls-key"),
        ("garbage client CA", ["--tls-cert", f"{d}/server.pem", "--tls-key", f"{d}/server.key", "--tls-client-ca",
                               f"{d}/garbage.pem"], "--tls-client-ca"),
        ("cert without key", ["--tls-cert", f"{d}/server.pem"], "--tls-key"),
    ]
    for name, args, word in cases:
        r = subprocess.run([BIN, "serve", "--model-repository", MODELS, "--http-port", "0", "--grpc-port", "0",
                            "--metrics-port", "0", *args], capture_output=True, text=True, timeout=60)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        check(f"bad files: {name}: non-zero exit with a one-line reason",
              r.returncode != 0 and len(lines) == 1 and word in lines[0], (r.returncode, r.stderr))


with tempfile.TemporaryDirectory() as tmp:
    compile_grpc_stubs(tmp)
    import grpc
    import grpc_service_pb2 as pb
    import grpc_service_pb2_grpc as pbg

    pki = os.path.join(tmp, "pki")
    os.makedirs(pki)
    make_pki(pki)
    test_bad_files(pki)
    test_tls(pki)
    test_mtls(pki)
    test_mtls_rules(pki)
    test_reload(pki)

check.done()
