/* infergate bench --url URL --model M [--concurrency 1,8,64] [--duration S] [--batch N] ...
 * A closed-loop load generator for Open Inference Protocol servers, like Triton's perf_analyzer in
 * concurrency mode: reads the model's metadata, builds request bodies, then for each concurrency
 * level keeps that many requests outstanding and reports throughput and latency percentiles. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/bench_int.h"
#include "cli/cli.h"

#define MAX_LEVELS 64
#define MAX_CONCURRENCY 10000

static const char usage[] =
    "usage: infergate bench --url http://HOST:PORT --model M [--version V] [--protocol http|grpc]\n"
    "                       [--concurrency 1,8,64 | START:END[:STEP]] [--duration S] [--warmup S]\n"
    "                       [--batch N] [--binary | --json] [--input-data FILE.json|FILE.npy]\n"
    "                       [--shape NAME=d0,d1,...]... [--threads N] [--json-report]\n"
    "                       [--streaming]   (grpc: --url [grpc://]HOST:PORT, random data only)\n"
    "Each level keeps C requests outstanding on C keep-alive connections for --duration seconds\n"
    "(default 10) after --warmup seconds (default 1). Exit status 1 when any request failed.\n"
    "gRPC: C unary ModelInfer calls outstanding on one channel per thread, or with --streaming C\n"
    "requests in flight on one ModelStreamInfer stream per thread.\n";

static bool parse_seconds(const char *opt, const char *text, double min, double *out)
{
    char *end;
    errno = 0;
    double v = text ? strtod(text, &end) : 0;
    if (!text || errno || end == text || *end || !(v >= min) || v > 86400) {
        ig_cli_fail("bench", 2, "%s needs seconds from %g to 86400, got '%s'", opt, min, text ? text : "");
        return false;
    }
    *out = v;
    return true;
}

/* "1,8,64" or "START:END[:STEP]" (perf_analyzer's --concurrency-range form). */
static int parse_levels(const char *text, int *levels)
{
    int n = 0;
    if (strchr(text, ':')) {
        long a, b, step = 1;
        char *end;
        a = strtol(text, &end, 10);
        if (*end != ':') return -1;
        b = strtol(end + 1, &end, 10);
        if (*end == ':') step = strtol(end + 1, &end, 10);
        if (*end || a < 1 || b < a || b > MAX_CONCURRENCY || step < 1) return -1;
        for (long c = a; c <= b; c += step) {
            if (n == MAX_LEVELS) return -1;
            levels[n++] = (int)c;
        }
        return n;
    }
    const char *p = text;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > MAX_CONCURRENCY || (*end && *end != ',') || n == MAX_LEVELS) return -1;
        levels[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return n ? n : -1;
}

static void put_json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

int ig_cli_bench(int argc, char **argv)
{
    const char *url = NULL, *conc = "1", *protocol = "http";
    ig__bench_body_opts bo = {.batch = 1};
    double duration = 10, warmup = 1;
    long threads = 1;
    bool json_report = false, streaming = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--binary")) {
            bo.json = false;
            continue;
        } else if (!strcmp(a, "--json")) {
            bo.json = true;
            continue;
        } else if (!strcmp(a, "--streaming")) {
            streaming = true;
            continue;
        } else if (!strcmp(a, "--json-report")) {
            json_report = true;
            continue;
        }
        if (!v || strncmp(a, "--", 2)) {
            fputs(usage, stderr);
            return ig_cli_fail("bench", 2, v ? "unexpected argument '%s'" : "%s needs a value", a);
        }
        i++;
        if (!strcmp(a, "--url")) {
            url = v;
        } else if (!strcmp(a, "--model")) {
            bo.model = v;
        } else if (!strcmp(a, "--version")) {
            bo.version = v;
        } else if (!strcmp(a, "--protocol")) {
            protocol = v;
        } else if (!strcmp(a, "--concurrency") || !strcmp(a, "--concurrency-range")) {
            conc = v;
        } else if (!strcmp(a, "--duration")) {
            if (!parse_seconds(a, v, 0.01, &duration)) return 2;
        } else if (!strcmp(a, "--warmup")) {
            if (!parse_seconds(a, v, 0, &warmup)) return 2;
        } else if (!strcmp(a, "--batch")) {
            if (!ig_cli_parse_int("bench", a, v, 1, 1 << 20, &bo.batch)) return 2;
        } else if (!strcmp(a, "--threads")) {
            if (!ig_cli_parse_int("bench", a, v, 1, 64, &threads)) return 2;
        } else if (!strcmp(a, "--input-data")) {
            bo.input_data = v;
        } else if (!strcmp(a, "--shape")) {
            if (bo.n_shapes == (int)(sizeof(bo.shapes) / sizeof(bo.shapes[0])))
                return ig_cli_fail("bench", 2, "too many --shape options");
            bo.shapes[bo.n_shapes++] = v;
        } else {
            fputs(usage, stderr);
            return ig_cli_fail("bench", 2, "unknown option '%s'", a);
        }
    }
    if (!url || !bo.model) {
        fputs(usage, stderr);
        return ig_cli_fail("bench", 2, "--url and --model are required");
    }
    bool grpc = !strcmp(protocol, "grpc");
    if (!grpc && strcmp(protocol, "http"))
        return ig_cli_fail("bench", 2, "--protocol %s: expected http or grpc", protocol);
    if (streaming && !grpc) return ig_cli_fail("bench", 2, "--streaming needs --protocol grpc");
    int levels[MAX_LEVELS];
    int n_levels = parse_levels(conc, levels);
    if (n_levels < 0)
        return ig_cli_fail("bench", 2,
                           "--concurrency '%s': expected 1,8,64 or START:END[:STEP] with values 1..%d", conc,
                           MAX_CONCURRENCY);

    ig_error err = {0};
    ig__bench_target t;
    FILE *info = json_report ? stderr : stdout;
    ig__bench_req *reqs = NULL;
    int n_reqs = 0;
    ig__bench_grpc *g = NULL;
    if (grpc) {
        int rc = ig__bench_grpc_setup(url, &bo, info, &g, &err);
        if (rc)
            return ig_cli_fail("bench", rc == IG_EINVAL && (bo.json || bo.input_data) ? 2 : 1, "%s", err.msg);
    } else {
        if (ig__bench_target_parse(url, &t, &err)) return ig_cli_fail("bench", 2, "%s", err.msg);
        if (ig__bench_build_requests(&t, &bo, info, &reqs, &n_reqs, &err))
            return ig_cli_fail("bench", 1, "%s", err.msg);
    }

    ig__bench_level *res = calloc((size_t)n_levels, sizeof(*res));
    if (!res) {
        ig__bench_reqs_free(reqs, n_reqs);
        ig__bench_grpc_free(g);
        return ig_cli_fail("bench", 1, "out of memory");
    }
    int status = 0;
    for (int l = 0; l < n_levels; l++) {
        ig__bench_load_opts lo = {
            .concurrency = levels[l], .threads = (int)threads, .warmup_s = warmup, .duration_s = duration};
        if (grpc ? ig__bench_grpc_run_level(g, &lo, streaming, &res[l], &err)
                 : ig__bench_run_level(&t, reqs, n_reqs, &lo, &res[l], &err)) {
            status = ig_cli_fail("bench", 1, "concurrency %d: %s", levels[l], err.msg);
            n_levels = l;
            break;
        }
        ig__bench_level *r = &res[l];
        if (r->errors || !r->requests) status = 1;
        if (json_report) continue;
        printf("Request concurrency: %d\n  Client:\n", r->concurrency);
        printf("    Request count: %llu\n", (unsigned long long)r->requests);
        printf("    Throughput: %.1f infer/sec\n", (double)r->requests * (double)bo.batch / r->window_s);
        printf("    Avg latency: %.0f usec\n", r->hist.count ? us(r->hist.sum_ns / r->hist.count) : 0.0);
        printf("    p50 latency: %.0f usec\n", us(ig__bench_hist_quantile(&r->hist, 0.50)));
        printf("    p90 latency: %.0f usec\n", us(ig__bench_hist_quantile(&r->hist, 0.90)));
        printf("    p95 latency: %.0f usec\n", us(ig__bench_hist_quantile(&r->hist, 0.95)));
        printf("    p99 latency: %.0f usec\n", us(ig__bench_hist_quantile(&r->hist, 0.99)));
        printf("    Errors: %llu", (unsigned long long)r->errors);
        if (r->errors)
            printf(grpc ? " (gRPC status %llu, connection %llu, protocol %llu)"
                        : " (HTTP status %llu, connection %llu, protocol %llu)",
                   (unsigned long long)r->status_errors, (unsigned long long)r->conn_errors,
                   (unsigned long long)r->proto_errors);
        printf("\n");
        if (r->last_status) printf("    Last error status: %s %d\n", grpc ? "gRPC" : "HTTP", r->last_status);
        if (r->last_error[0]) printf("    Last error: %s\n", r->last_error);
        fflush(stdout);
    }
    if (json_report) {
        printf("{\"url\":");
        put_json_str(url);
        printf(",\"model\":");
        put_json_str(bo.model);
        printf(",\"protocol\":\"%s\",\"batch\":%ld,\"duration_s\":%g,\"warmup_s\":%g,\"data\":\"%s\","
               "\"levels\":[",
               grpc ? (streaming ? "grpc-stream" : "grpc") : "http", bo.batch, duration, warmup,
               grpc      ? "raw"
               : bo.json ? "json"
                         : "binary");
        for (int l = 0; l < n_levels; l++) {
            ig__bench_level *r = &res[l];
            printf("%s{\"concurrency\":%d,\"requests\":%llu,\"errors\":%llu,\"status_errors\":%llu,"
                   "\"connection_errors\":%llu,\"protocol_errors\":%llu,\"throughput_infer_per_s\":%.1f,"
                   "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p95_us\":%.1f,\"p99_us\":%.1f,\"avg_us\":%.1f}",
                   l ? "," : "", r->concurrency, (unsigned long long)r->requests,
                   (unsigned long long)r->errors, (unsigned long long)r->status_errors,
                   (unsigned long long)r->conn_errors, (unsigned long long)r->proto_errors,
                   (double)r->requests * (double)bo.batch / r->window_s,
                   us(ig__bench_hist_quantile(&r->hist, 0.50)), us(ig__bench_hist_quantile(&r->hist, 0.90)),
                   us(ig__bench_hist_quantile(&r->hist, 0.95)), us(ig__bench_hist_quantile(&r->hist, 0.99)),
                   r->hist.count ? us(r->hist.sum_ns / r->hist.count) : 0.0);
        }
        printf("]}\n");
    } else {
        printf("Inferences/Second vs. Client Average Batch Latency\n");
        for (int l = 0; l < n_levels; l++) {
            ig__bench_level *r = &res[l];
            printf("Concurrency: %d, throughput: %.1f infer/sec, latency %.0f usec%s\n", r->concurrency,
                   (double)r->requests * (double)bo.batch / r->window_s,
                   r->hist.count ? us(r->hist.sum_ns / r->hist.count) : 0.0, r->errors ? ", ERRORS" : "");
        }
    }
    free(res);
    ig__bench_reqs_free(reqs, n_reqs);
    ig__bench_grpc_free(g);
    return status;
}
