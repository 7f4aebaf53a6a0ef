#!/bin/sh
# REST binary vs gRPC unary vs gRPC ModelStreamInfer against one `infergate serve` (both ports), with
# `infergate bench` as the client: each round runs every mode at every concurrency once, in turn
# (interleaved), and prints one line per run. Usage: bench/grpc_vs_rest.sh [ROUNDS] [DURATION_S]
set -eu
ROUNDS=${1:-3}
DUR=${2:-5}
BIN=${BIN:-build/infergate}
REPO=${REPO:-examples/models}
PORT=${PORT:-18600}
LEVELS=${LEVELS:-16,64}
"$BIN" serve --model-repository "$REPO" --http-port "$PORT" --grpc-port $((PORT + 1)) \
    --metrics-port $((PORT + 2)) >/dev/null 2>&1 &
SRV=$!
trap 'kill $SRV 2>/dev/null || true' EXIT
sleep 2
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
    for mode in rest grpc stream; do
        case $mode in
        rest) args="--url http://127.0.0.1:$PORT --binary" ;;
        grpc) args="--protocol grpc --url 127.0.0.1:$((PORT + 1))" ;;
        stream) args="--protocol grpc --streaming --url 127.0.0.1:$((PORT + 1))" ;;
        esac
        # shellcheck disable=SC2086
        "$BIN" bench $args --model linear --concurrency "$LEVELS" --duration "$DUR" --warmup 1 \
            --json-report 2>/dev/null |
            python3 -c 'import json,sys; r=json.load(sys.stdin)
for l in r["levels"]: print(sys.argv[1], sys.argv[2], l["concurrency"], round(l["throughput_infer_per_s"]), l["p50_us"], l["p99_us"], l["errors"])' "$r" "$mode"
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
