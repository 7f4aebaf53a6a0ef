/* Rollout: config errors with lines, split proportions, pins by header and cookie, sticky keys,
 * shadow share, the status document, and a multi-threaded choose+record hammer. */
#include "gateway/rollout.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"

static const char *pools[] = {"stable", "canary", "candidate", "other"};

static int resolve(void *ctx, const char *name)
{
    (void)ctx;
    for (int i = 0; i < 4; i++)
        if (!strcmp(pools[i], name)) return i;
    return -1;
}

static ig_conf *conf;

/* Loads yaml and builds the rollout of routes[0]; err gets any failure. */
static ig_rollout *load(const char *yaml, ig_error *err)
{
    memset(err, 0, sizeof(*err));
    ig_conf_free(conf);
    conf = ig_conf_load_string(yaml, strlen(yaml), "gw.yaml", err);
    if (!conf) return NULL;
    const ig_conf_node *routes = ig_conf_get(ig_conf_root(conf), "routes");
    return ig_rollout_from_conf(conf, routes->child, resolve, NULL, NULL, NULL, err);
}

static uint64_t rng = 0x1234567;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_config(void)
{
    ig_error err;
    CHECK(!load("routes:\n  - pool: stable\n    match: {model: m}\n", &err));
    CHECK_EQ_INT(err.code, 0);
    CHECK(!load("routes:\n  - split:\n      - {pool: stable, weight: 90}\n      - {pool: nope, weight: 10}\n",
                &err));
    CHECK_STR(err.msg, "gw.yaml:4: unknown pool 'nope'");
    CHECK(!load("routes:\n  - split:\n      - {pool: stable, weight: 0}\n", &err));
    CHECK(strstr(err.msg, "gw.yaml:3:") != NULL);
    CHECK(!load("routes:\n  - split:\n      - {pool: stable, weight: 1, colour: red}\n", &err));
    CHECK(strstr(err.msg, "gw.yaml:3: unknown key 'colour'") != NULL);
    CHECK(!load("routes:\n  - split:\n      - {pool: stable, weight: -1}\n", &err));
    CHECK(!load("routes:\n  - split:\n      - {pool: stable, weight: 1}\n      - {pool: stable, weight: 1}\n",
                &err));
    CHECK(strstr(err.msg, "gw.yaml:4:") != NULL);
    CHECK(!load("routes:\n  - split: [{pool: stable, weight: 1}]\n    pin: {header: x, hedder: y}\n", &err));
    CHECK(strstr(err.msg, "gw.yaml:3: unknown key 'hedder'") != NULL);
    CHECK(!load("routes:\n  - sticky: {header: x}\n", &err));
    CHECK(strstr(err.msg, "gw.yaml:2:") != NULL);
    CHECK(!load("routes:\n  - pool: stable\n    shadow: {pool: candidate, percent: 101}\n", &err));
    CHECK(strstr(err.msg, "gw.yaml:3:") != NULL);
    CHECK(
        !load("routes:\n  - canary:\n      baseline: stable\n      canary: gone\n      steps: [5]\n", &err));
    CHECK_STR(err.msg, "gw.yaml:4: unknown pool 'gone'");
    CHECK(!load("routes:\n  - canary:\n      baseline: stable\n      canary: canary\n      steps: [50, 25]\n",
                &err));
    CHECK(strstr(err.msg, "gw.yaml:5:") != NULL);
    CHECK(!load("routes:\n  - canary:\n      baseline: stable\n      canary: canary\n      steps: [5]\n"
                "      max_p99_ratoi: 2\n",
                &err));
    CHECK(strstr(err.msg, "gw.yaml:6: unknown key 'max_p99_ratoi'") != NULL);
    CHECK(!load("routes:\n  - split: [{pool: other, weight: 1}]\n    canary:\n      baseline: stable\n"
                "      canary: canary\n      steps: [5]\n",
                &err));
    CHECK(strstr(err.msg, "not in the split") != NULL);
    /* A good one: every key is marked used, so the data plane's no_unknown passes. */
    ig_rollout *r = load("routes:\n  - match: {model: mlp}\n    split:\n      - {pool: stable, weight: 90}\n"
                         "      - {pool: canary, weight: 10}\n    pin: {header: X-Infergate-Target, cookie: "
                         "infergate-target}\n    sticky: {header: X-User-Id}\n    shadow: {pool: candidate, "
                         "percent: 10, atol: 1e-5, rtol: 1e-4}\n",
                         &err);
    CHECK(r != NULL);
    if (!r) return;
    const ig_conf_node *route = ig_conf_get(ig_conf_root(conf), "routes")->child;
    ig_conf_get(route, "match");
    CHECK(ig_conf_no_unknown(conf, route, &err));
    CHECK_STR(ig_rollout_pin_header(r), "x-infergate-target");
    CHECK_STR(ig_rollout_sticky_header(r), "x-user-id");
    double atol, rtol;
    ig_rollout_shadow_tolerance(r, &atol, &rtol);
    CHECK(atol == 1e-5 && rtol == 1e-4);
    char *s = ig_rollout_status_json(r);
    CHECK(s && strstr(s, "\"pool\":\"stable\",\"weight\":90") &&
          strstr(s, "\"pin_cookie\":\"infergate-target\""));
    free(s);
    ig_rollout_free(r);
}

static void test_split(void)
{
    ig_error err;
    ig_rollout *r =
        load("routes:\n  - split:\n      - {pool: stable, weight: 70}\n      - {pool: canary, weight: 20}\n"
             "      - {pool: other, weight: 10}\n      - {pool: candidate, weight: 0}\n",
             &err);
    CHECK(r != NULL);
    if (!r) return;
    int counts[4] = {0};
    const int n = 100000;
    for (int i = 0; i < n; i++) {
        ig_rollout_pick p;
        ig_rollout_choose(r, NULL, NULL, NULL, next_rand(), &p);
        CHECK(p.pool >= 0 && p.pool < 4);
        CHECK(p.shadow_pool == -1 && !p.canary);
        if (p.pool >= 0 && p.pool < 4) counts[p.pool]++;
    }
    /* Expected 70000/20000/10000; 5 sigma is under 1% of n. */
    CHECK(abs(counts[0] - 70000) < 1000);
    CHECK(abs(counts[1] - 20000) < 1000);
    CHECK(abs(counts[3] - 10000) < 1000);
    CHECK_EQ_INT(counts[2], 0);
    ig_rollout_free(r);
}

static void test_pins_and_sticky(void)
{
    ig_error err;
    ig_rollout *r = load(
        "routes:\n  - split:\n      - {pool: stable, weight: 90}\n      - {pool: canary, weight: 10}\n"
        "    pin: {header: x-infergate-target, cookie: infergate-target}\n    sticky: {header: x-user-id}\n",
        &err);
    CHECK(r != NULL);
    if (!r) return;
    ig_rollout_pick p;
    for (int i = 0; i < 200; i++) {
        ig_rollout_choose(r, "canary", NULL, NULL, next_rand(), &p);
        CHECK(p.pool == 1 && p.pinned);
        ig_rollout_choose(r, NULL, "a=1; infergate-target=canary", NULL, next_rand(), &p);
        CHECK(p.pool == 1 && p.pinned);
        ig_rollout_choose(r, NULL, "infergate-target=stable;b=2", "user-7", next_rand(), &p);
        CHECK(p.pool == 0 && p.pinned);
        /* The header wins over the cookie. */
        ig_rollout_choose(r, "stable", "infergate-target=canary", NULL, next_rand(), &p);
        CHECK(p.pool == 0);
    }
    /* Unknown pin values and look-alike cookie names fall through to the weights. */
    int canary = 0;
    for (int i = 0; i < 10000; i++) {
        ig_rollout_choose(r, "nope", "xinfergate-target=canary; infergate-target=canaryx", NULL, next_rand(),
                          &p);
        CHECK(!p.pinned);
        canary += p.pool == 1;
    }
    CHECK(canary > 700 && canary < 1300);
    /* Sticky: the same key always lands on the same pool; keys spread by weight. */
    int sticky_canary = 0;
    for (int u = 0; u < 10000; u++) {
        char key[32];
        snprintf(key, sizeof(key), "user-%d", u);
        ig_rollout_pick first;
        ig_rollout_choose(r, NULL, NULL, key, next_rand(), &first);
        for (int k = 0; k < 3; k++) {
            ig_rollout_choose(r, NULL, "other=1", key, next_rand(), &p);
            CHECK_EQ_INT(p.pool, first.pool);
        }
        sticky_canary += first.pool == 1;
    }
    CHECK(sticky_canary > 700 && sticky_canary < 1300);
    ig_rollout_free(r);
}

static void test_shadow_share(void)
{
    ig_error err;
    ig_rollout *r = load("routes:\n  - pool: stable\n    shadow: {pool: candidate, percent: 10}\n", &err);
    CHECK(r != NULL);
    if (!r) return;
    int shadowed = 0;
    for (int i = 0; i < 20000; i++) {
        ig_rollout_pick p;
        ig_rollout_choose(r, NULL, NULL, NULL, next_rand(), &p);
        CHECK_EQ_INT(p.pool, -1);
        shadowed += p.shadow_pool == 2;
    }
    CHECK(shadowed > 1600 && shadowed < 2400);
    CHECK_EQ_INT(ig_rollout_promote(r, "x", 0), IG_ENOTFOUND);
    ig_rollout_free(r);
}

static void *hammer(void *arg)
{
    ig_rollout *r = arg;
    uint64_t x = (uint64_t)(uintptr_t)&x;
    for (int i = 0; i < 20000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        ig_rollout_pick p;
        ig_rollout_choose(r, NULL, NULL, (i & 3) ? NULL : "u", x, &p);
        ig_rollout_record(r, p.pool, (x >> 60) == 0, (int64_t)(x >> 50), (int64_t)i * 1000000);
        if (p.shadow_pool >= 0) ig_rollout_record_shadow(r, p.shadow_pool, (int)(x >> 63), i);
        if (!(i % 500)) ig_rollout_tick(r, (int64_t)i * 1000000);
        if (!(i % 5000)) free(ig_rollout_status_json(r));
    }
    return NULL;
}

static void test_threads(void)
{
    ig_error err;
    ig_rollout *r =
        load("routes:\n  - split: [{pool: stable, weight: 1}]\n    shadow: {pool: canary, percent: 50}\n"
             "    canary:\n      baseline: stable\n      canary: canary\n      steps: [5, 25, 50, 75]\n"
             "      interval_requests: 100\n      min_requests: 10\n      max_error_rate: 0.2\n",
             &err);
    CHECK(r != NULL);
    if (!r) return;
    pthread_t t[8];
    for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, hammer, r);
    for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
    CHECK(ig_rollout_decisions(r, IG_CANARY_ADVANCE) + ig_rollout_decisions(r, IG_CANARY_ROLLBACK) > 0);
    ig_rollout_free(r);
}

int main(void)
{
    test_config();
    test_split();
    test_pins_and_sticky();
    test_shadow_share();
    test_threads();
    ig_conf_free(conf);
    return CHECK_DONE();
}
