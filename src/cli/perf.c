/* infergate perf MODEL.onnx [--batch N] [--shape NAME=d0,d1,...] [--threads N] [--warmup K]
 *                [--iterations K | --duration S] [--json] [--profile]
 * Feeds random inputs of the model's dtypes and reports latency percentiles and samples/s. Dynamic
 * dims: the first axis is the batch, others 128 (as the ONNX Runtime peer benchmark does), unless
 * --shape gives the input's whole shape. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "cli/cli.h"

static const char usage[] =
    "usage: infergate perf MODEL.onnx [--batch N] [--shape NAME=d0,d1,...] [--threads N] [--warmup K]\n"
    "                      [--iterations K | --duration S] [--json] [--profile]\n";

typedef struct shape_opt {
    const char *name;
    int ndim;
    int64_t dims[IG_MAX_DIMS];
} shape_opt;

/* Seconds on the monotonic clock. */
static double now_s(void)
{
    return (double)ig_now_ns() / 1e9;
}

/* A small deterministic generator: runs must be reproducible. */
static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static int fill_random(ig_tensor *t, ig_arena *arena, uint32_t seed)
{
    int64_t n = ig_tensor_numel(t);
    size_t nb = ig_tensor_nbytes(t);
    if (n < 0 || nb == SIZE_MAX) return IG_EOVERFLOW;
    if (t->dtype == IG_DT_STRING) {
        ig_string *s = ig_arena_array(arena, (size_t)n, sizeof(ig_string), 8);
        if (!s) return IG_ENOMEM;
        for (int64_t i = 0; i < n; i++) s[i] = (ig_string){"x", 1};
        t->data = s;
        return 0;
    }
    if (!(t->data = ig_arena_alloc(arena, nb, 64))) return IG_ENOMEM;
    for (int64_t i = 0; i < n; i++) {
        uint32_t r = next_rand(&seed);
        double u = (double)r / (double)(1u << 24); /* [0,1) */
        switch (t->dtype) {
        case IG_DT_FLOAT:
            ((float *)t->data)[i] = (float)(u * 2 - 1);
            break;
        case IG_DT_DOUBLE:
            ((double *)t->data)[i] = u * 2 - 1;
            break;
        case IG_DT_INT64:
            ((int64_t *)t->data)[i] = (int64_t)(u * 1000);
            break;
        case IG_DT_INT32:
            ((int32_t *)t->data)[i] = (int32_t)(u * 1000);
            break;
        case IG_DT_BOOL:
            ((uint8_t *)t->data)[i] = r & 1;
            break;
        case IG_DT_UINT8:
            ((uint8_t *)t->data)[i] = (uint8_t)r;
            break;
        case IG_DT_INT8:
            ((int8_t *)t->data)[i] = (int8_t)r;
            break;
        default:
            memset((char *)t->data + (size_t)i * ig_dtype_size(t->dtype), 0, ig_dtype_size(t->dtype));
            break;
        }
    }
    return 0;
}

static bool parse_shape(const char *text, shape_opt *s)
{
    char *eq = strchr(text, '=');
    if (!eq || eq == text) return false;
    s->name = strndup(text, (size_t)(eq - text));
    s->ndim = 0;
    for (char *p = eq + 1; *p;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || s->ndim == IG_MAX_DIMS) return false;
        s->dims[s->ndim++] = v;
        if (*end == ',')
            end++;
        else if (*end)
            return false;
        p = end;
    }
    return true;
}

/* A file name as a JSON string body: quotes, backslashes and control bytes escaped. */
static void json_escape(const char *in, char *out, size_t len)
{
    size_t o = 0;
    for (; *in && o + 7 < len; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, len - o, "\\%c", c);
        else if (c < 0x20)
            o += (size_t)snprintf(out + o, len - o, "\\u%04x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = 0;
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, long n, double p)
{
    long i = (long)ceil(p * (double)n) - 1;
    return sorted[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static void print_profile(const char *op, long long calls, double total_ms, void *ctx)
{
    double *run_ms = ctx;
    printf("  %-24s %8lld calls %10.3f ms %6.1f%%\n", op, calls, total_ms,
           run_ms[0] > 0 ? 100 * total_ms / run_ms[0] : 0);
}

int ig_cli_perf(int argc, char **argv)
{
    const char *model_path = NULL;
    long batch = 1, threads = 0, warmup = 10, iterations = 0, duration = 0;
    bool json = false, profile = false;
    shape_opt *shapes = calloc((size_t)argc + 1, sizeof(shape_opt));
    int n_shapes = 0, status = 2;
    ig_model *m = NULL;
    ig_runner *r = NULL;
    ig_arena *arena = NULL;
    ig_tensor *in = NULL, *out = NULL;
    double *lat = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            fputs(usage, stdout);
            status = 0;
            goto done;
        } else if (!strcmp(a, "--batch")) {
            if (!ig_cli_parse_int("perf", a, v, 1, 1 << 20, &batch)) goto done;
            i++;
        } else if (!strcmp(a, "--threads")) {
            if (!ig_cli_parse_int("perf", a, v, 1, 1024, &threads)) goto done;
            i++;
        } else if (!strcmp(a, "--warmup")) {
            if (!ig_cli_parse_int("perf", a, v, 0, 1 << 30, &warmup)) goto done;
            i++;
        } else if (!strcmp(a, "--iterations")) {
            if (!ig_cli_parse_int("perf", a, v, 1, 1 << 30, &iterations)) goto done;
            i++;
        } else if (!strcmp(a, "--duration")) {
            if (!ig_cli_parse_int("perf", a, v, 1, 86400, &duration)) goto done;
            i++;
        } else if (!strcmp(a, "--shape")) {
            if (!v || !parse_shape(v, &shapes[n_shapes++])) {
                status = ig_cli_fail("perf", 2, "--shape takes NAME=d0,d1,..., got '%s'", v ? v : "");
                goto done;
            }
            i++;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--profile")) {
            profile = true;
        } else if (a[0] == '-' || model_path) {
            status = ig_cli_fail("perf", 2, "unexpected argument '%s' (see 'infergate perf --help')", a);
            goto done;
        } else {
            model_path = a;
        }
    }
    if (!model_path) {
        status = ig_cli_fail("perf", 2, "no model given (see 'infergate perf --help')");
        goto done;
    }
    if (iterations && duration) {
        status = ig_cli_fail("perf", 2, "give --iterations or --duration, not both");
        goto done;
    }
    status = 1;
    if (!(m = ig_cli_load_model("perf", model_path, (int)threads))) goto done;
    int ni = ig_model_num_inputs(m), no = ig_model_num_outputs(m);
    in = calloc((size_t)ni + 1, sizeof(ig_tensor));
    out = calloc((size_t)no + 1, sizeof(ig_tensor));
    arena = ig_arena_create(1 << 20);
    if (!in || !out || !arena) {
        status = ig_cli_fail("perf", 1, "out of memory");
        goto done;
    }
    for (int s = 0; s < n_shapes; s++)
        if (ig_model_find_input(m, shapes[s].name) < 0) {
            status = ig_cli_fail("perf", 2, "--shape: the model has no input '%s'", shapes[s].name);
            goto done;
        }
    for (int i = 0; i < ni; i++) {
        const ig_io_info *io = ig_model_input(m, i);
        ig_tensor *t = &in[i];
        t->dtype = io->dtype == IG_DT_UNDEFINED ? IG_DT_FLOAT : io->dtype;
        const shape_opt *given = NULL;
        for (int s = 0; s < n_shapes; s++)
            if (!strcmp(shapes[s].name, io->name)) given = &shapes[s];
        if (given) {
            t->ndim = given->ndim;
            memcpy(t->dims, given->dims, sizeof(t->dims));
        } else if (io->ndim < 0) {
            status = ig_cli_fail("perf", 2, "input '%s' has no declared shape: pass --shape %s=d0,d1,...",
                                 io->name, io->name);
            goto done;
        } else {
            t->ndim = io->ndim;
            for (int k = 0; k < io->ndim; k++)
                t->dims[k] = io->dims[k] >= 0 ? io->dims[k] : k == 0 ? batch : 128;
        }
        if (fill_random(t, arena, 12345u + (uint32_t)i)) {
            status = ig_cli_fail("perf", 1, "input '%s': cannot allocate its data", io->name);
            goto done;
        }
    }
    ig_error err = {0};
    if (ig_runner_create(m, &r, &err)) {
        status = ig_cli_fail("perf", 1, "%s", err.msg);
        goto done;
    }
    /* The first run builds the plan for these shapes; its time is reported apart. */
    double first_ms = 0;
    for (long i = 0; i < warmup || i == 0; i++) {
        double t0 = now_s();
        if (ig_runner_run(r, in, out, &err)) {
            status = ig_cli_fail("perf", 1, "%s", err.msg);
            goto done;
        }
        if (i == 0) first_ms = (now_s() - t0) * 1e3;
    }
    if (profile) ig_runner_set_profiling(r, 1);
    long cap = 1024, n = 0;
    lat = malloc(sizeof(double) * (size_t)cap);
    double start = now_s(), min_s = duration ? (double)duration : iterations ? 0 : 2.0;
    long min_iter = iterations ? iterations : duration ? 1 : 20;
    for (;;) {
        double t0 = now_s();
        if (ig_runner_run(r, in, out, &err)) {
            status = ig_cli_fail("perf", 1, "%s", err.msg);
            goto done;
        }
        double t1 = now_s();
        if (n == cap) {
            double *grown = realloc(lat, sizeof(double) * (size_t)(cap *= 2));
            if (!grown) break;
            lat = grown;
        }
        lat[n++] = (t1 - t0) * 1e3;
        if (iterations ? n >= iterations : (n >= min_iter && t1 - start >= min_s)) break;
    }
    double wall = now_s() - start;
    qsort(lat, (size_t)n, sizeof(double), by_double);
    double p50 = percentile(lat, n, 0.5), p90 = percentile(lat, n, 0.9), p99 = percentile(lat, n, 0.99);
    double sps = (double)batch * (double)n / wall;
    const char *base = strrchr(model_path, '/');
    base = base ? base + 1 : model_path;
    if (json) {
        char name[512];
        json_escape(base, name, sizeof(name));
        printf("{\"model\":\"%s\",\"batch\":%ld,\"threads\":%d,\"iterations\":%ld,\"p50_ms\":%.4f,"
               "\"p90_ms\":%.4f,\"p99_ms\":%.4f,\"samples_per_s\":%.2f,\"first_run_ms\":%.3f}\n",
               name, batch, ig_model_threads(m), n, p50, p90, p99, sps, first_ms);
    } else {
        printf("%s batch %ld threads %d: %ld runs, p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, %.1f samples/s "
               "(first run, building the plan: %.2f ms)\n",
               base, batch, ig_model_threads(m), n, p50, p90, p99, sps, first_ms);
    }
    if (profile) {
        double run_ms[1] = {0};
        for (long i = 0; i < n; i++) run_ms[0] += lat[i];
        printf("per-op time over %ld runs (%.3f ms total):\n", n, run_ms[0]);
        ig_runner_profile(r, print_profile, run_ms);
    }
    status = 0;
done:
    for (int s = 0; s < n_shapes; s++) free((void *)shapes[s].name);
    free(shapes);
    free(lat);
    ig_runner_free(r);
    ig_model_free(m);
    ig_arena_free(arena);
    free(in);
    free(out);
    return status;
}
