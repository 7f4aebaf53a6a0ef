/* JSON inference-request decode throughput for a 1x3x224x224 FP32 input (the ResNet-style request
 * Triton users complain about), in two number styles: "%.9g" (what our encoder and C clients write)
 * and "%.17g" (what Python clients send: float32 values printed as float64 repr).
 * Usage: ig_json_bench [iterations] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol/oip.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char *make_body(const char *fmt, size_t n, size_t *len)
{
    size_t cap = n * 32 + 256, o = 0;
    char *b = malloc(cap);
    o += (size_t)snprintf(b + o, cap - o,
                          "{\"id\":\"bench\",\"inputs\":[{\"name\":\"input\",\"shape\":[1,3,224,224],"
                          "\"datatype\":\"FP32\",\"data\":[");
    unsigned s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        float v = ((float)(s >> 8) / 16777216.0f - 0.5f) * 4.0f; /* normalized-image-like values */
        o += (size_t)snprintf(b + o, cap - o, i ? ",%s" : "%s", "");
        o += (size_t)snprintf(b + o, cap - o, fmt, (double)v);
    }
    o += (size_t)snprintf(b + o, cap - o, "]}]}");
    *len = o;
    return b;
}

static void run(const char *fmt, int iters)
{
    size_t n = 3 * 224 * 224, len;
    char *body = make_body(fmt, n, &len);
    double best = 1e9;
    for (int it = 0; it < iters; it++) {
        ig_arena *a = ig_arena_create(1 << 20);
        ig_infer_request req;
        ig_error err = {0};
        double t0 = now();
        int rc = ig_oip_decode_infer(body, len, SIZE_MAX, "m", "", a, &req, &err);
        double dt = now() - t0;
        if (rc) {
            fprintf(stderr, "decode failed: %s\n", err.msg);
            exit(1);
        }
        if (dt < best) best = dt;
        ig_arena_free(a);
    }
    printf("%-6s %zu floats, %.2f MB JSON: best %.2f ms = %.0f MB/s, %.1f ns/element\n", fmt, n, len / 1e6,
           best * 1e3, len / best / 1e6, best * 1e9 / n);
    free(body);
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 20;
    run("%.9g", iters);
    run("%.17g", iters);
    return 0;
}
