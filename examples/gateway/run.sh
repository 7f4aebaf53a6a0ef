#!/bin/bash
# Starts two `infergate serve` replicas of examples/models and the gateway in front of them, sends a
# prediction through the gateway, prints the gateway's metrics for the route, then stops everything.
#   examples/gateway/run.sh            (after cmake --build build; needs curl)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:-$HERE/../../build/infergate}
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for port in 8100 8101; do
  "$BIN" serve --model-repository "$HERE/../models" --http-port "$port" --metrics-port 0 --grpc-port -1 &
  pids+=($!)
done
"$BIN" gateway --config "$HERE/gateway.yaml" &
pids+=($!)
for _ in $(seq 100); do curl -sf http://127.0.0.1:9901/ready >/dev/null && break; sleep 0.1; done
for _ in $(seq 100); do curl -sf http://127.0.0.1:8080/v2/health/ready >/dev/null && break; sleep 0.1; done
echo "== prediction through the gateway"
curl -sf -X POST http://127.0.0.1:8080/v2/models/linear/infer \
  -H 'Content-Type: application/json' -H 'X-Request-Id: example-1' \
  -d '{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}'
echo
echo "== gateway metrics for the route"
curl -sf http://127.0.0.1:9901/metrics | grep 'route="linear"' | grep -v bucket
