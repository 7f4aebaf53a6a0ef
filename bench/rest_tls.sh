#!/bin/bash
# REST over TLS: `infergate serve --tls-cert` (its OpenSSL front) against the usual alternative, nginx
# terminating TLS in front of a plain `infergate serve`, side by side in one run; plain HTTP to the
# plain server is the no-TLS baseline. Linear model, binary tensor POST, keep-alive, loopback only.
#
#   bench/rest_tls.sh [rounds] [seconds]        (defaults: 5 rounds, 10 s)
#
# Each round runs wrk loaded (-t2 -c64: requests/s) and unloaded (-t1 -c1: p50 latency) against the
# three, in an order that rotates every round. Prints one RESULT line per run, medians and the
# serve-TLS / nginx-TLS ratios per round.
# Needs: build/infergate, wrk, nginx, openssl (scripts/install-deps.sh --bench).
set -euo pipefail
ROUNDS=${1:-5}
DUR=${2:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/build/infergate}
. "$ROOT/bench/lib.sh"
read -r PLAIN TLS NG <<<"$(free_ports 3)"
# One P-256 certificate for both servers, so the handshakes and ciphers are the same.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TMP/key.pem" \
  -out "$TMP/cert.pem" -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 -days 2 2>/dev/null
start_serve "$PLAIN"
start_serve "$TLS" --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
start_nginx "server 127.0.0.1:$PLAIN;" "listen 127.0.0.1:$NG ssl reuseport backlog=4096;
    ssl_certificate $TMP/cert.pem;
    ssl_certificate_key $TMP/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;"
wait_ready "http://127.0.0.1:$PLAIN" "https://127.0.0.1:$TLS" "https://127.0.0.1:$NG"
wrk_rotate "$ROUNDS" "plain serve_tls nginx_tls" \
  "http://127.0.0.1:$PLAIN https://127.0.0.1:$TLS https://127.0.0.1:$NG" | tee "$TMP/results.txt"

PYTHONPATH="$ROOT/bench" /usr/bin/python3 - "$TMP/results.txt" <<'PY'
import sys
from wrk_results import load_rounds, med, print_medians
rounds = load_rounds(sys.argv[1])
print_medians(rounds, ("plain", "serve_tls", "nginx_tls", "plain1", "serve_tls1", "nginx_tls1"), 10)
ratio = [r["serve_tls"][0] / r["nginx_tls"][0] for r in rounds.values()]
print("serve TLS / nginx TLS rps at 64 connections: median %.2fx (rounds %s)" % (med(ratio), " ".join("%.2f" % x for x in ratio)))
lat = [r["serve_tls1"][1] / r["nginx_tls1"][1] for r in rounds.values()]
print("serve TLS / nginx TLS p50 at 1 connection: median %.2fx (rounds %s)" % (med(lat), " ".join("%.2f" % x for x in lat)))
PY
