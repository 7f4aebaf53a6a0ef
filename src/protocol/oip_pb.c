/* ModelInferRequest -> ig_infer_request and ig_infer_response -> ModelInferResponse (see oip_pb.h).
 * Only the decoding differs from REST: the request that comes out goes down the same serving path. */
#include "protocol/oip_pb.h"

#include <string.h>

static void *pb_alloc(void *arena, size_t n)
{
    return ig_arena_alloc(arena, n ? n : 1, 16);
}

static void pb_free(void *arena, void *p)
{
    (void)arena, (void)p; /* freed with the arena */
}

void ig_oip_pb_allocator(ig_arena *arena, ProtobufCAllocator *out)
{
    *out = (ProtobufCAllocator){.alloc = pb_alloc, .free = pb_free, .allocator_data = arena};
}

static int nomem(ig_error *err)
{
    return ig_error_set(err, IG_ENOMEM, "out of memory");
}

static int64_t param_int(const Inference__InferParameter *p, bool *ok)
{
    *ok = true;
    switch (p->parameter_choice_case) {
    case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_INT64_PARAM:
        if (p->int64_param >= 0) return p->int64_param;
        break;
    case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_UINT64_PARAM:
        if (p->uint64_param <= INT64_MAX) return (int64_t)p->uint64_param;
        break;
    default:
        break;
    }
    *ok = false;
    return 0;
}

/* Request-level parameters Triton defines; others are the client's own and pass unread. */
static int request_params(const Inference__ModelInferRequest *m, ig_infer_request *out, ig_error *err)
{
    for (size_t i = 0; i < m->n_parameters; i++) {
        const char *k = m->parameters[i]->key;
        const Inference__InferParameter *v = m->parameters[i]->value;
        bool ok = true;
        if (!v) continue;
        if (!strcmp(k, "priority")) {
            out->priority = param_int(v, &ok);
        } else if (!strcmp(k, "timeout")) {
            out->timeout_us = (uint64_t)param_int(v, &ok);
        } else if (!strcmp(k, "binary_data_output")) {
            continue; /* gRPC outputs are always raw */
        } else if (!strncmp(k, "triton_", 7)) {
            return ig_error_set(err, IG_EINVAL, "parameter '%s' is reserved", k);
        }
        if (!ok) return ig_error_set(err, IG_EINVAL, "parameter '%s' must be a non-negative integer", k);
    }
    return 0;
}

static const char *shape_str(const ig_tensor *t, char *buf, size_t len)
{
    return ig_shape_str(t, buf, len);
}

/* BYTES in raw form: numel times (4-byte little-endian length, bytes), exactly filling n. */
static int raw_strings(const char *name, ig_tensor *t, const uint8_t *p, size_t n, int64_t numel, ig_arena *a,
                       ig_error *err)
{
    if ((uint64_t)numel > n / 4)
        return ig_error_set(err, IG_EINVAL,
                            "input '%s': %lld BYTES elements need at least %lld bytes, got %zu", name,
                            (long long)numel, (long long)numel * 4, n);
    ig_string *s = ig_arena_array(a, numel ? (size_t)numel : 1, sizeof *s, 8);
    if (!s) return nomem(err);
    size_t off = 0;
    for (int64_t i = 0; i < numel; i++) {
        if (n - off < 4)
            return ig_error_set(err, IG_EINVAL, "input '%s': BYTES element %lld: length prefix cut off", name,
                                (long long)i);
        uint32_t l = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 | (uint32_t)p[off + 2] << 16 |
                     (uint32_t)p[off + 3] << 24;
        off += 4;
        if (l > n - off)
            return ig_error_set(err, IG_EINVAL,
                                "input '%s': BYTES element %lld: length %u exceeds the %zu bytes left", name,
                                (long long)i, l, n - off);
        s[i] = (ig_string){(const char *)p + off, l};
        off += l;
    }
    if (off != n)
        return ig_error_set(err, IG_EINVAL,
                            "input '%s': %lld BYTES elements use %zu bytes, raw content has %zu", name,
                            (long long)numel, off, n);
    t->data = s;
    return 0;
}

static int raw_input(const char *name, ig_tensor *t, const ProtobufCBinaryData *raw, int64_t numel,
                     ig_arena *a, ig_error *err)
{
    if (t->dtype == IG_DT_STRING) return raw_strings(name, t, raw->data, raw->len, numel, a, err);
    size_t need = ig_tensor_nbytes(t);
    if (need != raw->len) {
        char sb[96];
        return ig_error_set(err, IG_EINVAL, "input '%s': %s %s needs %zu bytes, raw_input_contents has %zu",
                            name, ig_oip_dtype_name(t->dtype), shape_str(t, sb, sizeof sb), need, raw->len);
    }
    /* protobuf-c copied the bytes into the arena with 16-byte alignment: borrow them. */
    t->data = raw->len ? raw->data : ig_arena_alloc(a, 1, 16);
    return t->data ? 0 : nomem(err);
}

/* Typed contents: the field the datatype uses, exactly numel values, converted to the element type. */
static int typed_input(const char *name, ig_tensor *t, const Inference__InferTensorContents *c, int64_t numel,
                       ig_arena *a, ig_error *err)
{
    size_t n = 0;
    const char *field = NULL;
    switch (t->dtype) {
    case IG_DT_BOOL:
        n = c->n_bool_contents, field = "bool_contents";
        break;
    case IG_DT_INT8:
    case IG_DT_INT16:
    case IG_DT_INT32:
        n = c->n_int_contents, field = "int_contents";
        break;
    case IG_DT_INT64:
        n = c->n_int64_contents, field = "int64_contents";
        break;
    case IG_DT_UINT8:
    case IG_DT_UINT16:
    case IG_DT_UINT32:
        n = c->n_uint_contents, field = "uint_contents";
        break;
    case IG_DT_UINT64:
        n = c->n_uint64_contents, field = "uint64_contents";
        break;
    case IG_DT_FLOAT:
        n = c->n_fp32_contents, field = "fp32_contents";
        break;
    case IG_DT_DOUBLE:
        n = c->n_fp64_contents, field = "fp64_contents";
        break;
    case IG_DT_STRING:
        n = c->n_bytes_contents, field = "bytes_contents";
        break;
    default:
        return ig_error_set(err, IG_EINVAL, "input '%s': %s data must be sent in raw_input_contents", name,
                            ig_oip_dtype_name(t->dtype));
    }
    if ((uint64_t)numel != n) {
        char sb[96];
        return ig_error_set(err, IG_EINVAL, "input '%s': shape %s needs %lld elements, got %zu in %s", name,
                            shape_str(t, sb, sizeof sb), (long long)numel, n, field);
    }
    size_t es = ig_dtype_size(t->dtype);
    void *d = ig_arena_alloc(a, n ? n * es : 1, 64);
    if (!d) return nomem(err);
    for (size_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case IG_DT_BOOL:
            ((uint8_t *)d)[i] = c->bool_contents[i] != 0;
            break;
        case IG_DT_INT8:
            ((int8_t *)d)[i] = (int8_t)c->int_contents[i];
            break;
        case IG_DT_INT16:
            ((int16_t *)d)[i] = (int16_t)c->int_contents[i];
            break;
        case IG_DT_INT32:
            ((int32_t *)d)[i] = c->int_contents[i];
            break;
        case IG_DT_INT64:
            ((int64_t *)d)[i] = c->int64_contents[i];
            break;
        case IG_DT_UINT8:
            ((uint8_t *)d)[i] = (uint8_t)c->uint_contents[i];
            break;
        case IG_DT_UINT16:
            ((uint16_t *)d)[i] = (uint16_t)c->uint_contents[i];
            break;
        case IG_DT_UINT32:
            ((uint32_t *)d)[i] = c->uint_contents[i];
            break;
        case IG_DT_UINT64:
            ((uint64_t *)d)[i] = c->uint64_contents[i];
            break;
        case IG_DT_FLOAT:
            ((float *)d)[i] = c->fp32_contents[i];
            break;
        case IG_DT_DOUBLE:
            ((double *)d)[i] = c->fp64_contents[i];
            break;
        case IG_DT_STRING:
            ((ig_string *)d)[i] =
                (ig_string){(const char *)c->bytes_contents[i].data, c->bytes_contents[i].len};
            break;
        default:
            break;
        }
    }
    t->data = d;
    return 0;
}

static int decode_input(const Inference__ModelInferRequest__InferInputTensor *in,
                        const ProtobufCBinaryData *raw, ig_arena *a, ig_infer_tensor *out, ig_error *err)
{
    const char *name = in->name;
    out->name = name;
    out->t.dtype = ig_oip_dtype_parse(in->datatype, strlen(in->datatype));
    if (out->t.dtype == IG_DT_UNDEFINED)
        return ig_error_set(err, IG_EINVAL, "input '%s': unknown datatype '%.64s'", name, in->datatype);
    if (in->n_shape > IG_MAX_DIMS)
        return ig_error_set(err, IG_EINVAL, "input '%s': %zu dims, at most %d supported", name, in->n_shape,
                            IG_MAX_DIMS);
    out->t.ndim = (int)in->n_shape;
    for (size_t k = 0; k < in->n_shape; k++) {
        if (in->shape[k] < 0)
            return ig_error_set(err, IG_EINVAL, "input '%s': negative dim %lld in shape", name,
                                (long long)in->shape[k]);
        out->t.dims[k] = in->shape[k];
    }
    int64_t numel = ig_tensor_numel(&out->t);
    if (numel < 0 || (out->t.dtype != IG_DT_STRING && ig_tensor_nbytes(&out->t) == SIZE_MAX))
        return ig_error_set(err, IG_EINVAL, "input '%s': shape too large", name);
    if (raw) {
        if (in->contents)
            return ig_error_set(err, IG_EINVAL,
                                "input '%s': contents must be empty when raw_input_contents is used", name);
        return raw_input(name, &out->t, raw, numel, a, err);
    }
    if (!in->contents)
        return ig_error_set(err, IG_EINVAL, "input '%s': no data: set contents or raw_input_contents", name);
    return typed_input(name, &out->t, in->contents, numel, a, err);
}

int ig_oip_pb_decode_infer(const void *buf, size_t len, ig_arena *arena, ig_infer_request *out, ig_error *err)
{
    memset(out, 0, sizeof *out);
    ProtobufCAllocator al;
    ig_oip_pb_allocator(arena, &al);
    Inference__ModelInferRequest *m = inference__model_infer_request__unpack(&al, len, buf);
    if (!m)
        return ig_error_set(err, IG_EINVAL, "malformed ModelInferRequest: the message is not valid protobuf");
    out->arena = arena;
    out->model_name = m->model_name;
    out->model_version = m->model_version;
    out->id = m->id;
    int rc = request_params(m, out, err);
    if (rc) return rc;
    if (m->n_raw_input_contents && m->n_raw_input_contents != m->n_inputs)
        return ig_error_set(err, IG_EINVAL,
                            "expected %zu entries in raw_input_contents (one per input), got %zu",
                            m->n_inputs, m->n_raw_input_contents);
    if (m->n_inputs > 4096 || m->n_outputs > 4096)
        return ig_error_set(err, IG_EINVAL, "too many inputs or outputs");
    out->n_inputs = (int)m->n_inputs;
    out->inputs = ig_arena_array(arena, m->n_inputs + 1, sizeof *out->inputs, 8);
    if (!out->inputs) return nomem(err);
    for (size_t i = 0; i < m->n_inputs; i++) {
        for (size_t j = 0; j < i; j++)
            if (!strcmp(m->inputs[j]->name, m->inputs[i]->name))
                return ig_error_set(err, IG_EINVAL, "input '%s' given twice", m->inputs[i]->name);
        rc = decode_input(m->inputs[i], m->n_raw_input_contents ? &m->raw_input_contents[i] : NULL, arena,
                          &out->inputs[i], err);
        if (rc) return rc;
    }
    out->n_outputs = (int)m->n_outputs;
    out->outputs = ig_arena_array(arena, m->n_outputs + 1, sizeof *out->outputs, 8);
    if (!out->outputs) return nomem(err);
    for (size_t i = 0; i < m->n_outputs; i++) {
        const Inference__ModelInferRequest__InferRequestedOutputTensor *o = m->outputs[i];
        out->outputs[i].name = o->name;
        for (size_t k = 0; k < o->n_parameters; k++) {
            const Inference__InferParameter *v = o->parameters[k]->value;
            bool ok;
            if (v && !strcmp(o->parameters[k]->key, "classification")) {
                int64_t c = param_int(v, &ok);
                if (!ok || c > 1 << 20)
                    return ig_error_set(err, IG_EINVAL, "output '%s': classification must be a small integer",
                                        o->name);
                out->outputs[i].classification = (int)c;
            }
        }
    }
    return 0;
}

/* BYTES output in raw form: each element as a 4-byte little-endian length and its bytes. */
static int raw_string_output(const ig_tensor *t, ig_arena *a, ProtobufCBinaryData *out, ig_error *err)
{
    int64_t numel = ig_tensor_numel(t);
    const ig_string *s = t->data;
    size_t total = 0;
    for (int64_t i = 0; i < numel; i++) total += 4 + s[i].len;
    uint8_t *p = ig_arena_alloc(a, total ? total : 1, 8);
    if (!p) return nomem(err);
    size_t o = 0;
    for (int64_t i = 0; i < numel; i++) {
        uint32_t l = (uint32_t)s[i].len;
        p[o] = (uint8_t)l, p[o + 1] = (uint8_t)(l >> 8), p[o + 2] = (uint8_t)(l >> 16),
        p[o + 3] = (uint8_t)(l >> 24);
        if (l) memcpy(p + o + 4, s[i].ptr, l);
        o += 4 + l;
    }
    *out = (ProtobufCBinaryData){total, p};
    return 0;
}

int ig_oip_pb_encode_infer(const ig_infer_request *req, const ig_infer_response *resp, const char *version,
                           ig_arena *a, Inference__ModelInferResponse *m, ig_error *err)
{
    inference__model_infer_response__init(m);
    m->model_name = (char *)(req->model_name ? req->model_name : "");
    m->model_version = (char *)(version ? version : "");
    m->id = (char *)(req->id ? req->id : "");
    size_t n = (size_t)resp->n_outputs;
    Inference__ModelInferResponse__InferOutputTensor *ts = ig_arena_array(a, n + 1, sizeof *ts, 8);
    Inference__ModelInferResponse__InferOutputTensor **tp = ig_arena_array(a, n + 1, sizeof *tp, 8);
    ProtobufCBinaryData *raw = ig_arena_array(a, n + 1, sizeof *raw, 8);
    if (!ts || !tp || !raw) return nomem(err);
    for (size_t i = 0; i < n; i++) {
        const ig_infer_tensor *o = &resp->outputs[i];
        const char *dt = ig_oip_dtype_name(o->t.dtype);
        if (!dt)
            return ig_error_set(err, IG_EUNSUPPORTED, "output '%s': %s has no protocol datatype", o->name,
                                ig_dtype_name(o->t.dtype));
        inference__model_infer_response__infer_output_tensor__init(&ts[i]);
        ts[i].name = (char *)o->name;
        ts[i].datatype = (char *)dt;
        ts[i].n_shape = (size_t)o->t.ndim;
        ts[i].shape = (int64_t *)o->t.dims;
        tp[i] = &ts[i];
        if (o->t.dtype == IG_DT_STRING) {
            int rc = raw_string_output(&o->t, a, &raw[i], err);
            if (rc) return rc;
        } else {
            raw[i] = (ProtobufCBinaryData){ig_tensor_nbytes(&o->t), o->t.data};
        }
    }
    m->n_outputs = n;
    m->outputs = tp;
    m->n_raw_output_contents = n;
    m->raw_output_contents = raw;
    return 0;
}
