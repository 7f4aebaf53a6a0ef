/* The model config as Triton's /config JSON (proto field names, every primitive field printed even
 * when default, 64-bit integers as JSON numbers), and the config/API/engine dtype mappings. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serving/config.h"

static const char *const api_names[] = {
    [IG_CFG_TYPE_BOOL] = "BOOL",     [IG_CFG_TYPE_UINT8] = "UINT8",   [IG_CFG_TYPE_UINT16] = "UINT16",
    [IG_CFG_TYPE_UINT32] = "UINT32", [IG_CFG_TYPE_UINT64] = "UINT64", [IG_CFG_TYPE_INT8] = "INT8",
    [IG_CFG_TYPE_INT16] = "INT16",   [IG_CFG_TYPE_INT32] = "INT32",   [IG_CFG_TYPE_INT64] = "INT64",
    [IG_CFG_TYPE_FP16] = "FP16",     [IG_CFG_TYPE_FP32] = "FP32",     [IG_CFG_TYPE_FP64] = "FP64",
    [IG_CFG_TYPE_STRING] = "BYTES",  [IG_CFG_TYPE_BF16] = "BF16",
};

static const char *const enum_names[] = {
    [IG_CFG_TYPE_INVALID] = "TYPE_INVALID", [IG_CFG_TYPE_BOOL] = "TYPE_BOOL",
    [IG_CFG_TYPE_UINT8] = "TYPE_UINT8",     [IG_CFG_TYPE_UINT16] = "TYPE_UINT16",
    [IG_CFG_TYPE_UINT32] = "TYPE_UINT32",   [IG_CFG_TYPE_UINT64] = "TYPE_UINT64",
    [IG_CFG_TYPE_INT8] = "TYPE_INT8",       [IG_CFG_TYPE_INT16] = "TYPE_INT16",
    [IG_CFG_TYPE_INT32] = "TYPE_INT32",     [IG_CFG_TYPE_INT64] = "TYPE_INT64",
    [IG_CFG_TYPE_FP16] = "TYPE_FP16",       [IG_CFG_TYPE_FP32] = "TYPE_FP32",
    [IG_CFG_TYPE_FP64] = "TYPE_FP64",       [IG_CFG_TYPE_STRING] = "TYPE_STRING",
    [IG_CFG_TYPE_BF16] = "TYPE_BF16",
};

const char *ig_cfg_dtype_api_name(ig_cfg_dtype t)
{
    if (t <= IG_CFG_TYPE_INVALID || t > IG_CFG_TYPE_BF16) return "INVALID";
    return api_names[t];
}

static const struct {
    ig_cfg_dtype cfg;
    ig_dtype eng;
} dtype_map[] = {
    {IG_CFG_TYPE_BOOL, IG_DT_BOOL},     {IG_CFG_TYPE_UINT8, IG_DT_UINT8},
    {IG_CFG_TYPE_UINT16, IG_DT_UINT16}, {IG_CFG_TYPE_UINT32, IG_DT_UINT32},
    {IG_CFG_TYPE_UINT64, IG_DT_UINT64}, {IG_CFG_TYPE_INT8, IG_DT_INT8},
    {IG_CFG_TYPE_INT16, IG_DT_INT16},   {IG_CFG_TYPE_INT32, IG_DT_INT32},
    {IG_CFG_TYPE_INT64, IG_DT_INT64},   {IG_CFG_TYPE_FP16, IG_DT_FLOAT16},
    {IG_CFG_TYPE_FP32, IG_DT_FLOAT},    {IG_CFG_TYPE_FP64, IG_DT_DOUBLE},
    {IG_CFG_TYPE_STRING, IG_DT_STRING}, {IG_CFG_TYPE_BF16, IG_DT_BFLOAT16},
};

ig_cfg_dtype ig_cfg_dtype_from_engine(ig_dtype dt)
{
    for (size_t i = 0; i < sizeof(dtype_map) / sizeof(dtype_map[0]); i++)
        if (dtype_map[i].eng == dt) return dtype_map[i].cfg;
    return IG_CFG_TYPE_INVALID;
}

ig_dtype ig_cfg_dtype_to_engine(ig_cfg_dtype t)
{
    for (size_t i = 0; i < sizeof(dtype_map) / sizeof(dtype_map[0]); i++)
        if (dtype_map[i].cfg == t) return dtype_map[i].eng;
    return IG_DT_UNDEFINED;
}

/* ---- JSON writer: a growing buffer that remembers OOM instead of failing every call ---- */

typedef struct jbuf {
    char *s;
    size_t len, cap;
    int oom;
} jbuf;

static void jraw(jbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns, b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

#define JL(b, lit) jraw(b, lit, sizeof(lit) - 1)

static void jf(jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jf(jbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0) jraw(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void jstr(jbuf *b, const char *s)
{
    JL(b, "\"");
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            jraw(b, e, 2);
        } else if (*p < 0x20) {
            jf(b, "\\u%04x", *p);
        } else {
            jraw(b, (const char *)p, 1);
        }
    }
    JL(b, "\"");
}

static void jkey(jbuf *b, const char *k)
{
    jstr(b, k);
    JL(b, ":");
}

static void jdims(jbuf *b, const int64_t *d, int n)
{
    JL(b, "[");
    for (int i = 0; i < n; i++) jf(b, "%s%" PRId64, i ? "," : "", d[i]);
    JL(b, "]");
}

static const char *tf(bool v)
{
    return v ? "true" : "false";
}

static void jtensor(jbuf *b, const ig_cfg_tensor *t, bool input)
{
    JL(b, "{");
    jkey(b, "name");
    jstr(b, t->name);
    jf(b, ",\"data_type\":\"%s\"", enum_names[t->data_type <= IG_CFG_TYPE_BF16 ? t->data_type : 0]);
    if (input) JL(b, ",\"format\":\"FORMAT_NONE\"");
    JL(b, ",\"dims\":");
    jdims(b, t->dims, t->n_dims);
    if (t->has_reshape) {
        JL(b, ",\"reshape\":{\"shape\":");
        jdims(b, t->reshape, t->n_reshape);
        JL(b, "}");
    }
    if (input) {
        jf(b, ",\"is_shape_tensor\":false,\"allow_ragged_batch\":false,\"optional\":%s", tf(t->optional));
    } else {
        JL(b, ",\"label_filename\":");
        jstr(b, t->label_filename);
        jf(b, ",\"is_shape_tensor\":false");
    }
    jf(b, ",\"is_non_linear_format_io\":false}");
}

static void jqueue(jbuf *b, const ig_queue_policy *q)
{
    jf(b, "{\"timeout_action\":\"%s\",\"default_timeout_microseconds\":%" PRIu64,
       q->timeout_delay ? "DELAY" : "REJECT", q->default_timeout_us);
    jf(b, ",\"allow_timeout_override\":%s,\"max_queue_size\":%" PRIu32 "}", tf(q->allow_timeout_override),
       q->max_queue_size);
}

char *ig_config_to_json(const ig_model_config *c)
{
    jbuf b = {0};
    JL(&b, "{\"name\":");
    jstr(&b, c->name);
    JL(&b, ",\"platform\":");
    jstr(&b, c->platform);
    JL(&b, ",\"backend\":");
    jstr(&b, c->backend);
    JL(&b, ",\"runtime\":\"\",\"version_policy\":");
    if (c->version_policy == IG_VERSION_ALL) {
        JL(&b, "{\"all\":{}}");
    } else if (c->version_policy == IG_VERSION_SPECIFIC) {
        JL(&b, "{\"specific\":{\"versions\":");
        jdims(&b, c->specific_versions, c->n_specific_versions);
        JL(&b, "}}");
    } else {
        jf(&b, "{\"latest\":{\"num_versions\":%" PRIu32 "}}", c->latest_num_versions);
    }
    jf(&b, ",\"max_batch_size\":%" PRId32 ",\"input\":[", c->max_batch_size);
    for (int i = 0; i < c->n_inputs; i++) {
        if (i) JL(&b, ",");
        jtensor(&b, &c->inputs[i], true);
    }
    JL(&b, "],\"output\":[");
    for (int i = 0; i < c->n_outputs; i++) {
        if (i) JL(&b, ",");
        jtensor(&b, &c->outputs[i], false);
    }
    JL(&b, "],\"batch_input\":[],\"batch_output\":[]");
    JL(&b, ",\"optimization\":{\"priority\":\"PRIORITY_DEFAULT\",\"input_pinned_memory\":{\"enable\":true},"
           "\"output_pinned_memory\":{\"enable\":true},\"gather_kernel_buffer_threshold\":0,\"eager_"
           "batching\":false}");
    if (c->dynamic_batching) {
        JL(&b, ",\"dynamic_batching\":{\"preferred_batch_size\":[");
        for (int i = 0; i < c->n_preferred_batch_sizes; i++)
            jf(&b, "%s%" PRId32, i ? "," : "", c->preferred_batch_sizes[i]);
        jf(&b, "],\"max_queue_delay_microseconds\":%" PRIu64 ",\"preserve_ordering\":%s",
           c->max_queue_delay_us, tf(c->preserve_ordering));
        jf(&b, ",\"priority_levels\":%" PRIu32 ",\"default_priority_level\":%" PRIu32, c->priority_levels,
           c->default_priority_level);
        JL(&b, ",\"default_queue_policy\":");
        jqueue(&b, &c->default_queue_policy);
        JL(&b, ",\"priority_queue_policy\":{");
        if (c->priority_queue_policy)
            for (uint32_t l = 1; l <= c->priority_levels; l++) {
                jf(&b, "%s\"%" PRIu32 "\":", l > 1 ? "," : "", l);
                jqueue(&b, &c->priority_queue_policy[l]);
            }
        JL(&b, "}}");
    }
    jf(&b, ",\"instance_group\":[{\"name\":");
    jstr(&b, c->name);
    jf(&b,
       ",\"kind\":\"KIND_CPU\",\"count\":%d,\"gpus\":[],\"secondary_devices\":[],\"profile\":[],\"passive\":"
       "false,"
       "\"host_policy\":\"\"}]",
       c->instance_count);
    JL(&b, ",\"default_model_filename\":");
    jstr(&b, c->default_model_filename ? c->default_model_filename : "model.onnx");
    JL(&b, ",\"cc_model_filenames\":{},\"metric_tags\":{},\"parameters\":{");
    for (int i = 0; i < c->n_parameters; i++) {
        if (i) JL(&b, ",");
        jkey(&b, c->parameters[i].key);
        JL(&b, "{\"string_value\":");
        jstr(&b, c->parameters[i].value);
        JL(&b, "}");
    }
    JL(&b, "},\"model_warmup\":[");
    for (int i = 0; i < c->n_warmups; i++) {
        const ig_cfg_warmup *w = &c->warmups[i];
        jraw(&b, i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8);
        jstr(&b, w->name);
        jf(&b, ",\"batch_size\":%" PRIu32 ",\"inputs\":{", w->batch_size);
        for (int j = 0; j < w->n_inputs; j++) {
            const struct ig_cfg_warmup_input *in = &w->inputs[j];
            if (j) JL(&b, ",");
            jkey(&b, in->name);
            jf(&b, "{\"data_type\":\"%s\",\"dims\":",
               enum_names[in->data_type <= IG_CFG_TYPE_BF16 ? in->data_type : 0]);
            jdims(&b, in->dims, in->n_dims);
            jf(&b, ",\"%s\":true}", in->random_data ? "random_data" : "zero_data");
        }
        jf(&b, "},\"count\":%" PRIu32 "}", w->count);
    }
    JL(&b, "]");
    if (c->response_cache) JL(&b, ",\"response_cache\":{\"enable\":true}");
    JL(&b, "}");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
