#!/bin/sh
# Builds every libFuzzer target (clang, ASan+UBSan) and runs each for SECONDS (default 60) on a seed
# corpus of small models from Debian's libonnx-testdata, when installed.
# Usage: scripts/fuzz.sh [SECONDS] [BUILD_DIR]
set -eu
secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$root/build-fuzz}
cmake -S "$root" -B "$build" -DIG_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
make -C "$build" -j"$(nproc)" $(cd "$root/fuzz" && ls fuzz_*.c | sed 's/\.c$//')
testdata=/usr/share/libonnx-testdata/data
status=0
for src in "$root"/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    corpus=$build/corpus/$name
    mkdir -p "$corpus"
    if [ "$name" = fuzz_oip_decode ]; then
        # Seeds: 2 bytes little-endian JSON length (0xFFFF = the whole body is JSON), then the body.
        printf '\377\377{"id":"a","inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2.5],[3e-2,-4]]},{"name":"s","shape":[1],"datatype":"BYTES","data":["h\\u00e9"]}],"outputs":[{"name":"o","parameters":{"binary_data":true}}],"parameters":{"binary_data_output":true}}' >"$corpus/seed_json"
        printf '\133\000{"inputs":[{"name":"b","shape":[3],"datatype":"BOOL","parameters":{"binary_data_size":3}}]}\001\000\001' >"$corpus/seed_bin"
    elif [ "$name" = fuzz_http1 ]; then
        # Seeds: flag byte (bit 0 = request, bit 1 = response to HEAD), piece size, then the message.
        printf '\001\020POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' >"$corpus/seed_req"
        printf '\000\007HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhelloHTTP/1.1 204 No Content\r\n\r\n' >"$corpus/seed_resp"
    elif [ "$name" = fuzz_gateway_config ]; then
        cp "$root/examples/gateway/gateway.yaml" "$corpus/seed_example.yaml"
        printf 'pools:\n  - name: a\n    endpoints: ["127.0.0.1:1"]\n  - name: b\n    endpoints: [{address: "127.0.0.1:2", weight: 2}]\n    lb: maglev\nroutes:\n  - name: r\n    split: [{pool: a, weight: 90}, {pool: b, weight: 10}]\n    canary: {baseline: a, canary: b, steps: [5, 50]}\n    shadow: {pool: b, percent: 10}\nrate_limits:\n  rules: [{name: k, per: key, rate: 10/s}]\nauth:\n  api_keys: [{name: t, hash: "sha256$00112233445566778899aabbccddeeff$0000000000000000000000000000000000000000000000000000000000000000"}]\n' >"$corpus/seed_full.yaml"
    elif [ "$name" = fuzz_npy ]; then
        cp "$root"/examples/inputs/*.npy "$corpus/"
    elif [ -d "$testdata" ]; then
        # A handful of small models and tensors, copied rather than committed.
        for d in node/test_abs node/test_if node/test_loop11 node/test_scan9_sum node/test_constant \
                 node/test_conv_with_strides_padding pytorch-converted/test_Conv2d; do
            [ -f "$testdata/$d/model.onnx" ] && cp "$testdata/$d/model.onnx" "$corpus/$(echo "$d" | tr / _).onnx"
            [ -f "$testdata/$d/test_data_set_0/input_0.pb" ] &&
                cp "$testdata/$d/test_data_set_0/input_0.pb" "$corpus/$(echo "$d" | tr / _)_input_0.pb"
        done
    fi
    echo "== $name for ${secs}s"
    "$build/fuzz/$name" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 "$corpus" || status=1
done
exit $status
