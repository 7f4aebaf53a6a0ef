/* libFuzzer target for the ONNX reader: every input is imported both as a ModelProto and as a
 * standalone TensorProto. Any crash, sanitizer report or leak is a bug; errors are expected. */
#include <stddef.h>
#include <stdint.h>

#include "engine/onnx/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ig_onnx_model *m = NULL;
    ig_error err = {0};
    if (ig_onnx_load_buffer(data, size, NULL, &m, &err) == 0) ig_onnx_free(m);

    ig_arena *a = ig_arena_create(0);
    if (a) {
        ig_tensor t;
        const char *name;
        ig_error terr = {0};
        (void)ig_onnx_parse_tensor(data, size, a, &t, &name, &terr);
        ig_arena_free(a);
    }
    return 0;
}
