/* libFuzzer target for Prometheus label escaping: any bytes (model names come from directory names)
 * must come out as a valid, fully escaped label value within the output buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "obs/metrics.h"

static int valid_label_value(const unsigned char *s)
{
    while (*s) {
        if (*s == '\n' || *s == '"') return 0; /* must have been escaped */
        if (*s == '\\') {
            if (s[1] != '\\' && s[1] != '"' && s[1] != 'n') return 0;
            s += 2;
            continue;
        }
        size_t n = *s < 0x80             ? 1
                   : (*s & 0xE0) == 0xC0 ? 2
                   : (*s & 0xF0) == 0xE0 ? 3
                   : (*s & 0xF8) == 0xF0 ? 4
                                         : 0;
        if (!n) return 0;
        for (size_t i = 1; i < n; i++)
            if ((s[i] & 0xC0) != 0x80) return 0;
        s += n;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t cap = data[0] + 1; /* output buffers from 1 to 256 bytes exercise truncation */
    char *in = malloc(size);
    memcpy(in, data + 1, size - 1);
    in[size - 1] = 0;
    char *out = malloc(cap);
    ig_prom_escape(in, out, cap);
    if (strlen(out) >= cap || !valid_label_value((const unsigned char *)out)) abort();
    free(in);
    free(out);
    return 0;
}
