/* Inference request decoding: the OIP JSON request (inputs as JSON data or binary_data_size slices
 * of the binary section after the JSON, consumed in input order), its parameters, requested outputs,
 * and the raw binary form. Every malformed case is an error naming the input and the cause. */
#include <stdio.h>
#include <string.h>

#include "protocol/json.h"
#include "protocol/oip.h"

enum { MAX_TENSORS = 1024, MAX_PARAMS = 256 };

typedef struct dec {
    ig_json_reader r;
    ig_arena *a;
    ig_error *err;
    const unsigned char *bin; /* binary section after the JSON */
    size_t bin_len, bin_off;
    ig_infer_request *req;
} dec;

static int nomem(dec *d)
{
    return ig_error_set(d->err, IG_ENOMEM, "out of memory decoding the request");
}

static bool str_is(ig_string s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && !memcmp(s.ptr, lit, n);
}

/* A key for messages: at most 64 bytes, non-printables replaced. */
static const char *show(ig_string s, char *buf, size_t cap)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    for (size_t i = 0; i < n; i++) buf[i] = (s.ptr[i] >= 0x20 && s.ptr[i] < 0x7f) ? s.ptr[i] : '?';
    buf[n] = 0;
    return buf;
}

/* Seen-key sets for duplicate detection in the objects we interpret. */
static int dup_check(dec *d, uint32_t *seen, int bit, ig_string key, const char *where)
{
    if (*seen & (1u << bit)) {
        char b[65];
        return ig_error_set(d->err, IG_EINVAL, "%s: duplicate key '%s'", where, show(key, b, sizeof b));
    }
    *seen |= 1u << bit;
    return 0;
}

typedef enum { P_REQUEST, P_INPUT, P_OUTPUT } pctx;

typedef struct pvals {
    bool has_bin_size;
    uint64_t bin_size;
    bool binary, binary_set;
    int classification;
} pvals;

/* One "parameters" object. Values must be strings, numbers or booleans (headers excepted). */
static int parse_params(dec *d, pctx ctx, const char *where, pvals *pv)
{
    ig_json_reader *r = &d->r;
    int rc = ig_json_obj_begin(r);
    if (rc) return ig_error_prefix(d->err, rc, "%s: parameters: ", where);
    ig_string keys[MAX_PARAMS];
    int nk = 0;
    ig_string k;
    char kb[65];
    while ((rc = ig_json_obj_next(r, &k)) == 1) {
        const char *ks = show(k, kb, sizeof kb);
        for (int i = 0; i < nk; i++)
            if (keys[i].len == k.len && !memcmp(keys[i].ptr, k.ptr, k.len))
                return ig_error_set(d->err, IG_EINVAL, "%s: duplicate parameter '%s'", where, ks);
        if (nk == MAX_PARAMS)
            return ig_error_set(d->err, IG_EINVAL, "%s: more than %d parameters", where, MAX_PARAMS);
        keys[nk++] = k;
        if (k.len >= 7 && !memcmp(k.ptr, "triton_", 7))
            return ig_error_set(d->err, IG_EINVAL, "%s: parameter '%s' is reserved", where, ks);
        if (k.len >= 14 && !memcmp(k.ptr, "shared_memory_", 14))
            return ig_error_set(d->err, IG_EUNSUPPORTED, "%s: shared memory ('%s') is not supported", where,
                                ks);
        if (ctx == P_REQUEST && str_is(k, "binary_data_output")) {
            if ((rc = ig_json_bool(r, &d->req->binary_output))) goto bad;
        } else if (ctx == P_REQUEST && str_is(k, "priority")) {
            uint64_t v;
            if ((rc = ig_json_uint64(r, &v))) goto bad;
            if (v > INT64_MAX)
                return ig_error_set(d->err, IG_EINVAL, "%s: priority %llu too large", where,
                                    (unsigned long long)v);
            d->req->priority = (int64_t)v;
        } else if (ctx == P_REQUEST && str_is(k, "timeout")) {
            if ((rc = ig_json_uint64(r, &d->req->timeout_us))) goto bad;
        } else if (ctx == P_REQUEST && str_is(k, "sequence_id")) {
            ig_json_type t = ig_json_peek(r);
            bool zero = false;
            if (t == IG_JSON_STRING) {
                ig_string s;
                if ((rc = ig_json_string(r, &s))) goto bad;
                zero = s.len == 0;
            } else {
                uint64_t v;
                if ((rc = ig_json_uint64(r, &v))) goto bad;
                zero = v == 0;
            }
            if (!zero)
                return ig_error_set(d->err, IG_EUNSUPPORTED, "%s: sequence batching is not supported", where);
        } else if (ctx == P_REQUEST && (str_is(k, "sequence_start") || str_is(k, "sequence_end"))) {
            bool b;
            if ((rc = ig_json_bool(r, &b))) goto bad;
            if (b)
                return ig_error_set(d->err, IG_EUNSUPPORTED, "%s: sequence batching is not supported", where);
        } else if (ctx == P_REQUEST && str_is(k, "headers")) {
            if ((rc = ig_json_skip(r))) goto bad;
        } else if (ctx == P_INPUT && str_is(k, "binary_data_size")) {
            if ((rc = ig_json_uint64(r, &pv->bin_size))) goto bad;
            pv->has_bin_size = true;
        } else if (ctx == P_OUTPUT && str_is(k, "binary_data")) {
            if ((rc = ig_json_bool(r, &pv->binary))) goto bad;
            pv->binary_set = true;
        } else if (ctx == P_OUTPUT && str_is(k, "classification")) {
            uint64_t v;
            if ((rc = ig_json_uint64(r, &v))) goto bad;
            if (v > 1u << 20)
                return ig_error_set(d->err, IG_EINVAL, "%s: classification %llu too large", where,
                                    (unsigned long long)v);
            pv->classification = (int)v;
        } else {
            ig_json_type t = ig_json_peek(r);
            if (t != IG_JSON_STRING && t != IG_JSON_NUMBER && t != IG_JSON_TRUE && t != IG_JSON_FALSE)
                return ig_error_set(d->err, IG_EINVAL,
                                    "%s: parameter '%s' must be a string, number or boolean", where, ks);
            if ((rc = ig_json_skip(r))) goto bad;
        }
        continue;
    bad:
        return ig_error_prefix(d->err, rc, "%s: parameter '%s': ", where, ks);
    }
    return rc < 0 ? ig_error_prefix(d->err, rc, "%s: parameters: ", where) : 0;
}

static char *fmt_shape(const ig_tensor *t, char *buf, size_t n)
{
    return ig_shape_str(t, buf, n);
}

/* numel of t with overflow and negative checks already done at parse time. */
static int64_t numel_of(const ig_tensor *t)
{
    return ig_tensor_numel(t);
}

/* BYTES binary: 4-byte little-endian length, then the bytes, numel times, exactly filling n. */
static int binary_strings(dec *d, const char *name, ig_tensor *t, const unsigned char *p, size_t n,
                          int64_t numel)
{
    if ((uint64_t)numel > n / 4) /* every element takes at least its 4-byte prefix */
        return ig_error_set(
            d->err, IG_EINVAL,
            "input '%s': %lld BYTES elements need at least %lld bytes, binary_data_size is %zu", name,
            (long long)numel, (long long)numel * 4, n);
    ig_string *s = ig_arena_array(d->a, (size_t)numel ? (size_t)numel : 1, sizeof *s, 8);
    if (!s) return nomem(d);
    size_t off = 0;
    for (int64_t i = 0; i < numel; i++) {
        if (n - off < 4)
            return ig_error_set(d->err, IG_EINVAL, "input '%s': BYTES element %lld: length prefix cut off",
                                name, (long long)i);
        uint32_t l = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 | (uint32_t)p[off + 2] << 16 |
                     (uint32_t)p[off + 3] << 24;
        off += 4;
        if (l > n - off)
            return ig_error_set(d->err, IG_EINVAL,
                                "input '%s': BYTES element %lld: length %u exceeds the %zu bytes left", name,
                                (long long)i, l, n - off);
        s[i].ptr = (const char *)p + off;
        s[i].len = l;
        off += l;
    }
    if (off != n)
        return ig_error_set(d->err, IG_EINVAL,
                            "input '%s': %lld BYTES elements use %zu bytes, binary_data_size is %zu", name,
                            (long long)numel, off, n);
    t->data = s;
    return 0;
}

/* Points t at a slice of the binary section (copied when misaligned for the element type). */
static int binary_input(dec *d, const char *name, ig_tensor *t, uint64_t size)
{
    size_t left = d->bin_len - d->bin_off;
    if (size > left)
        return ig_error_set(d->err, IG_EINVAL,
                            "input '%s': binary_data_size %llu exceeds the %zu binary bytes left", name,
                            (unsigned long long)size, left);
    const unsigned char *p = d->bin + d->bin_off;
    d->bin_off += (size_t)size;
    int64_t numel = numel_of(t);
    if (t->dtype == IG_DT_STRING) return binary_strings(d, name, t, p, (size_t)size, numel);
    size_t es = ig_dtype_size(t->dtype);
    size_t need = ig_tensor_nbytes(t);
    if (need != size) {
        char sb[96];
        return ig_error_set(d->err, IG_EINVAL, "input '%s': %s %s needs %zu bytes, binary_data_size is %llu",
                            name, ig_oip_dtype_name(t->dtype), fmt_shape(t, sb, sizeof sb), need,
                            (unsigned long long)size);
    }
    if (((uintptr_t)p & (es - 1)) == 0) {
        t->data = (void *)p;
    } else {
        void *c = ig_arena_alloc(d->a, need ? need : 1, 64);
        if (!c) return nomem(d);
        memcpy(c, p, need);
        t->data = c;
    }
    return 0;
}

/* Reads the "data" value at the reader's position into t (dtype and shape known). */
static int json_input(dec *d, const char *name, ig_tensor *t)
{
    int64_t numel = numel_of(t);
    size_t es = ig_dtype_size(t->dtype);
    /* Every element takes at least one byte of text: a larger shape cannot match, so only count. */
    size_t text = (size_t)(d->r.end - d->r.begin);
    size_t cap = (uint64_t)numel <= text ? (size_t)numel : 0;
    void *buf = ig_arena_array(d->a, cap ? cap : 1, es, 64);
    if (!buf) return nomem(d);
    size_t count = 0;
    int rc = ig_json_read_tensor(&d->r, t->dtype, buf, cap, &count);
    if (rc) return ig_error_prefix(d->err, rc, "input '%s': data: ", name);
    if (count != (uint64_t)numel) {
        char sb[96];
        return ig_error_set(d->err, IG_EINVAL, "input '%s': shape %s needs %lld elements, got %zu", name,
                            fmt_shape(t, sb, sizeof sb), (long long)numel, count);
    }
    t->data = buf;
    return 0;
}

static int parse_shape(dec *d, const char *where, ig_tensor *t)
{
    ig_json_reader *r = &d->r;
    int rc = ig_json_arr_begin(r);
    if (rc) return ig_error_prefix(d->err, rc, "%s: shape: ", where);
    t->ndim = 0;
    while ((rc = ig_json_arr_next(r)) == 1) {
        if (t->ndim == IG_MAX_DIMS)
            return ig_error_set(d->err, IG_EINVAL, "%s: shape has more than %d dimensions", where,
                                IG_MAX_DIMS);
        int64_t v;
        if ((rc = ig_json_int64(r, &v))) return ig_error_prefix(d->err, rc, "%s: shape: ", where);
        if (v < 0)
            return ig_error_set(d->err, IG_EINVAL, "%s: shape dimension %lld is negative", where,
                                (long long)v);
        t->dims[t->ndim++] = v;
    }
    if (rc < 0) return ig_error_prefix(d->err, rc, "%s: shape: ", where);
    if (ig_tensor_numel(t) < 0 || (t->dtype != IG_DT_STRING && ig_tensor_nbytes(t) == SIZE_MAX))
        return ig_error_set(d->err, IG_EINVAL, "%s: shape is too large", where);
    return 0;
}

enum { K_NAME, K_SHAPE, K_DATATYPE, K_PARAMS, K_DATA };

static int parse_input(dec *d, int idx, ig_infer_tensor *it)
{
    ig_json_reader *r = &d->r;
    char where[160];
    snprintf(where, sizeof where, "inputs[%d]", idx);
    int rc = ig_json_obj_begin(r);
    if (rc) return ig_error_prefix(d->err, rc, "%s: ", where);
    uint32_t seen = 0;
    pvals pv = {0};
    const char *data_at = NULL; /* "data" came before the fields it needs: read it after */
    int data_depth = 0;
    bool data_done = false;
    ig_string k;
    it->t.dtype = IG_DT_UNDEFINED;
    while ((rc = ig_json_obj_next(r, &k)) == 1) {
        if (str_is(k, "name")) {
            if ((rc = dup_check(d, &seen, K_NAME, k, where))) return rc;
            if ((rc = ig_json_cstr(r, &it->name))) return ig_error_prefix(d->err, rc, "%s: name: ", where);
            snprintf(where, sizeof where, "input '%.100s'", it->name);
        } else if (str_is(k, "shape")) {
            if ((rc = dup_check(d, &seen, K_SHAPE, k, where))) return rc;
            if ((rc = parse_shape(d, where, &it->t))) return rc;
        } else if (str_is(k, "datatype")) {
            if ((rc = dup_check(d, &seen, K_DATATYPE, k, where))) return rc;
            ig_string s;
            if ((rc = ig_json_string(r, &s))) return ig_error_prefix(d->err, rc, "%s: datatype: ", where);
            it->t.dtype = ig_oip_dtype_parse(s.ptr, s.len);
            char b[65];
            if (it->t.dtype == IG_DT_UNDEFINED)
                return ig_error_set(d->err, IG_EINVAL, "%s: unknown datatype '%s'", where,
                                    show(s, b, sizeof b));
        } else if (str_is(k, "parameters")) {
            if ((rc = dup_check(d, &seen, K_PARAMS, k, where))) return rc;
            if ((rc = parse_params(d, P_INPUT, where, &pv))) return rc;
        } else if (str_is(k, "data")) {
            if ((rc = dup_check(d, &seen, K_DATA, k, where))) return rc;
            uint32_t need = 1u << K_NAME | 1u << K_SHAPE | 1u << K_DATATYPE;
            if ((seen & need) == need && !pv.has_bin_size) {
                if ((rc = json_input(d, it->name, &it->t))) return rc;
                data_done = true;
            } else {
                ig_json_peek(r);
                data_at = r->p;
                data_depth = r->depth;
                if ((rc = ig_json_skip(r))) return ig_error_prefix(d->err, rc, "%s: data: ", where);
            }
        } else {
            if ((rc = ig_json_skip(r))) return ig_error_prefix(d->err, rc, "%s: ", where);
        }
    }
    if (rc < 0) return ig_error_prefix(d->err, rc, "%s: ", where);
    static const char *const need_names[] = {"name", "shape", "datatype"};
    for (int b = K_NAME; b <= K_DATATYPE; b++)
        if (!(seen & (1u << b)))
            return ig_error_set(d->err, IG_EINVAL, "%s: missing \"%s\"", where, need_names[b]);
    if (it->t.dtype != IG_DT_STRING && ig_tensor_nbytes(&it->t) == SIZE_MAX)
        return ig_error_set(d->err, IG_EINVAL, "%s: shape is too large", where);
    bool has_data = seen & (1u << K_DATA);
    if (pv.has_bin_size && has_data)
        return ig_error_set(d->err, IG_EINVAL, "%s: has both \"data\" and binary_data_size", where);
    if (pv.has_bin_size) return binary_input(d, it->name, &it->t, pv.bin_size);
    if (!has_data) return ig_error_set(d->err, IG_EINVAL, "%s: no \"data\" and no binary_data_size", where);
    if (!data_done) {
        const char *save_p = r->p;
        int save_depth = r->depth;
        r->p = data_at;
        r->depth = data_depth;
        if ((rc = json_input(d, it->name, &it->t))) return rc;
        r->p = save_p;
        r->depth = save_depth;
    }
    return 0;
}

static int parse_output(dec *d, int idx, ig_output_spec *os)
{
    ig_json_reader *r = &d->r;
    char where[160];
    snprintf(where, sizeof where, "outputs[%d]", idx);
    int rc = ig_json_obj_begin(r);
    if (rc) return ig_error_prefix(d->err, rc, "%s: ", where);
    uint32_t seen = 0;
    pvals pv = {0};
    ig_string k;
    while ((rc = ig_json_obj_next(r, &k)) == 1) {
        if (str_is(k, "name")) {
            if ((rc = dup_check(d, &seen, K_NAME, k, where))) return rc;
            if ((rc = ig_json_cstr(r, &os->name))) return ig_error_prefix(d->err, rc, "%s: name: ", where);
            snprintf(where, sizeof where, "output '%.100s'", os->name);
        } else if (str_is(k, "parameters")) {
            if ((rc = dup_check(d, &seen, K_PARAMS, k, where))) return rc;
            if ((rc = parse_params(d, P_OUTPUT, where, &pv))) return rc;
        } else if ((rc = ig_json_skip(r))) {
            return ig_error_prefix(d->err, rc, "%s: ", where);
        }
    }
    if (rc < 0) return ig_error_prefix(d->err, rc, "%s: ", where);
    if (!os->name) return ig_error_set(d->err, IG_EINVAL, "%s: missing \"name\"", where);
    os->binary = pv.binary;
    os->binary_set = pv.binary_set;
    os->classification = pv.classification;
    return 0;
}

/* Grows an arena array by doubling (the old block stays in the arena: at most 2x waste). */
static void *grow(dec *d, void *old, int n, int *cap, size_t es)
{
    int nc = *cap ? *cap * 2 : 4;
    void *p = ig_arena_array(d->a, (size_t)nc, es, 8);
    if (!p) return NULL;
    if (n) memcpy(p, old, (size_t)n * es);
    *cap = nc;
    return p;
}

static int parse_inputs(dec *d)
{
    ig_json_reader *r = &d->r;
    ig_infer_request *q = d->req;
    int rc = ig_json_arr_begin(r), cap = 0;
    if (rc) return ig_error_prefix(d->err, rc, "inputs: ");
    while ((rc = ig_json_arr_next(r)) == 1) {
        if (q->n_inputs == MAX_TENSORS)
            return ig_error_set(d->err, IG_EINVAL, "more than %d inputs", MAX_TENSORS);
        if (q->n_inputs == cap && !(q->inputs = grow(d, q->inputs, q->n_inputs, &cap, sizeof *q->inputs)))
            return nomem(d);
        ig_infer_tensor *it = &q->inputs[q->n_inputs];
        if ((rc = parse_input(d, q->n_inputs, it))) return rc;
        for (int i = 0; i < q->n_inputs; i++)
            if (!strcmp(q->inputs[i].name, it->name))
                return ig_error_set(d->err, IG_EINVAL, "input '%.100s' appears twice", it->name);
        q->n_inputs++;
    }
    return rc < 0 ? ig_error_prefix(d->err, rc, "inputs: ") : 0;
}

static int parse_outputs(dec *d)
{
    ig_json_reader *r = &d->r;
    ig_infer_request *q = d->req;
    int rc = ig_json_arr_begin(r), cap = 0;
    if (rc) return ig_error_prefix(d->err, rc, "outputs: ");
    while ((rc = ig_json_arr_next(r)) == 1) {
        if (q->n_outputs == MAX_TENSORS)
            return ig_error_set(d->err, IG_EINVAL, "more than %d outputs", MAX_TENSORS);
        if (q->n_outputs == cap &&
            !(q->outputs = grow(d, q->outputs, q->n_outputs, &cap, sizeof *q->outputs)))
            return nomem(d);
        ig_output_spec *os = &q->outputs[q->n_outputs];
        if ((rc = parse_output(d, q->n_outputs, os))) return rc;
        for (int i = 0; i < q->n_outputs; i++)
            if (!strcmp(q->outputs[i].name, os->name))
                return ig_error_set(d->err, IG_EINVAL, "output '%.100s' requested twice", os->name);
        q->n_outputs++;
    }
    return rc < 0 ? ig_error_prefix(d->err, rc, "outputs: ") : 0;
}

static void init_request(ig_infer_request *out, ig_arena *arena, const char *model_name,
                         const char *model_version)
{
    memset(out, 0, sizeof *out);
    out->arena = arena;
    out->model_name = model_name ? model_name : "";
    out->model_version = model_version ? model_version : "";
    out->id = "";
    atomic_init(&out->cancelled, false);
}

enum { T_ID, T_PARAMS, T_INPUTS, T_OUTPUTS };

int ig_oip_decode_infer(const void *body, size_t len, size_t json_len, const char *model_name,
                        const char *model_version, ig_arena *arena, ig_infer_request *out, ig_error *err)
{
    init_request(out, arena, model_name, model_version);
    if (json_len == 0)
        return ig_error_set(err, IG_EINVAL,
                            "raw binary request (Inference-Header-Content-Length: 0) needs the "
                            "model's input: decode it with ig_oip_decode_raw");
    if (json_len == SIZE_MAX) json_len = len;
    if (json_len > len)
        return ig_error_set(err, IG_EINVAL,
                            "Inference-Header-Content-Length %zu exceeds the body's %zu bytes", json_len,
                            len);
    dec d = {.a = arena, .err = err, .req = out};
    d.bin = (const unsigned char *)body + json_len;
    d.bin_len = len - json_len;
    ig_json_init(&d.r, body, json_len, arena, err);
    ig_json_reader *r = &d.r;
    int rc = ig_json_obj_begin(r);
    if (rc) return ig_error_prefix(err, rc, "request: ");
    uint32_t seen = 0;
    ig_string k;
    pvals pv = {0};
    while ((rc = ig_json_obj_next(r, &k)) == 1) {
        if (str_is(k, "id")) {
            if ((rc = dup_check(&d, &seen, T_ID, k, "request"))) return rc;
            if ((rc = ig_json_cstr(r, &out->id))) return ig_error_prefix(err, rc, "id: ");
        } else if (str_is(k, "parameters")) {
            if ((rc = dup_check(&d, &seen, T_PARAMS, k, "request"))) return rc;
            if ((rc = parse_params(&d, P_REQUEST, "request", &pv))) return rc;
        } else if (str_is(k, "inputs")) {
            if ((rc = dup_check(&d, &seen, T_INPUTS, k, "request"))) return rc;
            if ((rc = parse_inputs(&d))) return rc;
        } else if (str_is(k, "outputs")) {
            if ((rc = dup_check(&d, &seen, T_OUTPUTS, k, "request"))) return rc;
            if ((rc = parse_outputs(&d))) return rc;
        } else if ((rc = ig_json_skip(r))) {
            return ig_error_prefix(err, rc, "request: ");
        }
    }
    if (rc < 0) return ig_error_prefix(err, rc, "request: ");
    if ((rc = ig_json_finish(r))) return ig_error_prefix(err, rc, "request: ");
    if (!(seen & (1u << T_INPUTS))) return ig_error_set(err, IG_EINVAL, "request: missing \"inputs\"");
    if (d.bin_off != d.bin_len)
        return ig_error_set(err, IG_EINVAL,
                            "%zu bytes of binary data follow the last input's binary_data_size",
                            d.bin_len - d.bin_off);
    return 0;
}

int ig_oip_decode_raw(const void *body, size_t len, const ig_oip_raw_input *in, const char *model_name,
                      const char *model_version, ig_arena *arena, ig_infer_request *out, ig_error *err)
{
    init_request(out, arena, model_name, model_version);
    out->binary_output = true;
    ig_infer_tensor *it = ig_arena_alloc(arena, sizeof *it, 8);
    if (!it) return ig_error_set(err, IG_ENOMEM, "out of memory decoding the request");
    it->name = in->name;
    it->t.dtype = in->dtype;
    it->t.ndim = in->ndim;
    if (in->ndim < 0 || in->ndim > IG_MAX_DIMS)
        return ig_error_set(err, IG_EINVAL, "raw input: bad rank %d", in->ndim);
    memcpy(it->t.dims, in->dims, sizeof it->t.dims);
    out->inputs = it;
    out->n_inputs = 1;
    if (in->dtype == IG_DT_STRING) {
        if (ig_tensor_numel(&it->t) != 1)
            return ig_error_set(err, IG_EINVAL, "raw binary request: BYTES input '%s' must have shape [1]",
                                in->name);
        ig_string *s = ig_arena_alloc(arena, sizeof *s, 8);
        if (!s) return ig_error_set(err, IG_ENOMEM, "out of memory decoding the request");
        s->ptr = body;
        s->len = len;
        it->t.data = s;
        return 0;
    }
    size_t es = ig_dtype_size(in->dtype);
    if (!es || !ig_oip_dtype_name(in->dtype))
        return ig_error_set(err, IG_EINVAL, "raw binary request: input '%s' has no binary form", in->name);
    int var = -1;
    uint64_t fixed = 1;
    for (int i = 0; i < in->ndim; i++) {
        if (in->dims[i] < 0) {
            if (var >= 0)
                return ig_error_set(err, IG_EINVAL,
                                    "raw binary request: input '%s' has more than one variable dimension",
                                    in->name);
            var = i;
        } else if (in->dims[i] && fixed > UINT64_MAX / (uint64_t)in->dims[i]) {
            return ig_error_set(err, IG_EINVAL, "raw binary request: input '%s' shape too large", in->name);
        } else {
            fixed *= (uint64_t)in->dims[i];
        }
    }
    if (var >= 0) {
        if (fixed == 0 || len % (fixed * es))
            return ig_error_set(
                err, IG_EINVAL,
                "raw binary request: %zu bytes is not a whole number of %llu-element %s rows for "
                "input '%s'",
                len, (unsigned long long)fixed, ig_oip_dtype_name(in->dtype), in->name);
        it->t.dims[var] = (int64_t)(len / (fixed * es));
    }
    size_t need = ig_tensor_nbytes(&it->t);
    if (need != len) {
        char sb[96];
        return ig_error_set(err, IG_EINVAL,
                            "raw binary request: input '%s' %s %s needs %zu bytes, body has %zu", in->name,
                            ig_oip_dtype_name(in->dtype), ig_shape_str(&it->t, sb, sizeof sb), need, len);
    }
    if (((uintptr_t)body & (es - 1)) == 0) {
        it->t.data = (void *)body;
    } else {
        void *c = ig_arena_alloc(arena, len ? len : 1, 64);
        if (!c) return ig_error_set(err, IG_ENOMEM, "out of memory decoding the request");
        memcpy(c, body, len);
        it->t.data = c;
    }
    return 0;
}
