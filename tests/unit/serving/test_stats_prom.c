/* The /metrics exposition of model statistics: Triton's names and values, histograms, model state,
 * process metrics, and that real Prometheus (promtool) parses it. */
#include "serving/stats.h"

#include "check.h"
#include "promtool.h"

static int has(const char *text, const char *line)
{
    const char *p = strstr(text, line);
    if (!p) fprintf(stderr, "missing: %s\n", line);
    return p != NULL;
}

int main(void)
{
    static ig_model_stats a, b; /* large (per-batch-size tables): keep off the stack */
    ig_model_stats_init(&a);
    ig_model_stats_init(&b);
    CHECK_EQ_INT(a.request_us.n_bounds, 18);
    CHECK_EQ_INT(a.batch_size.n_bounds, 11);

    for (int i = 0; i < 3; i++) ig_duration_add(&a.success, 1500000); /* 1.5 ms each */
    ig_duration_add(&a.queue, 250000);
    ig_duration_add(&a.compute_input, 1000);
    ig_duration_add(&a.compute_infer, 2000999);
    ig_duration_add(&a.compute_output, 3000);
    ig_duration_add(&a.cache_hit, 7000);
    ig_duration_add(&a.cache_miss, 9000);
    ig_duration_add(&a.cache_miss, 9000);
    atomic_store(&a.inference_count, 12);
    atomic_store(&a.execution_count, 2);
    atomic_store(&a.failures[IG_FAIL_REJECTED], 4);
    atomic_store(&a.failures[IG_FAIL_OTHER], 1);
    atomic_store(&a.pending, 5);
    a.load_seconds = 0.25;
    ig_histogram_observe(&a.request_us, 1500);
    ig_histogram_observe(&a.batch_size, 8);
    ig_histogram_observe(&a.batch_size, 4);

    ig_stats_model_ref models[] = {
        {"resnet", "1", "READY", &a},
        {"we\"ird\\name", "2", "READY", &b},
        {"resnet", "3", "UNAVAILABLE", NULL},
    };
    ig_process_stats ps = {
        .rss_bytes = 123456789, .cpu_seconds = 1.25, .start_time_seconds = 1700000000.5, .open_fds = 17};
    ig_buf out = {0};
    ig_stats_prometheus(&out, models, 3, &ps);
    CHECK(!out.oom);
    const char *t = out.data;
    const char *L = "{model=\"resnet\",version=\"1\"";
    char line[256];
#define HAS(fmt)                                                                                             \
    do {                                                                                                     \
        snprintf(line, sizeof(line), fmt, L);                                                                \
        CHECK(has(t, line));                                                                                 \
    } while (0)
    HAS("nv_inference_request_success%s} 3\n");
    HAS("nv_inference_request_failure%s,reason=\"REJECTED\"} 4\n");
    HAS("nv_inference_request_failure%s,reason=\"CANCELED\"} 0\n");
    HAS("nv_inference_request_failure%s,reason=\"BACKEND\"} 0\n");
    HAS("nv_inference_request_failure%s,reason=\"OTHER\"} 1\n");
    HAS("nv_inference_count%s} 12\n");
    HAS("nv_inference_exec_count%s} 2\n");
    HAS("nv_inference_pending_request_count%s} 5\n");
    HAS("nv_inference_request_duration_us%s} 4500\n");
    HAS("nv_inference_queue_duration_us%s} 250\n");
    HAS("nv_inference_compute_input_duration_us%s} 1\n");
    HAS("nv_inference_compute_infer_duration_us%s} 2000\n");
    HAS("nv_inference_compute_output_duration_us%s} 3\n");
    HAS("nv_cache_num_hits_per_model%s} 1\n");
    HAS("nv_cache_num_misses_per_model%s} 2\n");
    HAS("nv_cache_hit_duration_per_model%s} 7\n");
    HAS("nv_cache_miss_duration_per_model%s} 18\n");
    HAS("nv_model_load_duration_secs%s} 0.25\n");
    HAS("infergate_request_duration_us_bucket%s,le=\"1000\"} 0\n");
    HAS("infergate_request_duration_us_bucket%s,le=\"2500\"} 1\n");
    HAS("infergate_request_duration_us_bucket%s,le=\"+Inf\"} 1\n");
    HAS("infergate_request_duration_us_sum%s} 1500\n");
    HAS("infergate_batch_size_bucket%s,le=\"4\"} 1\n");
    HAS("infergate_batch_size_bucket%s,le=\"8\"} 2\n");
    HAS("infergate_batch_size_count%s} 2\n");
    HAS("infergate_queue_duration_us_count%s} 0\n");
    HAS("infergate_compute_infer_duration_us_count%s} 0\n");
    HAS("infergate_model_ready%s} 1\n");
    HAS("infergate_model_state%s,state=\"READY\"} 1\n");
    CHECK(has(t, "nv_inference_count{model=\"we\\\"ird\\\\name\",version=\"2\"} 0\n"));
    CHECK(has(t, "infergate_model_ready{model=\"resnet\",version=\"3\"} 0\n"));
    CHECK(has(t, "infergate_model_state{model=\"resnet\",version=\"3\",state=\"UNAVAILABLE\"} 1\n"));
    CHECK(!strstr(t, "nv_inference_count{model=\"resnet\",version=\"3\""));
    CHECK(has(t, "# TYPE nv_inference_request_success counter\n"));
    CHECK(has(t, "# TYPE nv_inference_pending_request_count gauge\n"));
    CHECK(has(t, "# TYPE infergate_request_duration_us histogram\n"));
    CHECK(has(t, "process_resident_memory_bytes 123456789\n"));
    CHECK(has(t, "process_cpu_seconds_total 1.25\n"));
    CHECK(has(t, "process_start_time_seconds 1700000000.5\n"));
    CHECK(has(t, "process_open_fds 17\n"));
    /* each family's TYPE line appears once */
    const char *p = t;
    int n_type = 0;
    while ((p = strstr(p, "# TYPE nv_inference_request_failure "))) n_type++, p++;
    CHECK_EQ_INT(n_type, 1);
    CHECK_EQ_INT(promtool_check(out.data, out.len), 0);
    ig_buf_free(&out);

    /* No models, process read live: still valid, and carries only process metrics. */
    ig_stats_prometheus(&out, NULL, 0, NULL);
    CHECK(!strstr(out.data, "nv_"));
    CHECK(strstr(out.data, "process_open_fds ") != NULL);
    CHECK(!strstr(out.data, "process_resident_memory_bytes 0\n"));
    CHECK_EQ_INT(promtool_check(out.data, out.len), 0);
    ig_buf_free(&out);

    /* Only unloaded models: state metrics without counters. */
    ig_stats_prometheus(&out, models + 2, 1, &ps);
    CHECK(!strstr(out.data, "nv_inference"));
    CHECK(strstr(out.data, "infergate_model_ready{model=\"resnet\",version=\"3\"} 0") != NULL);
    CHECK_EQ_INT(promtool_check(out.data, out.len), 0);
    ig_buf_free(&out);
    return CHECK_DONE();
}
