/* Protobuf wire peeking (see pb_peek.h). */
#include "protocol/pb_peek.h"

#include <string.h>

/* A varint of at most 10 bytes; false past the end. */
static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end) return false;
        uint8_t byte = *(*p)++;
        *v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) return true;
    }
    return false;
}

bool ig_pb_peek_strings(const uint8_t *buf, size_t len, uint32_t field_a, char *a, size_t a_cap, uint32_t field_b,
                        char *b, size_t b_cap)
{
    if (a_cap) a[0] = '\0';
    if (b_cap) b[0] = '\0';
    const uint8_t *p = buf, *end = buf + len;
    while (p < end) {
        uint64_t key, n;
        if (!varint(&p, end, &key) || key >> 3 == 0) return false;
        switch (key & 7) {
        case 0:
            if (!varint(&p, end, &n)) return false;
            break;
        case 1:
            if (end - p < 8) return false;
            p += 8;
            break;
        case 5:
            if (end - p < 4) return false;
            p += 4;
            break;
        case 2: {
            if (!varint(&p, end, &n) || n > (uint64_t)(end - p)) return false;
            uint64_t field = key >> 3;
            char *dst = field_a && field == field_a ? a : field_b && field == field_b ? b : NULL;
            size_t cap = dst == a ? a_cap : b_cap;
            if (dst) {
                if (n >= cap || memchr(p, 0, (size_t)n)) return false;
                memcpy(dst, p, (size_t)n);
                dst[n] = '\0';
            }
            p += n;
            break;
        }
        default:
            return false;
        }
    }
    return true;
}
