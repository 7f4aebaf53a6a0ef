/* The gateway's config snapshot: a complete file loads with its pools, routes and policies; errors
 * name their line, and a refused file leaks nothing (the ASan build checks). */
#include "gateway/config.h"

#include <stdio.h>
#include <unistd.h>

#include "check.h"

static ig_gw_config *load(const char *text, ig_error *err)
{
    char path[] = "/tmp/ig_gw_config_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    *err = (ig_error){0};
    ig_gw_config *c = ig_gw_config_load(path, NULL, NULL, err);
    unlink(path);
    return c;
}

static const char pools[] = "pools:\n"
                            "  - name: a\n"
                            "    endpoints: [\"127.0.0.1:1\"]\n"
                            "  - name: b\n"
                            "    endpoints: [\"127.0.0.1:2\"]\n";

static void test_good(void)
{
    char text[1024];
    snprintf(text, sizeof text,
             "listen: 127.0.0.1:0\nworkers: 1\ncache: {max_bytes: 1024}\n%s"
             "routes:\n"
             "  - name: r\n"
             "    match: {model: \"m*\", headers: {x-t: \"1\"}}\n"
             "    split: [{pool: a, weight: 90}, {pool: b, weight: 10}]\n"
             "    shadow: {pool: b, percent: 5}\n"
             "    timeout: 2s\n"
             "  - pool: a\n"
             "rate_limits:\n  rules: [{name: k, per: key, rate: 10/s}]\n",
             pools);
    ig_error err;
    ig_gw_config *c = load(text, &err);
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_EQ_INT(c->n_pools, 2);
    CHECK_EQ_INT(c->n_routes, 2);
    CHECK(c->routes[0].rollout != NULL && c->routes[0].timeout_ms == 2000 && c->routes[0].n_headers == 1);
    CHECK_EQ_INT(c->routes[1].pool, 0);
    CHECK_EQ_INT(c->cache_max_bytes, 1024);
    CHECK_EQ_INT(ig_ratelimit_rule_count(c->rate_limit), 1);
    ig_gw_config_release(c);
}

static void test_errors(void)
{
    struct {
        const char *routes, *want;
    } bad[] = {
        {"routes:\n  - pool: nope\n", ":7: unknown pool 'nope'"},
        {"routes:\n  - name: s\n    shadow: {pool: b}\n", ":7: route needs a pool or a split"},
        {"routes:\n  - pool: a\n    typo: 1\n", ":8: unknown key 'typo'"},
        {"routes:\n  - pool: a\n    timeout: 0s\n", "timeout must be above 0"},
        {"routes: []\n", "at least one route"},
        {"routes:\n  - pool: a\nauth: {required: true}\n", "nobody could get in"},
        {"routes:\n  - pool: a\ncache: {max_bytes: -1}\n", "max_bytes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "%s%s", pools, bad[i].routes);
        ig_error err;
        ig_gw_config *c = load(text, &err);
        CHECK(c == NULL);
        if (!strstr(err.msg, bad[i].want)) fprintf(stderr, "case %zu: got '%s'\n", i, err.msg);
        CHECK(strstr(err.msg, bad[i].want) != NULL);
        ig_gw_config_release(c);
    }
    ig_error err;
    CHECK(load("pools:\n  - name: a\n    endpoints: [\"127.0.0.1:1\"]\n  - name: a\n    endpoints: "
               "[\"127.0.0.1:2\"]\nroutes:\n  - pool: a\n",
               &err) == NULL &&
          strstr(err.msg, "duplicate pool name 'a'"));
}

/* Pools of two protocols in one route: refused at the line of the first pool that differs from the
 * first pool the route names, both named; one protocol throughout loads. */
static void test_protocols(void)
{
    static const char mixed[] = "pools:\n"
                                "  - {name: a, endpoints: [\"127.0.0.1:1\"]}\n"
                                "  - {name: b, endpoints: [\"127.0.0.1:2\"]}\n"
                                "  - {name: g, protocol: grpc, endpoints: [\"127.0.0.1:3\"]}\n"
                                "  - {name: h, protocol: grpc, endpoints: [\"127.0.0.1:4\"]}\n"
                                "routes:\n";
    struct {
        const char *routes, *want;
    } bad[] = {
        {"  - name: r\n    pool: g\n    shadow: {pool: a, percent: 5}\n",
         ":9: route 'r': shadow pool 'a' has protocol: http but pool 'g' has protocol: grpc"},
        {"  - name: r\n    pool: a\n    shadow:\n      pool: h\n",
         ":10: route 'r': shadow pool 'h' has protocol: grpc but pool 'a' has protocol: http"},
        {"  - name: s\n    split:\n      - {pool: g, weight: 1}\n      - {pool: b, weight: 1}\n",
         ":10: route 's': split pool 'b' has protocol: http but split pool 'g' has protocol: grpc"},
        {"  - name: k\n    canary:\n      baseline: a\n      canary: h\n      steps: [5]\n",
         ":10: route 'k': canary pool 'h' has protocol: grpc but canary baseline 'a' has protocol: http"},
        {"  - name: p\n    pool: a\n    split: [{pool: g, weight: 1}]\n",
         ":9: route 'p': split pool 'g' has protocol: grpc but pool 'a' has protocol: http"},
        /* a later route is checked too */
        {"  - pool: a\n  - name: q\n    pool: h\n    shadow: {pool: b}\n", ":10: route 'q': shadow pool 'b'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "%s%s", mixed, bad[i].routes);
        ig_error err;
        ig_gw_config *c = load(text, &err);
        CHECK(c == NULL);
        if (!strstr(err.msg, bad[i].want)) fprintf(stderr, "protocol case %zu: got '%s'\n", i, err.msg);
        CHECK(strstr(err.msg, bad[i].want) != NULL);
        ig_gw_config_release(c);
    }
    const char *good[] = {
        "  - name: g\n    pool: g\n    shadow: {pool: h, percent: 5}\n"
        "  - name: s\n    split: [{pool: g, weight: 1}, {pool: h, weight: 1}]\n"
        "  - name: r\n    pool: a\n    shadow: {pool: b}\n"
        "  - name: k\n    canary: {baseline: a, canary: b, steps: [5]}\n    shadow: {pool: a}\n",
        /* routes of either protocol side by side */
        "  - {name: x, pool: a}\n  - {name: y, pool: g}\n",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "%s%s", mixed, good[i]);
        ig_error err;
        ig_gw_config *c = load(text, &err);
        CHECK(c != NULL);
        if (!c) fprintf(stderr, "good protocol case %zu: %s\n", i, err.msg);
        ig_gw_config_release(c);
    }
}

int main(void)
{
    test_good();
    test_errors();
    test_protocols();
    return CHECK_DONE();
}
