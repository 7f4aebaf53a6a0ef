#!/bin/sh
# REST binary vs gRPC unary vs gRPC ModelStreamInfer against one `infergate serve` (both ports), with
# `infergate bench` as the client: each round runs every mode at every concurrency once, in turn
# (interleaved), and prints one line per run. Usage: bench/grpc_vs_rest.sh [ROUNDS] [DURATION_S]
# PIN=1 runs the server on core 0 and the load tool on core 1 (taskset), so the client's CPU cost
# per call (a gRPC core client spends about twice what the REST client does) is not taken from the
# server: the numbers are then the server's capacity per core, as perf_analyzer on another host sees.
set -eu
ROUNDS=${1:-3}
DUR=${2:-5}
BIN=${BIN:-build/infergate}
REPO=${REPO:-examples/models}
PORT=${PORT:-18600}
LEVELS=${LEVELS:-16,64}
SRV_PIN=""
CLI_PIN=""
if [ "${PIN:-0}" = 1 ]; then
    SRV_PIN="taskset -c 0"
    CLI_PIN="taskset -c 1"
fi
# shellcheck disable=SC2086
$SRV_PIN "$BIN" serve --model-repository "$REPO" --http-port "$PORT" --grpc-port $((PORT + 1)) \
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
        $CLI_PIN "$BIN" bench $args --model linear --concurrency "$LEVELS" --duration "$DUR" --warmup 1 \
            --json-report 2>/dev/null |
            python3 -c 'import json,sys; r=json.load(sys.stdin)
for l in r["levels"]: print(sys.argv[1], sys.argv[2], l["concurrency"], round(l["throughput_infer_per_s"]), l["p50_us"], l["p99_us"], l["errors"])' "$r" "$mode"
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
