/* libFuzzer target for the shadow comparer: the input is split into two responses at a position taken
 * from its first byte, each with a JSON length taken from the second and third. Any crash, sanitizer
 * report or leak is a bug; parse errors and differences are expected. */
#include <stddef.h>
#include <stdint.h>

#include "gateway/shadow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    size_t cut = data[0], ja = data[1], jb = data[2];
    data += 3;
    size -= 3;
    cut = size ? cut * size / 255 : 0;
    const char *a = (const char *)data, *b = (const char *)data + cut;
    size_t al = cut, bl = size - cut;
    /* 255 means "no binary part"; otherwise the JSON ends ja/255 of the way in. */
    size_t aj = ja == 255 ? al : ja * al / 255, bj = jb == 255 ? bl : jb * bl / 255;
    ig_shadow_compare(a, al, aj, b, bl, bj, 1e-5, 1e-4);
    ig_shadow_compare(a, al, al, a, al, al, 0, 0);
    return 0;
}
