/* Internals of `infergate bench` shared by its files: the HTTP/1.1 client pieces (bench_http.c), the
 * request bodies built from model metadata (bench_body.c) and the closed-loop load engine
 * (bench_load.c). Nothing here is part of the library. */
#ifndef IG_CLI_BENCH_INT_H
#define IG_CLI_BENCH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/socket.h>

#include "infergate/error.h"

/* ---- HTTP (bench_http.c) ---- */

typedef struct ig__bench_target {
    char host[256];   /* as given in the URL, used for the Host header */
    char port[8];     /* decimal */
    char prefix[512]; /* path prefix from the URL without a trailing '/', often "" */
    struct sockaddr_storage addr;
    socklen_t addrlen;
} ig__bench_target;

/* Parses "http://host[:port][/prefix]" and resolves host. */
int ig__bench_target_parse(const char *url, ig__bench_target *t, ig_error *err);

/* One parsed response head. */
typedef struct ig__bench_resp {
    int status;        /* 100..599 */
    size_t head_len;   /* bytes up to and including the blank line */
    uint64_t body_len; /* from Content-Length; 0 for 204/304 */
    bool keep_alive;   /* false on "Connection: close" or HTTP/1.0 without keep-alive */
} ig__bench_resp;

#define IG__BENCH_MAX_HEAD 16384
/* Parses a response head in buf[0..len). Returns 1 with *r set when the head is complete, 0 when
 * more bytes are needed, or a negative IG_E* code with a reason for a malformed, oversized or
 * unsupported (chunked, no Content-Length) response. Strict: only what a load client needs. */
int ig__bench_parse_response(const char *buf, size_t len, ig__bench_resp *r, ig_error *err);

/* Blocking request for setup (metadata, config): sends method+path (+ body), reads the whole
 * response (at most max_body bytes of body) into a malloc'ed NUL-terminated *body. */
int ig__bench_fetch(const ig__bench_target *t, const char *method, const char *path, const char *body,
                    int timeout_ms, size_t max_body, int *status, char **body_out, size_t *body_len,
                    ig_error *err);

/* Opens a non-blocking TCP socket with TCP_NODELAY and starts connecting; returns the fd. */
int ig__bench_connect(const ig__bench_target *t, ig_error *err);

/* ---- request bodies (bench_body.c) ---- */

typedef struct ig__bench_body_opts {
    const char *model;
    const char *version;    /* NULL = server's choice */
    long batch;             /* >= 1 */
    bool json;              /* JSON "data" instead of the binary tensor extension */
    const char *input_data; /* NULL = random; a .json (perf_analyzer format) or .npy file */
    int n_shapes;
    const char *shapes[64]; /* "NAME=d0,d1,..." */
} ig__bench_body_opts;

/* One complete HTTP request (head and body), ready to write on any connection. */
typedef struct ig__bench_req {
    char *bytes;
    size_t len;
} ig__bench_req;

/* Reads the model's metadata and config from the server and builds one request per input-set
 * (one with random data, or one per entry of --input-data). Prints what it found to info when not
 * NULL. The caller frees with ig__bench_reqs_free. */
int ig__bench_build_requests(const ig__bench_target *t, const ig__bench_body_opts *o, FILE *info,
                             ig__bench_req **reqs, int *n_reqs, ig_error *err);
void ig__bench_reqs_free(ig__bench_req *reqs, int n);

/* ---- load (bench_load.c) ---- */

/* Latencies in a log-linear histogram (64 sub-buckets per power of two: <1.6% error), so that
 * memory does not grow with the number of requests. */
#define IG__BENCH_HIST_BUCKETS (128 + 40 * 64)
typedef struct ig__bench_hist {
    uint64_t count;
    uint64_t sum_ns;
    uint64_t min_ns, max_ns;
    uint64_t b[IG__BENCH_HIST_BUCKETS];
} ig__bench_hist;

void ig__bench_hist_add(ig__bench_hist *h, uint64_t ns);
void ig__bench_hist_merge(ig__bench_hist *into, const ig__bench_hist *from);
/* Latency at quantile q in [0,1], ns (a bucket's midpoint, clamped to [min,max]). */
uint64_t ig__bench_hist_quantile(const ig__bench_hist *h, double q);

typedef struct ig__bench_level {
    int concurrency;
    uint64_t requests; /* successful (200) responses completed in the window */
    uint64_t errors;   /* non-200 responses, bad responses and connection failures in the window */
    uint64_t status_errors, conn_errors, proto_errors;
    int last_status;      /* the last non-200 status seen, 0 if none */
    char last_error[160]; /* the last connection/protocol failure, "" if none */
    double window_s;
    ig__bench_hist hist;
} ig__bench_level;

typedef struct ig__bench_load_opts {
    int concurrency;
    int threads; /* event threads, 1..concurrency */
    double warmup_s, duration_s;
} ig__bench_load_opts;

/* Runs one closed-loop level: C connections, each with exactly one request outstanding. */
int ig__bench_run_level(const ig__bench_target *t, const ig__bench_req *reqs, int n_reqs,
                        const ig__bench_load_opts *o, ig__bench_level *out, ig_error *err);

/* ---- gRPC (bench_grpc.c) ---- */

/* The gRPC target and the one packed ModelInferRequest (random raw_input_contents) every call sends. */
typedef struct ig__bench_grpc ig__bench_grpc;

/* url is [grpc://]HOST:PORT. Reads ModelMetadata and ModelConfig over gRPC and packs the request;
 * --json and --input-data are refused (HTTP-only). Free with ig__bench_grpc_free. */
int ig__bench_grpc_setup(const char *url, const ig__bench_body_opts *o, FILE *info, ig__bench_grpc **out,
                         ig_error *err);
void ig__bench_grpc_free(ig__bench_grpc *g);

/* One closed-loop level: C unary ModelInfer calls outstanding over one channel per thread, or with
 * streaming C requests in flight on one ModelStreamInfer stream per thread. */
int ig__bench_grpc_run_level(ig__bench_grpc *g, const ig__bench_load_opts *o, bool streaming,
                             ig__bench_level *out, ig_error *err);

#endif
