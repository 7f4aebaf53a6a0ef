/* libFuzzer target for the OIP request decoder. The first two bytes choose the JSON length split
 * (0xFFFF = no Inference-Header-Content-Length: the whole rest is JSON); the rest is the body. A
 * successful decode is re-encoded as a response to exercise the encoder on what the decoder made. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/oip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t split = (size_t)data[0] | (size_t)data[1] << 8;
    const uint8_t *body = data + 2;
    size_t len = size - 2;
    size_t json_len = split == 0xFFFF ? SIZE_MAX : split;
    ig_arena *a = ig_arena_create(0);
    if (!a) return 0;
    ig_infer_request req;
    ig_error err = {0};
    if (json_len == 0) {
        ig_oip_raw_input in = {.name = "x", .dtype = IG_DT_FLOAT, .ndim = 2, .dims = {1, -1}};
        (void)ig_oip_decode_raw(body, len, &in, "m", "", a, &req, &err);
    } else if (ig_oip_decode_infer(body, len, json_len, "m", "1", a, &req, &err) == 0) {
        ig_infer_response resp = {.n_outputs = req.n_inputs, .outputs = req.inputs};
        ig_oip_body b;
        ig_error e2 = {0};
        if (ig_oip_encode_infer(&req, &resp, "1", &b, &e2) == 0) ig_oip_body_free(&b);
    }
    ig_arena_free(a);
    return 0;
}
