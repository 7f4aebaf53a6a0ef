# Shared by the wrk-based comparisons (source it): one measured run as a RESULT line.
#   wrk_run NAME URL ROUND [wrk load args]   (needs ROOT, DUR, INFER_INPUT/INFER_SHAPE for the Lua)
# Prints "RESULT NAME round=R rps=X p50=Y p99=Z [error counts]"; bench/wrk_results.py reads them.
wrk_run() {
  local out name=$1 url=$2 round=$3
  shift 3
  out=$(wrk "$@" -d"${DUR}s" --latency -s "$ROOT/bench/infer_binary.lua" "$url/v2/models/linear/infer")
  echo "RESULT $name round=$round rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out") p50=$(awk '$1=="50%" {print $2}' <<<"$out") p99=$(awk '$1=="99%" {print $2}' <<<"$out") $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' ' || true)"
}
