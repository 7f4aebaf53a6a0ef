#!/usr/bin/env bash
# Installs the Debian 12 packages infergate's build, tests and benchmarks need; does nothing when
# all are present. Run as root.   scripts/install-deps.sh [--bench]
#   --bench  also nodejs/npm (ONNX Runtime for the comparison benchmark), wrk and nginx
# python3-torch and python3-torchvision (large) are needed by the models.torch_exports test and the
# benchmark's model generator. prometheus provides promtool, which the metrics tests parse the exposition with.
set -euo pipefail

pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev libdnnl-dev libonnx-testdata libcjson-dev
      libxxhash-dev libmicrohttpd-dev openssl libgrpc-dev protobuf-c-compiler libprotobuf-c-dev curl python3 python3-numpy python3-onnx python3-torch python3-torchvision
      python3-grpcio python3-grpc-tools python3-h2 prometheus
      # TLS and signatures (both ports), HTTP/1.1 parsing, YAML config, JWT, limits shared through Redis
      libhttp-parser-dev libssl-dev libyaml-dev libjwt-dev libhiredis-dev redis-server)
bench=0
if [ "${1:-}" = "--bench" ]; then
  bench=1
  pkgs+=(wrk nginx) # HTTP load generator and the nginx ceiling (bench/, docs/design/http-server.md)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node may come from elsewhere than Debian's package; a working node and npm is enough.
if [ $bench = 1 ] && ! { command -v node && command -v npm; } >/dev/null; then
  missing+=(nodejs npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
