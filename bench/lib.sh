# Shared by the wrk comparisons against nginx (source it after setting ROOT, BIN, DUR): temporary
# folder and clean-up, free ports, servers and nginx started in the background, readiness, and the
# measured wrk runs as RESULT lines (bench/wrk_results.py reads them).

TMP=$(mktemp -d)
mkdir -p "$TMP"/{logs,tmp}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -s "$TMP/nginx.pid" ] && kill -QUIT "$(cat "$TMP/nginx.pid")" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# free_ports N: N free loopback ports on one line.
free_ports() {
  /usr/bin/python3 -c 'import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*[x.getsockname()[1] for x in s])' "$1"
}

# start_serve PORT [ARGS...]: `infergate serve` on the example models, REST only, in the background.
start_serve() {
  local port=$1
  shift
  "$BIN" serve --model-repository "$ROOT/examples/models" --http-port "$port" --metrics-port 0 --grpc-port -1 \
    "$@" >"$TMP/serve-$port.log" 2>&1 &
  pids+=($!)
}

# start_nginx "UPSTREAM SERVERS" "SERVER DIRECTIVES": nginx as a reverse proxy with 2 workers, keep-alive
# to clients and (64 connections) to the upstream, HTTP/1.1 (../shared/bench/http_ceiling.sh).
start_nginx() {
  cat >"$TMP/nginx.conf" <<NGINX
worker_processes 2;
pid $TMP/nginx.pid;
error_log $TMP/logs/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
  access_log off;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  client_body_buffer_size 64k;
  client_body_temp_path $TMP/tmp;
  proxy_temp_path $TMP/tmp;
  upstream backend { $1 keepalive 64; }
  server {
    $2
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering on;
    }
  }
}
NGINX
  nginx -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/logs/error.log"
}

# wait_ready URL...: each must answer /v2/health/ready within 10 s, else the script stops.
wait_ready() {
  local url
  for url; do
    for _ in $(seq 100); do curl -skf "$url/v2/health/ready" >/dev/null && break; sleep 0.1; done
    curl -skf "$url/v2/health/ready" >/dev/null || { echo "$url not ready" >&2; exit 1; }
  done
}

# wrk_run NAME URL ROUND [wrk load args]: one measured run of the binary-tensor POST as a line
# "RESULT NAME round=R rps=X p50=Y p99=Z [error counts]".
wrk_run() {
  local out name=$1 url=$2 round=$3
  shift 3
  out=$(INFER_INPUT=features INFER_SHAPE=1,4 wrk "$@" -d"${DUR}s" --latency -s "$ROOT/bench/infer_binary.lua" \
    "$url/v2/models/linear/infer")
  echo "RESULT $name round=$round rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out") p50=$(awk '$1=="50%" {print $2}' <<<"$out") p99=$(awk '$1=="99%" {print $2}' <<<"$out") $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' ' || true)"
}

# wrk_rotate ROUNDS "NAME..." "URL...": every round runs each target loaded (-t2 -c64, as NAME) and
# unloaded (-t1 -c1, as NAME1), in an order that rotates every round.
wrk_rotate() {
  local rounds=$1 r k i n
  local -a names urls
  read -r -a names <<<"$2"
  read -r -a urls <<<"$3"
  n=${#names[@]}
  for r in $(seq "$rounds"); do
    for k in $(seq 0 $((n - 1))); do
      i=$(( (k + r) % n ))
      wrk_run "${names[$i]}" "${urls[$i]}" "$r" -t2 -c64
      wrk_run "${names[$i]}1" "${urls[$i]}" "$r" -t1 -c1
    done
  done
}
