/* libFuzzer target for the gRPC request decoding path: arbitrary bytes as a ModelInferRequest
 * (protobuf-c unpack into an arena, then raw/typed tensor decoding). A successful decode is encoded
 * back as a response and packed, exercising the encoder on what the decoder made. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "protocol/oip_pb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ig_arena *a = ig_arena_create(0);
    if (!a) return 0;
    ig_infer_request req;
    ig_error err = {0};
    if (ig_oip_pb_decode_infer(data, size, a, &req, &err) == 0) {
        ig_infer_response resp = {.n_outputs = req.n_inputs, .outputs = req.inputs};
        Inference__ModelInferResponse m;
        ig_error e2 = {0};
        if (ig_oip_pb_encode_infer(&req, &resp, "1", a, &m, &e2) == 0) {
            size_t n = protobuf_c_message_get_packed_size(&m.base);
            uint8_t *p = malloc(n ? n : 1);
            if (p) protobuf_c_message_pack(&m.base, p);
            free(p);
        }
    }
    ig_arena_free(a);
    return 0;
}
