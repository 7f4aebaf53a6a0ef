/* Endpoints and pools: `pools:` config (good and refused, with lines), outlier ejection (5xx and
 * connect failures, growing ejection time, unejection, max ejection percent), the panic threshold,
 * active health thresholds, circuit breakers, the retry budget, state adoption on reload, and an
 * 8-thread pick/record hammer while the endpoint set is swapped. */
#include "gateway/endpoint.h"

#include <pthread.h>
#include <stdatomic.h>

#include "check.h"
#include "gw_test_util.h"

static void test_conf(void)
{
    ig_error err = {0};
    ig_gw_pool *p =
        pool_yaml("name: stable\n"
                  "endpoints: [\"127.0.0.1:8000\", {address: \"127.0.0.1:8001\", weight: 3},"
                  " \"[::1]:8002\"]\n"
                  "lb: maglev\n"
                  "weight_by_queue_depth: true\n"
                  "slow_start: 30s\n"
                  "health_check: {interval: 2s, timeout: 250ms, unhealthy_threshold: 3,"
                  " healthy_threshold: 1, path: /healthz, models: [mlp, resnet50]}\n"
                  "outlier: {consecutive_5xx: 7, consecutive_connect_failure: 2, base_ejection: 10s,"
                  " max_ejection: 60s, max_ejection_percent: 50}\n"
                  "circuit_breaker: {max_connections: 10, max_pending: 20, max_requests: 30}\n"
                  "retry_budget: {percent: 50, min_retries: 1}\n",
                  &err);
    CHECK(p != NULL);
    if (!p) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_STR(ig_gw_pool_name(p), "stable");
    CHECK_EQ_INT(ig_gw_pool_lb(p), IG_GW_LB_MAGLEV);
    CHECK_EQ_INT(ig_gw_pool_size(p), 3);
    const ig_gw_health_conf *hc = ig_gw_pool_health_conf(p);
    CHECK(hc->enabled);
    CHECK_EQ_INT(hc->interval_ns, 2 * SEC);
    CHECK_EQ_INT(hc->timeout_ns, SEC / 4);
    CHECK_EQ_INT(hc->unhealthy_threshold, 3);
    CHECK_EQ_INT(hc->n_models, 2);
    CHECK_STR(hc->models[1], "resnet50");
    CHECK_STR(hc->path, "/healthz");
    CHECK(!ig_gw_pool_dns(p, NULL, NULL, NULL));
    ig_gw_endpoint **eps;
    size_t n;
    ig_gw_pool_snapshot(p, &eps, &n);
    CHECK_STR(ig_gw_endpoint_address(eps[1]), "127.0.0.1:8001");
    CHECK_EQ_INT(ig_gw_endpoint_weight(eps[1]), 3);
    CHECK_EQ_INT(ig_gw_endpoint_queue_depth(eps[0]), -1);
    socklen_t len;
    CHECK_EQ_INT(ig_gw_endpoint_sockaddr(eps[2], &len)->sa_family, AF_INET6);
    ig_gw_endpoints_release(eps, n);
    /* Circuit breaker limits from the config. */
    int ok = 0;
    for (int i = 0; i < 40; i++) ok += ig_gw_pool_acquire_connection(p);
    CHECK_EQ_INT(ok, 10);
    for (int i = 0; i < 10; i++) ig_gw_pool_release_connection(p);
    ok = 0;
    for (int i = 0; i < 40; i++) ok += ig_gw_pool_acquire_pending(p);
    CHECK_EQ_INT(ok, 20);
    for (int i = 0; i < 20; i++) ig_gw_pool_release_pending(p);
    CHECK_EQ_INT(ig_gw_pool_overflows(p), 50);
    CHECK_EQ_INT(ig_gw_pool_pending_active(p), 0);
    ig_gw_pool_free(p);

    /* Defaults. */
    p = pool_yaml("name: d\nendpoints: [\"127.0.0.1:8000\"]\n", &err);
    CHECK(p != NULL);
    CHECK_EQ_INT(ig_gw_pool_lb(p), IG_GW_LB_P2C);
    CHECK(!ig_gw_pool_health_conf(p)->enabled);
    ok = 0;
    for (int i = 0; i < 1100; i++) ok += ig_gw_pool_acquire_request(p);
    CHECK_EQ_INT(ok, 1024);
    ig_gw_pool_free(p);

    static const struct {
        const char *yaml, *want;
    } bad[] = {
        {"name: a\nendpoints: [\"127.0.0.1:8000\"]\nlbb: p2c\n", "test.yaml:3: unknown key 'lbb'"},
        {"name: a\nendpoints: [\"127.0.0.1:8000\"]\nlb: random\n", "test.yaml:3: lb: unknown policy"},
        {"name: a\n", "exactly one of 'endpoints' or 'dns'"},
        {"name: a\nendpoints: [\"h:1\"]\ndns: \"h:1\"\n", "exactly one of"},
        {"name: a\nendpoints:\n  - \"127.0.0.1\"\n", "test.yaml:3: bad address"},
        {"name: a\nendpoints:\n  - \"127.0.0.1:70000\"\n", "test.yaml:3: bad address"},
        {"name: a\nendpoints:\n  - {address: \"127.0.0.1:1\", weight: 0}\n", "test.yaml:3"},
        {"name: a\nendpoints:\n  - {address: \"127.0.0.1:1\", wieght: 2}\n", "unknown key 'wieght'"},
        {"name: a\nendpoints: [\"127.0.0.1:1\", \"127.0.0.1:1\"]\n", "listed twice"},
        {"name: a\nendpoints: []\n", "at least one"},
        {"name: a\nendpoints: [\"127.0.0.1:1\"]\noutlier: {consecutive_5xx: 5, max: 1}\n",
         "unknown key 'max'"},
        {"name: a\nendpoints: [\"127.0.0.1:1\"]\noutlier:\n  max_ejection_percent: 101\n", "test.yaml:4"},
        {"name: a\nendpoints: [\"127.0.0.1:1\"]\noutlier: {base_ejection: 60s, max_ejection: 10s}\n",
         "max_ejection must be"},
        {"name: a\nendpoints: [\"127.0.0.1:1\"]\nhealth_check: {models: [\"a/b\"]}\n", "models"},
        {"name: a\nendpoints: [\"127.0.0.1:1\"]\nhealth_check: {path: health}\n", "path must start"},
        {"name: a\nendpoints: [\"127.0.0.1:1\"]\nhealth_check: {intervall: 1s}\n", "unknown key 'intervall'"},
        {"name: a\nendpoints: [\"127.0.0.1:1\"]\ncircuit_breaker: {max_requests: 0}\n", "test.yaml:3"},
        {"name: a\nendpoints: [\"127.0.0.1:1\"]\nretry_budget: {percent: 20, min: 3}\n", "unknown key 'min'"},
        {"name: a\nendpoints: [\"127.0.0.1:1\"]\nresolve: 5s\n", "resolve: only with 'dns'"},
        {"name: a\ndns: \"nohost\"\n", "dns: expected"},
        {"endpoints: [\"127.0.0.1:1\"]\n", "missing key 'name'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        p = pool_yaml(bad[i].yaml, &err);
        CHECK(p == NULL);
        if (!strstr(err.msg, bad[i].want)) {
            CHECK(!"error message");
            fprintf(stderr, "case %zu: got '%s', want '%s'\n", i, err.msg, bad[i].want);
        }
        ig_gw_pool_free(p);
    }
}

static void fail_n(ig_gw_pool *p, ig_gw_endpoint *ep, int status, int times, int64_t now)
{
    for (int i = 0; i < times; i++) ig_gw_pool_record(p, ep, status, now);
}

static void test_ejection(void)
{
    ig_gw_pool *p = pool_n("p2c", 10, NULL, NULL);
    ig_gw_endpoint **eps;
    size_t n;
    ig_gw_pool_snapshot(p, &eps, &n);
    ig_gw_endpoint *a = eps[0];
    int64_t t = 1000 * SEC;
    fail_n(p, a, 503, 4, t);
    CHECK(!ig_gw_endpoint_ejected(a, t));
    ig_gw_pool_record(p, a, 200, t); /* a success resets the run */
    fail_n(p, a, 500, 4, t);
    CHECK(!ig_gw_endpoint_ejected(a, t));
    CHECK(ig_gw_pool_record(p, a, 502, t));
    CHECK(ig_gw_endpoint_ejected(a, t));
    CHECK_EQ_INT(ig_gw_endpoint_ejections(a), 1);
    /* Picks skip it. */
    uint64_t s = 3;
    for (int i = 0; i < 500; i++) {
        ig_gw_endpoint *ep = ig_gw_pool_pick(p, 0, test_rng(&s), NULL, t + SEC);
        CHECK(ep != a);
        ig_gw_endpoint_finish(ep);
    }
    /* 30 s, then back. */
    CHECK(ig_gw_endpoint_ejected(a, t + 30 * SEC - 1));
    CHECK(!ig_gw_endpoint_ejected(a, t + 30 * SEC));
    /* Again right away: twice as long. */
    t += 30 * SEC;
    fail_n(p, a, 503, 5, t);
    CHECK(ig_gw_endpoint_ejected(a, t + 60 * SEC - 1));
    CHECK(!ig_gw_endpoint_ejected(a, t + 60 * SEC));
    /* Third: 90 s. */
    t += 60 * SEC;
    fail_n(p, a, 503, 5, t);
    CHECK(ig_gw_endpoint_ejected(a, t + 90 * SEC - 1));
    CHECK(!ig_gw_endpoint_ejected(a, t + 90 * SEC));
    CHECK_EQ_INT(ig_gw_endpoint_ejections(a), 3);
    /* Long healthy: the multiplier decays back to one. */
    t += 90 * SEC + 3600 * SEC;
    fail_n(p, a, 503, 5, t);
    CHECK(ig_gw_endpoint_ejected(a, t + 30 * SEC - 1));
    CHECK(!ig_gw_endpoint_ejected(a, t + 30 * SEC));
    t += 30 * SEC;

    /* Max ejection percent: 10% of 10 is one, so b stays while a is out. */
    ig_gw_endpoint *b = eps[1];
    fail_n(p, a, 0, 5, t); /* connect failures */
    CHECK(ig_gw_endpoint_ejected(a, t));
    fail_n(p, b, 503, 8, t);
    CHECK(!ig_gw_endpoint_ejected(b, t));
    /* a's second ejection in a row lasts 60 s; once a is back, b's next failure ejects it. */
    CHECK(!ig_gw_pool_record(p, b, 503, t + 59 * SEC));
    CHECK(ig_gw_pool_record(p, b, 503, t + 60 * SEC));
    CHECK(ig_gw_endpoint_ejected(b, t + 60 * SEC));
    /* A response after connect failures ends the connect run (4 + response + 4: no ejection by it). */
    ig_gw_endpoint *c = eps[2];
    int64_t t2 = t + 1000 * SEC;
    fail_n(p, c, 0, 4, t2);
    ig_gw_pool_record(p, c, 200, t2);
    fail_n(p, c, 0, 4, t2);
    CHECK(!ig_gw_endpoint_ejected(c, t2));
    ig_gw_endpoints_release(eps, n);
    ig_gw_pool_free(p);

    /* An endpoint not in the pool is never ejected by it. */
    p = pool_n("p2c", 2, NULL, NULL);
    ig_error err = {0};
    ig_gw_endpoint *stray = ig_gw_endpoint_create("127.0.0.1:1", 1, 0, &err);
    fail_n(p, stray, 503, 10, SEC);
    CHECK(!ig_gw_endpoint_ejected(stray, SEC));
    ig_gw_endpoint_release(stray);
    ig_gw_pool_free(p);

    /* Thresholds of 0 disable a detector. */
    ig_gw_outlier_conf oc;
    ig_gw_outlier_conf_default(&oc);
    oc.consecutive_5xx = 0;
    ig_gw_outlier_state st = {0};
    for (int i = 0; i < 100; i++) CHECK(!ig_gw_outlier_record(&st, &oc, 503, SEC));
    CHECK_EQ_INT(ig_gw_outlier_max_ejected(&oc, 1), 1);
    CHECK_EQ_INT(ig_gw_outlier_max_ejected(&oc, 25), 2);
    /* The cap. */
    ig_gw_outlier_conf_default(&oc);
    ig_gw_outlier_state s2 = {0};
    int64_t len = 0;
    for (int i = 0; i < 20; i++) len = ig_gw_outlier_eject(&s2, &oc, SEC);
    CHECK_EQ_INT(len, 300 * SEC);
}

static void test_panic_and_health(void)
{
    ig_gw_pool *p = pool_n("p2c", 4, NULL, "outlier: {max_ejection_percent: 100}\n");
    ig_gw_endpoint **eps;
    size_t n;
    ig_gw_pool_snapshot(p, &eps, &n);
    int64_t t = 10 * SEC;
    fail_n(p, eps[0], 503, 5, t);
    fail_n(p, eps[1], 503, 5, t);
    /* 2 of 4 available: not panic, only those two. */
    int count[4] = {0};
    uint64_t s = 11;
    for (int i = 0; i < 400; i++) {
        ig_gw_endpoint *ep = ig_gw_pool_pick(p, 0, test_rng(&s), NULL, t);
        count[ep_index(eps, 4, ep)]++;
        ig_gw_endpoint_finish(ep);
    }
    CHECK(count[0] == 0 && count[1] == 0 && count[2] > 100 && count[3] > 100);
    /* 1 of 4 (the third is unhealthy by active checks): panic, all are candidates. */
    ig_gw_health_conf hc;
    ig_gw_health_conf_default(&hc);
    ig_gw_outlier_state *st = ig_gw_endpoint_outlier(eps[2]);
    CHECK(!ig_gw_outlier_health_report(st, &hc, false));
    CHECK(ig_gw_endpoint_healthy(eps[2]));
    CHECK(ig_gw_outlier_health_report(st, &hc, false));
    CHECK(!ig_gw_endpoint_healthy(eps[2]));
    CHECK(!ig_gw_endpoint_available(eps[2], t));
    memset(count, 0, sizeof(count));
    for (int i = 0; i < 400; i++) {
        ig_gw_endpoint *ep = ig_gw_pool_pick(p, 0, test_rng(&s), NULL, t);
        count[ep_index(eps, 4, ep)]++;
        ig_gw_endpoint_finish(ep);
    }
    for (int i = 0; i < 4; i++) CHECK(count[i] > 50);
    /* Healthy again after healthy_threshold passes; a failure in between restarts the count. */
    CHECK(!ig_gw_outlier_health_report(st, &hc, true));
    CHECK(!ig_gw_outlier_health_report(st, &hc, false));
    CHECK(!ig_gw_outlier_health_report(st, &hc, true));
    CHECK(ig_gw_outlier_health_report(st, &hc, true));
    CHECK(ig_gw_endpoint_available(eps[2], t));
    ig_gw_endpoints_release(eps, n);
    ig_gw_pool_free(p);
}

static void test_retry_budget(void)
{
    ig_gw_pool *p = pool_n("p2c", 1, NULL, NULL);
    /* No traffic: the minimum of 3. */
    int ok = 0;
    for (int i = 0; i < 10; i++) ok += ig_gw_pool_may_retry(p);
    CHECK_EQ_INT(ok, 3);
    CHECK_EQ_INT(ig_gw_pool_retry_overflows(p), 7);
    for (int i = 0; i < 3; i++) ig_gw_pool_retry_done(p);
    /* 100 requests in flight: 20%. */
    for (int i = 0; i < 100; i++) CHECK(ig_gw_pool_acquire_request(p));
    CHECK_EQ_INT(ig_gw_pool_requests_active(p), 100);
    ok = 0;
    for (int i = 0; i < 50; i++) ok += ig_gw_pool_may_retry(p);
    CHECK_EQ_INT(ok, 20);
    ig_gw_pool_retry_done(p);
    CHECK(ig_gw_pool_may_retry(p));
    CHECK(!ig_gw_pool_may_retry(p));
    CHECK_EQ_INT(ig_gw_pool_retries(p), 3 + 20 + 1);
    for (int i = 0; i < 20; i++) ig_gw_pool_retry_done(p);
    for (int i = 0; i < 100; i++) ig_gw_pool_release_request(p);
    ig_gw_pool_free(p);
}

static void test_adopt(void)
{
    ig_error err = {0};
    ig_gw_pool *old =
        pool_yaml("name: s\nendpoints: [\"127.0.0.1:1\", \"127.0.0.1:2\", \"127.0.0.1:3\"]\n", &err);
    ig_gw_endpoint **oe, **ne;
    size_t on, nn;
    ig_gw_pool_snapshot(old, &oe, &on);
    fail_n(old, oe[0], 503, 5, 5 * SEC);
    CHECK(ig_gw_endpoint_ejected(oe[0], 5 * SEC));
    ig_gw_endpoint *held = ig_gw_pool_pick(old, 0, 1, NULL, 5 * SEC);
    ig_gw_pool *np = pool_yaml("name: s\nlb: round_robin\nslow_start: 10s\nendpoints: [\"127.0.0.1:1\","
                               " {address: \"127.0.0.1:2\", weight: 2}, \"127.0.0.1:4\"]\n",
                               &err);
    ig_gw_pool_adopt(np, old, 7 * SEC);
    ig_gw_pool_snapshot(np, &ne, &nn);
    CHECK_EQ_INT(nn, 3);
    CHECK(ne[0] == oe[0]); /* same object: ejection and outstanding go on */
    CHECK(ig_gw_endpoint_ejected(ne[0], 6 * SEC));
    CHECK(ne[1] != oe[1]); /* new weight: a new object with the old state */
    CHECK_EQ_INT(ig_gw_endpoint_weight(ne[1]), 2);
    /* The new endpoint slow-starts from the adoption. */
    CHECK(ig_gw_endpoint_effective_weight(ne[2], 10 * SEC, 7 * SEC) < 0.11);
    CHECK(ig_gw_endpoint_effective_weight(ne[0], 10 * SEC, 7 * SEC) == 1.0);
    ig_gw_endpoint_finish(held);
    ig_gw_endpoints_release(oe, on);
    ig_gw_pool_free(old);
    /* The adopted endpoints outlive the old pool. */
    ig_gw_endpoint *ep = ig_gw_pool_pick(np, 0, 0, NULL, 100 * SEC);
    CHECK(ep != NULL);
    ig_gw_endpoint_finish(ep);
    ig_gw_endpoints_release(ne, nn);
    ig_gw_pool_free(np);
}

/* ---- hammer ---- */

typedef struct {
    ig_gw_pool *p;
    int id;
    atomic_bool *stop;
} hammer_arg;

static void *hammer_worker(void *arg)
{
    hammer_arg *h = arg;
    uint64_t s = (uint64_t)h->id * 7777 + 1;
    for (int i = 0; i < 20000; i++) {
        int64_t now = SEC + (int64_t)i * 1000000;
        if (!ig_gw_pool_acquire_request(h->p)) continue;
        ig_gw_endpoint *ep = ig_gw_pool_pick(h->p, test_rng(&s), test_rng(&s), NULL, now);
        if (ep) {
            int r = (int)(test_rng(&s) % 10);
            ig_gw_pool_record(h->p, ep, r == 0 ? 503 : r == 1 ? 0 : 200, now);
            ig_gw_endpoint_report_queue(ep, r);
            if (r < 2 && ig_gw_pool_may_retry(h->p)) {
                ig_gw_endpoint *ep2 = ig_gw_pool_pick(h->p, test_rng(&s), test_rng(&s), ep, now);
                if (ep2) ig_gw_pool_record(h->p, ep2, 200, now);
                ig_gw_endpoint_finish(ep2);
                ig_gw_pool_retry_done(h->p);
            }
            ig_gw_endpoint_finish(ep);
        }
        ig_gw_pool_release_request(h->p);
    }
    return NULL;
}

/* Swaps between subsets while the workers pick, as DNS changes would. */
static void *hammer_swapper(void *arg)
{
    hammer_arg *h = arg;
    ig_gw_endpoint **eps;
    size_t n;
    ig_gw_pool_snapshot(h->p, &eps, &n);
    for (size_t k = 0; !atomic_load(h->stop); k++) {
        ig_gw_pool_set_endpoints(h->p, eps + k % 3, n - k % 3);
        ig_gw_endpoint **cur;
        size_t ncur;
        if (ig_gw_pool_snapshot(h->p, &cur, &ncur) == 0) ig_gw_endpoints_release(cur, ncur);
    }
    ig_gw_pool_set_endpoints(h->p, eps, n);
    ig_gw_endpoints_release(eps, n);
    return NULL;
}

static void test_hammer(void)
{
    const char *lbs[4] = {"p2c", "round_robin", "ring_hash", "maglev"};
    for (int l = 0; l < 4; l++) {
        ig_gw_pool *p = pool_n(lbs[l], 6, NULL, "circuit_breaker: {max_requests: 6}\n");
        atomic_bool stop = false;
        pthread_t th[9];
        hammer_arg args[9];
        for (int i = 0; i < 9; i++) {
            args[i] = (hammer_arg){p, i, &stop};
            pthread_create(&th[i], NULL, i == 8 ? hammer_swapper : hammer_worker, &args[i]);
        }
        for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
        atomic_store(&stop, true);
        pthread_join(th[8], NULL);
        ig_gw_endpoint **eps;
        size_t n;
        ig_gw_pool_snapshot(p, &eps, &n);
        CHECK_EQ_INT(n, 6);
        uint64_t picked = 0;
        for (size_t i = 0; i < n; i++) {
            CHECK_EQ_INT(ig_gw_endpoint_outstanding(eps[i]), 0);
            picked += ig_gw_endpoint_picked(eps[i]);
        }
        CHECK(picked > 0);
        CHECK_EQ_INT(ig_gw_pool_requests_active(p), 0);
        CHECK(ig_gw_pool_overflows(p) > 0 || picked >= 8 * 20000);
        ig_gw_endpoints_release(eps, n);
        ig_gw_pool_free(p);
    }
}

int main(void)
{
    test_conf();
    test_ejection();
    test_panic_and_health();
    test_retry_budget();
    test_adopt();
    test_hammer();
    return CHECK_DONE();
}
