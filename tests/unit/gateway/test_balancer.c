/* Load-balancing policies: p2c prefers the less loaded and spreads evenly, weights are respected by
 * round robin (exactly) and p2c (statistically), queue depth counts as load, ring hash and Maglev are
 * consistent and move about 1/(n+1) of keys when one endpoint joins, Maglev's table is balanced,
 * exclusion of the previous try, and the slow-start ramp. */
#include "gateway/balancer.h"

#include <stdlib.h>

#include "check.h"
#include "gw_test_util.h"

static void test_p2c_prefers_less_loaded(void)
{
    ig_gw_pool *p = pool_n("p2c", 3, NULL, "weight_by_queue_depth: true\n");
    ig_gw_endpoint **eps;
    size_t n;
    ig_gw_pool_snapshot(p, &eps, &n);
    CHECK_EQ_INT(n, 3);
    /* Load endpoint 0 alone, then offer all three. */
    ig_gw_pool_set_endpoints(p, eps, 1);
    ig_gw_endpoint *held[5];
    for (int i = 0; i < 5; i++) held[i] = ig_gw_pool_pick(p, 0, (uint64_t)i, NULL, SEC);
    CHECK(held[0] == eps[0]);
    CHECK_EQ_INT(ig_gw_endpoint_outstanding(eps[0]), 5);
    ig_gw_pool_set_endpoints(p, eps, 3);
    int count[3] = {0};
    uint64_t s = 1;
    for (int i = 0; i < 3000; i++) {
        ig_gw_endpoint *ep = ig_gw_pool_pick(p, 0, test_rng(&s), NULL, SEC);
        count[ep_index(eps, 3, ep)]++;
        ig_gw_endpoint_finish(ep);
    }
    CHECK_EQ_INT(count[0], 0);
    CHECK(count[1] > 1200 && count[2] > 1200);
    for (int i = 0; i < 5; i++) ig_gw_endpoint_finish(held[i]);
    CHECK_EQ_INT(ig_gw_endpoint_outstanding(eps[0]), 0);

    /* A reported queue depth is load too. */
    ig_gw_endpoint_report_queue(eps[1], 40);
    memset(count, 0, sizeof(count));
    for (int i = 0; i < 3000; i++) {
        ig_gw_endpoint *ep = ig_gw_pool_pick(p, 0, test_rng(&s), NULL, SEC);
        count[ep_index(eps, 3, ep)]++;
        ig_gw_endpoint_finish(ep);
    }
    CHECK_EQ_INT(count[1], 0);
    CHECK_EQ_INT(ig_gw_endpoint_queue_depth(eps[1]), 40);
    ig_gw_endpoints_release(eps, n);
    ig_gw_pool_free(p);

    /* Without weight_by_queue_depth the depth is ignored. */
    p = pool_n("p2c", 3, NULL, NULL);
    ig_gw_pool_snapshot(p, &eps, &n);
    ig_gw_endpoint_report_queue(eps[1], 40);
    memset(count, 0, sizeof(count));
    for (int i = 0; i < 3000; i++) {
        ig_gw_endpoint *ep = ig_gw_pool_pick(p, 0, test_rng(&s), NULL, SEC);
        count[ep_index(eps, 3, ep)]++;
        ig_gw_endpoint_finish(ep);
    }
    CHECK(count[1] > 800);
    ig_gw_endpoints_release(eps, n);
    ig_gw_pool_free(p);
}

static void test_p2c_even_spread(void)
{
    ig_gw_pool *p = pool_n("p2c", 4, NULL, NULL);
    ig_gw_endpoint **eps;
    size_t n;
    ig_gw_pool_snapshot(p, &eps, &n);
    /* Held requests: loads stay level. */
    static ig_gw_endpoint *held[4000];
    uint64_t s = 7;
    for (int i = 0; i < 4000; i++) held[i] = ig_gw_pool_pick(p, 0, test_rng(&s), NULL, SEC);
    for (size_t i = 0; i < 4; i++) {
        CHECK(ig_gw_endpoint_outstanding(eps[i]) >= 990 && ig_gw_endpoint_outstanding(eps[i]) <= 1010);
    }
    for (int i = 0; i < 4000; i++) ig_gw_endpoint_finish(held[i]);
    /* Equal (zero) load: ties broken at random, so evenly. */
    for (int i = 0; i < 20000; i++) ig_gw_endpoint_finish(ig_gw_pool_pick(p, 0, test_rng(&s), NULL, SEC));
    for (size_t i = 0; i < 4; i++) {
        uint64_t picked = ig_gw_endpoint_picked(eps[i]) - 1000;
        CHECK(picked > 4500 && picked < 5500);
    }
    ig_gw_endpoints_release(eps, n);
    ig_gw_pool_free(p);
}

/* A closed loop of K requests in flight, each step ending a random one and starting another: pick
 * rates follow outstanding counts, which p2c keeps proportional to weight. */
static void test_p2c_weights(void)
{
    int w[4] = {1, 1, 2, 4};
    ig_gw_pool *p = pool_n("p2c", 4, w, NULL);
    ig_gw_endpoint **eps;
    size_t n;
    ig_gw_pool_snapshot(p, &eps, &n);
    enum { K = 64, STEPS = 40000 };
    ig_gw_endpoint *held[K];
    uint64_t s = 99;
    for (int i = 0; i < K; i++) held[i] = ig_gw_pool_pick(p, 0, test_rng(&s), NULL, SEC);
    uint64_t base[4];
    for (int i = 0; i < 4; i++) base[i] = ig_gw_endpoint_picked(eps[i]);
    for (int i = 0; i < STEPS; i++) {
        int k = (int)(test_rng(&s) % K);
        ig_gw_endpoint_finish(held[k]);
        held[k] = ig_gw_pool_pick(p, 0, test_rng(&s), NULL, SEC);
    }
    double share[4];
    for (int i = 0; i < 4; i++) share[i] = (double)(ig_gw_endpoint_picked(eps[i]) - base[i]) / STEPS;
    /* Ideal 1/8, 1/8, 2/8, 4/8. */
    CHECK(share[0] > 0.08 && share[0] < 0.17);
    CHECK(share[1] > 0.08 && share[1] < 0.17);
    CHECK(share[2] > 0.19 && share[2] < 0.31);
    CHECK(share[3] > 0.42 && share[3] < 0.58);
    for (int i = 0; i < K; i++) ig_gw_endpoint_finish(held[i]);
    ig_gw_endpoints_release(eps, n);
    ig_gw_pool_free(p);
}

static void test_round_robin(void)
{
    int w[3] = {5, 1, 1};
    ig_gw_pool *p = pool_n("round_robin", 3, w, NULL);
    ig_gw_endpoint **eps;
    size_t n;
    ig_gw_pool_snapshot(p, &eps, &n);
    /* nginx's smooth sequence for {a=5, b=1, c=1}: a a b a c a a. */
    const int want[7] = {0, 0, 1, 0, 2, 0, 0};
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 7; i++) {
            ig_gw_endpoint *ep = ig_gw_pool_pick(p, 0, 0, NULL, SEC);
            CHECK_EQ_INT(ep_index(eps, 3, ep), want[i]);
            ig_gw_endpoint_finish(ep);
        }
    }
    ig_gw_endpoints_release(eps, n);
    ig_gw_pool_free(p);

    int w2[3] = {1, 2, 3};
    p = pool_n("round_robin", 3, w2, NULL);
    ig_gw_pool_snapshot(p, &eps, &n);
    int count[3] = {0};
    for (int i = 0; i < 600; i++) {
        ig_gw_endpoint *ep = ig_gw_pool_pick(p, 0, 0, NULL, SEC);
        count[ep_index(eps, 3, ep)]++;
        ig_gw_endpoint_finish(ep);
    }
    CHECK_EQ_INT(count[0], 100);
    CHECK_EQ_INT(count[1], 200);
    CHECK_EQ_INT(count[2], 300);
    ig_gw_endpoints_release(eps, n);
    ig_gw_pool_free(p);
}

static void test_slow_start(void)
{
    ig_error err = {0};
    ig_gw_endpoint *a = ig_gw_endpoint_create("127.0.0.1:9000", 2, 0, &err);
    ig_gw_endpoint *b = ig_gw_endpoint_create("127.0.0.1:9001", 2, 100 * SEC, &err);
    int64_t ss = 10 * SEC;
    CHECK(ig_gw_endpoint_effective_weight(a, ss, 100 * SEC) == 2.0);
    CHECK(ig_gw_endpoint_effective_weight(b, ss, 100 * SEC) > 0.199 &&
          ig_gw_endpoint_effective_weight(b, ss, 100 * SEC) < 0.201);
    double mid = ig_gw_endpoint_effective_weight(b, ss, 105 * SEC);
    CHECK(mid > 1.099 && mid < 1.101);
    CHECK(ig_gw_endpoint_effective_weight(b, ss, 110 * SEC) == 2.0);
    CHECK(ig_gw_endpoint_effective_weight(b, ss, 500 * SEC) == 2.0);
    CHECK(ig_gw_endpoint_effective_weight(b, 0, 100 * SEC) == 2.0);

    /* Round robin follows the ramp: 2 : 0.2 at the start -> b gets 1 in 11. */
    ig_gw_pool *p = pool_n("round_robin", 1, NULL, "slow_start: 10s\n");
    ig_gw_endpoint *set[2] = {a, b};
    ig_gw_pool_set_endpoints(p, set, 2);
    int nb = 0;
    for (int i = 0; i < 1100; i++) {
        ig_gw_endpoint *ep = ig_gw_pool_pick(p, 0, 0, NULL, 100 * SEC);
        nb += ep == b;
        ig_gw_endpoint_finish(ep);
    }
    CHECK(nb >= 99 && nb <= 101);
    nb = 0;
    for (int i = 0; i < 1000; i++) {
        ig_gw_endpoint *ep = ig_gw_pool_pick(p, 0, 0, NULL, 200 * SEC);
        nb += ep == b;
        ig_gw_endpoint_finish(ep);
    }
    CHECK(nb >= 495 && nb <= 505);
    ig_gw_pool_free(p);
    ig_gw_endpoint_release(a);
    ig_gw_endpoint_release(b);
}

/* Keys -> endpoint index under a hash policy built over eps[0..n). */
static void map_keys(const ig_gw_lb_ops *ops, ig_gw_endpoint **eps, size_t n, long *out, size_t nkeys)
{
    void *st = ops->build(eps, n);
    ig_gw_lb_ctx c = {.eps = eps, .n = n, .now_ns = SEC};
    for (size_t k = 0; k < nkeys; k++) out[k] = ops->pick(st, &c, (uint64_t)k * 7919 + 13, 0);
    ops->destroy(st);
}

static void test_consistent_hash(const ig_gw_lb_ops *ops, double max_moved_factor)
{
    enum { N = 10, KEYS = 20000 };
    ig_gw_endpoint *eps[N + 1];
    ig_error err = {0};
    for (int i = 0; i <= N; i++) {
        char a[32];
        snprintf(a, sizeof(a), "10.0.0.%d:8000", i + 1);
        eps[i] = ig_gw_endpoint_create(a, 1, 0, &err);
    }
    static long before[KEYS], again[KEYS], after[KEYS];
    map_keys(ops, eps, N, before, KEYS);
    map_keys(ops, eps, N, again, KEYS);
    int same = 0, moved = 0, moved_elsewhere = 0;
    int per[N + 1] = {0};
    for (int k = 0; k < KEYS; k++) same += before[k] == again[k];
    CHECK_EQ_INT(same, KEYS);
    map_keys(ops, eps, N + 1, after, KEYS);
    for (int k = 0; k < KEYS; k++) {
        per[after[k]]++;
        if (after[k] != before[k]) {
            moved++;
            moved_elsewhere += after[k] != N;
        }
    }
    double frac = (double)moved / KEYS, ideal = 1.0 / (N + 1);
    printf("%s: moved %.4f of keys (ideal %.4f), %d not to the new endpoint\n", ops->name, frac, ideal,
           moved_elsewhere);
    CHECK(frac > 0.5 * ideal && frac < max_moved_factor * ideal);
    if (ops == &ig_gw_lb_ring_hash) CHECK_EQ_INT(moved_elsewhere, 0);
    for (int i = 0; i <= N; i++) CHECK(per[i] > KEYS / (N + 1) / 2 && per[i] < KEYS / (N + 1) * 2);

    /* Exclude: the key goes elsewhere, the same elsewhere each time; an unavailable endpoint's keys
     * move, the others' stay. */
    void *st = ops->build(eps, N);
    ig_gw_lb_ctx c = {.eps = eps, .n = N, .now_ns = SEC};
    for (int k = 0; k < 200; k++) {
        long first = ops->pick(st, &c, (uint64_t)k, 0);
        c.exclude = eps[first];
        long second = ops->pick(st, &c, (uint64_t)k, 0);
        CHECK(second >= 0 && second != first);
        CHECK_EQ_INT(ops->pick(st, &c, (uint64_t)k, 0), second);
        c.exclude = NULL;
    }
    ops->destroy(st);
    for (int i = 0; i <= N; i++) ig_gw_endpoint_release(eps[i]);
}

static void test_maglev_table(void)
{
    enum { N = 7 };
    ig_gw_endpoint *eps[N];
    ig_error err = {0};
    for (int i = 0; i < N; i++) {
        char a[32];
        snprintf(a, sizeof(a), "10.1.0.%d:8000", i + 1);
        eps[i] = ig_gw_endpoint_create(a, i == N - 1 ? 2 : 1, 0, &err);
    }
    /* Equal weights: every endpoint owns M/n entries, give or take one. */
    void *st = ig_gw_lb_maglev.build(eps, N - 1);
    const uint32_t *t = ig_gw_lb_maglev_table(st);
    CHECK(t != NULL);
    long cnt[N] = {0};
    for (uint32_t j = 0; t && j < IG_GW_MAGLEV_SIZE; j++) cnt[t[j]]++;
    for (int i = 0; i < N - 1; i++) CHECK(labs(cnt[i] - (long)(IG_GW_MAGLEV_SIZE / (N - 1))) <= 1);
    ig_gw_lb_maglev.destroy(st);
    /* Weight 2 owns twice the entries of weight 1. */
    st = ig_gw_lb_maglev.build(eps, N);
    t = ig_gw_lb_maglev_table(st);
    memset(cnt, 0, sizeof(cnt));
    for (uint32_t j = 0; t && j < IG_GW_MAGLEV_SIZE; j++) cnt[t[j]]++;
    CHECK(labs(cnt[N - 1] - 2 * cnt[0]) <= 2);
    ig_gw_lb_maglev.destroy(st);
    /* An empty set builds and picks nothing. */
    st = ig_gw_lb_maglev.build(eps, 0);
    ig_gw_lb_ctx c = {.eps = eps, .n = 0, .now_ns = SEC};
    CHECK_EQ_INT(ig_gw_lb_maglev.pick(st, &c, 1, 0), -1);
    ig_gw_lb_maglev.destroy(st);
    for (int i = 0; i < N; i++) ig_gw_endpoint_release(eps[i]);
}

static void test_exclude(void)
{
    const char *lbs[4] = {"p2c", "round_robin", "ring_hash", "maglev"};
    for (int l = 0; l < 4; l++) {
        ig_gw_pool *p = pool_n(lbs[l], 2, NULL, NULL);
        ig_gw_endpoint **eps;
        size_t n;
        ig_gw_pool_snapshot(p, &eps, &n);
        uint64_t s = 5;
        for (int i = 0; i < 100; i++) {
            ig_gw_endpoint *ep = ig_gw_pool_pick(p, (uint64_t)i, test_rng(&s), eps[0], SEC);
            CHECK(ep == eps[1]);
            ig_gw_endpoint_finish(ep);
        }
        /* The only endpoint is returned even when excluded. */
        ig_gw_pool_set_endpoints(p, eps, 1);
        ig_gw_endpoint *ep = ig_gw_pool_pick(p, 1, 1, eps[0], SEC);
        CHECK(ep == eps[0]);
        ig_gw_endpoint_finish(ep);
        /* An empty pool picks nothing. */
        ig_gw_pool_set_endpoints(p, eps, 0);
        CHECK(ig_gw_pool_pick(p, 1, 1, NULL, SEC) == NULL);
        ig_gw_endpoints_release(eps, n);
        ig_gw_pool_free(p);
    }
    ig_gw_lb_kind k;
    CHECK(ig_gw_lb_parse("maglev", &k) && k == IG_GW_LB_MAGLEV);
    CHECK(!ig_gw_lb_parse("random", &k));
}

int main(void)
{
    test_p2c_prefers_less_loaded();
    test_p2c_even_spread();
    test_p2c_weights();
    test_round_robin();
    test_slow_start();
    test_consistent_hash(&ig_gw_lb_ring_hash, 1.5);
    test_consistent_hash(&ig_gw_lb_maglev, 2.0);
    test_maglev_table();
    test_exclude();
    return CHECK_DONE();
}
