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
TMP=$(mktemp -d)
read -r PLAIN TLS NG <<<"$(/usr/bin/python3 -c 'import socket
s=[socket.socket() for _ in range(3)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -s "$TMP/nginx.pid" ] && kill -QUIT "$(cat "$TMP/nginx.pid")" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# One P-256 certificate for both servers, so the handshakes and ciphers are the same.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TMP/key.pem" \
  -out "$TMP/cert.pem" -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 -days 2 2>/dev/null
serve() { exec "$BIN" serve --model-repository "$ROOT/examples/models" --metrics-port 0 --grpc-port -1 "$@"; }
serve --http-port "$PLAIN" >"$TMP/plain.log" 2>&1 &
pids+=($!)
serve --http-port "$TLS" --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" >"$TMP/tls.log" 2>&1 &
pids+=($!)
mkdir -p "$TMP"/{logs,tmp}
cat >"$TMP/nginx.conf" <<NGINX
worker_processes 2;
pid $TMP/nginx.pid;
error_log $TMP/logs/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
  access_log off;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  client_body_buffer_size 64k;
  client_body_temp_path $TMP/tmp;
  proxy_temp_path $TMP/tmp;
  upstream backend { server 127.0.0.1:$PLAIN; keepalive 64; }
  server {
    listen 127.0.0.1:$NG ssl reuseport backlog=4096;
    ssl_certificate $TMP/cert.pem;
    ssl_certificate_key $TMP/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGINX
nginx -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/logs/error.log"
. "$ROOT/bench/wrk_lib.sh"
wait_ready "http://127.0.0.1:$PLAIN" "https://127.0.0.1:$TLS" "https://127.0.0.1:$NG"
export INFER_INPUT=features INFER_SHAPE=1,4
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
