/* The canary controller through the rollout API with a driven clock: advancing to promotion,
 * rollbacks on error rate, p99 and shadow disagreement, min_requests, manual actions, adoption across
 * a reload, the decision log, and the blast radius of a failing canary. */
#include "gateway/canary.h"

#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "gateway/rollout.h"

#define SEC 1000000000LL

static const char *pools[] = {"stable", "canary"};
static int resolve(void *ctx, const char *name)
{
    (void)ctx;
    for (int i = 0; i < 2; i++)
        if (!strcmp(pools[i], name)) return i;
    return -1;
}

typedef struct {
    int n;
    char *lines[64];
} logbook;

static void log_line(void *ctx, const char *line)
{
    logbook *lb = ctx;
    if (lb->n < 64) lb->lines[lb->n++] = strdup(line);
}

static void logbook_clear(logbook *lb)
{
    for (int i = 0; i < lb->n; i++) free(lb->lines[i]);
    lb->n = 0;
}

static ig_conf *confs[32];
static int nconfs;

static ig_rollout *load(const char *extra, logbook *lb)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "routes:\n  - split: [{pool: stable, weight: 1}]\n    canary:\n      baseline: stable\n"
             "      canary: canary\n      steps: [5, 25, 50]\n%s",
             extra);
    ig_error err = {0};
    ig_conf *c = ig_conf_load_string(yaml, strlen(yaml), "c.yaml", &err);
    CHECK(c != NULL);
    if (!c) return NULL;
    confs[nconfs++] = c;
    ig_rollout *r = ig_rollout_from_conf(c, ig_conf_get(ig_conf_root(c), "routes")->child, resolve, NULL,
                                         log_line, lb, &err);
    if (!r) fprintf(stderr, "load: %s\n", err.msg);
    CHECK(r != NULL);
    return r;
}

static uint64_t rng = 99;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int status_has(ig_rollout *r, const char *needle)
{
    char *s = ig_rollout_status_json(r);
    int ok = s && strstr(s, needle) != NULL;
    if (!ok) fprintf(stderr, "status lacks %s: %s\n", needle, s ? s : "(null)");
    free(s);
    return ok;
}

/* Sends n requests through choose+record, the canary failing with probability canary_fail (in
 * 1/1000) and answering in canary_us (baseline 10 ms). Returns the failures. */
static int drive(ig_rollout *r, int n, int canary_fail, int64_t canary_us, int64_t *now)
{
    int failures = 0;
    for (int i = 0; i < n; i++) {
        ig_rollout_pick p;
        uint64_t x = next_rand();
        ig_rollout_choose(r, NULL, NULL, NULL, x, &p);
        bool failed = p.canary && (int)((x >> 40) % 1000) < canary_fail;
        failures += failed;
        ig_rollout_record(r, p.pool, failed, p.canary ? canary_us : 10000, *now);
        *now += SEC / 100;
        ig_rollout_tick(r, *now);
    }
    return failures;
}

static void test_promote_through_steps(void)
{
    logbook lb = {0};
    ig_rollout *r = load("      interval: 30s\n      min_requests: 20\n      max_p99_ratio: 1.5\n", &lb);
    if (!r) return;
    int64_t now = 1000 * SEC;
    CHECK(status_has(r, "\"state\":\"running\""));
    CHECK(status_has(r, "\"weight\":5"));
    drive(r, 3100, 0, 10000, &now); /* 31 s: first window closed */
    CHECK_EQ_INT(ig_rollout_decisions(r, IG_CANARY_ADVANCE), 1);
    CHECK(status_has(r, "\"weight\":25"));
    drive(r, 6000, 0, 11000, &now);
    CHECK_EQ_INT(ig_rollout_decisions(r, IG_CANARY_ADVANCE), 2);
    CHECK_EQ_INT(ig_rollout_decisions(r, IG_CANARY_PROMOTE), 1);
    CHECK(status_has(r, "\"state\":\"promoted\""));
    for (int i = 0; i < 1000; i++) {
        ig_rollout_pick p;
        ig_rollout_choose(r, NULL, NULL, NULL, next_rand(), &p);
        CHECK(p.pool == 1 && p.canary);
    }
    CHECK_EQ_INT(lb.n, 3);
    CHECK(strstr(lb.lines[0], "\"decision\":\"advance\"") && strstr(lb.lines[0], "\"from_weight\":5") &&
          strstr(lb.lines[0], "\"to_weight\":25") && strstr(lb.lines[0], "\"actor\":\"auto\""));
    CHECK(strstr(lb.lines[2], "\"decision\":\"promote\"") && strstr(lb.lines[2], "\"state\":\"promoted\""));
    CHECK(status_has(r, "\"recent\":[{"));
    /* Nothing moves after promotion. */
    CHECK_EQ_INT(drive(r, 5000, 1000, 10000, &now), 5000);
    CHECK_EQ_INT(ig_rollout_decisions(r, IG_CANARY_ROLLBACK), 0);
    logbook_clear(&lb);
    ig_rollout_free(r);
}

static void test_failing_canary_blast_radius(void)
{
    logbook lb = {0};
    ig_rollout *r = load("      interval_requests: 50\n      min_requests: 20\n", &lb);
    if (!r) return;
    int64_t now = SEC;
    int total = 0, failures = 0;
    while (ig_rollout_decisions(r, IG_CANARY_ROLLBACK) == 0 && total < 100000) {
        failures += drive(r, 1, 1000, 10000, &now);
        total++;
    }
    CHECK_EQ_INT(ig_rollout_decisions(r, IG_CANARY_ROLLBACK), 1);
    CHECK_EQ_INT(failures, 50); /* exactly one window of canary requests */
    /* ... which is about the canary's 5% of all requests seen until then. */
    CHECK(failures * 100 > total * 3 && failures * 100 < total * 8);
    /* Rolled back: the canary gets nothing more. */
    CHECK_EQ_INT(drive(r, 20000, 1000, 10000, &now), 0);
    CHECK(status_has(r, "\"state\":\"rolled_back\""));
    CHECK_EQ_INT(lb.n, 1);
    CHECK(lb.n && strstr(lb.lines[0], "\"decision\":\"rollback\"") &&
          strstr(lb.lines[0], "\"error_rate\":1") && strstr(lb.lines[0], "max_error_rate"));
    logbook_clear(&lb);
    ig_rollout_free(r);
}

static void test_rollback_p99(void)
{
    logbook lb = {0};
    ig_rollout *r = load("      interval: 10s\n      max_p99_ratio: 1.5\n", &lb);
    int64_t now = SEC;
    drive(r, 1100, 0, 20000, &now); /* canary 20 ms vs 10 ms */
    CHECK_EQ_INT(ig_rollout_decisions(r, IG_CANARY_ROLLBACK), 1);
    CHECK(lb.n == 1 && strstr(lb.lines[0], "x baseline p99"));
    logbook_clear(&lb);
    ig_rollout_free(r);
    /* An absolute bound: 12 ms passes max_p99 15ms ... */
    r = load("      interval: 10s\n      max_p99: 15ms\n", &lb);
    drive(r, 1100, 0, 12000, &now);
    CHECK_EQ_INT(ig_rollout_decisions(r, IG_CANARY_ADVANCE), 1);
    /* ... but not the absolute bound. */
    drive(r, 1100, 0, 16000, &now);
    CHECK_EQ_INT(ig_rollout_decisions(r, IG_CANARY_ROLLBACK), 1);
    CHECK(lb.n == 2 && strstr(lb.lines[1], "max_p99 15ms"));
    logbook_clear(&lb);
    ig_rollout_free(r);
    /* The histogram's p99 sits within a bucket (~19%) of the true value. */
    int64_t s[1000];
    for (int i = 0; i < 1000; i++) s[i] = i + 1;
    double p99 = ig_canary_hist_quantile_us(s, 1000, 0.99);
    CHECK(p99 > 990 / 1.2 && p99 < 990 * 1.2);
}

static void test_rollback_disagreement_and_rates(void)
{
    logbook lb = {0};
    ig_rollout *r = load("      interval: 10s\n      max_disagreement: 0.05\n", &lb);
    int64_t now = SEC;
    for (int i = 0; i < 100; i++) ig_rollout_record_shadow(r, 1, i % 10 == 0, now); /* 10% disagree */
    ig_rollout_record_shadow(r, 0, 1, now);  /* not the canary: ignored */
    ig_rollout_record_shadow(r, 1, -4, now); /* incomparable: ignored */
    drive(r, 1100, 0, 10000, &now);
    CHECK_EQ_INT(ig_rollout_decisions(r, IG_CANARY_ROLLBACK), 1);
    CHECK(lb.n == 1 && strstr(lb.lines[0], "\"disagreement\":0.1") &&
          strstr(lb.lines[0], "\"compared\":100"));
    logbook_clear(&lb);
    ig_rollout_free(r);
    /* 4% agreement problems pass. */
    r = load("      interval: 10s\n      max_disagreement: 0.05\n", &lb);
    for (int i = 0; i < 100; i++) ig_rollout_record_shadow(r, 1, i % 25 == 0, now);
    drive(r, 1100, 0, 10000, &now);
    CHECK_EQ_INT(ig_rollout_decisions(r, IG_CANARY_ADVANCE), 1);
    logbook_clear(&lb);
    ig_rollout_free(r);
    /* Error rate increase over the baseline: 3% canary errors are under max_error_rate 5% but 3 points
     * above a clean baseline. */
    r = load("      interval: 10s\n      max_error_rate_increase: 0.02\n      min_requests: 200\n", &lb);
    drive(r, 6000, 30, 10000, &now);
    CHECK_EQ_INT(ig_rollout_decisions(r, IG_CANARY_ROLLBACK), 1);
    CHECK(lb.n == 1 && strstr(lb.lines[0], "exceeds baseline"));
    logbook_clear(&lb);
    ig_rollout_free(r);
}

static void test_min_requests(void)
{
    logbook lb = {0};
    ig_rollout *r = load("      interval: 10s\n      min_requests: 20\n", &lb);
    int64_t now = SEC;
    ig_rollout_tick(r, now); /* opens the window */
    for (int i = 0; i < 19; i++) ig_rollout_record(r, 1, false, 1000, now);
    now += 60 * SEC;
    CHECK_EQ_INT(ig_rollout_tick(r, now), IG_CANARY_NONE);
    CHECK(status_has(r, "\"weight\":5"));
    ig_rollout_record(r, 1, false, 1000, now);
    CHECK_EQ_INT(ig_rollout_tick(r, now + 1), IG_CANARY_ADVANCE);
    CHECK(status_has(r, "\"weight\":25"));
    /* A new window starts at the decision. */
    for (int i = 0; i < 30; i++) ig_rollout_record(r, 1, false, 1000, now);
    CHECK_EQ_INT(ig_rollout_tick(r, now + 5 * SEC), IG_CANARY_NONE);
    CHECK_EQ_INT(ig_rollout_tick(r, now + 11 * SEC), IG_CANARY_ADVANCE);
    logbook_clear(&lb);
    ig_rollout_free(r);
}

static void test_manual(void)
{
    logbook lb = {0};
    ig_rollout *r = load("      interval: 10s\n", &lb);
    CHECK_EQ_INT(ig_rollout_rollback(r, "alice", SEC), 0);
    CHECK(status_has(r, "\"state\":\"rolled_back\""));
    ig_rollout_pick p;
    for (int i = 0; i < 500; i++) {
        ig_rollout_choose(r, NULL, NULL, NULL, next_rand(), &p);
        CHECK_EQ_INT(p.pool, 0);
    }
    CHECK_EQ_INT(ig_rollout_promote(r, "bob", 2 * SEC), 0);
    for (int i = 0; i < 500; i++) {
        ig_rollout_choose(r, NULL, NULL, NULL, next_rand(), &p);
        CHECK_EQ_INT(p.pool, 1);
    }
    CHECK_EQ_INT(lb.n, 2);
    CHECK(lb.n == 2 && strstr(lb.lines[0], "\"actor\":\"alice\"") &&
          strstr(lb.lines[1], "\"actor\":\"bob\""));
    CHECK_EQ_INT(ig_rollout_decisions(r, IG_CANARY_PROMOTE), 1);
    CHECK_EQ_INT(ig_rollout_decisions(r, IG_CANARY_ROLLBACK), 1);
    logbook_clear(&lb);
    ig_rollout_free(r);
}

static void test_adopt(void)
{
    logbook lb = {0};
    ig_rollout *a = load("      interval: 10s\n", &lb);
    int64_t now = SEC;
    drive(a, 1100, 0, 10000, &now);
    CHECK(status_has(a, "\"weight\":25"));
    ig_rollout *same = load("      interval: 10s\n", &lb);
    ig_rollout *changed = load("      interval: 20s\n", &lb);
    ig_rollout_adopt(same, a);
    ig_rollout_adopt(changed, a);
    CHECK(status_has(same, "\"weight\":25"));
    CHECK(status_has(same, "\"step\":1"));
    CHECK(status_has(changed, "\"weight\":5"));
    /* Decision counters carry over either way (they are metrics). */
    CHECK_EQ_INT(ig_rollout_decisions(same, IG_CANARY_ADVANCE), 1);
    CHECK_EQ_INT(ig_rollout_decisions(changed, IG_CANARY_ADVANCE), 1);
    ig_rollout_free(a);
    drive(same, 1100, 0, 10000, &now);
    CHECK(status_has(same, "\"weight\":50"));
    logbook_clear(&lb);
    ig_rollout_free(same);
    ig_rollout_free(changed);
}

int main(void)
{
    test_promote_through_steps();
    test_failing_canary_blast_radius();
    test_rollback_p99();
    test_rollback_disagreement_and_rates();
    test_min_requests();
    test_manual();
    test_adopt();
    for (int i = 0; i < nconfs; i++) ig_conf_free(confs[i]);
    return CHECK_DONE();
}
