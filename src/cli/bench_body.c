/* Request bodies for `infergate bench`: reads the model's metadata and config from the server (as
 * perf_analyzer does), resolves each input's shape (batch dim, --shape), fills one sample per input
 * (deterministic random data, a perf_analyzer-style JSON file or a .npy) and encodes whole HTTP
 * requests with the binary tensor extension or JSON "data". */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "cli/bench_int.h"
#include "cli/cli.h"

#define MAX_INPUTS 64
#define MAX_META_BYTES (16u << 20)
#define MAX_REQ_BYTES ((size_t)1 << 30)
#define STRING_LEN 16 /* random BYTES elements */

/* ---- growable byte buffer ---- */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static bool sb_reserve(sbuf *b, size_t n)
{
    if (b->oom) return false;
    if (b->len + n + 1 <= b->cap) return true;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap < b->len + n + 1) ncap *= 2;
    if (ncap > MAX_REQ_BYTES) {
        b->oom = true;
        return false;
    }
    char *np = realloc(b->p, ncap);
    if (!np) {
        b->oom = true;
        return false;
    }
    b->p = np;
    b->cap = ncap;
    return true;
}

static void sb_add(sbuf *b, const void *d, size_t n)
{
    if (!sb_reserve(b, n)) return;
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(tmp))
        sb_add(b, tmp, (size_t)n);
    else
        b->oom = true;
}

static void sb_json_str(sbuf *b, const char *s, size_t n)
{
    sb_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_add(b, e, 2);
        } else if (c < 0x20) {
            sb_printf(b, "\\u%04x", c);
        } else {
            sb_add(b, &s[i], 1);
        }
    }
    sb_add(b, "\"", 1);
}

/* ---- datatypes ---- */
typedef enum { K_BOOL, K_UINT, K_INT, K_FP16, K_BF16, K_FP32, K_FP64, K_BYTES } kind;

static const struct {
    const char *name;
    kind k;
    int size; /* bytes; 0 for BYTES */
    ig_dtype dt;
} dtypes[] = {
    {"BOOL", K_BOOL, 1, IG_DT_BOOL},     {"UINT8", K_UINT, 1, IG_DT_UINT8},
    {"UINT16", K_UINT, 2, IG_DT_UINT16}, {"UINT32", K_UINT, 4, IG_DT_UINT32},
    {"UINT64", K_UINT, 8, IG_DT_UINT64}, {"INT8", K_INT, 1, IG_DT_INT8},
    {"INT16", K_INT, 2, IG_DT_INT16},    {"INT32", K_INT, 4, IG_DT_INT32},
    {"INT64", K_INT, 8, IG_DT_INT64},    {"FP16", K_FP16, 2, IG_DT_FLOAT16},
    {"BF16", K_BF16, 2, IG_DT_BFLOAT16}, {"FP32", K_FP32, 4, IG_DT_FLOAT},
    {"FP64", K_FP64, 8, IG_DT_DOUBLE},   {"BYTES", K_BYTES, 0, IG_DT_STRING},
};

typedef struct input {
    char name[256];
    int dt; /* index into dtypes */
    bool batched;
    int ndim; /* sample dims (without the batch dim) */
    int64_t dims[IG_MAX_DIMS];
    bool resolved; /* all dims known */
} input;

/* One sample of one input: fixed-size elements packed little-endian, or BYTES as the binary
 * extension's (uint32 length, bytes) sequence. */
typedef struct sample {
    sbuf data;
    int64_t numel;
} sample;

static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    int32_t e = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t m = x & 0x7fffffu;
    if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00u | (m ? 0x200u : 0));
    if (e >= 31) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        m |= 0x800000u;
        return (uint16_t)(sign | ((m >> (14 - e)) + ((m >> (13 - e)) & 1)));
    }
    uint32_t h = sign | ((uint32_t)e << 10) | (m >> 13);
    return (uint16_t)(h + ((m >> 12) & 1)); /* round half up: close enough for load data */
}

static double f16_to_f64(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m | 0x400, e - 25);
    return (h & 0x8000) ? -v : v;
}

/* Appends one element given as a double (numbers) to a sample. */
static void put_number(sbuf *b, int dt, double v)
{
    unsigned char le[8];
    int size = dtypes[dt].size;
    uint64_t u = 0;
    switch (dtypes[dt].k) {
    case K_BOOL:
        u = v != 0;
        break;
    case K_UINT:
        u = v <= 0 ? 0 : (uint64_t)v;
        break;
    case K_INT:
        u = (uint64_t)(int64_t)v;
        break;
    case K_FP16:
        u = f32_to_f16((float)v);
        break;
    case K_BF16: {
        float f = (float)v;
        uint32_t x;
        memcpy(&x, &f, 4);
        u = x >> 16;
        break;
    }
    case K_FP32: {
        float f = (float)v;
        uint32_t x;
        memcpy(&x, &f, 4);
        u = x;
        break;
    }
    case K_FP64:
        memcpy(&u, &v, 8);
        break;
    case K_BYTES:
        return;
    }
    for (int i = 0; i < size; i++) le[i] = (unsigned char)(u >> (8 * i));
    sb_add(b, le, (size_t)size);
}

static void put_string(sbuf *b, const char *s, size_t n)
{
    unsigned char le[4] = {(unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16),
                           (unsigned char)(n >> 24)};
    sb_add(b, le, 4);
    sb_add(b, s, n);
}

static int64_t numel_of(const int64_t *dims, int ndim)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0 || (dims[i] && n > INT64_MAX / dims[i])) return -1;
        n *= dims[i];
    }
    return n;
}

static int fill_random(const input *in, uint32_t seed, sample *s, ig_error *err)
{
    s->numel = numel_of(in->dims, in->ndim);
    if (s->numel < 0 || s->numel > (int64_t)(MAX_REQ_BYTES / 8))
        return ig_error_set(err, IG_EOVERFLOW, "input '%s' is too large", in->name);
    for (int64_t i = 0; i < s->numel; i++) {
        uint32_t r = next_rand(&seed);
        double u = (double)r / (double)(1u << 24); /* [0,1) */
        switch (dtypes[in->dt].k) {
        case K_BOOL:
            put_number(&s->data, in->dt, r & 1);
            break;
        case K_UINT:
        case K_INT:
            /* Small non-negative values: valid as token ids or indices in most models. */
            put_number(&s->data, in->dt, floor(u * (dtypes[in->dt].size == 1 ? 100 : 1000)));
            break;
        case K_BYTES: {
            char str[STRING_LEN];
            for (int j = 0; j < STRING_LEN; j++) str[j] = (char)('a' + next_rand(&seed) % 26);
            put_string(&s->data, str, STRING_LEN);
            break;
        }
        default:
            put_number(&s->data, in->dt, u * 2 - 1);
            break;
        }
    }
    return s->data.oom ? ig_error_set(err, IG_ENOMEM, "out of memory building input '%s'", in->name) : 0;
}

/* Flattens a (possibly nested) JSON array into the sample. */
static int put_json_values(const input *in, const cJSON *v, sample *s, int depth, ig_error *err)
{
    if (depth > 32) return ig_error_set(err, IG_EFORMAT, "input '%s': data nested too deeply", in->name);
    if (cJSON_IsArray(v)) {
        for (const cJSON *e = v->child; e; e = e->next) {
            int rc = put_json_values(in, e, s, depth + 1, err);
            if (rc) return rc;
        }
        return 0;
    }
    if (dtypes[in->dt].k == K_BYTES) {
        if (!cJSON_IsString(v))
            return ig_error_set(err, IG_EDTYPE, "input '%s' (BYTES): data must be strings", in->name);
        put_string(&s->data, v->valuestring, strlen(v->valuestring));
    } else if (cJSON_IsNumber(v)) {
        put_number(&s->data, in->dt, v->valuedouble);
    } else if (cJSON_IsBool(v)) {
        put_number(&s->data, in->dt, cJSON_IsTrue(v) ? 1 : 0);
    } else {
        return ig_error_set(err, IG_EDTYPE, "input '%s' (%s): data must be numbers", in->name,
                            dtypes[in->dt].name);
    }
    s->numel++;
    return 0;
}

/* Checks (or, for dynamic dims, takes) the dims a data source gives for one sample. */
static int match_dims(input *in, const int64_t *dims, int ndim, const char *what, ig_error *err)
{
    if (ndim != in->ndim)
        return ig_error_set(err, IG_ESHAPE, "input '%s': %s has %d dims, the model expects %d", in->name,
                            what, ndim, in->ndim);
    for (int i = 0; i < ndim; i++) {
        if (in->dims[i] >= 0 && dims[i] != in->dims[i])
            return ig_error_set(err, IG_ESHAPE, "input '%s': %s dim %d is %lld, the model expects %lld",
                                in->name, what, i, (long long)dims[i], (long long)in->dims[i]);
    }
    return 0;
}

static int fill_json_entry(input *in, const cJSON *entry, sample *s, ig_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(entry, in->name);
    if (!v)
        return ig_error_set(err, IG_EINVAL, "--input-data: an entry has no data for input '%s'", in->name);
    int64_t dims[IG_MAX_DIMS];
    int ndim = -1;
    if (cJSON_IsObject(v)) {
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(v, "shape");
        if (cJSON_GetObjectItemCaseSensitive(v, "b64"))
            return ig_error_set(err, IG_EUNSUPPORTED, "--input-data: \"b64\" content is not supported");
        if (shape) {
            if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) > IG_MAX_DIMS)
                return ig_error_set(err, IG_EFORMAT, "--input-data: input '%s': bad \"shape\"", in->name);
            ndim = 0;
            for (const cJSON *d = shape->child; d; d = d->next) {
                if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1e12)
                    return ig_error_set(err, IG_EFORMAT, "--input-data: input '%s': bad \"shape\"", in->name);
                dims[ndim++] = (int64_t)d->valuedouble;
            }
        }
        v = cJSON_GetObjectItemCaseSensitive(v, "content");
        if (!v)
            return ig_error_set(err, IG_EFORMAT, "--input-data: input '%s': object without \"content\"",
                                in->name);
    }
    if (ndim >= 0) {
        int rc = match_dims(in, dims, ndim, "--input-data shape", err);
        if (rc) return rc;
        if (!in->resolved) {
            memcpy(in->dims, dims, sizeof(int64_t) * (size_t)ndim);
            in->resolved = true;
        }
    }
    int rc = put_json_values(in, v, s, 0, err);
    if (rc) return rc;
    if (!in->resolved) {
        /* Only a 1-D dynamic input can take its length from a flat array. */
        if (in->ndim != 1)
            return ig_error_set(err, IG_ESHAPE,
                                "input '%s' has dynamic dims: give --shape or a \"shape\" in --input-data",
                                in->name);
        in->dims[0] = s->numel;
    }
    int64_t want = numel_of(in->dims, in->ndim);
    if (want != s->numel)
        return ig_error_set(err, IG_ESHAPE, "--input-data: input '%s' has %lld values, its shape needs %lld",
                            in->name, (long long)s->numel, (long long)want);
    return s->data.oom ? ig_error_set(err, IG_ENOMEM, "out of memory reading --input-data") : 0;
}

static int fill_npy(input *in, const char *path, sample *s, ig_error *err)
{
    ig_arena *arena = ig_arena_create(1 << 20);
    if (!arena) return ig_error_set(err, IG_ENOMEM, "out of memory");
    ig_tensor t;
    int rc = ig_cli_read_tensor(path, arena, &t, err);
    if (rc) goto out;
    if (t.dtype != dtypes[in->dt].dt) {
        rc = ig_error_set(err, IG_EDTYPE, "%s holds %s, input '%s' is %s", path, ig_dtype_name(t.dtype),
                          in->name, dtypes[in->dt].name);
        goto out;
    }
    /* One sample; a leading dim of 1 (a batch of one) is accepted too. */
    int64_t *dims = t.dims;
    int ndim = t.ndim;
    if (ndim == in->ndim + 1 && dims[0] == 1) dims++, ndim--;
    if ((rc = match_dims(in, dims, ndim, path, err))) goto out;
    memcpy(in->dims, dims, sizeof(int64_t) * (size_t)ndim);
    in->resolved = true;
    s->numel = ig_tensor_numel(&t);
    if (t.dtype == IG_DT_STRING) {
        const ig_string *str = t.data;
        for (int64_t i = 0; i < s->numel; i++) put_string(&s->data, str[i].ptr, str[i].len);
    } else {
        /* .npy data is little-endian here (the reader converts or refuses otherwise). */
        sb_add(&s->data, t.data, ig_tensor_nbytes(&t));
    }
    if (s->data.oom) rc = ig_error_set(err, IG_ENOMEM, "out of memory reading %s", path);
out:
    ig_arena_free(arena);
    return rc;
}

/* Writes one sample's elements as JSON values (without brackets), after a comma when not first. */
static int json_values(sbuf *b, const input *in, const sample *s, bool first, ig_error *err)
{
    const unsigned char *p = (const unsigned char *)s->data.p;
    int size = dtypes[in->dt].size;
    for (int64_t i = 0; i < s->numel; i++) {
        if (!first || i) sb_add(b, ",", 1);
        if (dtypes[in->dt].k == K_BYTES) {
            uint32_t n = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            sb_json_str(b, (const char *)p + 4, n);
            p += 4 + n;
            continue;
        }
        uint64_t u = 0;
        for (int k = 0; k < size; k++) u |= (uint64_t)p[k] << (8 * k);
        p += size;
        switch (dtypes[in->dt].k) {
        case K_BOOL:
            sb_str(b, u ? "true" : "false");
            break;
        case K_UINT:
            sb_printf(b, "%llu", (unsigned long long)u);
            break;
        case K_INT: {
            int64_t v = size == 8 ? (int64_t)u : (int64_t)(u << (64 - 8 * size)) >> (64 - 8 * size);
            sb_printf(b, "%lld", (long long)v);
            break;
        }
        case K_FP32: {
            uint32_t x = (uint32_t)u;
            float f;
            memcpy(&f, &x, 4);
            sb_printf(b, "%.9g", f);
            break;
        }
        case K_FP64: {
            double d;
            memcpy(&d, &u, 8);
            sb_printf(b, "%.17g", d);
            break;
        }
        case K_FP16:
            (void)f16_to_f64;
            /* fall through */
        default:
            return ig_error_set(err, IG_EUNSUPPORTED,
                                "input '%s' is %s, which has no JSON form: use --binary", in->name,
                                dtypes[in->dt].name);
        }
    }
    return 0;
}

static void dims_json(sbuf *b, const input *in, long batch)
{
    sb_add(b, "[", 1);
    bool first = true;
    if (in->batched) sb_printf(b, "%ld", batch), first = false;
    for (int i = 0; i < in->ndim; i++)
        sb_printf(b, "%s%lld", first ? "" : ",", (long long)in->dims[i]), first = false;
    sb_add(b, "]", 1);
}

/* Encodes one complete HTTP request from one sample per input, repeated batch times. */
static int encode_request(const ig__bench_target *t, const char *path, const ig__bench_body_opts *o,
                          const input *ins, int n_in, const sample *ss, ig__bench_req *req, ig_error *err)
{
    sbuf hdr = {0}, bin = {0};
    int rc = 0;
    sb_str(&hdr, "{\"inputs\":[");
    for (int i = 0; i < n_in; i++) {
        long reps = ins[i].batched ? o->batch : 1;
        sb_str(&hdr, i ? ",{\"name\":" : "{\"name\":");
        sb_json_str(&hdr, ins[i].name, strlen(ins[i].name));
        sb_str(&hdr, ",\"shape\":");
        dims_json(&hdr, &ins[i], o->batch);
        sb_printf(&hdr, ",\"datatype\":\"%s\"", dtypes[ins[i].dt].name);
        if (o->json) {
            sb_str(&hdr, ",\"data\":[");
            for (long r = 0; r < reps && !rc; r++) rc = json_values(&hdr, &ins[i], &ss[i], r == 0, err);
            if (rc) goto out;
            sb_str(&hdr, "]}");
        } else {
            for (long r = 0; r < reps; r++) sb_add(&bin, ss[i].data.p, ss[i].data.len);
            sb_printf(&hdr, ",\"parameters\":{\"binary_data_size\":%zu}}", ss[i].data.len * (size_t)reps);
        }
    }
    sb_str(&hdr, o->json ? "]}" : "],\"parameters\":{\"binary_data_output\":true}}");
    if (hdr.oom || bin.oom) {
        rc = ig_error_set(err, IG_ENOMEM, "request body too large or out of memory");
        goto out;
    }
    sbuf r = {0};
    sb_printf(&r, "POST %s", t->prefix);
    sb_str(&r, path);
    sb_printf(&r, " HTTP/1.1\r\nHost: %s", t->host);
    sb_printf(&r, ":%s\r\n", t->port);
    if (o->json) {
        sb_str(&r, "Content-Type: application/json\r\n");
    } else {
        sb_str(&r, "Content-Type: application/octet-stream\r\n");
        sb_printf(&r, "Inference-Header-Content-Length: %zu\r\n", hdr.len);
    }
    sb_printf(&r, "Content-Length: %zu\r\n\r\n", hdr.len + bin.len);
    sb_add(&r, hdr.p, hdr.len);
    if (bin.len) sb_add(&r, bin.p, bin.len);
    if (r.oom) {
        free(r.p);
        rc = ig_error_set(err, IG_ENOMEM, "request too large or out of memory");
        goto out;
    }
    req->bytes = r.p;
    req->len = r.len;
out:
    free(hdr.p);
    free(bin.p);
    return rc;
}

/* Percent-encodes a model name or version for a path segment. */
static void path_segment(sbuf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c))
            sb_add(b, s, 1);
        else
            sb_printf(b, "%%%02X", c);
    }
}

static int get_json(const ig__bench_target *t, const char *path, int *status, cJSON **out, char **raw,
                    ig_error *err)
{
    size_t len;
    int rc = ig__bench_fetch(t, "GET", path, NULL, 10000, MAX_META_BYTES, status, raw, &len, err);
    if (rc) return rc;
    *out = *status == 200 ? cJSON_ParseWithLength(*raw, len) : NULL;
    return 0;
}

static int parse_shape_opt(const char *text, char *name, size_t name_len, int64_t *dims, int *ndim,
                           ig_error *err)
{
    const char *eq = strrchr(text, '=');
    if (!eq || eq == text || (size_t)(eq - text) >= name_len)
        return ig_error_set(err, IG_EINVAL, "--shape '%s': expected NAME=d0,d1,...", text);
    memcpy(name, text, (size_t)(eq - text));
    name[eq - text] = 0;
    *ndim = 0;
    const char *p = eq + 1;
    while (*p) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || v > (1LL << 40) || *ndim >= IG_MAX_DIMS || (*end && *end != ','))
            return ig_error_set(err, IG_EINVAL, "--shape '%s': expected NAME=d0,d1,... with dims >= 0", text);
        dims[(*ndim)++] = v;
        p = *end ? end + 1 : end;
    }
    return 0;
}

static int read_file(const char *path, char **out, size_t *len, ig_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ig_error_set(err, IG_EIO, "%s: cannot open", path);
    sbuf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) sb_add(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad || b.oom) {
        free(b.p);
        return ig_error_set(err, IG_EIO, "%s: cannot read (or larger than 1 GiB)", path);
    }
    *out = b.p ? b.p : calloc(1, 1);
    *len = b.len;
    return *out ? 0 : ig_error_set(err, IG_ENOMEM, "out of memory");
}

int ig__bench_build_requests(const ig__bench_target *t, const ig__bench_body_opts *o, FILE *info,
                             ig__bench_req **reqs_out, int *n_reqs_out, ig_error *err)
{
    int rc = 0, status = 0, n_in = 0, n_sets = 1;
    cJSON *meta = NULL, *conf = NULL, *data = NULL;
    char *raw = NULL, *file = NULL;
    sbuf base = {0}, infer = {0};
    input *ins = calloc(MAX_INPUTS, sizeof(input));
    sample *ss = NULL;
    ig__bench_req *reqs = NULL;
    if (!ins) return ig_error_set(err, IG_ENOMEM, "out of memory");

    sb_str(&base, "/v2/models/");
    path_segment(&base, o->model);
    if (o->version) {
        sb_str(&base, "/versions/");
        path_segment(&base, o->version);
    }
    if ((rc = get_json(t, base.p, &status, &meta, &raw, err))) goto out;
    if (status != 200) {
        rc = ig_error_set(err, IG_ENOTFOUND, "GET %s%s: HTTP %d: %.200s", t->prefix, base.p, status, raw);
        goto out;
    }
    if (!meta) {
        rc = ig_error_set(err, IG_EFORMAT, "GET %s: the model metadata is not valid JSON", base.p);
        goto out;
    }
    free(raw), raw = NULL;
    sb_str(&infer, base.p);
    sb_str(&infer, "/config");
    long max_batch = 0;
    if ((rc = get_json(t, infer.p, &status, &conf, &raw, err))) goto out;
    if (conf) {
        const cJSON *mb = cJSON_GetObjectItemCaseSensitive(conf, "max_batch_size");
        if (cJSON_IsNumber(mb) && mb->valuedouble > 0) max_batch = (long)mb->valuedouble;
    } else if (info) {
        fprintf(info, "note: GET %s gave HTTP %d; treating the model as non-batching (max_batch_size 0)\n",
                infer.p, status);
    }
    free(raw), raw = NULL;
    infer.len = 0;
    sb_str(&infer, base.p);
    sb_str(&infer, "/infer");

    if (o->batch > 1 && max_batch == 0) {
        rc = ig_error_set(err, IG_EINVAL, "--batch %ld: model '%s' does not batch (max_batch_size 0)",
                          o->batch, o->model);
        goto out;
    }
    if (max_batch && o->batch > max_batch) {
        rc = ig_error_set(err, IG_EINVAL, "--batch %ld exceeds the model's max_batch_size %ld", o->batch,
                          max_batch);
        goto out;
    }

    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(meta, "inputs");
    if (!cJSON_IsArray(inputs) || cJSON_GetArraySize(inputs) == 0 ||
        cJSON_GetArraySize(inputs) > MAX_INPUTS) {
        rc = ig_error_set(err, IG_EFORMAT, "model metadata: \"inputs\" must be a non-empty array (<= %d)",
                          MAX_INPUTS);
        goto out;
    }
    for (const cJSON *it = inputs->child; it; it = it->next, n_in++) {
        input *in = &ins[n_in];
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "datatype");
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
        if (!cJSON_IsString(nm) || strlen(nm->valuestring) >= sizeof(in->name) || !cJSON_IsString(dt) ||
            !cJSON_IsArray(sh) || cJSON_GetArraySize(sh) > IG_MAX_DIMS) {
            rc = ig_error_set(err, IG_EFORMAT, "model metadata: input %d needs name, datatype and shape",
                              n_in);
            goto out;
        }
        strcpy(in->name, nm->valuestring);
        in->dt = -1;
        for (size_t k = 0; k < sizeof(dtypes) / sizeof(dtypes[0]); k++)
            if (!strcmp(dt->valuestring, dtypes[k].name)) in->dt = (int)k;
        if (in->dt < 0) {
            rc = ig_error_set(err, IG_EUNSUPPORTED, "input '%s': unknown datatype '%s'", in->name,
                              dt->valuestring);
            goto out;
        }
        int64_t full[IG_MAX_DIMS];
        int nf = 0;
        for (const cJSON *d = sh->child; d; d = d->next) {
            if (!cJSON_IsNumber(d) || d->valuedouble < -1 || d->valuedouble > 1e12) {
                rc = ig_error_set(err, IG_EFORMAT, "input '%s': bad shape in metadata", in->name);
                goto out;
            }
            full[nf++] = (int64_t)d->valuedouble;
        }
        /* As perf_analyzer: for a batching model the first dim is the batch. */
        in->batched = max_batch > 0 && nf > 0;
        int skip = in->batched ? 1 : 0;
        in->ndim = nf - skip;
        memcpy(in->dims, full + skip, sizeof(int64_t) * (size_t)in->ndim);
        in->resolved = true;
        for (int k = 0; k < in->ndim; k++)
            if (in->dims[k] < 0) in->resolved = false;
    }
    for (int s = 0; s < o->n_shapes; s++) {
        char name[256];
        int64_t dims[IG_MAX_DIMS];
        int ndim = 0, found = -1;
        if ((rc = parse_shape_opt(o->shapes[s], name, sizeof(name), dims, &ndim, err))) goto out;
        for (int i = 0; i < n_in; i++)
            if (!strcmp(ins[i].name, name)) found = i;
        if (found < 0) {
            rc = ig_error_set(err, IG_EINVAL, "--shape: the model has no input '%s'", name);
            goto out;
        }
        if ((rc = match_dims(&ins[found], dims, ndim, "--shape (without the batch dim)", err))) goto out;
        memcpy(ins[found].dims, dims, sizeof(int64_t) * (size_t)ndim);
        ins[found].resolved = true;
    }

    /* Input sets. */
    const cJSON *entries = NULL;
    bool npy = false;
    if (o->input_data) {
        size_t flen, plen = strlen(o->input_data);
        npy = plen > 4 && !strcmp(o->input_data + plen - 4, ".npy");
        if (npy && n_in != 1) {
            rc = ig_error_set(
                err, IG_EINVAL,
                "--input-data %s: a .npy file serves single-input models only (this one has %d); use JSON",
                o->input_data, n_in);
            goto out;
        }
        if (!npy) {
            if ((rc = read_file(o->input_data, &file, &flen, err))) goto out;
            data = cJSON_ParseWithLength(file, flen);
            entries = cJSON_GetObjectItemCaseSensitive(data, "data");
            if (!cJSON_IsArray(entries) || cJSON_GetArraySize(entries) == 0) {
                rc = ig_error_set(err, IG_EFORMAT,
                                  "--input-data %s: expected JSON {\"data\": [{\"INPUT\": [...]}, ...]}",
                                  o->input_data);
                goto out;
            }
            n_sets = cJSON_GetArraySize(entries);
            if (n_sets > 4096) {
                rc = ig_error_set(err, IG_EINVAL, "--input-data: more than 4096 entries");
                goto out;
            }
        }
    }
    if (!entries && !npy) {
        for (int i = 0; i < n_in; i++)
            if (!ins[i].resolved) {
                rc = ig_error_set(
                    err, IG_ESHAPE,
                    "input '%s' has dynamic dims: give --shape %s=d0,d1,... (without the batch dim)",
                    ins[i].name, ins[i].name);
                goto out;
            }
    }
    reqs = calloc((size_t)n_sets, sizeof(*reqs));
    ss = calloc((size_t)n_in, sizeof(*ss));
    if (!reqs || !ss) {
        rc = ig_error_set(err, IG_ENOMEM, "out of memory");
        goto out;
    }
    const cJSON *entry = entries ? entries->child : NULL;
    for (int s = 0; s < n_sets; s++) {
        for (int i = 0; i < n_in; i++) {
            ss[i].data.len = 0;
            ss[i].data.oom = false;
            ss[i].numel = 0;
            if (npy)
                rc = fill_npy(&ins[i], o->input_data, &ss[i], err);
            else if (entry)
                rc = fill_json_entry(&ins[i], entry, &ss[i], err);
            else
                rc = fill_random(&ins[i], 0x5eed0000u + (uint32_t)i, &ss[i], err);
            if (rc) {
                if (entry) ig_error_prefix(err, rc, "--input-data entry %d: ", s);
                goto out;
            }
        }
        if ((rc = encode_request(t, infer.p, o, ins, n_in, ss, &reqs[s], err))) goto out;
        if (entry) entry = entry->next;
    }
    if (info) {
        fprintf(info, "model %s: max_batch_size %ld, %d input(s):", o->model, max_batch, n_in);
        for (int i = 0; i < n_in; i++) {
            sbuf d = {0};
            dims_json(&d, &ins[i], o->batch);
            fprintf(info, " %s %s %s", ins[i].name, dtypes[ins[i].dt].name, d.p ? d.p : "[]");
            free(d.p);
        }
        fprintf(info, "\n%d request body(ies), %zu bytes each (first), %s\n", n_sets, reqs[0].len,
                o->json ? "JSON data" : "binary tensor data");
    }
    *reqs_out = reqs;
    *n_reqs_out = n_sets;
    reqs = NULL;
out:
    if (reqs) ig__bench_reqs_free(reqs, n_sets);
    if (ss)
        for (int i = 0; i < n_in; i++) free(ss[i].data.p);
    free(ss);
    free(ins);
    free(raw);
    free(file);
    free(base.p);
    free(infer.p);
    cJSON_Delete(meta);
    cJSON_Delete(conf);
    cJSON_Delete(data);
    return rc;
}

void ig__bench_reqs_free(ig__bench_req *reqs, int n)
{
    if (!reqs) return;
    for (int i = 0; i < n; i++) free(reqs[i].bytes);
    free(reqs);
}
