/* infergate gateway: the inference-aware reverse proxy. The main thread owns the signals: SIGHUP
 * (and a change of the file, checked every second) reloads the config, SIGTERM/SIGINT drains and
 * exits 0. `--check` only validates the file; `hash-key` prints the stored form of an API key. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "gateway/gateway.h"
#include "policy/auth.h"

// clang-format off
static const char usage[] =
    "usage: infergate gateway --config FILE [--check] [--drain-timeout-secs 30]\n"
    "       infergate gateway hash-key KEY     (prints the salted hash to put in auth.api_keys[].hash)\n"
    "SIGHUP or a change of FILE reloads it (an invalid file is refused; the old config keeps serving);\n"
    "SIGTERM/SIGINT stop accepting, finish requests in flight, exit 0. See docs/gateway.md.\n";
// clang-format on

int ig_cli_gateway(int argc, char **argv)
{
    const char *config = NULL;
    bool check = false;
    long drain_secs = 30;
    if (argc == 3 && !strcmp(argv[1], "hash-key")) {
        char out[IG_AUTH_HASH_LEN];
        if (ig_auth_hash_key(argv[2], out, sizeof out))
            return ig_cli_fail("gateway", 1, "cannot hash the key");
        printf("%s\n", out);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--check")) {
            check = true;
        } else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            config = argv[++i];
        } else if (!strcmp(argv[i], "--drain-timeout-secs") && i + 1 < argc) {
            if (!ig_cli_parse_int("gateway", argv[i], argv[i + 1], 0, 3600, &drain_secs)) return 2;
            i++;
        } else {
            fputs(usage, stderr);
            return ig_cli_fail("gateway", 2, "unknown or incomplete option '%s'", argv[i]);
        }
    }
    if (!config) {
        fputs(usage, stderr);
        return ig_cli_fail("gateway", 2, "--config FILE is required");
    }
    ig_error err = {0};
    if (check) {
        if (ig_gateway_check(config, &err)) return ig_cli_fail("gateway", 1, "%s", err.msg);
        printf("%s: ok\n", config);
        return 0;
    }
    /* Signals are taken by this thread only: block them before any thread starts. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    ig_gateway *g = ig_gateway_start(config, &err);
    if (!g) return ig_cli_fail("gateway", 1, "%s", err.msg);
    fprintf(stderr, "infergate: gateway ready (%s)\n", config);
    for (;;) {
        struct timespec second = {1, 0};
        int sig = sigtimedwait(&set, NULL, &second);
        if (sig == SIGTERM || sig == SIGINT) break;
        if (sig == SIGHUP || (sig < 0 && ig_gateway_file_changed(g))) {
            err = (ig_error){0};
            if (ig_gateway_reload(g, &err))
                fprintf(stderr, "infergate: config reload refused, the running config stays: %s\n", err.msg);
            else
                fprintf(stderr, "infergate: config reloaded (%s)\n", config);
        }
    }
    fprintf(stderr, "infergate: draining\n");
    ig_gateway_drain(g, drain_secs * 1000);
    ig_gateway_free(g);
    fprintf(stderr, "infergate: stopped\n");
    return 0;
}
