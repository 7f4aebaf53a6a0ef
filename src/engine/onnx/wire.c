/* Protobuf wire-format decoding: varints, fixed-width scalars, length-delimited sub-views and packed
 * repeated scalars. All arithmetic on offsets is done as "remaining bytes" comparisons, which cannot
 * overflow. Little-endian decoding is byte-by-byte so the host's byte order does not matter. */
#include "engine/onnx/wire.h"

#include "infergate/error.h"

int ig__pb_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = *pos;
    for (int k = 0; k < 10; k++) {
        if (i >= len) return IG_EFORMAT;
        uint8_t b = p[i++];
        /* The 10th byte may only carry the top bit of a 64-bit value. */
        if (k == 9 && b > 1) return IG_EFORMAT;
        v |= (uint64_t)(b & 0x7f) << (7 * k);
        if (!(b & 0x80)) {
            *pos = i;
            *out = v;
            return 0;
        }
    }
    return IG_EFORMAT;
}

static uint64_t load_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

int ig__pb_next(ig__pb *r, ig__pb_field *f, const char **why)
{
    if (r->pos >= r->len) return 0;
    uint64_t key;
    if (ig__pb_varint(r->p, r->len, &r->pos, &key)) {
        *why = "truncated or overlong field key";
        return IG_EFORMAT;
    }
    if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff) {
        *why = "invalid field number";
        return IG_EFORMAT;
    }
    f->num = (uint32_t)(key >> 3);
    f->wt = (uint32_t)(key & 7);
    f->u = 0;
    f->data = NULL;
    f->len = 0;
    size_t rem;
    switch (f->wt) {
    case IG_PB_VARINT:
        if (ig__pb_varint(r->p, r->len, &r->pos, &f->u)) {
            *why = "truncated or overlong varint";
            return IG_EFORMAT;
        }
        return 1;
    case IG_PB_FIXED64:
    case IG_PB_FIXED32: {
        int n = f->wt == IG_PB_FIXED64 ? 8 : 4;
        if (r->len - r->pos < (size_t)n) {
            *why = "truncated fixed-width field";
            return IG_EFORMAT;
        }
        f->u = load_le(r->p + r->pos, n);
        r->pos += (size_t)n;
        return 1;
    }
    case IG_PB_LEN: {
        uint64_t l;
        if (ig__pb_varint(r->p, r->len, &r->pos, &l)) {
            *why = "truncated length prefix";
            return IG_EFORMAT;
        }
        rem = r->len - r->pos;
        if (l > rem) {
            *why = "length-delimited field runs past the end of its message";
            return IG_EFORMAT;
        }
        f->data = r->p + r->pos;
        f->len = (size_t)l;
        r->pos += (size_t)l;
        return 1;
    }
    case 3:
    case 4:
        *why = "group wire types are not supported";
        return IG_EFORMAT;
    default:
        *why = "invalid wire type";
        return IG_EFORMAT;
    }
}

int ig__pb_rep_count(const ig__pb_field *f, uint32_t elem_wt, size_t *count, const char **why)
{
    if (f->wt == elem_wt) {
        *count = 1;
        return 0;
    }
    if (f->wt != IG_PB_LEN) {
        *why = "repeated field has the wrong wire type";
        return IG_EFORMAT;
    }
    if (elem_wt == IG_PB_FIXED32 || elem_wt == IG_PB_FIXED64) {
        size_t w = elem_wt == IG_PB_FIXED32 ? 4 : 8;
        if (f->len % w) {
            *why = "packed fixed-width field length is not a multiple of the element size";
            return IG_EFORMAT;
        }
        *count = f->len / w;
        return 0;
    }
    if (elem_wt != IG_PB_VARINT) {
        *why = "packed field of a non-scalar type";
        return IG_EFORMAT;
    }
    size_t n = 0, pos = 0;
    uint64_t v;
    while (pos < f->len) {
        if (ig__pb_varint(f->data, f->len, &pos, &v)) {
            *why = "malformed varint in packed field";
            return IG_EFORMAT;
        }
        n++;
    }
    *count = n;
    return 0;
}

int ig__pb_rep_init(ig__pb_rep *it, const ig__pb_field *f, uint32_t elem_wt, const char **why)
{
    it->p = f->data;
    it->len = f->len;
    it->pos = 0;
    it->wt = elem_wt;
    it->single = 0;
    it->u = f->u;
    if (f->wt == elem_wt) {
        it->single = 1;
        return 0;
    }
    if (f->wt != IG_PB_LEN ||
        (elem_wt != IG_PB_VARINT && elem_wt != IG_PB_FIXED32 && elem_wt != IG_PB_FIXED64)) {
        *why = "repeated field has the wrong wire type";
        return IG_EFORMAT;
    }
    return 0;
}

int ig__pb_rep_next(ig__pb_rep *it, uint64_t *v, const char **why)
{
    if (it->single) {
        if (it->single < 0) return 0;
        it->single = -1;
        *v = it->u;
        return 1;
    }
    if (it->pos >= it->len) return 0;
    if (it->wt == IG_PB_VARINT) {
        if (ig__pb_varint(it->p, it->len, &it->pos, v)) {
            *why = "malformed varint in packed field";
            return IG_EFORMAT;
        }
        return 1;
    }
    size_t w = it->wt == IG_PB_FIXED32 ? 4 : 8;
    if (it->len - it->pos < w) {
        *why = "truncated element in packed field";
        return IG_EFORMAT;
    }
    *v = load_le(it->p + it->pos, (int)w);
    it->pos += w;
    return 1;
}
