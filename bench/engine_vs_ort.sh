#!/usr/bin/env bash
# The engine against ONNX Runtime 1.30 (npm onnxruntime-node, CPU provider): same models, batches
# and thread count, measured back to back in interleaved rounds (this machine is noisy, so only
# ratios within one run mean anything). Also checks that outputs agree within 1e-4 of the output's
# largest magnitude. Prints a markdown table for docs/benchmarks.md.
#   bench/engine_vs_ort.sh [--rounds 3] [--threads 2] [--only mlp]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3 threads=2 only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "usage: bench/engine_vs_ort.sh [--rounds N] [--threads N] [--only MODEL]" >&2; exit 2 ;;
  esac
done
peer=${IG_PEER_BENCH:-../shared/bench/ort_bench.js}
[ -f "$peer" ] || { echo "engine_vs_ort: peer benchmark $peer not found (set IG_PEER_BENCH)" >&2; exit 1; }

scripts/install-deps.sh --bench
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target infergate >/dev/null
export ORT_NODE_MODULES=$PWD/bench/ort-node/node_modules
if [ ! -d "$ORT_NODE_MODULES/onnxruntime-node" ]; then
  mkdir -p bench/ort-node
  (cd bench/ort-node && echo '{"name":"ort-node","private":true}' > package.json && ONNXRUNTIME_NODE_INSTALL=skip npm install --silent onnxruntime-node@1.30.0)
fi
[ -f bench/models/transformer.onnx ] || /usr/bin/python3 bench/make_models.py

rows=("mlp 1 32" "resnet18 1 8" "mobilenet_v2 1 8" "transformer 1 8")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
json() { /usr/bin/python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print($1)"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "| model | batch | ONNX Runtime samples/s | infergate samples/s | ratio | ORT p50 ms | infergate p50 ms | max rel. diff | goal (>= 1.0x, diff <= 1e-4) |"
echo "|---|---|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do
  read -r name batches <<< "$(echo "$row" | awk '{print $1, $2" "$3}')"
  [ -n "$only" ] && [ "$only" != "$name" ] && continue
  model=bench/models/$name.onnx
  for batch in $batches; do
    binds=$(/usr/bin/python3 bench/make_inputs.py "$model" "$batch" "$tmp/in")
    args=(); for b in $binds; do args+=(--input "$b"); done
    node bench/ort_run.js "$model" "$tmp/ort" $binds
    build/infergate run "$model" "${args[@]}" --threads "$threads" --output-dir "$tmp/ig" >/dev/null
    diff=$(/usr/bin/python3 bench/compare.py "$tmp/ort" "$tmp/ig" | awk -F'= ' '{print $2}' | sort -g | tail -1)
    rm -rf "$tmp/ort" "$tmp/ig" "$tmp/in"
    ort_sps=() ig_sps=() ort_p50=() ig_p50=()
    for ((r = 0; r < rounds; r++)); do
      o=$(node "$peer" --model "$model" --batches "$batch" --threads "$threads" --json)
      ort_sps+=("$(echo "$o" | json 'd["batches"][0]["samples_per_s"]')")
      ort_p50+=("$(echo "$o" | json 'd["batches"][0]["median_ms"]')")
      i=$(build/infergate perf "$model" --batch "$batch" --threads "$threads" --json)
      ig_sps+=("$(echo "$i" | json 'd["samples_per_s"]')")
      ig_p50+=("$(echo "$i" | json 'd["p50_ms"]')")
    done
    o=$(median "${ort_sps[@]}"); i=$(median "${ig_sps[@]}")
    ratio=$(awk -v a="$i" -v b="$o" 'BEGIN {printf "%.2f", a / b}')
    ok=$(awk -v r="$ratio" -v d="$diff" 'BEGIN {print (r >= 1.0 && d <= 1e-4) ? "met" : "MISSED"}')
    printf '| %s | %s | %.1f | %.1f | %sx | %.3f | %.3f | %s | %s |\n' "$name" "$batch" "$o" "$i" "$ratio" \
      "$(median "${ort_p50[@]}")" "$(median "${ig_p50[@]}")" "$diff" "$ok"
  done
done
