# Shared by the wrk-based comparisons (source it): one measured run as a RESULT line.
#   wrk_run NAME URL ROUND [wrk load args]   (needs ROOT, DUR, INFER_INPUT/INFER_SHAPE for the Lua)
# Prints "RESULT NAME round=R rps=X p50=Y p99=Z [error counts]"; bench/wrk_results.py reads them.
wrk_run() {
  local out name=$1 url=$2 round=$3
  shift 3
  out=$(wrk "$@" -d"${DUR}s" --latency -s "$ROOT/bench/infer_binary.lua" "$url/v2/models/linear/infer")
  echo "RESULT $name round=$round rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out") p50=$(awk '$1=="50%" {print $2}' <<<"$out") p99=$(awk '$1=="99%" {print $2}' <<<"$out") $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' ' || true)"
}

# wait_ready URL...: each must answer /v2/health/ready within 10 s, else the script stops.
wait_ready() {
  local url
  for url; do
    for _ in $(seq 100); do curl -skf "$url/v2/health/ready" >/dev/null && break; sleep 0.1; done
    curl -skf "$url/v2/health/ready" >/dev/null || { echo "$url not ready" >&2; exit 1; }
  done
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
