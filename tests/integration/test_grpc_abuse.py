#!/usr/bin/python3
"""HTTP/2 abuse of the gRPC port (reliability anchor H8) with raw frames written by hand (struct, HPACK
from python3-hpack): stream 1 over SETTINGS_MAX_CONCURRENT_STREAMS, rapid reset (HEADERS + RST_STREAM
thousands of times), PING flood, SETTINGS flood, empty DATA frames. After each attack a grpcio client
still gets ModelInfer answered and the server's RSS grew less than 10 MiB (rapid reset: what every call
of the burst alive at once would take; gRPC core 1.51 does not bound it better). What 1.51 bounds and what it does not is written in docs/serving.md
(gRPC limits); the checks assert what holds.
  test_grpc_abuse.py PATH/TO/infergate"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
from hpack import Encoder, NeverIndexedHeaderTuple

BIN = os.path.abspath(sys.argv[1])
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import MODELS, Checker, Server, compile_grpc_stubs, free_port  # noqa: E402

check = Checker()
_stubs = tempfile.mkdtemp()
compile_grpc_stubs(_stubs)
import grpc  # noqa: E402
import grpc_service_pb2 as pb  # noqa: E402
import grpc_service_pb2_grpc as pbg  # noqa: E402

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
REFUSED_STREAM, ENHANCE_YOUR_CALM, CANCEL = 7, 11, 8
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
RSS_LIMIT_KIB = 10 * 1024
# AddressSanitizer keeps freed memory in quarantine and shadows every byte, so RSS says nothing about
# the server's own bounds in that build: the behaviour is still checked, the memory bounds are not.
SANITIZED = "libasan" in subprocess.run(["ldd", sys.argv[1]], capture_output=True, text=True).stdout


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def grpc_headers(path="/inference.GRPCInferenceService/ModelInfer"):
    # Indexed from the static table or literals never indexed: the block does not touch the dynamic
    # table, so one encoding serves every stream.
    hs = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1"),
          ("content-type", "application/grpc"), ("te", "trailers")]
    return Encoder().encode([NeverIndexedHeaderTuple(k, v) for k, v in hs], huffman=True)


def infer_message():
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    req = pb.ModelInferRequest(model_name="linear")
    t = req.inputs.add(name="features", datatype="FP32", shape=[1, 4])
    req.raw_input_contents.append(x.tobytes())
    del t
    body = req.SerializeToString()
    return b"\x00" + struct.pack(">I", len(body)) + body


class Conn:
    """One raw HTTP/2 connection; a thread reads and parses the server's frames."""

    def __init__(self, port, settings=b""):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lock = threading.Lock()
        self.wlock = threading.Lock()
        self.frames = []  # (type, flags, sid, payload)
        self.goaway = None  # (last_stream_id, error_code, debug)
        self.error = None  # why reading ended, when not EOF
        self.closed = False
        self.paused = False  # True: stop reading, as a flooder that never reads its ACKs
        self.server_settings = {}
        self.settings_seen = threading.Event()
        self.send(PREFACE + frame(SETTINGS, 0, 0, settings))  # before the reader can write an ACK
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def send(self, data):
        try:
            with self.wlock:  # the reader thread writes ACKs: frames must not interleave
                self.s.sendall(data)
            return True
        except OSError:
            self.closed = True
            return False

    def send_raw(self, data):
        """sendall that lets socket.timeout through (a flood measuring when the server stops reading)."""
        with self.wlock:
            self.s.sendall(data)

    def _read(self):
        buf = b""
        try:
            while True:
                if self.paused:
                    time.sleep(0.05)
                    continue
                chunk = self.s.recv(1 << 16)
                if not chunk:
                    break
                buf += chunk
                while len(buf) >= 9:
                    n = int.from_bytes(buf[:3], "big")
                    if len(buf) < 9 + n:
                        break
                    ft, fl, sid, pl = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + n]
                    buf = buf[9 + n:]
                    self._on_frame(ft, fl, sid, pl)
        except OSError as e:
            self.error = e
        self.closed = True

    def _on_frame(self, ft, fl, sid, pl):
        with self.lock:
            self.frames.append((ft, fl, sid, pl if ft != DATA else b""))
        if ft == SETTINGS and not fl & ACK:
            for i in range(0, len(pl) - 5, 6):
                k, v = struct.unpack(">HI", pl[i:i + 6])
                self.server_settings[k] = v
            self.send(frame(SETTINGS, ACK, 0))
            self.settings_seen.set()
        elif ft == GOAWAY:
            last, code = struct.unpack(">II", pl[:8])
            self.goaway = (last & 0x7FFFFFFF, code, pl[8:])

    def count(self, ftype, flags_mask=0, sid=None, rst_code=None):
        with self.lock:
            return sum(1 for f in self.frames
                       if f[0] == ftype and (f[1] & flags_mask) == flags_mask and (sid is None or f[2] == sid)
                       and (rst_code is None or struct.unpack(">I", f[3][:4])[0] == rst_code))

    def wait(self, cond, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            if cond():
                return True
            time.sleep(0.01)
        return cond()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def still_serves(srv, what, limit_kib=RSS_LIMIT_KIB):
    """A fresh grpcio client gets ModelInfer answered, and RSS grew less than limit_kib since srv.rss0
    (taken before the attack). Returns the growth."""
    with grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}") as ch:
        stub = pbg.GRPCInferenceServiceStub(ch)
        req = pb.ModelInferRequest(model_name="linear")
        req.inputs.add(name="features", datatype="FP32", shape=[1, 4])
        req.raw_input_contents.append(np.ones((1, 4), np.float32).tobytes())
        try:
            r = stub.ModelInfer(req, timeout=20)
            check(f"{what}: ModelInfer still answered", len(r.raw_output_contents) == 1, r)
        except grpc.RpcError as e:
            check(f"{what}: ModelInfer still answered", False, f"{e.code()} {e.details()}")
    time.sleep(0.3)
    grew = srv.rss_kib() - srv.rss0
    print(f"{what}: RSS {srv.rss_kib()} KiB, grew {grew} KiB")
    if not SANITIZED:
        check(f"{what}: RSS grew < {limit_kib // 1024} MiB", grew < limit_kib, f"{grew} KiB")
    return grew


def warm(srv):
    """A few hundred calls first, so that gRPC core's and the allocator's steady state is the baseline."""
    with grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}") as ch:
        stub = pbg.GRPCInferenceServiceStub(ch)
        req = pb.ModelInferRequest(model_name="linear")
        req.inputs.add(name="features", datatype="FP32", shape=[1, 4])
        req.raw_input_contents.append(np.ones((1, 4), np.float32).tobytes())
        futs = [stub.ModelInfer.future(req, timeout=20) for _ in range(300)]
        for f in futs:
            f.result()
    srv.rss0 = srv.rss_kib()


def test_max_streams(srv):
    """Streams beyond SETTINGS_MAX_CONCURRENT_STREAMS are refused; the ones within it are served."""
    c = Conn(srv.grpc_port)
    check("server sends SETTINGS", c.settings_seen.wait(10))
    limit = c.server_settings.get(3)
    check("SETTINGS_MAX_CONCURRENT_STREAMS advertised", limit is not None and limit <= 1024, c.server_settings)
    if not limit:
        return c.close()
    time.sleep(0.2)  # our SETTINGS ACK is read before the streams: the limit counts from then on
    hb = grpc_headers()
    out = b"".join(frame(HEADERS, END_HEADERS, 1 + 2 * i, hb) for i in range(limit + 1))
    c.send(out)
    over = 1 + 2 * limit
    # RFC 9113 wants REFUSED_STREAM for that one stream; gRPC core 1.51 instead fails every stream of
    # the connection (UNAVAILABLE "Failed parsing HTTP/2") and closes it. Either way the stream over
    # the limit is never served, and no more than the limit ever run on one connection.
    refused = c.wait(lambda: c.count(RST_STREAM, sid=over, rst_code=REFUSED_STREAM) > 0 or c.closed, timeout=10)
    check(f"stream {limit + 1} (id {over}) over the limit: REFUSED_STREAM or the connection closed", refused,
          c.frames[-5:])
    check(f"stream {limit + 1} over the limit is not answered", c.count(HEADERS, END_STREAM, sid=over) == 0 or
          b"grpc-status\x0214" in b"".join(f[3] for f in c.frames if f[0] == HEADERS and f[2] == over))
    c.close()
    # Exactly the limit: all streams live, one finished is answered.
    c = Conn(srv.grpc_port)
    c.settings_seen.wait(10)
    time.sleep(0.2)
    c.send(b"".join(frame(HEADERS, END_HEADERS, 1 + 2 * i, hb) for i in range(limit)))
    c.send(frame(DATA, END_STREAM, 1, infer_message()))
    answered = c.wait(lambda: c.count(HEADERS, END_STREAM, sid=1) > 0, timeout=10)
    check(f"with {limit} streams open, one finished is answered", answered and not c.closed, c.frames[-5:])
    c.close()
    still_serves(srv, "max streams")


def rapid_reset_burst(srv, n):
    c = Conn(srv.grpc_port)
    c.settings_seen.wait(10)
    hb = grpc_headers()
    rst = struct.pack(">I", CANCEL)
    t0 = time.time()
    sent = 0
    batch = 200
    sid = 1
    while sent < n and not c.closed and c.goaway is None:
        out = []
        for _ in range(batch):
            out.append(frame(HEADERS, END_HEADERS, sid, hb))
            out.append(frame(RST_STREAM, 0, sid, rst))
            sid += 2
        if not c.send(b"".join(out)):
            break
        sent += batch
    dt = time.time() - t0
    print(f"rapid reset: {sent} HEADERS+RST_STREAM in {dt:.2f} s ({sent / max(dt, 1e-6):.0f}/s); "
          f"GOAWAY {c.goaway}, closed {c.closed}")
    # gRPC core 1.51 has no rapid-reset limit (no GOAWAY for it): what holds is that the connection
    # keeps working (a PING is answered after the burst), memory stays bounded and others are served.
    if c.goaway is None and not c.closed:
        c.send(frame(PING, 0, 0, b"rr-check"))
        check("rapid reset: the connection still answers PING after the burst",
              c.wait(lambda: c.count(PING, ACK) > 0 or c.closed, timeout=60), c.frames[-3:])
    c.close()


# What one call costs gRPC core 1.51 (its arena and stream state) when a HEADERS frame is read before
# its RST_STREAM; measured 2.4-14.4 KiB per HEADERS of a burst (RSS growth / burst size).
RAPID_RESET_KIB_PER_CALL = 20


def test_rapid_reset(srv, n=10000):
    """HEADERS then RST_STREAM(CANCEL), n times as fast as the socket takes them, twice. gRPC core 1.51
    has no rapid-reset limit: no GOAWAY, and it makes a call for each HEADERS of a socket read before
    it reaches the RST_STREAM, so the memory a burst takes grows with how many HEADERS one read holds:
    from 24 MiB to 144 MiB for 10,000 here, depending on how fast the client writes (docs/serving.md).
    The 10 MiB anchor does not hold; what is asserted is what holds: the flooded connection still
    answers, others are served, and a burst never costs more than every one of its calls alive at once
    (RAPID_RESET_KIB_PER_CALL each)."""
    for burst in (1, 2):
        srv.rss0 = srv.rss_kib()
        rapid_reset_burst(srv, n)
        still_serves(srv, f"rapid reset, burst {burst}", n * RAPID_RESET_KIB_PER_CALL)


def test_ping_flood(srv, n=5000):
    """PINGs without any call: ENHANCE_YOUR_CALM GOAWAY ('too_many_pings') after a few strikes."""
    c = Conn(srv.grpc_port)
    c.settings_seen.wait(10)
    sent = 0
    while sent < n and c.goaway is None and not c.closed:
        if not c.send(b"".join(frame(PING, 0, 0, struct.pack(">Q", sent + i)) for i in range(10))):
            break
        sent += 10
        time.sleep(0.001)
    c.wait(lambda: c.goaway is not None or c.closed, timeout=10)
    acks = c.count(PING, ACK)
    print(f"ping flood: sent {sent}, {acks} PING ACKs, GOAWAY {c.goaway}, closed {c.closed}")
    check("ping flood: GOAWAY ENHANCE_YOUR_CALM", c.goaway is not None and c.goaway[1] == ENHANCE_YOUR_CALM,
          c.goaway)
    check("ping flood: cut off within 100 PINGs answered", acks <= 100, acks)
    c.close()
    still_serves(srv, "ping flood")


def test_settings_flood(srv, n=4000000):
    """SETTINGS frames without reading the ACKs: gRPC core stops reading once too many ACKs are unwritten
    (its pending induced frames limit), so the backlog and the memory stay bounded; the flooder's own
    socket fills up. The connection is not closed for it in 1.51. Loopback socket buffers (both ends)
    hold up to about 1.5 million of these frames and their ACKs, hence 4 million (60 MB)."""
    c = Conn(srv.grpc_port)
    c.settings_seen.wait(10)
    c.paused = True
    one = frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 65535))
    c.s.settimeout(2)
    sent = 0
    t0 = time.time()
    while sent < n and time.time() - t0 < 30:
        try:
            c.send_raw(one * 1000)
        except (socket.timeout, OSError):
            break  # the server stopped reading: the bound
        sent += 1000
    print(f"settings flood: {sent} SETTINGS sent in {time.time() - t0:.1f} s before the server stopped "
          f"reading or the flood ended; GOAWAY {c.goaway}, closed {c.closed}")
    check("settings flood: the server stops reading (or closes) before 4,000,000 unanswered SETTINGS",
          sent < n or c.goaway is not None or c.closed, sent)
    still_serves(srv, "settings flood (connection held open)")
    c.paused = False
    c.close()
    still_serves(srv, "settings flood")


def test_empty_data(srv, n=20000):
    """Empty DATA frames on an open call (CVE-2019-9518 pattern)."""
    c = Conn(srv.grpc_port)
    c.settings_seen.wait(10)
    c.send(frame(HEADERS, END_HEADERS, 1, grpc_headers()))
    sent = 0
    while sent < n and not c.closed and c.goaway is None:
        if not c.send(frame(DATA, 0, 1) * 500):
            break
        sent += 500
    c.wait(lambda: c.closed or c.goaway is not None, timeout=1)
    print(f"empty DATA: {sent} sent; GOAWAY {c.goaway}, closed {c.closed}")
    c.close()
    still_serves(srv, "empty DATA frames")


class GrpcServer(Server):
    def __init__(self):
        self.grpc_port = free_port()
        super().__init__(BIN, MODELS, "--grpc-port", self.grpc_port, "--http-address", "127.0.0.1")


def main():
    with GrpcServer() as srv:
        warm(srv)
        print(f"baseline RSS {srv.rss0} KiB")
        for t in (test_max_streams, test_ping_flood, test_settings_flood, test_empty_data, test_rapid_reset):
            srv.rss0 = srv.rss_kib()
            try:
                t(srv)
            except Exception as e:  # noqa: BLE001 - one attack's failure must not hide the others
                check(t.__name__, False, repr(e))
        check("server still running", srv.proc.poll() is None, srv.output())
    check.done()


if __name__ == "__main__":
    main()
