#!/usr/bin/env bash
# Builds infergate and runs the bundled example models: inspect each, then run it on a sample input
# and print what it predicts.   scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target infergate
bin=build/infergate
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

show() { /usr/bin/python3 -c 'import sys, numpy as np; np.set_printoptions(precision=4, suppress=True); print(np.load(sys.argv[1]))' "$1"; }

echo "== iris_mlp: class probabilities for two flowers"
$bin inspect examples/models/iris_mlp/1/model.onnx
$bin run examples/models/iris_mlp/1/model.onnx --input features=examples/inputs/iris.npy --output-dir "$out"
show "$out/probabilities.npy"

echo "== linear: one value per row"
$bin run examples/models/linear/1/model.onnx --input features=examples/inputs/iris.npy --output-dir "$out"
show "$out/value.npy"

echo "== tiny_cnn: logits for an 8x8 image"
$bin run examples/models/tiny_cnn/1/model.onnx --input image=examples/inputs/digit.npy --output-dir "$out"
show "$out/logits.npy"
$bin perf examples/models/tiny_cnn/1/model.onnx --batch 8 --iterations 200

echo "== serve: the same models over the Open Inference Protocol (REST)"
free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port) mport=$(free_port) gport=$(free_port)
$bin serve --model-repository examples/models --http-port "$port" --metrics-port "$mport" --grpc-port "$gport" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; rm -rf "$out"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null && break; sleep 0.1; done
curl -s -X POST "http://127.0.0.1:$port/v2/models/iris_mlp/infer" \
  -d '{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}'
echo
kill -TERM "$pid"
wait "$pid"
