/* infergate serve: the Open Inference Protocol over REST and gRPC for a Triton-style model repository.
 * Start-up loads the repository, then the main thread waits for SIGTERM/SIGINT: readiness turns 503,
 * new inference requests are refused, accepted ones finish (up to --exit-timeout-secs), exit 0. */
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "net/grpc_server.h"
#include "net/rest_api.h"
#include "policy/access.h"
#include "policy/cache.h"

// clang-format off
static const char usage[] =
    "usage: infergate serve --model-repository DIR [--http-port 8000] [--grpc-port 8001] [--metrics-port 8002]\n"
    "    [--http-address 0.0.0.0] [--http-thread-count 2]\n"
    "    [--model-control-mode none|poll|explicit] [--repository-poll-secs 15] [--load-model NAME]...\n"
    "    [--strict-readiness true|false] [--exit-timeout-secs 30] [--log-format text|json]\n"
    "    [--cache-size-bytes N] [--max-body-bytes 67108864] [--threads N]\n"
    "    [--grpc-max-message-bytes 67108864] [--grpc-thread-count 2]   (--grpc-port -1: no gRPC)\n"
    "    [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]   (TLS >= 1.2 on the REST and gRPC ports;\n"
    "     with --tls-client-ca clients need a certificate signed by it; SIGHUP rereads the three files;\n"
    "     the metrics port stays plain HTTP)\n"
    "    [--policy-config FILE]   (YAML with the gateway's `auth:` and `rate_limits:` sections: API keys,\n"
    "     JWT, CIDR and mTLS rules, GCRA limits; checked on REST and gRPC before bodies are decoded, health\n"
    "     and metrics stay open; SIGHUP rereads it, keeping the old policy when the new file is invalid)\n"
    "  --policy-config with --cache-size-bytes makes one process a complete secured endpoint.\n";
// clang-format on

static bool json_log;

/* Start-up and shutdown messages: a line of text, or a JSON object with --log-format json. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (json_log) {
        char esc[2048];
        size_t o = 0;
        for (const char *p = msg; *p && o + 7 < sizeof(esc); p++) {
            if (*p == '"' || *p == '\\') esc[o++] = '\\';
            if ((unsigned char)*p < 0x20) {
                o += (size_t)snprintf(esc + o, sizeof(esc) - o, "\\u%04x", *p);
                continue;
            }
            esc[o++] = *p;
        }
        esc[o] = 0;
        fprintf(stderr, "{\"ts\":%lld,\"level\":\"info\",\"msg\":\"%s\"}\n", (long long)time(NULL), esc);
    } else {
        fprintf(stderr, "infergate: %s\n", msg);
    }
}

static bool parse_bool(const char *v, bool *out)
{
    if (!v) return false;
    if (!strcmp(v, "true") || !strcmp(v, "1")) return *out = true, true;
    if (!strcmp(v, "false") || !strcmp(v, "0")) return *out = false, true;
    return false;
}

static void log_model(const ig_mm_row *rows, int n, void *ctx)
{
    (void)ctx;
    for (int i = 0; i < n; i++)
        say("model '%s' version %s: %s%s%s", rows[i].name, rows[i].version_str[0] ? rows[i].version_str : "-",
            ig_version_state_name(rows[i].state), rows[i].reason && rows[i].reason[0] ? ": " : "",
            rows[i].reason ? rows[i].reason : "");
}

/* The gRPC server, for the REST queue-depth header (set once before any request arrives). */
static ig_grpc_server *grpc_for_depth;

static long grpc_in_flight(void *ctx)
{
    (void)ctx;
    return grpc_for_depth ? ig_grpc_server_in_flight(grpc_for_depth) : 0;
}

/* Requests accepted on either protocol and not yet answered. */
static long in_flight(ig_rest *rest, ig_grpc_server *grpc)
{
    return ig_rest_in_flight(rest) + (grpc ? ig_grpc_server_in_flight(grpc) : 0);
}

int ig_cli_serve(int argc, char **argv)
{
    const char *repo = NULL, *address = NULL, *control = "none", *tls_cert = NULL, *tls_key = NULL,
               *tls_ca = NULL, *policy_path = NULL;
    ig_tls_store *tls = NULL;
    ig_access *access = NULL;
    long http_port = 8000, metrics_port = 8002, grpc_port = 8001, grpc_threads = 2, grpc_max_msg = 64l << 20,
         poll_secs = 15, exit_timeout = 30, io_threads = 2, threads = 0;
    long long cache_bytes = 0, max_body = 64ll << 20;
    bool strict = true;
    const char **load = calloc((size_t)argc + 1, sizeof(char *));
    int n_load = 0, status = 2;
    for (int i = 1; i < argc; i += 2) { /* every flag takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool has = v != NULL;
        if (!strcmp(a, "--help")) {
            fputs(usage, stdout);
            free(load);
            return 0;
        } else if (!strcmp(a, "--model-repository") && has) {
            repo = v;
        } else if (!strcmp(a, "--http-address") && has) {
            address = v;
        } else if (!strcmp(a, "--http-port") && has) {
            if (!ig_cli_parse_int("serve", a, v, 0, 65535, &http_port)) goto done;
        } else if (!strcmp(a, "--grpc-port") && has) {
            if (!ig_cli_parse_int("serve", a, v, -1, 65535, &grpc_port)) goto done;
        } else if (!strcmp(a, "--grpc-thread-count") && has) {
            if (!ig_cli_parse_int("serve", a, v, 1, 16, &grpc_threads)) goto done;
        } else if (!strcmp(a, "--grpc-max-message-bytes") && has) {
            if (!ig_cli_parse_int("serve", a, v, 1024, INT32_MAX, &grpc_max_msg)) goto done;
        } else if (!strcmp(a, "--metrics-port") && has) {
            if (!ig_cli_parse_int("serve", a, v, 0, 65535, &metrics_port)) goto done;
        } else if (!strcmp(a, "--http-thread-count") && has) {
            if (!ig_cli_parse_int("serve", a, v, 1, 256, &io_threads)) goto done;
        } else if (!strcmp(a, "--threads") && has) {
            if (!ig_cli_parse_int("serve", a, v, 1, 1024, &threads)) goto done;
        } else if (!strcmp(a, "--model-control-mode") && has) {
            control = v;
            if (strcmp(v, "none") && strcmp(v, "poll") && strcmp(v, "explicit")) {
                ig_cli_fail("serve", 2, "--model-control-mode takes none, poll or explicit, got '%s'", v);
                goto done;
            }
        } else if (!strcmp(a, "--repository-poll-secs") && has) {
            if (!ig_cli_parse_int("serve", a, v, 1, 86400, &poll_secs)) goto done;
        } else if (!strcmp(a, "--tls-cert") && has) {
            tls_cert = v;
        } else if (!strcmp(a, "--tls-key") && has) {
            tls_key = v;
        } else if (!strcmp(a, "--policy-config") && has) {
            policy_path = v;
        } else if (!strcmp(a, "--tls-client-ca") && has) {
            tls_ca = v;
        } else if (!strcmp(a, "--load-model") && has) {
            load[n_load++] = v;
        } else if (!strcmp(a, "--strict-readiness") && has) {
            if (!parse_bool(v, &strict)) {
                ig_cli_fail("serve", 2, "--strict-readiness takes true or false, got '%s'", v);
                goto done;
            }
        } else if (!strcmp(a, "--exit-timeout-secs") && has) {
            if (!ig_cli_parse_int("serve", a, v, 0, 86400, &exit_timeout)) goto done;
        } else if (!strcmp(a, "--log-format") && has) {
            if (strcmp(v, "text") && strcmp(v, "json")) {
                ig_cli_fail("serve", 2, "--log-format takes text or json, got '%s'", v);
                goto done;
            }
            json_log = !strcmp(v, "json");
        } else if (!strcmp(a, "--cache-size-bytes") && has) {
            long n;
            if (!ig_cli_parse_int("serve", a, v, 0, 1L << 40, &n)) goto done;
            cache_bytes = n;
        } else if (!strcmp(a, "--max-body-bytes") && has) {
            long n;
            if (!ig_cli_parse_int("serve", a, v, 1024, 1L << 34, &n)) goto done;
            max_body = n;
        } else {
            ig_cli_fail("serve", 2, "unexpected argument '%s' (see 'infergate serve --help')", a);
            goto done;
        }
    }
    if (!repo) {
        ig_cli_fail("serve", 2, "--model-repository is required (see 'infergate serve --help')");
        goto done;
    }
    if (!tls_cert != !tls_key || (tls_ca && !tls_cert)) {
        ig_cli_fail("serve", 2, "--tls-cert and --tls-key go together (and --tls-client-ca needs them)");
        goto done;
    }
    status = 1;
    if (policy_path) {
        ig_error perr = {0};
        if (!(access = ig_access_create())) {
            ig_cli_fail("serve", 1, "out of memory");
            goto done;
        }
        if (ig_access_load(access, policy_path, &perr)) {
            ig_cli_fail("serve", 1, "%s", perr.msg);
            goto done;
        }
    }
    if (tls_cert) {
        ig_error terr = {0};
        if (ig_tls_store_create(tls_cert, tls_key, tls_ca, &tls, &terr)) {
            ig_cli_fail("serve", 1, "%s", terr.msg);
            goto done;
        }
    }

    /* Signals go to the main thread only: block them before any thread starts. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    /* SIGHUP rereads the TLS files and the policy file; without either it keeps its default. */
    if (tls || access) sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    ig_mm_options mo = {.repository = repo,
                        .mode = !strcmp(control, "poll")       ? IG_CONTROL_POLL
                                : !strcmp(control, "explicit") ? IG_CONTROL_EXPLICIT
                                                               : IG_CONTROL_NONE,
                        .poll_secs = (int)poll_secs,
                        .load = load,
                        .n_load = n_load,
                        .threads = (int)threads};
    ig_error err = {0};
    ig_serving sv = {0};
    ig_rest *rest = NULL;
    ig_grpc_server *grpc = NULL;
    ig_http_server *http = NULL, *metrics = NULL;
    if (ig_mm_create(&mo, &sv.mm, &err)) {
        ig_cli_fail("serve", 1, "%s", err.msg);
        goto done;
    }
    ig_mm_snapshot(sv.mm, log_model, NULL);
    if (cache_bytes > 0 && !(sv.cache = ig_cache_create((size_t)cache_bytes))) {
        ig_cli_fail("serve", 1, "cannot create a response cache of %lld bytes", cache_bytes);
        goto stop;
    }
    ig_rest_options ro = {.strict_readiness = strict,
                          .explicit_control = mo.mode == IG_CONTROL_EXPLICIT,
                          .access_log = json_log ? stdout : NULL,
                          .access = access,
                          .other_in_flight = grpc_in_flight};
    if (!(rest = ig_rest_create(&sv, &ro))) {
        ig_cli_fail("serve", 1, "out of memory");
        goto stop;
    }
    /* gRPC listens before REST does, so that a REST readiness probe that passes means both are up. */
    ig_grpc_options go = {.bind_address = address,
                          .port = (int)grpc_port,
                          .threads = (int)grpc_threads,
                          .max_message_bytes = (size_t)grpc_max_msg,
                          .strict_readiness = strict,
                          .explicit_control = mo.mode == IG_CONTROL_EXPLICIT,
                          .tls = tls,
                          .access = access};
    if (grpc_port >= 0 && ig_grpc_server_start(&sv, &go, &grpc, &err)) {
        ig_cli_fail("serve", 1, "%s", err.msg);
        goto stop;
    }
    ig_http_config hc = {.bind_address = address,
                         .port = (int)http_port,
                         .io_threads = (int)io_threads,
                         .max_body_bytes = (size_t)max_body,
                         /* the HTTP server reads 0 as its default: keep a zero exit timeout at ~0 */
                         .drain_timeout_ms = exit_timeout ? (unsigned)exit_timeout * 1000 : 1,
                         .tls = tls};
    ig_http_config mc = {.bind_address = address, .port = (int)metrics_port, .io_threads = 1};
    if (ig_http_server_create(&hc, ig_rest_handle, rest, &http, &err) || ig_http_server_start(http, &err) ||
        ig_http_server_create(&mc, ig_rest_handle_metrics, rest, &metrics, &err) ||
        ig_http_server_start(metrics, &err)) {
        ig_cli_fail("serve", 1, "%s", err.msg);
        goto stop;
    }
    say("serving the Open Inference Protocol%s on %s:%d, metrics on %s:%d/metrics",
        tls_cert ? (tls_ca ? " over HTTPS with client certificates" : " over HTTPS") : "",
        address ? address : "0.0.0.0", ig_http_server_port(http), address ? address : "0.0.0.0",
        ig_http_server_port(metrics));
    grpc_for_depth = grpc;
    if (access) say("access policy from %s on REST and gRPC", policy_path);
    if (grpc)
        say("serving gRPC%s on %s:%d", tls_cert ? " over TLS" : "", address ? address : "0.0.0.0",
            ig_grpc_server_port(grpc));

    int sig = 0;
    for (;;) {
        sigwait(&sigs, &sig);
        if (sig != SIGHUP) break;
        /* New TLS connections get the reread files; open ones keep what they negotiated. */
        ig_error rerr = {0};
        if (tls && ig_tls_store_reload(tls, &rerr))
            say("SIGHUP: TLS files not reloaded, keeping the current ones: %s", rerr.msg);
        else if (tls)
            say("SIGHUP: TLS certificate and key reloaded");
        /* The next checks use the new policy; rate-limit buckets of unchanged rules keep counting. */
        ig_error perr = {0};
        if (access && ig_access_load(access, policy_path, &perr))
            say("SIGHUP: policy not reloaded, keeping the current one: %s", perr.msg);
        else if (access)
            say("SIGHUP: policy reloaded from %s", policy_path);
    }
    say("received %s: draining (up to %ld s)", sig == SIGTERM ? "SIGTERM" : "SIGINT", exit_timeout);
    ig_rest_set_draining(rest, true);
    if (grpc) ig_grpc_server_set_draining(grpc, true);
    /* Keep answering for a short grace (503 with Connection: close) even when nothing is in flight, so
     * clients between two keep-alive requests hear that the server is going rather than find the
     * connection reset; then wait for what was accepted. */
    long grace_ms = exit_timeout * 1000 < 500 ? exit_timeout * 1000 : 500, waited_ms = 0;
    for (; (in_flight(rest, grpc) > 0 || waited_ms < grace_ms) && waited_ms < exit_timeout * 1000;
         waited_ms += 10)
        usleep(10 * 1000);
    long left = in_flight(rest, grpc);
    status = 0;
    if (left) {
        /* The timeout bounds shutdown: what is still queued or running is abandoned with the process. */
        say("exit timeout: %ld requests still in flight, exiting", left);
        ig_http_server_stop(http, false);
        free(load); /* the TLS store stays: gRPC handshakes may still read it until the process ends */
        return status;
    }
stop:
    if (http) ig_http_server_stop(http, true);
    if (metrics) ig_http_server_stop(metrics, false);
    ig_http_server_destroy(http);
    ig_http_server_destroy(metrics);
    /* gRPC stops taking calls before the schedulers drain, and is freed after their last replies. */
    ig_grpc_server_shutdown(grpc);
    ig_mm_free(sv.mm);
    ig_grpc_server_destroy(grpc);
    ig_cache_free(sv.cache);
    ig_rest_free(rest);
    if (!status) say("stopped");
done:
    ig_access_free(access);
    ig_tls_store_free(tls);
    free(load);
    return status;
}
