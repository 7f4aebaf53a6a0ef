/* Inference response and error body encoding: JSON outputs printed from the typed buffers, binary
 * outputs described by binary_data_size and returned as (pointer, length) parts to send after the
 * JSON without copying. */
#include <stdlib.h>
#include <string.h>

#include "protocol/json.h"
#include "protocol/oip.h"

static void shape(ig_json_writer *w, const ig_tensor *t)
{
    ig_jw_char(w, '[');
    for (int i = 0; i < t->ndim; i++) {
        if (i) ig_jw_char(w, ',');
        ig_jw_i64(w, t->dims[i]);
    }
    ig_jw_char(w, ']');
}

/* Flat "data" array. */
static int data(ig_json_writer *w, const ig_tensor *t, int64_t n, ig_error *err)
{
    const void *p = t->data;
    ig_jw_char(w, '[');
    for (int64_t i = 0; i < n && !w->oom; i++) {
        if (i) ig_jw_char(w, ',');
        switch (t->dtype) {
        case IG_DT_FLOAT:
            ig_jw_f32(w, ((const float *)p)[i]);
            break;
        case IG_DT_DOUBLE:
            ig_jw_f64(w, ((const double *)p)[i]);
            break;
        case IG_DT_FLOAT16:
            ig_jw_f32(w, ig_json_f16_to_f32(((const uint16_t *)p)[i]));
            break;
        case IG_DT_BFLOAT16:
            ig_jw_f32(w, ig_json_bf16_to_f32(((const uint16_t *)p)[i]));
            break;
        case IG_DT_BOOL:
            if (((const uint8_t *)p)[i])
                ig_jw_raw(w, "true", 4);
            else
                ig_jw_raw(w, "false", 5);
            break;
        case IG_DT_INT8:
            ig_jw_i64(w, ((const int8_t *)p)[i]);
            break;
        case IG_DT_INT16:
            ig_jw_i64(w, ((const int16_t *)p)[i]);
            break;
        case IG_DT_INT32:
            ig_jw_i64(w, ((const int32_t *)p)[i]);
            break;
        case IG_DT_INT64:
            ig_jw_i64(w, ((const int64_t *)p)[i]);
            break;
        case IG_DT_UINT8:
            ig_jw_u64(w, ((const uint8_t *)p)[i]);
            break;
        case IG_DT_UINT16:
            ig_jw_u64(w, ((const uint16_t *)p)[i]);
            break;
        case IG_DT_UINT32:
            ig_jw_u64(w, ((const uint32_t *)p)[i]);
            break;
        case IG_DT_UINT64:
            ig_jw_u64(w, ((const uint64_t *)p)[i]);
            break;
        case IG_DT_STRING: {
            const ig_string *s = &((const ig_string *)p)[i];
            ig_jw_str(w, s->ptr, s->len);
            break;
        }
        default:
            return ig_error_set(err, IG_EUNSUPPORTED, "output dtype %s has no protocol form",
                                ig_dtype_name(t->dtype));
        }
    }
    ig_jw_char(w, ']');
    return 0;
}

/* Whether output `name` goes binary: the tensor's flag, else the request's spec, else request-level. */
static bool want_binary(const ig_infer_request *req, const ig_infer_tensor *o)
{
    if (o->binary) return true;
    if (!req) return false;
    for (int i = 0; i < req->n_outputs; i++)
        if (req->outputs[i].name && o->name && !strcmp(req->outputs[i].name, o->name) &&
            req->outputs[i].binary_set)
            return req->outputs[i].binary;
    return req->binary_output;
}

int ig_oip_encode_infer(const ig_infer_request *req, const ig_infer_response *resp, const char *version,
                        ig_oip_body *out, ig_error *err)
{
    memset(out, 0, sizeof *out);
    ig_json_writer w = {0};
    int rc = 0;
    ig_arena *a = req ? req->arena : NULL;
    if (resp->n_outputs > 0) {
        if (!a) return ig_error_set(err, IG_EINVAL, "encoding a response needs the request's arena");
        out->parts = ig_arena_array(a, (size_t)resp->n_outputs, sizeof *out->parts, 8);
        if (!out->parts) return ig_error_set(err, IG_ENOMEM, "out of memory encoding the response");
    }
    ig_jw_lit(&w, "{\"model_name\":");
    ig_jw_cstr(&w, req ? req->model_name : "");
    if (version && *version) {
        ig_jw_lit(&w, ",\"model_version\":");
        ig_jw_cstr(&w, version);
    }
    if (req && req->id && *req->id) {
        ig_jw_lit(&w, ",\"id\":");
        ig_jw_cstr(&w, req->id);
    }
    ig_jw_lit(&w, ",\"outputs\":[");
    for (int i = 0; i < resp->n_outputs; i++) {
        const ig_infer_tensor *o = &resp->outputs[i];
        const ig_tensor *t = &o->t;
        const char *dn = ig_oip_dtype_name(t->dtype);
        int64_t n = ig_tensor_numel(t);
        if (!dn || n < 0) {
            rc = ig_error_set(err, IG_EUNSUPPORTED, "output '%s': dtype %s has no protocol form", o->name,
                              ig_dtype_name(t->dtype));
            goto fail;
        }
        if (i) ig_jw_char(&w, ',');
        ig_jw_lit(&w, "{\"name\":");
        ig_jw_cstr(&w, o->name);
        ig_jw_lit(&w, ",\"datatype\":\"");
        ig_jw_lit(&w, dn);
        ig_jw_lit(&w, "\",\"shape\":");
        shape(&w, t);
        if (want_binary(req, o)) {
            ig_oip_part *part = &out->parts[out->n_parts++];
            if (t->dtype == IG_DT_STRING) {
                const ig_string *s = t->data;
                size_t total = 0;
                for (int64_t j = 0; j < n; j++) {
                    if (s[j].len > UINT32_MAX) {
                        rc = ig_error_set(err, IG_EOVERFLOW,
                                          "output '%s': BYTES element %lld longer than 4 GiB", o->name,
                                          (long long)j);
                        goto fail;
                    }
                    total += 4 + s[j].len;
                }
                unsigned char *buf = ig_arena_alloc(a, total ? total : 1, 8), *q = buf;
                if (!buf) {
                    rc = ig_error_set(err, IG_ENOMEM, "out of memory encoding output '%s'", o->name);
                    goto fail;
                }
                for (int64_t j = 0; j < n; j++) {
                    uint32_t l = (uint32_t)s[j].len;
                    q[0] = (unsigned char)l, q[1] = (unsigned char)(l >> 8), q[2] = (unsigned char)(l >> 16),
                    q[3] = (unsigned char)(l >> 24);
                    if (l) memcpy(q + 4, s[j].ptr, l);
                    q += 4 + l;
                }
                part->ptr = buf;
                part->len = total;
            } else {
                part->ptr = t->data;
                part->len = ig_tensor_nbytes(t);
            }
            out->binary_len += part->len;
            ig_jw_lit(&w, ",\"parameters\":{\"binary_data_size\":");
            ig_jw_u64(&w, part->len);
            ig_jw_lit(&w, "}}");
        } else {
            ig_jw_lit(&w, ",\"data\":");
            if ((rc = data(&w, t, n, err))) goto fail;
            ig_jw_char(&w, '}');
        }
    }
    ig_jw_lit(&w, "]}");
    out->json = ig_jw_take(&w, &out->json_len);
    if (!out->json) {
        rc = ig_error_set(err, IG_ENOMEM, "out of memory encoding the response");
        goto fail;
    }
    return 0;
fail:
    ig_jw_free(&w);
    out->n_parts = 0;
    out->binary_len = 0;
    return rc;
}

void ig_oip_body_free(ig_oip_body *b)
{
    free(b->json);
    b->json = NULL;
}

char *ig_oip_error_json(const char *msg, size_t *len)
{
    ig_json_writer w = {0};
    ig_jw_lit(&w, "{\"error\":");
    ig_jw_cstr(&w, msg);
    ig_jw_char(&w, '}');
    return ig_jw_take(&w, len);
}
