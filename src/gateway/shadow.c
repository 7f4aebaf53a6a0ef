/* The shadow-response comparer: parses two OIP inference responses (JSON body, optionally followed by
 * binary output tensors, or a gRPC ModelInferResponse with raw or typed contents), matches outputs by
 * name and compares datatypes, shapes and every element with a mixed absolute/relative tolerance.
 * FP16 and BF16 are decoded here, by hand. */
#include "gateway/shadow.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_service.pb-c.h"
#include "infergate/error.h"

enum {
    DT_BOOL,
    DT_U8,
    DT_U16,
    DT_U32,
    DT_U64,
    DT_I8,
    DT_I16,
    DT_I32,
    DT_I64,
    DT_F16,
    DT_BF16,
    DT_F32,
    DT_F64,
    DT_BYTES
};

static const struct {
    const char *name;
    int size;
} dtypes[] = {
    [DT_BOOL] = {"BOOL", 1},  [DT_U8] = {"UINT8", 1},    [DT_U16] = {"UINT16", 2}, [DT_U32] = {"UINT32", 4},
    [DT_U64] = {"UINT64", 8}, [DT_I8] = {"INT8", 1},     [DT_I16] = {"INT16", 2},  [DT_I32] = {"INT32", 4},
    [DT_I64] = {"INT64", 8},  [DT_F16] = {"FP16", 2},    [DT_BF16] = {"BF16", 2},  [DT_F32] = {"FP32", 4},
    [DT_F64] = {"FP64", 8},   [DT_BYTES] = {"BYTES", 0},
};

#define MAX_DIMS 32
/* Far above any real tensor, low enough that count * 8 cannot overflow. */
#define MAX_ELEMS ((uint64_t)1 << 48)

typedef struct {
    const char *name;
    int dt;
    int ndim;
    int64_t shape[MAX_DIMS];
    size_t count;
    const cJSON **leaves;     /* JSON data flattened, or NULL when the data is binary */
    const unsigned char *bin; /* binary data, bin_len bytes */
    size_t bin_len;
    const unsigned char **strs; /* BYTES in binary form: element starts and lengths */
    uint32_t *str_lens;
    const void *typed; /* protobuf typed contents (count elements of typed_kind), or NULL */
    int typed_kind;
} output;

/* The element types of InferTensorContents' repeated fields. */
enum { TY_BOOL, TY_I32, TY_U32, TY_I64, TY_U64, TY_F32, TY_F64, TY_BYTES };

typedef struct {
    cJSON *root;
    Inference__ModelInferResponse *pb;
    int n;
    output *outs;
} response;

static void response_free(response *r)
{
    for (int i = 0; i < r->n; i++) {
        free(r->outs[i].leaves);
        free(r->outs[i].strs);
        free(r->outs[i].str_lens);
    }
    free(r->outs);
    cJSON_Delete(r->root);
    if (r->pb) inference__model_infer_response__free_unpacked(r->pb, NULL);
}

static int dtype_of(const char *s)
{
    for (int i = 0; i < (int)(sizeof(dtypes) / sizeof(dtypes[0])); i++)
        if (!strcmp(s, dtypes[i].name)) return i;
    return -1;
}

/* Counts the leaves of a (possibly nested) data array; -1 when a leaf has the wrong JSON type. */
static int64_t count_leaves(const cJSON *a, int dt, int depth)
{
    if (depth > MAX_DIMS) return -1;
    int64_t n = 0;
    for (const cJSON *e = a->child; e; e = e->next) {
        if (cJSON_IsArray(e)) {
            int64_t k = count_leaves(e, dt, depth + 1);
            if (k < 0) return -1;
            n += k;
        } else if (dt == DT_BYTES ? cJSON_IsString(e) : (cJSON_IsNumber(e) || cJSON_IsBool(e))) {
            n++;
        } else {
            return -1;
        }
    }
    return n;
}

static void flatten(const cJSON *a, const cJSON **out, size_t *at)
{
    for (const cJSON *e = a->child; e; e = e->next) {
        if (cJSON_IsArray(e))
            flatten(e, out, at);
        else
            out[(*at)++] = e;
    }
}

/* Splits binary BYTES data (4-byte little-endian length, then the bytes, per element). */
static int split_bytes(output *o)
{
    /* every element has its 4-byte length: a shape beyond that is refused before anything is allocated */
    if (o->count > o->bin_len / 4) return IG_EFORMAT;
    o->strs = malloc((o->count ? o->count : 1) * sizeof(*o->strs));
    o->str_lens = malloc((o->count ? o->count : 1) * sizeof(*o->str_lens));
    if (!o->strs || !o->str_lens) return IG_ENOMEM;
    size_t at = 0;
    for (size_t i = 0; i < o->count; i++) {
        if (o->bin_len - at < 4) return IG_EFORMAT;
        const unsigned char *p = o->bin + at;
        uint32_t l = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        at += 4;
        if (o->bin_len - at < l) return IG_EFORMAT;
        o->strs[i] = o->bin + at;
        o->str_lens[i] = l;
        at += l;
    }
    return at == o->bin_len ? 0 : IG_EFORMAT;
}

static int parse_output(const cJSON *j, output *o, const unsigned char *bin, size_t bin_len, size_t *bin_at)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(j, "datatype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(j, "shape");
    if (!cJSON_IsObject(j) || !cJSON_IsString(name) || !cJSON_IsString(dtype) || !cJSON_IsArray(shape))
        return IG_EFORMAT;
    o->name = name->valuestring;
    if ((o->dt = dtype_of(dtype->valuestring)) < 0) return IG_EFORMAT;
    uint64_t count = 1;
    for (const cJSON *d = shape->child; d; d = d->next) {
        if (o->ndim == MAX_DIMS || !cJSON_IsNumber(d)) return IG_EFORMAT;
        double v = d->valuedouble;
        if (!(v >= 0 && v <= (double)MAX_ELEMS) || v != floor(v)) return IG_EFORMAT;
        o->shape[o->ndim++] = (int64_t)v;
        if (v != 0 && count > MAX_ELEMS / (uint64_t)v) return IG_EFORMAT;
        count *= (uint64_t)v;
    }
    o->count = (size_t)count;

    const cJSON *params = cJSON_GetObjectItemCaseSensitive(j, "parameters");
    const cJSON *bsize =
        cJSON_IsObject(params) ? cJSON_GetObjectItemCaseSensitive(params, "binary_data_size") : NULL;
    if (bsize) {
        if (!cJSON_IsNumber(bsize) || !(bsize->valuedouble >= 0) ||
            bsize->valuedouble != floor(bsize->valuedouble) ||
            bsize->valuedouble > (double)(bin_len - *bin_at))
            return IG_EFORMAT;
        o->bin_len = (size_t)bsize->valuedouble;
        o->bin = bin + *bin_at;
        *bin_at += o->bin_len;
        if (o->dt == DT_BYTES) return split_bytes(o);
        return o->bin_len == o->count * (size_t)dtypes[o->dt].size ? 0 : IG_EFORMAT;
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    if (!cJSON_IsArray(data)) return IG_EFORMAT;
    int64_t leaves = count_leaves(data, o->dt, 0);
    if (leaves < 0 || (uint64_t)leaves != count) return IG_EFORMAT;
    o->leaves = malloc((o->count ? o->count : 1) * sizeof(*o->leaves));
    if (!o->leaves) return IG_ENOMEM;
    size_t at = 0;
    flatten(data, o->leaves, &at);
    return 0;
}

static int parse_response(const char *buf, size_t len, size_t json_len, response *r)
{
    memset(r, 0, sizeof(*r));
    if (!buf || json_len > len) return IG_EFORMAT;
    r->root = cJSON_ParseWithLength(buf, json_len);
    if (!r->root) return IG_EFORMAT;
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(r->root, "outputs");
    if (!cJSON_IsObject(r->root) || !cJSON_IsArray(outs)) return IG_EFORMAT;
    int n = cJSON_GetArraySize(outs);
    r->outs = calloc(n ? (size_t)n : 1, sizeof(*r->outs));
    if (!r->outs) return IG_ENOMEM;
    r->n = n;
    size_t bin_at = 0;
    int i = 0;
    for (const cJSON *o = outs->child; o; o = o->next, i++) {
        int rc = parse_output(o, &r->outs[i], (const unsigned char *)buf + json_len, len - json_len, &bin_at);
        if (rc < 0) return rc;
    }
    return 0;
}

static float half_to_float(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float v;
    if (exp == 0)
        v = ldexpf((float)mant, -24); /* subnormal (or zero) */
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexpf((float)(mant | 0x400), exp - 25);
    return sign ? -v : v;
}

static uint64_t load_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Element i as a long double, exact for every 64-bit integer on x86-64. */
static long double element(const output *o, size_t i)
{
    if (o->leaves) {
        const cJSON *e = o->leaves[i];
        return cJSON_IsBool(e) ? (cJSON_IsTrue(e) ? 1 : 0) : (long double)e->valuedouble;
    }
    if (o->typed) {
        switch (o->typed_kind) {
        case TY_BOOL:
            return ((const protobuf_c_boolean *)o->typed)[i] != 0;
        case TY_I32:
            return ((const int32_t *)o->typed)[i];
        case TY_U32:
            return ((const uint32_t *)o->typed)[i];
        case TY_I64:
            return ((const int64_t *)o->typed)[i];
        case TY_U64:
            return ((const uint64_t *)o->typed)[i];
        case TY_F32:
            return ((const float *)o->typed)[i];
        default:
            return ((const double *)o->typed)[i];
        }
    }
    int sz = dtypes[o->dt].size;
    uint64_t u = load_le(o->bin + i * (size_t)sz, sz);
    switch (o->dt) {
    case DT_BOOL:
        return u != 0;
    case DT_I8:
        return (int8_t)u;
    case DT_I16:
        return (int16_t)u;
    case DT_I32:
        return (int32_t)u;
    case DT_I64:
        return (int64_t)u;
    case DT_F16:
        return half_to_float((uint16_t)u);
    case DT_BF16: {
        uint32_t b = (uint32_t)u << 16;
        float f;
        memcpy(&f, &b, sizeof(f));
        return f;
    }
    case DT_F32: {
        uint32_t b = (uint32_t)u;
        float f;
        memcpy(&f, &b, sizeof(f));
        return f;
    }
    case DT_F64: {
        double d;
        memcpy(&d, &u, sizeof(d));
        return d;
    }
    default:
        return (long double)u; /* unsigned integers */
    }
}

static void bytes_element(const output *o, size_t i, const unsigned char **p, size_t *len)
{
    if (o->leaves) {
        *p = (const unsigned char *)o->leaves[i]->valuestring;
        *len = strlen(o->leaves[i]->valuestring);
    } else if (o->typed) {
        const ProtobufCBinaryData *d = &((const ProtobufCBinaryData *)o->typed)[i];
        *p = d->data;
        *len = d->len;
    } else {
        *p = o->strs[i];
        *len = o->str_lens[i];
    }
}

static bool same_output(const output *x, const output *y, long double atol, long double rtol)
{
    if (x->dt != y->dt || x->ndim != y->ndim || memcmp(x->shape, y->shape, sizeof(int64_t) * (size_t)x->ndim))
        return false;
    for (size_t i = 0; i < x->count; i++) {
        if (x->dt == DT_BYTES) {
            const unsigned char *p, *q;
            size_t pl, ql;
            bytes_element(x, i, &p, &pl);
            bytes_element(y, i, &q, &ql);
            if (pl != ql || (pl && memcmp(p, q, pl))) return false;
            continue;
        }
        long double a = element(x, i), b = element(y, i);
        if (a == b || (isnan(a) && isnan(b))) continue;
        if (!(fabsl(a - b) <= atol + rtol * fabsl(a))) return false;
    }
    return true;
}

/* Outputs matched by name: 0 same, 1 different. */
static int compare_parsed(const response *ra, const response *rb, double atol, double rtol)
{
    int result = ra->n == rb->n ? 0 : 1;
    for (int i = 0; i < ra->n && !result; i++) {
        const output *y = NULL;
        for (int k = 0; k < rb->n && !y; k++)
            if (!strcmp(ra->outs[i].name, rb->outs[k].name)) y = &rb->outs[k];
        if (!y || !same_output(&ra->outs[i], y, atol, rtol)) result = 1;
    }
    return result;
}

int ig_shadow_compare(const char *a, size_t a_len, size_t a_json_len, const char *b, size_t b_len,
                      size_t b_json_len, double atol, double rtol)
{
    response ra, rb;
    int rc = parse_response(a, a_len, a_json_len, &ra);
    int rc2 = parse_response(b, b_len, b_json_len, &rb);
    int result = rc < 0 ? rc : rc2 < 0 ? rc2 : compare_parsed(&ra, &rb, atol, rtol);
    response_free(&ra);
    response_free(&rb);
    return result;
}

/* ---- gRPC: inference.ModelInferResponse ---- */

/* The typed contents field that carries dt (Triton's mapping); false for FP16/BF16, raw only. */
static bool typed_of(const Inference__InferTensorContents *t, int dt, const void **data, size_t *n, int *kind)
{
    switch (dt) {
    case DT_BOOL:
        *data = t->bool_contents, *n = t->n_bool_contents, *kind = TY_BOOL;
        return true;
    case DT_I8:
    case DT_I16:
    case DT_I32:
        *data = t->int_contents, *n = t->n_int_contents, *kind = TY_I32;
        return true;
    case DT_U8:
    case DT_U16:
    case DT_U32:
        *data = t->uint_contents, *n = t->n_uint_contents, *kind = TY_U32;
        return true;
    case DT_I64:
        *data = t->int64_contents, *n = t->n_int64_contents, *kind = TY_I64;
        return true;
    case DT_U64:
        *data = t->uint64_contents, *n = t->n_uint64_contents, *kind = TY_U64;
        return true;
    case DT_F32:
        *data = t->fp32_contents, *n = t->n_fp32_contents, *kind = TY_F32;
        return true;
    case DT_F64:
        *data = t->fp64_contents, *n = t->n_fp64_contents, *kind = TY_F64;
        return true;
    case DT_BYTES:
        *data = t->bytes_contents, *n = t->n_bytes_contents, *kind = TY_BYTES;
        return true;
    default:
        return false;
    }
}

static int parse_pb_output(const Inference__ModelInferResponse__InferOutputTensor *t,
                           const ProtobufCBinaryData *raw, output *o)
{
    if (!t || !t->name || !t->datatype || (o->dt = dtype_of(t->datatype)) < 0 || t->n_shape > MAX_DIMS)
        return IG_EFORMAT;
    o->name = t->name;
    uint64_t count = 1;
    for (size_t d = 0; d < t->n_shape; d++) {
        int64_t v = t->shape[d];
        if (v < 0 || (uint64_t)v > MAX_ELEMS) return IG_EFORMAT;
        o->shape[o->ndim++] = v;
        if (v != 0 && count > MAX_ELEMS / (uint64_t)v) return IG_EFORMAT;
        count *= (uint64_t)v;
    }
    o->count = (size_t)count;
    if (raw) {
        o->bin = raw->data;
        o->bin_len = raw->len;
        if (o->dt == DT_BYTES) return split_bytes(o);
        return o->bin_len == o->count * (size_t)dtypes[o->dt].size ? 0 : IG_EFORMAT;
    }
    if (!t->contents) return o->count == 0 ? 0 : IG_EFORMAT;
    const void *data;
    size_t n;
    if (!typed_of(t->contents, o->dt, &data, &n, &o->typed_kind) || n != o->count) return IG_EFORMAT;
    static const char empty[8];
    o->typed = n ? data : (const void *)empty; /* never NULL: the element accessors look at typed */
    return 0;
}

static int parse_pb_response(const void *buf, size_t len, response *r)
{
    memset(r, 0, sizeof(*r));
    if (!buf && len) return IG_EFORMAT;
    r->pb = inference__model_infer_response__unpack(NULL, len, buf);
    if (!r->pb) return IG_EFORMAT;
    const Inference__ModelInferResponse *m = r->pb;
    /* raw_output_contents has one entry per output, or none (typed contents then). */
    if (m->n_raw_output_contents && m->n_raw_output_contents != m->n_outputs) return IG_EFORMAT;
    if (m->n_outputs > INT32_MAX) return IG_EFORMAT;
    r->outs = calloc(m->n_outputs ? m->n_outputs : 1, sizeof(*r->outs));
    if (!r->outs) return IG_ENOMEM;
    r->n = (int)m->n_outputs;
    for (size_t i = 0; i < m->n_outputs; i++) {
        int rc = parse_pb_output(m->outputs[i], m->n_raw_output_contents ? &m->raw_output_contents[i] : NULL,
                                 &r->outs[i]);
        if (rc < 0) return rc;
    }
    return 0;
}

int ig_shadow_compare_pb(const void *a, size_t a_len, const void *b, size_t b_len, double atol, double rtol)
{
    response ra, rb;
    int rc = parse_pb_response(a, a_len, &ra);
    int rc2 = parse_pb_response(b, b_len, &rb);
    int result = rc < 0 ? rc : rc2 < 0 ? rc2 : compare_parsed(&ra, &rb, atol, rtol);
    response_free(&ra);
    response_free(&rb);
    return result;
}
