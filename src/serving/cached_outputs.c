/* Serialized outputs for the response cache. Layout, little-endian as the host:
 *   u32 count, then per output: u32 name length, name, i32 dtype, i32 ndim, i64 dims[ndim],
 *   u64 data length, data (STRING: per element u32 length, bytes). */
#include "serving/cached_outputs.h"

#include "infergate/error.h"

#include <stdint.h>
#include <string.h>

static void put(ig_buf *b, const void *p, size_t n)
{
    ig_buf_append(b, p, n);
}

void ig__outputs_serialize(const ig_infer_response *resp, ig_buf *b)
{
    uint32_t n = (uint32_t)resp->n_outputs;
    put(b, &n, 4);
    for (int i = 0; i < resp->n_outputs; i++) {
        const ig_infer_tensor *o = &resp->outputs[i];
        uint32_t nl = (uint32_t)strlen(o->name);
        int32_t dt = o->t.dtype, nd = o->t.ndim;
        put(b, &nl, 4);
        put(b, o->name, nl);
        put(b, &dt, 4);
        put(b, &nd, 4);
        put(b, o->t.dims, sizeof(int64_t) * (size_t)nd);
        int64_t count = ig_tensor_numel(&o->t);
        if (o->t.dtype == IG_DT_STRING) {
            uint64_t total = 0;
            const ig_string *s = o->t.data;
            for (int64_t k = 0; k < count; k++) total += 4 + s[k].len;
            put(b, &total, 8);
            for (int64_t k = 0; k < count; k++) {
                uint32_t l = (uint32_t)s[k].len;
                put(b, &l, 4);
                put(b, s[k].ptr, s[k].len);
            }
        } else {
            uint64_t nb = ig_tensor_nbytes(&o->t);
            put(b, &nb, 8);
            put(b, o->t.data, nb);
        }
    }
}

typedef struct reader {
    const unsigned char *p, *end;
} reader;

static bool take(reader *r, void *out, size_t n)
{
    if ((size_t)(r->end - r->p) < n) return false;
    memcpy(out, r->p, n);
    r->p += n;
    return true;
}

int ig__outputs_deserialize(const void *data, size_t len, ig_arena *arena, ig_infer_response *resp)
{
    reader r = {data, (const unsigned char *)data + len};
    uint32_t n;
    if (!take(&r, &n, 4) || n > len) return IG_EFORMAT;
    ig_infer_tensor *outs = ig_arena_array(arena, n + 1, sizeof(ig_infer_tensor), 8);
    if (!outs) return IG_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        ig_infer_tensor *o = &outs[i];
        uint32_t nl;
        int32_t dt, nd;
        uint64_t nb;
        if (!take(&r, &nl, 4) || (size_t)(r.end - r.p) < nl) return IG_EFORMAT;
        if (!(o->name = ig_arena_strndup(arena, (const char *)r.p, nl))) return IG_ENOMEM;
        r.p += nl;
        if (!take(&r, &dt, 4) || !take(&r, &nd, 4) || nd < 0 || nd > IG_MAX_DIMS || dt <= 0 ||
            dt >= IG_DT_COUNT)
            return IG_EFORMAT;
        o->t.dtype = (ig_dtype)dt;
        o->t.ndim = nd;
        if (!take(&r, o->t.dims, sizeof(int64_t) * (size_t)nd) || !take(&r, &nb, 8) ||
            nb > (uint64_t)(r.end - r.p))
            return IG_EFORMAT;
        int64_t count = ig_tensor_numel(&o->t);
        if (count < 0) return IG_EFORMAT;
        if (o->t.dtype == IG_DT_STRING) {
            ig_string *s = ig_arena_array(arena, (size_t)count + 1, sizeof(ig_string), 8);
            if (!s) return IG_ENOMEM;
            reader sr = {r.p, r.p + nb};
            for (int64_t k = 0; k < count; k++) {
                uint32_t l;
                if (!take(&sr, &l, 4) || (size_t)(sr.end - sr.p) < l) return IG_EFORMAT;
                s[k] = (ig_string){(const char *)sr.p, l}; /* points into the arena copy below */
                sr.p += l;
            }
            char *copy = ig_arena_alloc(arena, nb ? nb : 1, 8);
            if (!copy) return IG_ENOMEM;
            memcpy(copy, r.p, nb);
            for (int64_t k = 0; k < count; k++) s[k].ptr = copy + (s[k].ptr - (const char *)r.p);
            o->t.data = s;
        } else {
            if (nb != ig_tensor_nbytes(&o->t)) return IG_EFORMAT;
            if (!(o->t.data = ig_arena_alloc(arena, nb ? nb : 1, 64))) return IG_ENOMEM;
            memcpy(o->t.data, r.p, nb);
        }
        r.p += nb;
    }
    resp->outputs = outs;
    resp->n_outputs = (int)n;
    return 0;
}
