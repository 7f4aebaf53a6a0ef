/* The local rate limiter: exact GCRA values with a driven clock (burst, steady rate, cost > 1,
 * retry_after, remaining, reset), headers of the tightest rule, rule matching, denials charging no
 * other rule, adopt across a reload, the bucket bound, an 8-thread hammer and config errors. */
#include "policy/rate_limit.h"

#include <pthread.h>
#include <stdint.h>

#include "check.h"

#define MS 1000000ll
#define S 1000000000ll
#define T0 (1000 * S) /* an arbitrary monotonic start */

static ig_ratelimit *load(const char *yaml, ig_error *err)
{
    ig_error e0 = {0};
    if (!err) err = &e0;
    ig_conf *c = ig_conf_load_string(yaml, strlen(yaml), "t.yaml", err);
    if (!c) return NULL;
    ig_ratelimit *rl = ig_ratelimit_from_conf(c, ig_conf_get(ig_conf_root(c), "rate_limits"), err);
    ig_conf_free(c); /* the limiter keeps copies of what it needs */
    if (!rl && err == &e0) fprintf(stderr, "load: %s\n", e0.msg);
    return rl;
}

static ig_rl_decision check(ig_ratelimit *rl, const char *key, const char *model, uint64_t elements,
                            int64_t now)
{
    ig_rl_request rq = {key, model, elements};
    ig_rl_decision d;
    ig_ratelimit_check(rl, &rq, now, &d);
    return d;
}

static void test_gcra_exact(void)
{
    ig_ratelimit *rl = load("rate_limits:\n"
                            "  rules:\n"
                            "    - name: r\n"
                            "      rate: 10/s\n"
                            "      burst: 3\n",
                            NULL);
    CHECK(rl != NULL);
    if (!rl) return;
    /* Fresh bucket: exactly `burst` at once; T = 100 ms, tau = 300 ms. */
    ig_rl_decision d = check(rl, "a", NULL, 0, T0);
    CHECK(d.allowed);
    CHECK_STR(d.rule, "r");
    CHECK_EQ_INT(d.limit, 3);
    CHECK_EQ_INT(d.remaining, 2);
    CHECK_EQ_INT(d.reset_s, 1); /* 100 ms, rounded up */
    CHECK_STR(d.headers, "RateLimit-Policy: \"r\";q=3;w=1\r\nRateLimit: \"r\";r=2;t=1\r\n");
    d = check(rl, "a", NULL, 0, T0);
    CHECK(d.allowed);
    CHECK_EQ_INT(d.remaining, 1);
    d = check(rl, "a", NULL, 0, T0);
    CHECK(d.allowed);
    CHECK_EQ_INT(d.remaining, 0);
    /* TAT = T0+300ms; a 4th needs TAT+T-tau = T0+100ms. */
    d = check(rl, "a", NULL, 0, T0);
    CHECK(!d.allowed);
    CHECK_EQ_INT(d.retry_after_ms, 100);
    CHECK_EQ_INT(d.remaining, 0);
    CHECK_EQ_INT(d.reset_s, 1);
    CHECK_STR(d.headers, "RateLimit-Policy: \"r\";q=3;w=1\r\nRateLimit: \"r\";r=0;t=1\r\nRetry-After: 1\r\n");
    d = check(rl, "a", NULL, 0, T0 + 99 * MS + 500000);
    CHECK(!d.allowed);
    CHECK_EQ_INT(d.retry_after_ms, 1); /* 0.5 ms rounds up */
    /* Steady rate: one every 100 ms, nothing in between. */
    for (int k = 1; k <= 20; k++) {
        d = check(rl, "a", NULL, 0, T0 + k * 100 * MS);
        CHECK(d.allowed);
        CHECK_EQ_INT(d.remaining, 0);
        d = check(rl, "a", NULL, 0, T0 + k * 100 * MS + 40 * MS);
        CHECK(!d.allowed);
        CHECK_EQ_INT(d.retry_after_ms, 60);
    }
    /* Other keys have their own bucket. */
    d = check(rl, "b", NULL, 0, T0);
    CHECK(d.allowed);
    CHECK_EQ_INT(d.remaining, 2);
    /* Half idle refills half: at T0+2000+150ms TAT is T0+2300ms; it passes (TAT'-tau = +2100ms) and
     * leaves half a request, which rounds down to 0. */
    d = check(rl, "a", NULL, 0, T0 + 2150 * MS);
    CHECK(d.allowed);
    CHECK_EQ_INT(d.remaining, 0);
    /* Long idle: a full burst again. */
    d = check(rl, "a", NULL, 0, T0 + 60 * S);
    CHECK(d.allowed);
    CHECK_EQ_INT(d.remaining, 2);
    ig_rl_stats st;
    CHECK(ig_ratelimit_stats(rl, 0, &st));
    CHECK_STR(st.name, "r");
    CHECK_EQ_INT(st.allowed, 3 + 20 + 1 + 1 + 1);
    CHECK_EQ_INT(st.denied, 2 + 20);
    CHECK_EQ_INT(st.buckets, 2);
    CHECK(!ig_ratelimit_stats(rl, 1, &st));
    CHECK_EQ_INT(ig_ratelimit_rule_count(rl), 1);
    ig_ratelimit_free(rl);
}

static void test_default_burst_and_periods(void)
{
    ig_ratelimit *rl = load("rate_limits:\n"
                            "  rules:\n"
                            "    - {name: m, rate: 60/m}\n"
                            "    - {name: h, rate: 2/hour, keys: [hourly]}\n",
                            NULL);
    CHECK(rl != NULL);
    if (!rl) return;
    /* Default burst = one period's worth: 60 at once, then one per second. */
    ig_rl_decision d;
    for (int i = 0; i < 60; i++) {
        d = check(rl, "k", NULL, 0, T0);
        CHECK(d.allowed);
    }
    CHECK_EQ_INT(d.remaining, 0);
    CHECK_EQ_INT(d.reset_s, 60);
    CHECK_STR(d.headers, "RateLimit-Policy: \"m\";q=60;w=60\r\nRateLimit: \"m\";r=0;t=60\r\n");
    d = check(rl, "k", NULL, 0, T0);
    CHECK(!d.allowed);
    CHECK_EQ_INT(d.retry_after_ms, 1000);
    CHECK(check(rl, "k", NULL, 0, T0 + S).allowed);
    /* "hourly" matches both; after 2 the hourly rule denies for 30 minutes. */
    CHECK(check(rl, "hourly", NULL, 0, T0).allowed);
    d = check(rl, "hourly", NULL, 0, T0);
    CHECK(d.allowed);
    CHECK_STR(d.rule, "h"); /* 0 of 2 left is tighter than 58 of 60 */
    d = check(rl, "hourly", NULL, 0, T0);
    CHECK(!d.allowed);
    CHECK_STR(d.rule, "h");
    CHECK_EQ_INT(d.retry_after_ms, 1800 * 1000);
    CHECK(strstr(d.headers, "Retry-After: 1800\r\n") != NULL);
    ig_ratelimit_free(rl);
}

static void test_cost_elements(void)
{
    ig_ratelimit *rl = load("rate_limits:\n"
                            "  rules:\n"
                            "    - name: el\n"
                            "      per: model\n"
                            "      rate: 1000/s\n"
                            "      burst: 1000\n"
                            "      cost: elements\n",
                            NULL);
    CHECK(rl != NULL);
    if (!rl) return;
    ig_rl_decision d = check(rl, "k", "mlp", 600, T0);
    CHECK(d.allowed);
    CHECK_EQ_INT(d.remaining, 400);
    CHECK_EQ_INT(d.reset_s, 1);
    /* TAT = T0+600ms; 600 more needs T0+1200ms-1000ms = T0+200ms. Denied, nothing charged. */
    d = check(rl, "k", "mlp", 600, T0);
    CHECK(!d.allowed);
    CHECK_EQ_INT(d.retry_after_ms, 200);
    CHECK_EQ_INT(d.remaining, 400);
    d = check(rl, "other-key", "mlp", 400, T0); /* per model: keys share it */
    CHECK(d.allowed);
    CHECK_EQ_INT(d.remaining, 0);
    d = check(rl, "k", "mlp", 250, T0 + 200 * MS);
    CHECK(!d.allowed);
    CHECK_EQ_INT(d.retry_after_ms, 50);
    d = check(rl, "k", "mlp", 250, T0 + 250 * MS);
    CHECK(d.allowed);
    /* Another model is another bucket. */
    CHECK(check(rl, "k", "resnet", 1000, T0).allowed);
    /* Larger than the burst: never passes, no Retry-After. */
    d = check(rl, "k", "fresh", 1001, T0 + 100 * S);
    CHECK(!d.allowed);
    CHECK_EQ_INT(d.retry_after_ms, -1);
    CHECK(strstr(d.headers, "Retry-After") == NULL);
    CHECK(strstr(d.headers, "RateLimit: \"el\";r=1000;t=0\r\n") != NULL);
    /* Unknown element count: the rule does not apply. */
    d = check(rl, "k", "mlp", 0, T0);
    CHECK(d.allowed);
    CHECK(d.rule == NULL);
    CHECK_STR(d.headers, "");
    ig_ratelimit_free(rl);
}

static void test_matching(void)
{
    ig_ratelimit *rl = load("rate_limits:\n"
                            "  rules:\n"
                            "    - {name: mlp-models, per: model, rate: 1/s, burst: 1, models: [\"mlp*\"]}\n"
                            "    - {name: team-a, per: key, rate: 1/s, burst: 1, keys: team-a}\n"
                            "    - {name: km, per: key_model, rate: 1/s, burst: 2, models: [res*, vit]}\n",
                            NULL);
    CHECK(rl != NULL);
    if (!rl) return;
    /* No rule for this model and key. */
    ig_rl_decision d = check(rl, "bob", "bert", 0, T0);
    CHECK(d.allowed && d.rule == NULL);
    CHECK_STR(d.headers, "");
    /* Model glob, per model: any key shares the model bucket. */
    CHECK(check(rl, "bob", "mlp-1", 0, T0).allowed);
    d = check(rl, "eve", "mlp-1", 0, T0);
    CHECK(!d.allowed);
    CHECK_STR(d.rule, "mlp-models");
    CHECK(check(rl, "eve", "mlp-2", 0, T0).allowed);
    /* NULL model does not match a model filter. */
    d = check(rl, "bob", NULL, 0, T0);
    CHECK(d.allowed && d.rule == NULL);
    /* Key filter. */
    CHECK(check(rl, "team-a", NULL, 0, T0).allowed);
    d = check(rl, "team-a", NULL, 0, T0);
    CHECK(!d.allowed);
    CHECK_STR(d.rule, "team-a");
    CHECK(check(rl, "team-b", NULL, 0, T0).allowed);
    /* key_model: separate per (key, model) pair, including keys with the separator in them. */
    CHECK(check(rl, "x", "vit", 0, T0).allowed);
    CHECK(check(rl, "x", "vit", 0, T0).allowed);
    CHECK(!check(rl, "x", "vit", 0, T0).allowed);
    CHECK(check(rl, "y", "vit", 0, T0).allowed);
    CHECK(check(rl, "x", "resnet", 0, T0).allowed);
    CHECK(check(rl, "a|b", "c", 0, T0).allowed == true);
    d = check(rl, "a", "b|c", 0, T0);
    CHECK(d.allowed && d.rule == NULL); /* "b|c" is no resnet/vit: no rule */
    CHECK(check(rl, "p|res", "resa", 0, T0).allowed);
    CHECK(check(rl, "p|res", "resa", 0, T0).allowed);
    CHECK(check(rl, "p", "res|resa", 0, T0).allowed); /* would collide under naive joining */
    /* A very long key (heap bucket name). */
    char big[600];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    CHECK(check(rl, big, "vit", 0, T0).allowed);
    CHECK(check(rl, big, "vit", 0, T0).allowed);
    CHECK(!check(rl, big, "vit", 0, T0).allowed);
    ig_ratelimit_free(rl);

    /* No section: everything passes, no headers. */
    ig_ratelimit *none = ig_ratelimit_from_conf(NULL, NULL, NULL);
    CHECK(none != NULL);
    d = check(none, "k", "m", 5, T0);
    CHECK(d.allowed && d.rule == NULL);
    CHECK_EQ_INT(ig_ratelimit_rule_count(none), 0);
    ig_ratelimit_free(none);
}

static void test_denial_charges_nothing(void)
{
    ig_ratelimit *rl = load("rate_limits:\n"
                            "  rules:\n"
                            "    - {name: g, per: global, rate: 100/s, burst: 2}\n"
                            "    - {name: k, per: key, rate: 1/s, burst: 1}\n",
                            NULL);
    CHECK(rl != NULL);
    if (!rl) return;
    ig_rl_decision d = check(rl, "x", NULL, 0, T0);
    CHECK(d.allowed);
    CHECK_STR(d.rule, "k"); /* 0/1 left is tighter than 1/2 */
    /* k denies x; g would allow but must not be charged and reports its untouched state. */
    for (int i = 0; i < 5; i++) {
        d = check(rl, "x", NULL, 0, T0);
        CHECK(!d.allowed);
        CHECK_STR(d.rule, "k");
        CHECK_EQ_INT(d.retry_after_ms, 1000);
    }
    d = check(rl, "y", NULL, 0, T0);
    CHECK(d.allowed);
    CHECK_EQ_INT(d.remaining, 0);
    CHECK_STR(d.rule, "g"); /* tie 0/2 vs 0/1: earlier rule */
    d = check(rl, "z", NULL, 0, T0);
    CHECK(!d.allowed);
    CHECK_STR(d.rule, "g");
    CHECK_EQ_INT(d.retry_after_ms, 10);
    /* Both deny: the longer wait wins. */
    d = check(rl, "x", NULL, 0, T0);
    CHECK(!d.allowed);
    CHECK_STR(d.rule, "k");
    CHECK_EQ_INT(d.retry_after_ms, 1000);
    /* z was denied by g alone, so its k bucket is still fresh. */
    d = check(rl, "z", NULL, 0, T0 + 10 * MS);
    CHECK(d.allowed);
    ig_rl_stats sg, sk;
    ig_ratelimit_stats(rl, 0, &sg);
    ig_ratelimit_stats(rl, 1, &sk);
    CHECK_EQ_INT(sg.allowed, 3);
    CHECK_EQ_INT(sg.denied, 2);
    CHECK_EQ_INT(sk.allowed, 3);
    CHECK_EQ_INT(sk.denied, 6);
    ig_ratelimit_free(rl);
}

static void test_adopt(void)
{
    const char *v1 = "rate_limits:\n"
                     "  rules:\n"
                     "    - {name: a, rate: 1/s, burst: 2}\n"
                     "    - {name: b, rate: 1/s, burst: 5}\n";
    const char *v2 = "rate_limits:\n"
                     "  rules:\n"
                     "    - {name: new, rate: 1/s, burst: 1, keys: [nobody]}\n"
                     "    - {name: a, rate: 1/s, burst: 2}\n"
                     "    - {name: b, rate: 2/s, burst: 5}\n";
    ig_ratelimit *old = load(v1, NULL), *next = load(v2, NULL);
    CHECK(old && next);
    if (!old || !next) {
        ig_ratelimit_free(old);
        ig_ratelimit_free(next);
        return;
    }
    CHECK(check(old, "k", NULL, 0, T0).allowed);
    CHECK(check(old, "k", NULL, 0, T0).allowed);
    CHECK(!check(old, "k", NULL, 0, T0).allowed);
    ig_ratelimit_adopt(next, old);
    ig_ratelimit_free(old);
    /* a kept its state (and counters); b changed its rate, so it starts fresh. */
    ig_rl_decision d = check(next, "k", NULL, 0, T0 + 500 * MS);
    CHECK(!d.allowed);
    CHECK_STR(d.rule, "a");
    CHECK_EQ_INT(d.retry_after_ms, 500);
    ig_rl_stats st;
    CHECK(ig_ratelimit_stats(next, 1, &st));
    CHECK_STR(st.name, "a");
    CHECK_EQ_INT(st.allowed, 2);
    CHECK_EQ_INT(st.denied, 2); /* one before the reload, one after */
    CHECK_EQ_INT(st.buckets, 1);
    CHECK(ig_ratelimit_stats(next, 2, &st));
    CHECK_EQ_INT(st.buckets, 0);
    d = check(next, "k", NULL, 0, T0 + 1000 * MS);
    CHECK(d.allowed);
    ig_ratelimit_free(next);
}

static void test_bound(void)
{
    ig_ratelimit *rl = load("rate_limits:\n"
                            "  max_keys: 64\n"
                            "  rules:\n"
                            "    - {name: k, rate: 1/s, burst: 1}\n",
                            NULL);
    CHECK(rl != NULL);
    if (!rl) return;
    char key[32];
    ig_rl_stats st;
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "flood-%d", i);
        CHECK(check(rl, key, NULL, 0, T0).allowed);
    }
    ig_ratelimit_stats(rl, 0, &st);
    CHECK(st.buckets <= 64);
    CHECK(st.buckets >= 16);
    /* The newest key is tracked. */
    CHECK(!check(rl, "flood-4999", NULL, 0, T0).allowed);
    /* Buckets past their TAT are swept when room is needed; counts stay bounded. */
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "later-%d", i);
        CHECK(check(rl, key, NULL, 0, T0 + 10 * S + i).allowed);
    }
    ig_rl_stats st2;
    ig_ratelimit_stats(rl, 0, &st2);
    CHECK(st2.buckets <= 64);
    ig_ratelimit_free(rl);
}

typedef struct {
    ig_ratelimit *rl;
    int id;
    int64_t now;
    int tries;
    int allowed;
} hammer_arg;

static void *hammer(void *p)
{
    hammer_arg *a = p;
    char key[16];
    for (int i = 0; i < a->tries; i++) {
        snprintf(key, sizeof(key), "t%d-%d", a->id, i % 7);
        ig_rl_request rq = {key, "m", 0};
        ig_rl_decision d;
        ig_ratelimit_check(a->rl, &rq, a->now, &d);
        a->allowed += d.allowed;
    }
    return NULL;
}

static void test_threads(void)
{
    ig_ratelimit *rl = load("rate_limits:\n"
                            "  rules:\n"
                            "    - {name: g, per: global, rate: 1000/s, burst: 500}\n"
                            "    - {name: k, per: key, rate: 1/s, burst: 1000}\n",
                            NULL);
    CHECK(rl != NULL);
    if (!rl) return;
    /* Two phases at fixed times: exactly burst, then exactly 200 ms worth more. */
    int64_t phases[2] = {T0, T0 + 200 * MS};
    int want[2] = {500, 200};
    for (int ph = 0; ph < 2; ph++) {
        pthread_t th[8];
        hammer_arg args[8];
        for (int i = 0; i < 8; i++) {
            args[i] = (hammer_arg){rl, i, phases[ph], 2000, 0};
            pthread_create(&th[i], NULL, hammer, &args[i]);
        }
        int total = 0;
        for (int i = 0; i < 8; i++) {
            pthread_join(th[i], NULL);
            total += args[i].allowed;
        }
        CHECK_EQ_INT(total, want[ph]);
    }
    ig_rl_stats st;
    ig_ratelimit_stats(rl, 0, &st);
    CHECK_EQ_INT(st.allowed, 700);
    CHECK_EQ_INT(st.denied, 2 * 8 * 2000 - 700);
    ig_ratelimit_free(rl);
}

static void bad(const char *yaml, const char *want)
{
    ig_error err = {0};
    ig_ratelimit *rl = load(yaml, &err);
    CHECK(rl == NULL);
    ig_ratelimit_free(rl);
    if (!strstr(err.msg, want)) {
        fprintf(stderr, "  got '%s', want '%s'\n", err.msg, want);
        CHECK(!"error message");
    }
}

static void test_config_errors(void)
{
    const char *head = "rate_limits:\n  rules:\n";
    char buf[512];
#define RULE(body) (snprintf(buf, sizeof(buf), "%s%s", head, body), buf)
    bad(RULE("    - {name: a, rate: 10/s, colour: red}\n"), "t.yaml:3: unknown key 'colour'");
    bad(RULE("    - name: a\n      rate: ten/s\n"), "t.yaml:4: rate:");
    bad(RULE("    - name: a\n      rate: 10/week\n"), "t.yaml:4: rate: unknown period");
    bad(RULE("    - name: a\n      rate: 0/s\n"), "t.yaml:4: rate:");
    bad(RULE("    - name: a\n      rate: 10\n"), "t.yaml:4: rate:");
    bad(RULE("    - name: a\n"), "t.yaml:3: missing key 'rate'");
    bad(RULE("    - rate: 1/s\n"), "missing key 'name'");
    bad(RULE("    - {name: a, rate: 1/s, per: user}\n"), "t.yaml:3: per: expected key");
    bad(RULE("    - {name: a, rate: 1/s, burst: 0}\n"), "t.yaml:3: ");
    bad(RULE("    - {name: a, rate: 1/s, cost: bytes}\n"), "cost: expected requests or elements");
    bad(RULE("    - {name: \"a b\", rate: 1/s}\n"), "t.yaml:3: name:");
    bad(RULE("    - {name: a, rate: 1/s, models: {x: 1}}\n"), "t.yaml:3: models:");
    bad(RULE("    - {name: a, rate: 1/s}\n    - {name: a, rate: 2/s}\n"),
        "t.yaml:4: rules: duplicate rule name 'a'");
    bad(RULE("    - just-a-string\n"), "t.yaml:3:");
    bad("rate_limits:\n  backend: memcached\n", "t.yaml:2: backend: expected local or redis");
    bad("rate_limits:\n  backend: redis\n", "t.yaml:2: backend: redis needs");
    bad("rate_limits:\n  rules: {a: 1}\n", "t.yaml:2:");
    bad("rate_limits:\n  backend: local\n  limit: 5\n", "t.yaml:3: unknown key 'limit'");
    bad("rate_limits:\n  backend: redis\n  redis:\n    address: localhost\n", "t.yaml:4: address:");
    bad("rate_limits:\n  backend: redis\n  redis:\n    address: h:99999\n", "t.yaml:4: address:");
    bad("rate_limits:\n  backend: redis\n  redis:\n    on_error: maybe\n", "t.yaml:4: on_error:");
    bad("rate_limits:\n  backend: redis\n  redis:\n    clock: sundial\n", "t.yaml:4: clock:");
    bad("rate_limits:\n  backend: redis\n  redis:\n    timeout: 0ms\n", "t.yaml:4: timeout:");
    bad("rate_limits:\n  backend: redis\n  redis:\n    tiemout: 5ms\n", "t.yaml:4: unknown key 'tiemout'");
    bad("rate_limits:\n  redis:\n    prefix: [a]\n", "t.yaml:3:");
    bad("rate_limits: 5\n", "t.yaml:1:");
#undef RULE
    /* A good full config, Redis included (not contacted at load). */
    ig_error err = {0};
    ig_ratelimit *rl = load("rate_limits:\n"
                            "  backend: redis\n"
                            "  max_keys: 1000\n"
                            "  redis:\n"
                            "    address: \"[::1]:6390\"\n"
                            "    timeout: 50ms\n"
                            "    on_error: deny\n"
                            "    prefix: \"x:\"\n"
                            "    clock: caller\n"
                            "  rules:\n"
                            "    - name: per-key\n"
                            "      per: key\n"
                            "      rate: 100/s\n"
                            "      burst: 20\n"
                            "      cost: requests\n"
                            "      models: [\"mlp*\"]\n"
                            "      keys: [\"team-a\"]\n",
                            &err);
    CHECK(rl != NULL);
    if (!rl) fprintf(stderr, "  %s\n", err.msg);
    ig_ratelimit_free(rl);
}

int main(void)
{
    test_gcra_exact();
    test_default_burst_and_periods();
    test_cost_elements();
    test_matching();
    test_denial_charges_nothing();
    test_adopt();
    test_bound();
    test_threads();
    test_config_errors();
    return CHECK_DONE();
}
