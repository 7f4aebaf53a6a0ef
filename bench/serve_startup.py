"""Exec-to-ready time and idle RSS of a server, over several starts.

    python3 bench/serve_startup.py --runs 5 --port 18530 -- build/infergate serve --model-repository R ...

Each run: fork+exec the command, then poll GET /v2/health/ready on 127.0.0.1:PORT in a tight loop
(a fresh connection per try, no sleep) until it answers 200; the time from just before exec to that
200 is the startup time. Then, after --settle seconds idle, VmRSS from /proc/PID/status. The server
gets SIGTERM and is waited for. Prints one "RUN i ready_ms=.. rss_kb=.." line per run and a MEDIAN line."""
import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

REQ = b"GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def ready(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(REQ)
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--settle", type=float, default=0.5)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if ready(a.port):
        sys.exit("port %d already answers; pick another" % a.port)
    times, rss = [], []
    for i in range(a.runs):
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not ready(a.port):
                if p.poll() is not None:
                    sys.exit("server exited with %d before ready" % p.returncode)
                if time.perf_counter() - t0 > a.timeout:
                    sys.exit("not ready after %.0f s" % a.timeout)
            ms = (time.perf_counter() - t0) * 1000
            time.sleep(a.settle)
            kb = rss_kb(p.pid)
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=60)
        times.append(ms)
        rss.append(kb)
        print("RUN %d ready_ms=%.1f rss_kb=%d" % (i + 1, ms, kb), flush=True)
    print("MEDIAN ready_ms=%.1f rss_kb=%d (runs=%d, ready_ms %s)" % (
        statistics.median(times), statistics.median(rss), len(times), "/".join("%.1f" % t for t in times)))


if __name__ == "__main__":
    main()
