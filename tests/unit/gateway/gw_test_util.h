/* Shared helpers of the gateway unit tests: pools from YAML text and endpoints by address. */
#ifndef IG_TEST_GW_UTIL_H
#define IG_TEST_GW_UTIL_H

#include <stdio.h>
#include <string.h>

#include "base/conf.h"
#include "gateway/endpoint.h"

#define SEC 1000000000LL

/* A pool from the YAML of one `pools:` item; NULL with err when refused. */
static inline ig_gw_pool *pool_yaml(const char *yaml, ig_error *err)
{
    ig_conf *c = ig_conf_load_string(yaml, strlen(yaml), "test.yaml", err);
    if (!c) return NULL;
    ig_gw_pool *p = ig_gw_pool_from_conf(c, ig_conf_root(c), NULL, err);
    ig_conf_free(c);
    return p;
}

/* A pool with policy lb over n endpoints 127.0.0.1:9000+i with the given weights (NULL = 1). */
static inline ig_gw_pool *pool_n(const char *lb, size_t n, const int *weights, const char *extra)
{
    char yaml[8192];
    size_t off =
        (size_t)snprintf(yaml, sizeof(yaml), "name: t\nlb: %s\n%sendpoints:\n", lb, extra ? extra : "");
    for (size_t i = 0; i < n; i++)
        off +=
            (size_t)snprintf(yaml + off, sizeof(yaml) - off, "  - {address: \"127.0.0.1:%zu\", weight: %d}\n",
                             9000 + i, weights ? weights[i] : 1);
    ig_error err = {0};
    ig_gw_pool *p = pool_yaml(yaml, &err);
    if (!p) fprintf(stderr, "pool_n: %s\n", err.msg);
    return p;
}

/* The index of ep in eps, or -1. */
static inline long ep_index(ig_gw_endpoint *const *eps, size_t n, const ig_gw_endpoint *ep)
{
    for (size_t i = 0; i < n; i++)
        if (eps[i] == ep) return (long)i;
    return -1;
}

static inline uint64_t test_rng(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t x = *s;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    return x ^ (x >> 33);
}

#endif
