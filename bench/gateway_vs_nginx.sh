#!/bin/bash
# The gateway against nginx as a reverse proxy, side by side in one run, in front of the same two
# `infergate serve` replicas (linear model, binary tensor POST), loopback only.
#
#   bench/gateway_vs_nginx.sh [rounds] [seconds]        (defaults: 5 rounds, 10 s)
#
# Each round runs wrk against: the first replica directly (the no-proxy baseline), nginx
# (worker_processes 2, upstream keepalive 64, HTTP/1.1, as ../shared/bench/http_ceiling.sh) and
# infergate gateway (workers 2, p2c), in an order that rotates every round, twice: loaded
# (-t2 -c64: requests/s) and unloaded (-t1 -c1: the latency a proxy adds when nothing queues).
# Added latency is p50(through proxy) - p50(direct) of the same round and load. Prints one RESULT
# line per run and medians.
# Needs: build/infergate, wrk, nginx (scripts/install-deps.sh --bench).
set -euo pipefail
ROUNDS=${1:-5}
DUR=${2:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/build/infergate}
. "$ROOT/bench/lib.sh"
read -r B1 B2 NG GW ADM <<<"$(free_ports 5)"
start_serve "$B1"
start_serve "$B2"
start_nginx "server 127.0.0.1:$B1; server 127.0.0.1:$B2;" "listen 127.0.0.1:$NG reuseport backlog=4096;"
cat >"$TMP/gateway.yaml" <<YAML
listen: 127.0.0.1:$GW
admin_listen: 127.0.0.1:$ADM
workers: 2
pools:
  - name: replicas
    endpoints: ["127.0.0.1:$B1", "127.0.0.1:$B2"]
routes:
  - name: all
    pool: replicas
YAML
"$BIN" gateway --config "$TMP/gateway.yaml" >"$TMP/gateway.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$B1" "http://127.0.0.1:$B2" "http://127.0.0.1:$NG" "http://127.0.0.1:$GW"
wrk_rotate "$ROUNDS" "direct nginx gateway" \
  "http://127.0.0.1:$B1 http://127.0.0.1:$NG http://127.0.0.1:$GW" | tee "$TMP/results.txt"

PYTHONPATH="$ROOT/bench" /usr/bin/python3 - "$TMP/results.txt" <<'PY'
import sys
from wrk_results import load_rounds, med, print_medians
rounds = load_rounds(sys.argv[1])
rps_ratio = [r["gateway"][0] / r["nginx"][0] for r in rounds.values()]
add_g = [r["gateway"][1] - r["direct"][1] for r in rounds.values()]
add_n = [r["nginx"][1] - r["direct"][1] for r in rounds.values()]
print_medians(rounds, ("direct", "nginx", "gateway"))
print("gateway/nginx rps: median %.2fx (rounds %s)" % (med(rps_ratio), " ".join("%.2f" % x for x in rps_ratio)))
print("added p50 ms at 64 connections: gateway %.3f, nginx %.3f (medians over rounds)" % (med(add_g), med(add_n)))
print_medians(rounds, ("direct1", "nginx1", "gateway1"))
a1g = [r["gateway1"][1] - r["direct1"][1] for r in rounds.values()]
a1n = [r["nginx1"][1] - r["direct1"][1] for r in rounds.values()]
print("added p50 ms at 1 connection: gateway %.3f, nginx %.3f (medians; rounds gateway %s, nginx %s)" % (
    med(a1g), med(a1n), " ".join("%.3f" % x for x in a1g), " ".join("%.3f" % x for x in a1n)))
PY
