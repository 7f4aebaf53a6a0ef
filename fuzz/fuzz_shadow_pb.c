/* libFuzzer target for the gRPC shadow comparer: the input is split into two serialized
 * ModelInferResponse messages at a position taken from its first byte (upstream answers are untrusted
 * bytes). Any crash, sanitizer report or leak is a bug; parse errors and differences are expected. */
#include <stddef.h>
#include <stdint.h>

#include "gateway/shadow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t cut = data[0];
    data++;
    size--;
    cut = size ? cut * size / 255 : 0;
    ig_shadow_compare_pb(data, cut, data + cut, size - cut, 1e-5, 1e-4);
    /* a message against itself: every parsable one agrees (NaNs included) */
    ig_shadow_compare_pb(data, size, data, size, 0, 0);
    return 0;
}
