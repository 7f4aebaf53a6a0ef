/* JSON bodies of the metadata endpoints: server metadata, model metadata (from the model config),
 * repository index, model statistics (Triton's exact shape) and health. */
#include <stdatomic.h>
#include <string.h>

#include "protocol/json.h"
#include "protocol/oip.h"

char *ig_oip_server_metadata_json(const char *name, const char *version, const char *const *extensions,
                                  int n_extensions, size_t *len)
{
    ig_json_writer w = {0};
    ig_jw_lit(&w, "{\"name\":");
    ig_jw_cstr(&w, name);
    ig_jw_lit(&w, ",\"version\":");
    ig_jw_cstr(&w, version);
    ig_jw_lit(&w, ",\"extensions\":[");
    for (int i = 0; i < n_extensions; i++) {
        if (i) ig_jw_char(&w, ',');
        ig_jw_cstr(&w, extensions[i]);
    }
    ig_jw_lit(&w, "]}");
    return ig_jw_take(&w, len);
}

static void tensor_meta(ig_json_writer *w, const ig_cfg_tensor *t, bool batched)
{
    ig_jw_lit(w, "{\"name\":");
    ig_jw_cstr(w, t->name);
    ig_jw_lit(w, ",\"datatype\":\"");
    ig_jw_lit(w, ig_cfg_dtype_api_name(t->data_type));
    ig_jw_lit(w, "\",\"shape\":[");
    bool first = true;
    if (batched) {
        ig_jw_lit(w, "-1");
        first = false;
    }
    for (int i = 0; i < t->n_dims; i++) {
        if (!first) ig_jw_char(w, ',');
        first = false;
        ig_jw_i64(w, t->dims[i]);
    }
    ig_jw_lit(w, "]}");
}

char *ig_oip_model_metadata_json(const ig_model_config *cfg, const int64_t *versions, int n_versions,
                                 size_t *len)
{
    ig_json_writer w = {0};
    ig_jw_lit(&w, "{\"name\":");
    ig_jw_cstr(&w, cfg->name);
    ig_jw_lit(&w, ",\"versions\":[");
    for (int i = 0; i < n_versions; i++) {
        if (i) ig_jw_char(&w, ',');
        ig_jw_char(&w, '"');
        ig_jw_i64(&w, versions[i]);
        ig_jw_char(&w, '"');
    }
    ig_jw_lit(&w, "],\"platform\":");
    ig_jw_cstr(&w, cfg->platform && *cfg->platform ? cfg->platform : cfg->backend);
    bool batched = cfg->max_batch_size > 0;
    ig_jw_lit(&w, ",\"inputs\":[");
    for (int i = 0; i < cfg->n_inputs; i++) {
        if (i) ig_jw_char(&w, ',');
        tensor_meta(&w, &cfg->inputs[i], batched);
    }
    ig_jw_lit(&w, "],\"outputs\":[");
    for (int i = 0; i < cfg->n_outputs; i++) {
        if (i) ig_jw_char(&w, ',');
        tensor_meta(&w, &cfg->outputs[i], batched);
    }
    ig_jw_lit(&w, "]}");
    return ig_jw_take(&w, len);
}

char *ig_oip_repo_index_json(const ig_oip_repo_entry *e, int n, size_t *len)
{
    ig_json_writer w = {0};
    ig_jw_char(&w, '[');
    for (int i = 0; i < n; i++) {
        if (i) ig_jw_char(&w, ',');
        ig_jw_lit(&w, "{\"name\":");
        ig_jw_cstr(&w, e[i].name);
        if (e[i].version && *e[i].version) {
            ig_jw_lit(&w, ",\"version\":");
            ig_jw_cstr(&w, e[i].version);
        }
        ig_jw_lit(&w, ",\"state\":");
        ig_jw_cstr(&w, e[i].state ? e[i].state : "UNKNOWN");
        ig_jw_lit(&w, ",\"reason\":");
        ig_jw_cstr(&w, e[i].reason ? e[i].reason : "");
        ig_jw_char(&w, '}');
    }
    ig_jw_char(&w, ']');
    return ig_jw_take(&w, len);
}

static uint64_t ld(const atomic_uint_fast64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void duration(ig_json_writer *w, const char *key, const ig_duration_stat *d)
{
    ig_jw_char(w, '"');
    ig_jw_lit(w, key);
    ig_jw_lit(w, "\":{\"count\":");
    ig_jw_u64(w, ld(&d->count));
    ig_jw_lit(w, ",\"ns\":");
    ig_jw_u64(w, ld(&d->ns));
    ig_jw_char(w, '}');
}

char *ig_oip_model_stats_json(const ig_oip_stats_entry *e, int n, size_t *len)
{
    ig_json_writer w = {0};
    ig_jw_lit(&w, "{\"model_stats\":[");
    for (int i = 0; i < n; i++) {
        const ig_model_stats *s = e[i].stats;
        if (i) ig_jw_char(&w, ',');
        ig_jw_lit(&w, "{\"name\":");
        ig_jw_cstr(&w, e[i].name);
        ig_jw_lit(&w, ",\"version\":");
        ig_jw_cstr(&w, e[i].version);
        ig_jw_lit(&w, ",\"last_inference\":");
        ig_jw_u64(&w, ld(&s->last_inference_ms));
        ig_jw_lit(&w, ",\"inference_count\":");
        ig_jw_u64(&w, ld(&s->inference_count));
        ig_jw_lit(&w, ",\"execution_count\":");
        ig_jw_u64(&w, ld(&s->execution_count));
        ig_jw_lit(&w, ",\"inference_stats\":{");
        duration(&w, "success", &s->success);
        ig_jw_char(&w, ',');
        duration(&w, "fail", &s->fail);
        ig_jw_char(&w, ',');
        duration(&w, "queue", &s->queue);
        ig_jw_char(&w, ',');
        duration(&w, "compute_input", &s->compute_input);
        ig_jw_char(&w, ',');
        duration(&w, "compute_infer", &s->compute_infer);
        ig_jw_char(&w, ',');
        duration(&w, "compute_output", &s->compute_output);
        ig_jw_char(&w, ',');
        duration(&w, "cache_hit", &s->cache_hit);
        ig_jw_char(&w, ',');
        duration(&w, "cache_miss", &s->cache_miss);
        ig_jw_lit(&w, "},\"response_stats\":{},\"batch_stats\":[");
        bool first = true;
        for (int b = 1; b < IG_STATS_MAX_BATCH; b++) {
            if (!ld(&s->batch_compute_input[b].count) && !ld(&s->batch_compute_infer[b].count) &&
                !ld(&s->batch_compute_output[b].count))
                continue;
            if (!first) ig_jw_char(&w, ',');
            first = false;
            ig_jw_lit(&w, "{\"batch_size\":");
            ig_jw_i64(&w, b);
            ig_jw_char(&w, ',');
            duration(&w, "compute_input", &s->batch_compute_input[b]);
            ig_jw_char(&w, ',');
            duration(&w, "compute_infer", &s->batch_compute_infer[b]);
            ig_jw_char(&w, ',');
            duration(&w, "compute_output", &s->batch_compute_output[b]);
            ig_jw_char(&w, '}');
        }
        ig_jw_lit(&w, "],\"memory_usage\":[]}");
    }
    ig_jw_lit(&w, "]}");
    return ig_jw_take(&w, len);
}

char *ig_oip_live_json(bool live, size_t *len)
{
    ig_json_writer w = {0};
    ig_jw_lit(&w, live ? "{\"live\":true}" : "{\"live\":false}");
    return ig_jw_take(&w, len);
}

char *ig_oip_ready_json(bool ready, size_t *len)
{
    ig_json_writer w = {0};
    ig_jw_lit(&w, ready ? "{\"ready\":true}" : "{\"ready\":false}");
    return ig_jw_take(&w, len);
}

char *ig_oip_model_ready_json(const char *name, bool ready, size_t *len)
{
    ig_json_writer w = {0};
    ig_jw_lit(&w, "{\"name\":");
    ig_jw_cstr(&w, name);
    ig_jw_lit(&w, ready ? ",\"ready\":true}" : ",\"ready\":false}");
    return ig_jw_take(&w, len);
}
