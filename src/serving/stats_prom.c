/* The /metrics exposition of model statistics: Triton's per-model nv_* counters and gauges under
 * their Triton names (so existing dashboards work), latency and batch-size histograms Triton lacks,
 * model state, and the standard process_* metrics. */
#include "serving/stats.h"

#include <stdio.h>
#include <string.h>

enum { LABELS_MAX = 1024 };

typedef enum { V_SUCCESS, V_FAIL_REASON, V_INFER_COUNT, V_EXEC_COUNT, V_PENDING, V_DUR } value_kind;

/* One per-model scalar family; `dur` selects the duration counter rendered in microseconds. */
typedef struct scalar_family {
    const char *name, *type, *help;
    value_kind kind;
    size_t dur; /* offsetof the ig_duration_stat for V_DUR */
} scalar_family;

static const scalar_family scalars[] = {
    {"nv_inference_request_success", "counter", "Number of successful inference requests, all batch sizes",
     V_SUCCESS, 0},
    {"nv_inference_request_failure", "counter", "Number of failed inference requests, all batch sizes",
     V_FAIL_REASON, 0},
    {"nv_inference_count", "counter", "Number of inferences performed (does not include cached requests)",
     V_INFER_COUNT, 0},
    {"nv_inference_exec_count", "counter",
     "Number of model executions performed (does not include cached requests)", V_EXEC_COUNT, 0},
    {"nv_inference_pending_request_count", "gauge",
     "Instantaneous number of pending requests awaiting execution per-model.", V_PENDING, 0},
    {"nv_inference_request_duration_us", "counter",
     "Cumulative inference request duration in microseconds (includes cached requests)", V_DUR,
     offsetof(ig_model_stats, success)},
    {"nv_inference_queue_duration_us", "counter",
     "Cumulative inference queuing duration in microseconds (includes cached requests)", V_DUR,
     offsetof(ig_model_stats, queue)},
    {"nv_inference_compute_input_duration_us", "counter",
     "Cumulative compute input duration in microseconds (does not include cached requests)", V_DUR,
     offsetof(ig_model_stats, compute_input)},
    {"nv_inference_compute_infer_duration_us", "counter",
     "Cumulative compute inference duration in microseconds (does not include cached requests)", V_DUR,
     offsetof(ig_model_stats, compute_infer)},
    {"nv_inference_compute_output_duration_us", "counter",
     "Cumulative inference compute output duration in microseconds (does not include cached requests)", V_DUR,
     offsetof(ig_model_stats, compute_output)},
};

static const char *const fail_reasons[IG_FAIL_REASONS] = {"REJECTED", "CANCELED", "BACKEND", "OTHER"};

static uint64_t ld(const atomic_uint_fast64_t *a)
{
    return atomic_load_explicit((atomic_uint_fast64_t *)a, memory_order_relaxed);
}

static void model_labels(char *out, size_t len, const ig_stats_model_ref *m)
{
    char name[LABELS_MAX / 2 - 32], ver[64];
    ig_prom_escape(m->name ? m->name : "", name, sizeof(name));
    ig_prom_escape(m->version ? m->version : "", ver, sizeof(ver));
    snprintf(out, len, "model=\"%s\",version=\"%s\"", name, ver);
}

static void render_scalar(ig_buf *b, const scalar_family *f, const ig_stats_model_ref *models, size_t n)
{
    int any = 0;
    for (size_t i = 0; i < n; i++) any |= models[i].stats != NULL;
    if (!any) return; /* a family with no samples is left out altogether */
    ig_prom_family(b, f->name, f->type, f->help);
    char lab[LABELS_MAX], lab2[LABELS_MAX + 32];
    for (size_t i = 0; i < n; i++) {
        const ig_model_stats *st = models[i].stats;
        if (!st) continue;
        model_labels(lab, sizeof(lab), &models[i]);
        switch (f->kind) {
        case V_SUCCESS:
            ig_prom_value(b, f->name, lab, (double)ld(&st->success.count));
            break;
        case V_FAIL_REASON:
            for (int r = 0; r < IG_FAIL_REASONS; r++) {
                snprintf(lab2, sizeof(lab2), "%s,reason=\"%s\"", lab, fail_reasons[r]);
                ig_prom_value(b, f->name, lab2, (double)ld(&st->failures[r]));
            }
            break;
        case V_INFER_COUNT:
            ig_prom_value(b, f->name, lab, (double)ld(&st->inference_count));
            break;
        case V_EXEC_COUNT:
            ig_prom_value(b, f->name, lab, (double)ld(&st->execution_count));
            break;
        case V_PENDING: {
            int64_t p = atomic_load_explicit((atomic_int_fast64_t *)&st->pending, memory_order_relaxed);
            ig_prom_value(b, f->name, lab, (double)(p < 0 ? 0 : p));
            break;
        }
        case V_DUR: {
            const ig_duration_stat *d = (const ig_duration_stat *)((const char *)st + f->dur);
            ig_prom_value(b, f->name, lab, (double)(ld(&d->ns) / 1000));
            break;
        }
        }
    }
}

typedef struct hist_family {
    const char *name, *help;
    size_t off; /* offsetof the ig_histogram */
} hist_family;

static const hist_family hists[] = {
    {"infergate_request_duration_us",
     "End-to-end request duration in microseconds (includes cached requests)",
     offsetof(ig_model_stats, request_us)},
    {"infergate_queue_duration_us", "Time requests waited in the scheduler queue in microseconds",
     offsetof(ig_model_stats, queue_us)},
    {"infergate_compute_infer_duration_us", "Model execution duration per batch in microseconds",
     offsetof(ig_model_stats, compute_infer_us)},
    {"infergate_batch_size", "Rows per model execution", offsetof(ig_model_stats, batch_size)},
};

/* A counter pair Triton keeps for the response cache, per model. */
static void render_cache(ig_buf *b, const ig_stats_model_ref *models, size_t n)
{
    static const struct {
        const char *name, *help;
        int hit, dur;
    } fams[] = {
        {"nv_cache_num_hits_per_model", "Number of cache hits per model", 1, 0},
        {"nv_cache_num_misses_per_model", "Number of cache misses per model", 0, 0},
        {"nv_cache_hit_duration_per_model", "Total cache hit duration per model, in microseconds", 1, 1},
        {"nv_cache_miss_duration_per_model", "Total cache miss duration per model, in microseconds", 0, 1},
    };
    char lab[LABELS_MAX];
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        int header = 0;
        for (size_t i = 0; i < n; i++) {
            const ig_model_stats *st = models[i].stats;
            if (!st) continue;
            if (!header) ig_prom_family(b, fams[f].name, "counter", fams[f].help);
            header = 1;
            const ig_duration_stat *d = fams[f].hit ? &st->cache_hit : &st->cache_miss;
            model_labels(lab, sizeof(lab), &models[i]);
            ig_prom_value(b, fams[f].name, lab,
                          fams[f].dur ? (double)(ld(&d->ns) / 1000) : (double)ld(&d->count));
        }
    }
}

void ig_stats_prometheus(ig_buf *b, const ig_stats_model_ref *models, size_t n_models,
                         const ig_process_stats *proc)
{
    char lab[LABELS_MAX], lab2[LABELS_MAX + 160];
    if (!models) n_models = 0;
    for (size_t f = 0; f < sizeof(scalars) / sizeof(scalars[0]); f++)
        render_scalar(b, &scalars[f], models, n_models);
    render_cache(b, models, n_models);

    int any = 0;
    for (size_t i = 0; i < n_models; i++) any |= models[i].stats != NULL;
    if (any) {
        ig_prom_family(b, "nv_model_load_duration_secs", "gauge", "Model load time in seconds");
        for (size_t i = 0; i < n_models; i++) {
            if (!models[i].stats) continue;
            model_labels(lab, sizeof(lab), &models[i]);
            ig_prom_value(b, "nv_model_load_duration_secs", lab, models[i].stats->load_seconds);
        }
        for (size_t f = 0; f < sizeof(hists) / sizeof(hists[0]); f++) {
            ig_prom_family(b, hists[f].name, "histogram", hists[f].help);
            for (size_t i = 0; i < n_models; i++) {
                if (!models[i].stats) continue;
                model_labels(lab, sizeof(lab), &models[i]);
                const ig_histogram *h = (const ig_histogram *)((const char *)models[i].stats + hists[f].off);
                ig_prom_histogram(b, hists[f].name, lab, h);
            }
        }
    }

    if (n_models) {
        /* Ready as a 0/1 gauge for alerts, and the state itself as a label for dashboards. */
        ig_prom_family(b, "infergate_model_ready", "gauge", "1 if the model version is ready for inference");
        for (size_t i = 0; i < n_models; i++) {
            model_labels(lab, sizeof(lab), &models[i]);
            ig_prom_value(b, "infergate_model_ready", lab,
                          models[i].state && !strcmp(models[i].state, "READY") ? 1 : 0);
        }
        ig_prom_family(b, "infergate_model_state", "gauge", "The model version's state, as the state label");
        for (size_t i = 0; i < n_models; i++) {
            char st[64];
            model_labels(lab, sizeof(lab), &models[i]);
            ig_prom_escape(models[i].state ? models[i].state : "UNKNOWN", st, sizeof(st));
            snprintf(lab2, sizeof(lab2), "%s,state=\"%s\"", lab, st);
            ig_prom_value(b, "infergate_model_state", lab2, 1);
        }
    }

    ig_process_stats ps;
    if (proc)
        ps = *proc;
    else
        ig_process_stats_read(&ps);
    ig_prom_family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    ig_prom_value(b, "process_resident_memory_bytes", "", (double)ps.rss_bytes);
    ig_prom_family(b, "process_cpu_seconds_total", "counter",
                   "Total user and system CPU time spent in seconds.");
    ig_prom_value(b, "process_cpu_seconds_total", "", ps.cpu_seconds);
    ig_prom_family(b, "process_start_time_seconds", "gauge",
                   "Start time of the process since unix epoch in seconds.");
    ig_prom_value(b, "process_start_time_seconds", "", ps.start_time_seconds);
    ig_prom_family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
    ig_prom_value(b, "process_open_fds", "", (double)ps.open_fds);
}
