-- wrk script: POST one fixed Open Inference Protocol JSON request ("data" array), keep-alive.
--   INFER_INPUT=features INFER_SHAPE=1,4 wrk -t2 -c64 -d10s --latency -s bench/infer_json.lua URL
-- Elements are 0.25, 0.5, 0.75, 1.0 repeated (same shape as infer_binary.lua's request).
local input = os.getenv("INFER_INPUT") or "features"
local shape = os.getenv("INFER_SHAPE") or "1,4"
local n = 1
for d in string.gmatch(shape, "%d+") do n = n * tonumber(d) end
local vals = {}
for i = 1, n do vals[i] = string.format("%.2f", ((i - 1) % 4 + 1) / 4) end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"inputs":[{"name":"' .. input .. '","shape":[' .. shape .. '],"datatype":"FP32","data":[' ..
  table.concat(vals, ",") .. ']}]}'
