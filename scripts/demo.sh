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
