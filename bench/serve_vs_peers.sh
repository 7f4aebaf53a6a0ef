#!/bin/bash
# Serving goals of `infergate serve` against its peers, side by side, interleaved rounds, medians.
#
#   bench/serve_vs_peers.sh [--rounds 3] [--duration 10] [--io-threads 2] [--only http,resnet,json,footprint]
#
# Sections (docs/benchmarks.md "## Serving" explains the goals):
#   http      examples/models/linear (4 features), binary tensors, keep-alive, 64 connections, wrk -t2 -c64
#             with bench/infer_binary.lua against infergate (dynamic batching, max_batch_size 4: the
#             auto-completed default; and max_batch_size 1 = no batching) and against nginx `return 200`
#             of a same-size reply; node + onnxruntime-node (2 processes) with bench/infer_json.lua (it
#             speaks JSON only); plus `infergate bench --concurrency 64` against infergate.
#   resnet    `infergate perf resnet18 --batch 8/16 --threads 2` vs `infergate bench --concurrency 16`
#             against dynamic batching (max_queue_delay 2 ms): max_batch_size 16 with instance_group
#             count 1 (--threads 2) and count 2 (--threads 1); max_batch_size 8, count 1 (--threads 2).
#   json      build/bench/ig_json_bench, and `infergate bench --json` posting a 1x3x224x224 FP32 JSON
#             request to a GlobalAveragePool model (bench/make_pool_model.py), 2 connections.
#   footprint idle VmRSS with an empty repository; exec -> /v2/health/ready with ResNet-18 (5 starts).
# Needs: build/ (RelWithDebInfo), bench/models/resnet18.onnx (bench/make_models.py), nginx, wrk, node,
# onnxruntime-node (ORT_NODE_MODULES, default bench/ort-node/node_modules as bench/engine_vs_ort.sh installs it),
# the peer scripts of ../shared/bench (SHARED), /usr/bin/python3
# with torch (pool model). Servers are private, on 127.0.0.1 ports from $PORT (default 18500), and are
# stopped by pid on exit. Output: RESULT lines per run, MEDIAN lines at the end.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
IG=${IG:-$ROOT/build/infergate}
SHARED=${SHARED:-$ROOT/../shared/bench}
ORT_NODE_MODULES=${ORT_NODE_MODULES:-$ROOT/bench/ort-node/node_modules}
RESNET=${RESNET:-$ROOT/bench/models/resnet18.onnx}
ROUNDS=3 DUR=10 IOT=2 ONLY=http,resnet,json,footprint
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DUR=$2; shift 2 ;;
    --io-threads) IOT=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--duration S] [--io-threads N] [--only http,resnet,json,footprint]" >&2; exit 2 ;;
  esac
done
PORT=${PORT:-18500}
TMP=$(mktemp -d /tmp/serve_vs_peers.XXXXXX)
OUTF=$TMP/results.txt
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -s "$TMP/nginx/nginx.pid" ]; then kill -QUIT "$(cat "$TMP/nginx/nginx.pid")" 2>/dev/null || true; fi
}
trap cleanup EXIT
want() { [[ ",$ONLY," == *",$1,"* ]]; }
log() { echo "$*" | tee -a "$OUTF"; }
wait_ready() { # URL
  local i
  for i in $(seq 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done
  echo "not ready: $1" >&2; exit 1
}
serve() { # NAME REPO HTTP_PORT [args]: starts infergate serve in the background
  local name=$1 repo=$2 port=$3; shift 3
  "$IG" serve --model-repository "$repo" --http-port "$port" --metrics-port $((port + 1)) "$@" \
    >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
  wait_ready "http://127.0.0.1:$port/v2/health/ready"
}
wrk_run() { # NAME ROUND URL LUA [env...]
  local name=$1 r=$2 url=$3 lua=$4; shift 4
  local out
  out=$(env "$@" wrk -t2 -c64 -d"${DUR}s" --latency -s "$lua" "$url")
  log "RESULT $name round=$r rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")" \
    "p50=$(awk '$1=="50%" {print $2}' <<<"$out") p99=$(awk '$1=="99%" {print $2}' <<<"$out")" \
    "$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' \n' ' ' || true)"
}
igb_run() { # NAME ROUND PORT MODEL [bench args...]; rps = infer/s
  local name=$1 r=$2 port=$3 model=$4; shift 4
  local js
  js=$("$IG" bench --url "http://127.0.0.1:$port" --model "$model" --duration "$DUR" --json-report "$@" \
    2>"$TMP/bench.err" || true)
  python3 - "$name" "$r" "$js" <<'PY' | tee -a "$OUTF"
import json, sys
name, r, js = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    l = json.loads(js)["levels"][0]
    print("RESULT %s round=%s rps=%.1f p50=%.3fms p99=%.3fms errors=%d" % (
        name, r, l["throughput_infer_per_s"], l["p50_us"] / 1e3, l["p99_us"] / 1e3, l["errors"]))
except Exception as e:
    print("RESULT %s round=%s rps=0 p50=0ms p99=0ms failed=%r" % (name, r, str(e)[:80]))
PY
}
perf_run() { # NAME ROUND BATCH
  local js
  js=$("$IG" perf "$RESNET" --batch "$3" --threads 2 --warmup 3 --duration "$DUR" --json)
  python3 -c 'import json,sys; j=json.loads(sys.argv[3]); print("RESULT %s round=%s rps=%.2f p50=%.3fms p99=%.3fms" % (sys.argv[1], sys.argv[2], j["samples_per_s"], j["p50_ms"], j["p99_ms"]))' \
    "$1" "$2" "$js" | tee -a "$OUTF"
}

log "# $(date -u +%FT%TZ) rounds=$ROUNDS duration=${DUR}s io_threads=$IOT nproc=$(nproc)"
log "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"

LINEAR_IO='input [{ name: "features" data_type: TYPE_FP32 dims: [4] }]
output [{ name: "value" data_type: TYPE_FP32 dims: [1] }]'
if want http; then
  R=$TMP/repo_linear
  mkdir -p "$R/linear" "$R/linear_nobatch"
  ln -s "$ROOT/examples/models/linear/1" "$R/linear/1"
  ln -s "$ROOT/examples/models/linear/1" "$R/linear_nobatch/1"
  printf 'max_batch_size: 4\n%s\ndynamic_batching { }\n' "$LINEAR_IO" >"$R/linear/config.pbtxt"
  printf 'max_batch_size: 1\n%s\n' "$LINEAR_IO" >"$R/linear_nobatch/config.pbtxt"
  P_IG=$PORT P_NGX=$((PORT + 2)) P_NODE=$((PORT + 3))
  serve linear "$R" "$P_IG" --http-thread-count "$IOT"
  # nginx answers the infer route with the body infergate sends for the same binary request
  REPLY=$(INFER_OUTPUT=value wrk -t1 -c1 -d1s -s "$HERE/infer_binary.lua" "http://127.0.0.1:$P_IG/v2/models/linear/infer" >/dev/null;
          H='{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}'
          printf '%s\0\0\200\77\0\0\200\77\0\0\200\77\0\0\200\77' "$H" | curl -s --data-binary @- \
            -H "Inference-Header-Content-Length: ${#H}" "http://127.0.0.1:$P_IG/v2/models/linear/infer")
  N=$TMP/nginx
  mkdir -p "$N"/{logs,tmp}
  cat >"$N/nginx.conf" <<NGX
worker_processes 2;
pid $N/nginx.pid;
error_log $N/logs/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
  access_log off; tcp_nodelay on; keepalive_timeout 65; keepalive_requests 1000000;
  client_body_buffer_size 64k; client_body_temp_path $N/tmp;
  server {
    listen 127.0.0.1:$P_NGX reuseport backlog=4096;
    location / { default_type application/json; return 200 '$REPLY'; }
  }
}
NGX
  nginx -p "$N" -c "$N/nginx.conf" -e "$N/logs/error.log"
  wait_ready "http://127.0.0.1:$P_NGX/"
  ORT_NODE_MODULES=$ORT_NODE_MODULES MODEL=$ROOT/examples/models/linear/1/model.onnx NAME=linear \
    PORT=$P_NODE WORKERS=2 ORT_THREADS=1 node "$SHARED/node_ort_server.js" >"$TMP/node.log" 2>&1 &
  PIDS+=($!)
  wait_ready "http://127.0.0.1:$P_NODE/v2/health/ready"
  B="$HERE/infer_binary.lua" J="$HERE/infer_json.lua"
  for r in $(seq "$ROUNDS"); do
    wrk_run http_nginx "$r" "http://127.0.0.1:$P_NGX/v2/models/linear/infer" "$B"
    wrk_run http_ig_dynbatch "$r" "http://127.0.0.1:$P_IG/v2/models/linear/infer" "$B" INFER_OUTPUT=value
    wrk_run http_ig_nobatch "$r" "http://127.0.0.1:$P_IG/v2/models/linear_nobatch/infer" "$B" INFER_OUTPUT=value
    igb_run http_ig_dynbatch_igbench "$r" "$P_IG" linear --concurrency 64
    wrk_run http_node_json "$r" "http://127.0.0.1:$P_NODE/v2/models/linear/infer" "$J"
    wrk_run http_ig_dynbatch_json "$r" "http://127.0.0.1:$P_IG/v2/models/linear/infer" "$J"
  done
  curl -s "http://127.0.0.1:$P_IG/v2/models/linear/stats" >"$TMP/linear_stats.json"
  log "# linear stats: $TMP/linear_stats.json"
  cleanup; PIDS=()
  rm -f "$N/nginx.pid"
fi

if want resnet; then
  # variant: instance count, max_batch_size (16 clients: mb8 gives two full batches of 8 in turn)
  for v in i1_mb16:1:16 i2_mb16:2:16 i1_mb8:1:8; do
    IFS=: read -r name n mb <<<"$v"
    R=$TMP/repo_resnet_$name
    mkdir -p "$R/resnet18/1"
    ln -s "$RESNET" "$R/resnet18/1/model.onnx"
    printf 'max_batch_size: %d\ndynamic_batching { max_queue_delay_microseconds: 2000 }\ninstance_group [{ count: %d kind: KIND_CPU }]\n' \
      "$mb" "$n" >"$R/resnet18/config.pbtxt"
  done
  for r in $(seq "$ROUNDS"); do
    perf_run resnet_perf_b8 "$r" 8
    perf_run resnet_perf_b16 "$r" 16
    for v in i1_mb16:1 i2_mb16:2 i1_mb8:1; do
      IFS=: read -r name n <<<"$v"
      serve resnet_$name "$TMP/repo_resnet_$name" "$PORT" --threads $((2 / n))
      igb_run resnet_serve_${name}_c16 "$r" "$PORT" resnet18 --concurrency 16
      curl -s "http://127.0.0.1:$PORT/v2/models/resnet18/stats" >"$TMP/resnet_${name}_stats_r$r.json"
      cleanup; PIDS=()
    done
  done
fi

if want json; then
  for r in $(seq "$ROUNDS"); do
    build_json=$("$ROOT/build/bench/ig_json_bench" 20)
    log "RESULT json_decode_9g round=$r mbps=$(awk '/^%.9g/ {for(i=1;i<=NF;i++) if($i=="MB/s,") print $(i-1)}' <<<"$build_json")"
    log "RESULT json_decode_17g round=$r mbps=$(awk '/^%.17g/ {for(i=1;i<=NF;i++) if($i=="MB/s,") print $(i-1)}' <<<"$build_json")"
  done
  R=$TMP/repo_pool
  mkdir -p "$R/pool/1"
  /usr/bin/python3 "$HERE/make_pool_model.py" "$R/pool/1/model.onnx" >/dev/null 2>&1
  printf 'max_batch_size: 0\n' >"$R/pool/config.pbtxt"
  serve pool "$R" "$PORT" --http-thread-count "$IOT"
  for r in $(seq "$ROUNDS"); do
    igb_run json_e2e_pool "$r" "$PORT" pool --json --concurrency 2
    bytes=$(grep -o '[0-9]* bytes each' "$TMP/bench.err" | cut -d' ' -f1)
    log "RESULT json_e2e_body round=$r bytes=$bytes"
  done
  curl -s "http://127.0.0.1:$PORT/v2/models/pool/stats" >"$TMP/pool_stats.json"
  cleanup; PIDS=()
fi

if want footprint; then
  E=$TMP/repo_empty R=$TMP/repo_resnet_plain
  mkdir -p "$E" "$R/resnet18/1"
  ln -s "$RESNET" "$R/resnet18/1/model.onnx"
  python3 "$HERE/serve_startup.py" --runs 5 --port "$PORT" -- \
    "$IG" serve --model-repository "$E" --http-port "$PORT" --metrics-port $((PORT + 1)) | sed 's/^/footprint_empty /' | tee -a "$OUTF"
  python3 "$HERE/serve_startup.py" --runs 5 --port "$PORT" -- \
    "$IG" serve --model-repository "$R" --http-port "$PORT" --metrics-port $((PORT + 1)) | sed 's/^/footprint_resnet18 /' | tee -a "$OUTF"
fi

log "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$OUTF" <<'PY'
import re, statistics, sys
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)$", v)
    x = float(m.group(1)); return x / 1000 if m.group(2) == "us" else x * 1000 if m.group(2) == "s" else x
rows = {}
for line in open(sys.argv[1]):
    if not line.startswith("RESULT "): continue
    f = line.split()
    kv = dict(x.split("=", 1) for x in f[2:] if "=" in x)
    rows.setdefault(f[1], []).append(kv)
for k, v in rows.items():
    key = "rps" if "rps" in v[0] else "mbps" if "mbps" in v[0] else "bytes"
    vals = [float(x[key]) for x in v]
    extra = ""
    if "p99" in v[0]:
        extra = " p50_ms=%.3f p99_ms=%.3f" % (statistics.median(ms(x["p50"]) for x in v),
                                             statistics.median(ms(x["p99"]) for x in v))
    print("MEDIAN %-26s %s=%.1f%s (%s)" % (k, key, statistics.median(vals), extra, "/".join("%.0f" % x for x in vals)))
PY
echo "raw results: $OUTF"
