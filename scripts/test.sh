#!/usr/bin/env bash
# Builds infergate and runs every test: unit tests, the ONNX backend conformance suite (regression
# gate), the CLI tests, then the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer,
# and a short run of each fuzz target.   scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

cmake -S . -B build-asan -DIG_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -L unit -j"$jobs")

if [ -x scripts/fuzz.sh ]; then
  scripts/fuzz.sh 20
fi
echo "all tests passed"
