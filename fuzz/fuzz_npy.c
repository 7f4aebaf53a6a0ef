/* libFuzzer target for the .npy reader (CLI and batch inputs). Any crash, sanitizer report or leak
 * is a bug; errors are expected. */
#include <stddef.h>
#include <stdint.h>

#include "engine/io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ig_arena *a = ig_arena_create(0);
    if (!a) return 0;
    ig_tensor t;
    ig_error err = {0};
    (void)ig_npy_parse(data, size, a, &t, &err);
    ig_arena_free(a);
    return 0;
}
