-- wrk script: POST one fixed Open Inference Protocol request with the binary tensor extension
-- (JSON header + raw little-endian FP32 bytes, Inference-Header-Content-Length), keep-alive.
--   INFER_INPUT=features INFER_SHAPE=1,4 INFER_OUTPUT=value \
--   wrk -t2 -c64 -d10s --latency -s bench/infer_binary.lua http://127.0.0.1:PORT/v2/models/linear/infer
-- Every element is 1.0f (bytes 00 00 80 3f). INFER_OUTPUT (optional) asks for a binary output.
local input = os.getenv("INFER_INPUT") or "features"
local shape = os.getenv("INFER_SHAPE") or "1,4"
local output = os.getenv("INFER_OUTPUT")
local n = 1
for d in string.gmatch(shape, "%d+") do n = n * tonumber(d) end
local header = '{"inputs":[{"name":"' .. input .. '","shape":[' .. shape ..
  '],"datatype":"FP32","parameters":{"binary_data_size":' .. (n * 4) .. '}}]'
if output then
  header = header .. ',"outputs":[{"name":"' .. output .. '","parameters":{"binary_data":true}}]'
end
header = header .. '}'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = tostring(#header)
wrk.body = header .. string.rep("\0\0\128\63", n)
